//! Opening the store the settings name: the embedded SQLite store in the data dir, or a
//! PostgreSQL store several replicas share.

use std::path::Path;
use std::sync::Arc;

use super::StoreLocation;
use super::change_feed::ChangeFeed;
use super::{CachedStore, Coherence, KeyringStore, PgStore, SqliteStore, Store, StoreResult};

/// An open store, whichever backend it is.
#[derive(Clone)]
pub enum OpenedStore {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// Opens (and migrates) the store at `location`. The data dir must be prepared and locked
/// first: the embedded store lives in it.
pub async fn open(location: &StoreLocation, data_dir: &Path) -> StoreResult<OpenedStore> {
    Ok(match location {
        StoreLocation::Embedded => OpenedStore::Sqlite(SqliteStore::open(data_dir).await?),
        StoreLocation::Postgres(url) => OpenedStore::Postgres(PgStore::open(url).await?),
    })
}

impl OpenedStore {
    /// The store itself, uncached.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            OpenedStore::Sqlite(s) => Arc::new(s.clone()),
            OpenedStore::Postgres(s) => Arc::new(s.clone()),
        }
    }

    /// The store behind a read-through cache, as requests use it. On a shared store the cache
    /// answers only while the returned change feed hears the store (`store::coherence`); the
    /// feed runs until it is dropped.
    pub fn cached(&self) -> (Arc<dyn Store>, Option<ChangeFeed>) {
        match self {
            OpenedStore::Sqlite(s) => (
                Arc::new(CachedStore::new(s.clone(), Coherence::exclusive())),
                None,
            ),
            OpenedStore::Postgres(s) => {
                let coherence = Coherence::shared();
                let feed = ChangeFeed::start(s.pool().clone(), coherence.clone());
                (Arc::new(CachedStore::new(s.clone(), coherence)), Some(feed))
            }
        }
    }

    pub fn keyring(&self) -> &dyn KeyringStore {
        match self {
            OpenedStore::Sqlite(s) => s,
            OpenedStore::Postgres(s) => s,
        }
    }

    pub async fn close(&self) {
        match self {
            OpenedStore::Sqlite(s) => s.close().await,
            OpenedStore::Postgres(s) => s.close().await,
        }
    }
}
