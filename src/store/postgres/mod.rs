//! The PostgreSQL store: one database several replicas share, its migrations
//! (`migrations/postgres`) applied at open under sqlx's advisory lock, so replicas starting at
//! once are safe. A bounded pool; every call is bounded by the pool's acquire timeout, the
//! server's `statement_timeout` and a client-side deadline ([`timed`]), so no store call hangs
//! on a store that stopped answering.
//!
//! Where the SQLite store relies on its single writer for atomicity, this one locks rows
//! (`FOR UPDATE`) or writes conditionally; each module says where.

mod access_keys;
mod catalog;
mod history;
mod identity;
mod keyring;
mod reconcile;
mod replicas;
mod rules;

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};

use super::{StoreError, StoreResult};

/// How the store's connections name themselves in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "dbkill-store";
/// Connections of one replica's pool; a few replicas stay far below a server's default 100.
const MAX_CONNECTIONS: u32 = 10;
/// Waiting for a free connection, or for a new one to be made.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// The server cancels any one statement after this long (a lock wait included).
const STATEMENT_TIMEOUT_MS: u32 = 5_000;
/// The server ends a session left idle inside a transaction (its locks go with it).
const IDLE_IN_TRANSACTION_MS: u32 = 30_000;
/// A store call of several statements, end to end: past it the server is taken as unreachable
/// (a dead peer can leave a socket silent; the server's own timeouts cannot fire then).
const CALL_TIMEOUT: Duration = Duration::from_secs(15);
/// Migrations may wait for another replica's migrations (the advisory lock) and build indexes.
const MIGRATION_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    /// Connects to `url`, applies the migrations and returns the store. The URL may hold a
    /// password: it is never logged nor put in an error.
    pub async fn open(url: &SecretString) -> StoreResult<Self> {
        let options = PgConnectOptions::from_str(url.expose_secret())
            .map_err(|_| {
                StoreError::Unwritable("the store URL is not a valid postgres:// URL".into())
            })?
            .application_name(APPLICATION_NAME)
            // sqlx would log slow statements' text at warn level; statements carry sealed
            // secrets and token hashes.
            .disable_statement_logging()
            .options([
                ("statement_timeout", STATEMENT_TIMEOUT_MS.to_string()),
                (
                    "idle_in_transaction_session_timeout",
                    IDLE_IN_TRANSACTION_MS.to_string(),
                ),
            ]);
        migrate(&options).await?;
        let pool = PgPoolOptions::new()
            .max_connections(MAX_CONNECTIONS)
            .min_connections(0)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for a listener (LISTEN needs a connection of its own, made from it).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Applies the migrations on a connection of its own (a pool of one), whose statements may
/// wait longer than a request's: sqlx takes a session advisory lock first, so a replica
/// starting beside another waits for its migrations, then finds them applied. The lock goes
/// with the connection, closed here also when a migration fails.
async fn migrate(options: &PgConnectOptions) -> StoreResult<()> {
    let options = options.clone().options([(
        "statement_timeout",
        (MIGRATION_TIMEOUT.as_millis() as u64).to_string(),
    )]);
    let migrated = tokio::time::timeout(MIGRATION_TIMEOUT, async {
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        let applied = sqlx::migrate!("migrations/postgres").run(&pool).await;
        pool.close().await;
        applied.map_err(StoreError::from)
    })
    .await;
    migrated.unwrap_or_else(|_| {
        Err(StoreError::Unwritable(format!(
            "migrations did not finish within {}s",
            MIGRATION_TIMEOUT.as_secs()
        )))
    })
}

/// Runs one store call within [`CALL_TIMEOUT`].
async fn timed<T>(call: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
    tokio::time::timeout(CALL_TIMEOUT, call)
        .await
        .unwrap_or_else(|_| {
            Err(StoreError::Unwritable(format!(
                "the store did not answer within {}s",
                CALL_TIMEOUT.as_secs()
            )))
        })
}

/// A unique violation (SQLSTATE 23505) is a taken name.
fn map_unique(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict,
        _ => StoreError::from(e),
    }
}

fn corrupt(what: impl Into<String>) -> StoreError {
    StoreError::Corrupt(what.into())
}

fn now_ms() -> i64 {
    crate::clock::now_ms()
}

/// The store's clock in Unix ms: leases and heartbeats are timed by it, so the replicas' own
/// clocks need not agree. `clock_timestamp()`, not `now()`: a transaction's start can be long
/// past when it checks a lease.
const NOW_MS: &str = "(extract(epoch FROM clock_timestamp()) * 1000)::bigint";

/// Rows per multi-row statement: PostgreSQL takes at most 65,535 parameters in one; 14 per row
/// at most here.
const ROWS_PER_INSERT: usize = 1_000;
