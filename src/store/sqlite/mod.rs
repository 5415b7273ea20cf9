//! The embedded SQLite store: one file `<data-dir>/dbkill.db`, WAL, migrations applied at open.

mod access_keys;
mod catalog;
#[cfg(test)]
mod fixtures;
mod history;
mod identity;
mod reconcile;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{StoreError, StoreResult};

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    pub async fn open(data_dir: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(data_dir.join("dbkill.db"))
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
            .connect_with(options)
            .await?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
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
        _ => StoreError::Db(e),
    }
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}
