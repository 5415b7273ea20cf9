//! Where the CLI keeps its login: `$DBKILL_CONFIG_DIR`, else `$XDG_CONFIG_HOME/dbkill`, else
//! `$HOME/.config/dbkill`; the file `login.json` (mode 0600, directory 0700) holds the server URL,
//! the user, the project, the token and its expiry, and never a password. The token is a secret:
//! it is redacted from `Debug` and never printed.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::api::IdName;
use super::error::{CliError, CliResult};
use super::i18n::Lang;

const FILE: &str = "login.json";

#[derive(Serialize, Deserialize, Clone)]
pub struct StoredLogin {
    pub server: String,
    pub user: IdName,
    /// The project the token is scoped to, or the default project of an unscoped login.
    pub project: Option<IdName>,
    /// Whether the token is scoped to `project` (an unscoped token may act in other projects).
    pub scoped: bool,
    pub token: String,
    /// RFC 3339, as the server gave it.
    pub expires_at: String,
    /// The private CA an `https://` server is verified with (`--ca` at login).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<PathBuf>,
}

impl std::fmt::Debug for StoredLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoredLogin")
            .field("server", &self.server)
            .field("user", &self.user)
            .field("project", &self.project)
            .field("scoped", &self.scoped)
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .field("ca", &self.ca)
            .finish()
    }
}

/// The directory from the environment, in the documented order.
pub fn config_dir(lang: Lang) -> CliResult<PathBuf> {
    let var = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(d) = var("DBKILL_CONFIG_DIR") {
        return Ok(PathBuf::from(d));
    }
    if let Some(d) = var("XDG_CONFIG_HOME") {
        return Ok(PathBuf::from(d).join("dbkill"));
    }
    if let Some(h) = var("HOME") {
        return Ok(PathBuf::from(h).join(".config").join("dbkill"));
    }
    Err(CliError::Other(lang.no_config_dir()))
}

pub fn login_path(lang: Lang) -> CliResult<PathBuf> {
    Ok(config_dir(lang)?.join(FILE))
}

fn io_error(path: &Path, e: impl std::fmt::Display, lang: Lang) -> CliError {
    CliError::Other(lang.config_io(&path.display().to_string(), &e.to_string()))
}

/// The stored login, `None` when there is none.
pub fn load(lang: Lang) -> CliResult<Option<StoredLogin>> {
    let path = login_path(lang)?;
    match fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| io_error(&path, e, lang)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(&path, e, lang)),
    }
}

/// Writes the login atomically: a temporary file created 0600, then renamed over the old one,
/// so the token is never readable by others, not even for a moment.
pub fn save(login: &StoredLogin, lang: Lang) -> CliResult<PathBuf> {
    let dir = config_dir(lang)?;
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| io_error(&dir, e, lang))?;
    let path = dir.join(FILE);
    let tmp = dir.join(format!(".{FILE}.{}", std::process::id()));
    let json = serde_json::to_vec_pretty(login).map_err(|e| io_error(&path, e, lang))?;
    let write = || -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        // `mode` applies only when the file is created; a leftover temporary file keeps its own.
        f.set_permissions(fs::Permissions::from_mode(0o600))?;
        f.write_all(&json)?;
        f.sync_all()?;
        fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = fs::remove_file(&tmp);
        io_error(&path, e, lang)
    })?;
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_token() {
        let l = StoredLogin {
            server: "http://x".into(),
            user: IdName {
                id: "u".into(),
                name: "admin".into(),
            },
            project: None,
            scoped: false,
            token: "secret-token-value".into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            ca: None,
        };
        let shown = format!("{l:?}");
        assert!(!shown.contains("secret-token-value"), "{shown}");
        assert!(shown.contains("<redacted>"));
    }
}
