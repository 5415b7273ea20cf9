//! One driver per (instance, db user, credentials), kept for the life of the process so its
//! lifeline connection stays open; and the registry of every connection dbkill holds, so no
//! kill ever targets one of them.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::mysql::MysqlDriver;
use super::postgres::PgDriver;
use super::{EngineError, SessionDriver, Target, Timeouts};
use crate::domain::{DatastoreType, DbUserId, SessionId};

/// A driver's lifeline: the connection it keeps open, and how to keep it so.
#[async_trait]
pub trait KeptConnection: Send + Sync {
    /// (server identity, session id) of the open connection, if any.
    fn current(&self) -> Option<(String, SessionId)>;
    /// Pings the connection, reopening it when lost.
    async fn keep_alive(&self) -> Result<(), EngineError>;
}

/// A driver that keeps a lifeline: what the registry holds, for every engine.
pub trait EngineDriver: SessionDriver + KeptConnection {}

impl<T: SessionDriver + KeptConnection> EngineDriver for T {}

/// Every driver of this process, to find dbkill's own connection ids on a server.
#[derive(Clone, Default)]
pub struct OwnConnections(Arc<Mutex<Vec<Weak<dyn EngineDriver>>>>);

impl OwnConnections {
    fn register(&self, driver: &Arc<dyn EngineDriver>) {
        let mut all = self.0.lock().expect("not poisoned");
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(driver));
    }

    /// Connection ids dbkill holds on the server with this identity (`host:port:server_id` as
    /// the server itself reports it, so aliases of one server still match).
    pub fn ids_on(&self, identity: Option<&str>) -> HashSet<SessionId> {
        let Some(identity) = identity else {
            return HashSet::new();
        };
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter_map(Weak::upgrade)
            .filter_map(|d| d.current())
            .filter(|(server, _)| server == identity)
            .map(|(_, id)| id)
            .collect()
    }
}

/// How often an idle lifeline is pinged (and reopened if lost): well under any `wait_timeout`.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// Opens the lifeline now, while the server is presumably healthy, then keeps it alive until the
/// driver is dropped (evicted, or its credentials changed).
fn spawn_keepalive(driver: Weak<dyn EngineDriver>) {
    tokio::spawn(async move {
        loop {
            let Some(d) = driver.upgrade() else { return };
            if let Err(e) = d.keep_alive().await {
                tracing::warn!("lifeline to a target is down, retrying in {KEEPALIVE:?}: {e}");
            }
            drop(d);
            tokio::time::sleep(KEEPALIVE).await;
        }
    });
}

#[derive(Clone, PartialEq, Eq, Hash)]
struct DriverKey {
    db_user: DbUserId,
    /// A password, address or TLS change gives a new key, so stale settings are never used.
    fingerprint: String,
}

pub struct Engines {
    timeouts: Timeouts,
    own: OwnConnections,
    drivers: Mutex<HashMap<DriverKey, Arc<dyn EngineDriver>>>,
}

impl Engines {
    pub fn new(timeouts: Timeouts) -> Self {
        Self {
            timeouts,
            own: OwnConnections::default(),
            drivers: Mutex::default(),
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// A new driver of the engine `target` runs.
    fn make(&self, target: Target, kill_port: u16) -> Arc<dyn EngineDriver> {
        match target.datastore {
            DatastoreType::Mysql | DatastoreType::Mariadb => Arc::new(MysqlDriver::new(
                target,
                kill_port,
                self.timeouts,
                self.own.clone(),
            )),
            DatastoreType::Postgresql => {
                Arc::new(PgDriver::new(target, self.timeouts, self.own.clone()))
            }
        }
    }

    /// The driver for this db user on this target, created on first use and kept.
    /// `sealed_password` only fingerprints the credentials; `kill_port` is where KILLs go (an
    /// admin port or the main one).
    pub fn driver(
        &self,
        db_user: &DbUserId,
        sealed_password: &str,
        target: Target,
        kill_port: u16,
    ) -> Arc<dyn SessionDriver> {
        let key = DriverKey {
            db_user: db_user.clone(),
            fingerprint: format!(
                "{}:{}:{}:{}:{}",
                target.host,
                target.port,
                kill_port,
                target.tls.fingerprint(),
                hex::encode(Sha256::digest(sealed_password.as_bytes()))
            ),
        };
        let mut drivers = self.drivers.lock().expect("not poisoned");
        if let Some(d) = drivers.get(&key) {
            return d.clone();
        }
        // Credentials changed: the old driver (and its connection) goes.
        drivers.retain(|k, _| &k.db_user != db_user);
        let driver = self.make(target, kill_port);
        self.own.register(&driver);
        drivers.insert(key, driver.clone());
        spawn_keepalive(Arc::downgrade(&driver));
        driver
    }

    /// Closes the drivers of a db user that was deleted or changed.
    pub fn evict(&self, db_user: &DbUserId) {
        self.drivers
            .lock()
            .expect("not poisoned")
            .retain(|k, _| &k.db_user != db_user);
    }
}
