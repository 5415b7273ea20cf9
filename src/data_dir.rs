//! The data dir: created with mode 0700, used by one process at a time (`serve` or
//! `rotate-master-key` holds its lock), and the secret files in it readable by their owner only.

use std::fs::{self, DirBuilder, File, OpenOptions, Permissions, TryLockError};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, bail};

/// Creates the data dir with mode 0700 when missing; an existing dir keeps its mode.
pub fn prepare(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create data dir {}", dir.display()))?;
        // The umask may have taken bits away; 0700 is what is meant.
        fs::set_permissions(dir, Permissions::from_mode(0o700))?;
    }
    anyhow::ensure!(
        dir.is_dir(),
        "data dir {} is not a directory",
        dir.display()
    );
    Ok(())
}

/// Held while a process uses the data dir; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct DataDirLock {
    _file: File,
}

/// Takes the data dir's lock, or says who holds it.
pub fn lock(dir: &Path, purpose: &str) -> anyhow::Result<DataDirLock> {
    let path = dir.join("dbkill.lock");
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(DataDirLock { _file: file }),
        Err(TryLockError::WouldBlock) => bail!(
            "another dbkill process (serve or rotate-master-key) is using data dir {}; stop it \
             before {purpose}",
            dir.display()
        ),
        Err(TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Mode 0600 on `path` if it exists (a file written before dbkill did this, or by hand).
pub fn make_private(path: &Path) -> anyhow::Result<()> {
    match fs::set_permissions(path, Permissions::from_mode(0o600)) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other.with_context(|| format!("cannot set mode 0600 on {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_process_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        let held = lock(dir.path(), "starting").unwrap();
        let err = lock(dir.path(), "rotating").unwrap_err().to_string();
        assert!(err.contains("stop it before rotating"), "{err}");
        drop(held);
        lock(dir.path(), "starting").unwrap();
    }

    #[test]
    fn a_new_data_dir_is_0700_whatever_the_umask_allows() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("a/b");
        prepare(&data).unwrap();
        let mode = fs::metadata(&data).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o700);
        let file = data.join("f");
        fs::write(&file, "x").unwrap();
        make_private(&file).unwrap();
        make_private(&data.join("missing")).unwrap();
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
}
