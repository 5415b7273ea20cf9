//! The 32-byte master key and where it comes from: `DBKILL_MASTER_KEY` (the key itself, 64 hex
//! chars or base64), `DBKILL_MASTER_KEY_FILE` (a file dbkill only reads, e.g. a mounted secret
//! outside the data dir), or `<data-dir>/master.key` (created on first start). A key file must
//! be readable by its owner only. Beside a key file, `<file>.new` holds the new key of a
//! rotation until the store is sealed under it (see `keyring`).

use std::fs::{self, File, OpenOptions, Permissions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

use super::random_bytes;

pub struct MasterKey([u8; 32]);

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(..)")
    }
}

/// Where the master key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// `DBKILL_MASTER_KEY` / `master_key`: the key itself.
    Value(SecretString),
    /// `DBKILL_MASTER_KEY_FILE` / `master_key_file`: a file that must exist.
    File(PathBuf),
    /// `<data-dir>/master.key`, created when missing.
    DataDir(PathBuf),
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

/// The key as found, and the new key of a rotation that did not finish, if one is beside it.
pub struct LoadedKeys {
    pub current: MasterKey,
    pub pending: Option<MasterKey>,
}

impl KeySource {
    /// `master_key` and `master_key_file` are exclusive (settings validation sees to it).
    pub fn new(value: Option<&SecretString>, file: Option<&Path>, data_dir: &Path) -> Self {
        match (value, file) {
            (Some(v), _) => Self::Value(v.clone()),
            (None, Some(f)) => Self::File(f.to_owned()),
            (None, None) => Self::DataDir(data_dir.join("master.key")),
        }
    }

    /// The file that holds the key, if it is in one.
    pub fn key_file(&self) -> Option<&Path> {
        match self {
            Self::Value(_) => None,
            Self::File(p) | Self::DataDir(p) => Some(p),
        }
    }

    /// Where the key came from, in words for an operator.
    pub fn describe(&self) -> String {
        match self {
            Self::Value(_) => "DBKILL_MASTER_KEY".into(),
            Self::File(p) => format!("master_key_file {}", p.display()),
            Self::DataDir(p) => p.display().to_string(),
        }
    }

    /// Reads the key (creating `<data-dir>/master.key` on first start), and a pending one.
    pub fn load(&self) -> Result<LoadedKeys, MasterKeyError> {
        let current = match self {
            Self::Value(secret) => {
                return decode(secret.expose_secret())
                    .map(|k| LoadedKeys {
                        current: MasterKey(k),
                        pending: None,
                    })
                    .ok_or(MasterKeyError::BadEnv);
            }
            Self::File(path) => read_key_file(path)?,
            Self::DataDir(path) if path.exists() => read_key_file(path)?,
            Self::DataDir(path) => create_key_file(path)?,
        };
        let pending_path = pending_path(self.key_file().expect("a file source"));
        let pending = match pending_path.exists() {
            true => read_key_file(&pending_path).ok(),
            false => None,
        };
        Ok(LoadedKeys { current, pending })
    }
}

fn bad(path: &Path, why: impl Into<String>) -> MasterKeyError {
    MasterKeyError::BadFile {
        path: path.display().to_string(),
        why: why.into(),
    }
}

/// Reads a key file, refusing one that others than its owner may read.
fn read_key_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    let meta = fs::metadata(path).map_err(|e| bad(path, e.to_string()))?;
    if !meta.is_file() {
        return Err(bad(path, "not a regular file"));
    }
    let mode = meta.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(bad(
            path,
            format!(
                "mode {:o} lets group or others read it; make it readable by dbkill's user only: \
                 `chmod 600 {}` (for a Kubernetes secret, `defaultMode: 0400`)",
                mode & 0o777,
                path.display()
            ),
        ));
    }
    let text = fs::read_to_string(path).map_err(|e| bad(path, e.to_string()))?;
    decode(&text).map(MasterKey).ok_or_else(|| {
        bad(
            path,
            "does not hold 64 hex characters or base64 of 32 bytes",
        )
    })
}

fn create_key_file(path: &Path) -> Result<MasterKey, MasterKeyError> {
    let key = MasterKey::generate();
    write_private(path, key.to_hex().expose_secret(), true)
        .map_err(|e| bad(path, e.to_string()))?;
    Ok(key)
}

/// Writes `content` to a file readable by its owner only (whatever the umask), synced, and
/// the directory entry synced too. `fresh`: the file must not exist yet.
pub fn write_private(path: &Path, content: &str, fresh: bool) -> std::io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(fresh)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.set_permissions(Permissions::from_mode(0o600))?;
    file.write_all(content.as_bytes())?;
    file.sync_all()?;
    sync_dir_of(path)
}

fn sync_dir_of(path: &Path) -> std::io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}

/// Where a rotation keeps its new key until the store is sealed under it.
pub fn pending_path(key_file: &Path) -> PathBuf {
    let mut name = key_file.as_os_str().to_owned();
    name.push(".new");
    PathBuf::from(name)
}

/// A rotation's first step: the new key beside the key file, on disk.
pub fn write_pending(key_file: &Path, key: &MasterKey) -> std::io::Result<()> {
    write_private(&pending_path(key_file), key.to_hex().expose_secret(), false)
}

/// A rotation's last step: the new key becomes the key file, in one rename.
pub fn promote_pending(key_file: &Path) -> std::io::Result<()> {
    fs::rename(pending_path(key_file), key_file)?;
    sync_dir_of(key_file)
}

/// A rotation that never re-sealed the store leaves its new key behind; it goes.
pub fn discard_pending(key_file: &Path) -> std::io::Result<()> {
    match fs::remove_file(pending_path(key_file)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

impl MasterKey {
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn generate() -> Self {
        let mut key = [0u8; 32];
        key.copy_from_slice(&random_bytes(32));
        Self(key)
    }

    pub(super) fn bytes(&self) -> &[u8; 32] {
        &self.0
    }

    fn to_hex(&self) -> SecretString {
        SecretString::from(hex::encode(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_dir_source(dir: &Path) -> KeySource {
        KeySource::new(None, None, dir)
    }

    #[test]
    fn file_key_is_created_once_with_mode_0600() {
        let dir = tempfile::tempdir().unwrap();
        let a = data_dir_source(dir.path()).load().unwrap().current;
        let mode = fs::metadata(dir.path().join("master.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let b = data_dir_source(dir.path()).load().unwrap().current;
        assert_eq!(a.0, b.0);
    }

    #[test]
    fn env_key_accepts_hex_and_base64_and_rejects_junk() {
        let dir = tempfile::tempdir().unwrap();
        let load = |v: &str| KeySource::new(Some(&SecretString::from(v)), None, dir.path()).load();
        assert_eq!(load(&"11".repeat(32)).unwrap().current.0, [0x11; 32]);
        let b64 = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        assert_eq!(load(&b64).unwrap().current.0, [7; 32]);
        assert!(matches!(load("not a key"), Err(MasterKeyError::BadEnv)));
        assert!(!dir.path().join("master.key").exists());
    }

    #[test]
    fn key_files_readable_by_others_are_refused_and_never_created() {
        let dir = tempfile::tempdir().unwrap();
        data_dir_source(dir.path()).load().unwrap();
        let path = dir.path().join("master.key");
        fs::set_permissions(&path, Permissions::from_mode(0o640)).unwrap();
        let err = data_dir_source(dir.path())
            .load()
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("mode 640") && err.contains("chmod 600"),
            "{err}"
        );

        let outside = dir.path().join("mounted-secret");
        let source = KeySource::new(None, Some(&outside), dir.path());
        let err = source.load().err().unwrap().to_string();
        assert!(err.contains("mounted-secret"), "{err}");
        assert!(
            !outside.exists(),
            "a key file setting never creates the file"
        );
        fs::write(&outside, "22".repeat(32)).unwrap();
        fs::set_permissions(&outside, Permissions::from_mode(0o444)).unwrap();
        assert!(source.load().is_err());
        fs::set_permissions(&outside, Permissions::from_mode(0o400)).unwrap();
        assert_eq!(source.load().unwrap().current.0, [0x22; 32]);
    }

    #[test]
    fn a_pending_key_is_found_promoted_and_discarded() {
        let dir = tempfile::tempdir().unwrap();
        let source = data_dir_source(dir.path());
        let old = source.load().unwrap().current;
        let key_file = source.key_file().unwrap().to_owned();
        let new = MasterKey::generate();
        write_pending(&key_file, &new).unwrap();
        let loaded = source.load().unwrap();
        assert_eq!(loaded.current.0, old.0);
        assert_eq!(loaded.pending.unwrap().0, new.0);
        promote_pending(&key_file).unwrap();
        let loaded = source.load().unwrap();
        assert_eq!(loaded.current.0, new.0);
        assert!(loaded.pending.is_none());
        write_pending(&key_file, &MasterKey::generate()).unwrap();
        discard_pending(&key_file).unwrap();
        discard_pending(&key_file).unwrap();
        assert!(source.load().unwrap().pending.is_none());
    }
}
