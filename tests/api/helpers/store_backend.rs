//! Which store the suite runs on. By default every app gets the embedded SQLite store in its
//! data dir; with `DBKILL_TEST_STORE=postgres` every app gets a fresh database of its own on one
//! throwaway PostgreSQL cluster per test process, so the same tests run on both stores.
//! A restarted app keeps its store URL (it is part of its settings), and a `dbkill` process
//! started on a data dir gets the store of that data dir ([`store_url_for_data_dir`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

use sqlx::{Connection, Row};

use crate::support::postgres::{Postgres, PostgresOptions};

/// The role every test database belongs to, and its password.
const STORE_ROLE: &str = "dbkill_store";
const STORE_PASSWORD: &str = "store-password-for-tests";

/// Whether this test process runs the suite on the PostgreSQL store.
pub fn on_postgres() -> bool {
    std::env::var("DBKILL_TEST_STORE").is_ok_and(|v| v == "postgres")
}

/// The cluster of this test process's PostgreSQL stores, started on first use.
pub fn store_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| {
        let pg = Postgres::start(PostgresOptions {
            // Every app's pool, change feed and the tests' own connections.
            max_connections: 500,
            ..PostgresOptions::default()
        });
        pg.create_role(STORE_ROLE, STORE_PASSWORD, "");
        pg
    })
}

/// A URL of a new, empty database on the store cluster, owned by a role that is not a
/// superuser (the migrations, trigger function included, must need no more than that).
pub fn fresh_store_url() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let pg = store_cluster();
    let name = format!(
        "store_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    pg.sql(&format!("CREATE DATABASE {name} OWNER {STORE_ROLE}"));
    // Only its owner may connect, as a real deployment would have it.
    pg.sql(&format!("REVOKE CONNECT ON DATABASE {name} FROM PUBLIC"));
    format!(
        "postgres://{STORE_ROLE}:{STORE_PASSWORD}@{}:{}/{name}",
        pg.host(),
        pg.port()
    )
}

/// Data dirs and the store URL each was given.
fn store_urls() -> std::sync::MutexGuard<'static, HashMap<PathBuf, String>> {
    static BY_DIR: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    BY_DIR
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

/// The store of `data_dir`: the one [`share_store`] gave it; else `None` (the embedded store in
/// it) unless the suite runs on PostgreSQL; then a database of its own, the same one every time
/// it is asked for that dir (a restart, or `rotate-master-key` on it, finds the same store).
pub fn store_url_for_data_dir(data_dir: &Path) -> Option<String> {
    let mut by_dir = store_urls();
    if let Some(url) = by_dir.get(data_dir) {
        return Some(url.clone());
    }
    if !on_postgres() {
        return None;
    }
    Some(
        by_dir
            .entry(data_dir.to_path_buf())
            .or_insert_with(fresh_store_url)
            .clone(),
    )
}

/// A fresh PostgreSQL store shared by the replicas on `data_dirs`, in either pass of the suite.
pub fn share_store(data_dirs: &[&Path]) -> String {
    let url = fresh_store_url();
    let mut by_dir = store_urls();
    for dir in data_dirs {
        by_dir.insert(dir.to_path_buf(), url.clone());
    }
    url
}

/// Rows of `sql` on the store of `data_dir`, every column as text (NULL as `None`). `sql`
/// takes its parameters as `?`; write columns that are not text as `CAST(x AS TEXT)`.
pub async fn store_rows(data_dir: &Path, sql: &str, params: &[&str]) -> Vec<Vec<Option<String>>> {
    match store_url_for_data_dir(data_dir) {
        None => {
            let mut conn = sqlx::sqlite::SqliteConnection::connect_with(
                &sqlx::sqlite::SqliteConnectOptions::new()
                    .filename(data_dir.join("dbkill.db"))
                    .read_only(true),
            )
            .await
            .unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
            for p in params {
                query = query.bind(*p);
            }
            texts(&query.fetch_all(&mut conn).await.unwrap())
        }
        Some(url) => {
            let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(numbered_params(sql)));
            for p in params {
                query = query.bind(*p);
            }
            texts(&query.fetch_all(&mut conn).await.unwrap())
        }
    }
}

/// `?` placeholders as PostgreSQL's `$1`, `$2`, …
fn numbered_params(sql: &str) -> String {
    let mut n = 0;
    let mut out = String::with_capacity(sql.len() + 8);
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push_str(&format!("${n}"));
        } else {
            out.push(c);
        }
    }
    out
}

/// Every column of every row, as text.
fn texts<R>(rows: &[R]) -> Vec<Vec<Option<String>>>
where
    R: Row,
    usize: sqlx::ColumnIndex<R>,
    for<'r> Option<String>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    rows.iter()
        .map(|r| {
            (0..r.len())
                .map(|i| r.get::<Option<String>, _>(i))
                .collect()
        })
        .collect()
}

/// The replica name of `data_dir`: the same every time it is asked for that dir, as a replica
/// restarted on its data dir keeps its name (its leases and unsettled kills are its own again).
pub fn replica_name_for_data_dir(data_dir: &Path) -> String {
    static BY_DIR: OnceLock<Mutex<HashMap<PathBuf, String>>> = OnceLock::new();
    BY_DIR
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(data_dir.to_path_buf())
        .or_insert_with(new_replica_name)
        .clone()
}

/// A replica name no other app of this test process has.
pub fn new_replica_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("app-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
