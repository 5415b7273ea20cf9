//! The store conformance suite: every check runs on the embedded SQLite store (a temp dir) and
//! on the PostgreSQL store (a fresh database on this process's throwaway cluster), so both
//! backends keep the same semantics. A check is an `async fn(Backend)`; [`both!`] makes its
//! `sqlite` and `postgres` tests.

mod app;
mod catalog;
mod history;
mod identity;
mod keyring;
mod pg_only;
mod replicas;
mod rules;

use std::sync::Arc;

use dbkill::store::{OpenedStore, PgStore, SqliteStore, Store};
use secrecy::SecretString;
use tempfile::TempDir;

/// One open store of either backend, and what it lives in.
pub struct Backend {
    pub opened: OpenedStore,
    /// The PostgreSQL store's URL (a fresh database), for more connections to it.
    pub url: Option<SecretString>,
    _dir: TempDir,
}

impl Backend {
    pub async fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path()).await.unwrap();
        Backend {
            opened: OpenedStore::Sqlite(store),
            url: None,
            _dir: dir,
        }
    }

    pub async fn postgres() -> Backend {
        let url = fresh_database();
        let store = PgStore::open(&url).await.unwrap();
        Backend {
            opened: OpenedStore::Postgres(store),
            url: Some(url),
            _dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.opened.store()
    }

    pub fn is_postgres(&self) -> bool {
        self.url.is_some()
    }
}

/// An empty database of its own, as the API suite's apps get on the PostgreSQL store.
pub fn fresh_database() -> SecretString {
    SecretString::from(crate::helpers::store_backend::fresh_store_url())
}

/// Lets the clock pass a millisecond: both stores list in creation order by `created_at` (ms)
/// and then by the random id, so rows a check expects in creation order are made in distinct
/// milliseconds.
pub async fn next_millisecond() {
    tokio::time::sleep(std::time::Duration::from_millis(2)).await;
}

/// `both!(check)`: the tests `check::sqlite` and `check::postgres`.
macro_rules! both {
    ($($check:ident),+ $(,)?) => {$(
        mod $check {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$check(crate::store::Backend::sqlite().await).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$check(crate::store::Backend::postgres().await).await
            }
        }
    )+};
}
pub(crate) use both;
