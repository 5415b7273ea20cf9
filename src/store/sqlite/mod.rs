//! The embedded SQLite store: one file `<data-dir>/dbkill.db`, WAL, migrations applied at open.
//! The database and its `-wal` and `-shm` files are readable by their owner only, whatever the
//! umask: SQLite gives the files it creates the mode of the database file, which is created
//! (or corrected) with mode 0600 before SQLite opens it.

mod access_keys;
mod catalog;
#[cfg(test)]
pub(crate) mod fixtures;
mod health;
mod history;
mod identity;
mod keyring;
mod pool_hygiene;
mod reconcile;
mod replicas;
mod rules;

use std::fs::{self, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{StoreError, StoreResult};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    probe: Arc<health::WriteProbe>,
}

/// The database file, and the files SQLite keeps beside it.
const DB_FILE: &str = "dbkill.db";
const DB_COMPANIONS: [&str; 2] = ["dbkill.db-wal", "dbkill.db-shm"];

/// Creates the database file with mode 0600 when missing, and sets 0600 on it and its
/// companions when they exist (a store made before dbkill did this, or under another umask).
fn make_private(data_dir: &Path) -> std::io::Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(data_dir.join(DB_FILE))?;
    for name in std::iter::once(DB_FILE).chain(DB_COMPANIONS) {
        match fs::set_permissions(data_dir.join(name), Permissions::from_mode(0o600)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    Ok(())
}

impl SqliteStore {
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        make_private(data_dir).map_err(|e| {
            StoreError::Unwritable(format!("{}: {e}", data_dir.join(DB_FILE).display()))
        })?;
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data_dir.join(DB_FILE))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5))
            // A checkpoint copies the WAL into the database file and syncs it, tens of
            // milliseconds; left automatic it lands on whichever commit crosses the threshold,
            // such as a kill's intent right before its first KILL. Kills checkpoint explicitly
            // once their outcomes are on record; the automatic one is only a backstop.
            .pragma("wal_autocheckpoint", WAL_BACKSTOP_PAGES.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(Duration::from_secs(5))
            .after_release(pool_hygiene::keep_only_outside_a_transaction)
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        // Only this process opens the store (the data dir lock), so a lease or heartbeat found
        // here is a previous run's, under whatever name it had: it must not hold this run's
        // rules back until it expires.
        sqlx::query("UPDATE rule_leases SET expires_at = 0")
            .execute(&pool)
            .await?;
        sqlx::query("DELETE FROM replicas").execute(&pool).await?;
        Ok(Self {
            pool,
            probe: Arc::new(health::WriteProbe::new(data_dir.join(".healthz-probe"))),
        })
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// WAL pages (4 KiB each) after which SQLite checkpoints on its own.
const WAL_BACKSTOP_PAGES: u32 = 16_384;

/// Checkpoints the WAL off the request's path; a failure only leaves the WAL longer.
fn checkpoint_in_background(pool: &SqlitePool) {
    let pool = pool.clone();
    tokio::spawn(async move {
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&pool)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    });
}

/// SQLite reports a UNIQUE violation as a database error with this code.
fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::from(e),
    }
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}
