//! The 32-byte master key: from `DBKILL_MASTER_KEY` (64 hex chars or base64), else from
//! `<data-dir>/master.key`, which is created with mode 0600 on first start.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::random_bytes;

pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error(
        "DBKILL_MASTER_KEY must be 32 bytes given as 64 hex characters or base64 \
         (generate one with `openssl rand -hex 32`)"
    )]
    BadEnv,
    #[error("master key file {path} is unusable: {why}")]
    BadFile { path: String, why: String },
}

fn decode(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 {
        hex::decode(text).ok()?
    } else {
        base64::engine::general_purpose::STANDARD
            .decode(text)
            .ok()?
    };
    bytes.try_into().ok()
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The configured key wins; otherwise the key file is read, or created when missing.
    pub fn load(
        configured: Option<&SecretString>,
        data_dir: &Path,
    ) -> Result<Self, MasterKeyError> {
        if let Some(secret) = configured {
            return decode(secret.expose_secret())
                .map(Self)
                .ok_or(MasterKeyError::BadEnv);
        }
        let path = data_dir.join("master.key");
        let bad = |why: String| MasterKeyError::BadFile {
            path: path.display().to_string(),
            why,
        };
        if path.exists() {
            let mode = fs::metadata(&path)
                .map_err(|e| bad(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(bad(format!(
                    "mode {:o} lets other users read it; run `chmod 600 {}`",
                    mode & 0o777,
                    path.display()
                )));
            }
            let text = fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
            return decode(&text)
                .map(Self)
                .ok_or_else(|| bad("does not hold 64 hex characters".into()));
        }
        let mut key = [0u8; 32];
        key.copy_from_slice(&random_bytes(32));
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| bad(e.to_string()))?;
        file.write_all(hex::encode(key).as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| bad(e.to_string()))?;
        Ok(Self(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let a = MasterKey::load(None, dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = MasterKey::load(None, dir.path()).unwrap();
        assert_eq!(a.0, b.0);
    }

    #[test]
    fn env_key_accepts_hex_and_base64_and_rejects_junk() {
        let dir = tempfile::tempdir().unwrap();
        let hex_key = SecretString::from("11".repeat(32));
        assert_eq!(
            MasterKey::load(Some(&hex_key), dir.path()).unwrap().0,
            [0x11; 32]
        );
        let b64 = SecretString::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
        assert_eq!(MasterKey::load(Some(&b64), dir.path()).unwrap().0, [7; 32]);
        let junk = SecretString::from("not a key");
        assert!(matches!(
            MasterKey::load(Some(&junk), dir.path()),
            Err(MasterKeyError::BadEnv)
        ));
        assert!(!dir.path().join("master.key").exists());
    }

    #[test]
    fn world_readable_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        MasterKey::load(None, dir.path()).unwrap();
        let path = dir.path().join("master.key");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(MasterKey::load(None, dir.path()).is_err());
    }
}
