//! Which store the suite runs on. By default every app gets the embedded SQLite store in its
//! data dir; with `DBKILL_TEST_STORE=postgres` every app gets a fresh database of its own on one
//! throwaway PostgreSQL cluster per test process, so the same tests run on both stores.
//! A restarted app keeps its store URL (it is part of its settings).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// A URL of a new, empty database on the store cluster.
pub fn fresh_store_url() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let pg = store_cluster();
    let name = format!(
        "store_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    pg.sql(&format!("CREATE DATABASE {name} OWNER {STORE_ROLE}"));
    format!(
        "postgres://{STORE_ROLE}:{STORE_PASSWORD}@{}:{}/{name}",
        pg.host(),
        pg.port()
    )
}

/// The store URL a new app gets: `None` (the embedded store) unless the suite runs on
/// PostgreSQL.
pub fn store_url_for_new_app() -> Option<String> {
    on_postgres().then(fresh_store_url)
}

/// A replica name no other app of this test process has.
pub fn new_replica_name() -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("app-{}", NEXT.fetch_add(1, Ordering::Relaxed))
}
