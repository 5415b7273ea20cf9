//! What the service layer needs and nothing more: the store, the sealer that opens db-user
//! passwords, the engines that reach targets, the settings of a kill and the kills in flight. Built once at start
//! and cloned into whatever drives the service (the HTTP layer; the rule runner will too).

use std::sync::Arc;
use std::time::Duration;

use super::StoreHealth;
use super::in_flight::InFlight;
use super::rules::RuleRuntime;
use crate::config::Settings;
use crate::engine::{Engines, Timeouts};
use crate::error::DasResult;
use crate::notify::Notifier;
use crate::secrets::Sealer;
use crate::store::Store;

/// How kills behave, from the validated settings.
#[derive(Clone, Copy, Debug)]
pub struct KillSettings {
    /// How long a kill waits to see its sessions leave (`gone`).
    pub verify_timeout: Duration,
    /// Use MariaDB's `KILL USER` where it is exactly the plan.
    pub kill_user_statement: bool,
    /// Connections one large kill may use.
    pub kill_connections: usize,
    /// The time a request has when it names none.
    pub deadline: Duration,
}

#[derive(Clone)]
pub struct Services {
    pub(super) store: Arc<dyn Store>,
    pub(super) sealer: Sealer,
    pub(super) engines: Arc<Engines>,
    pub(super) kill: KillSettings,
    /// Kills between their intent and their outcomes, which reconciliation must not touch.
    pub(super) in_flight: InFlight,
    /// Whether the store can write, as `/healthz` reports it.
    pub(super) health: StoreHealth,
    /// Kill rules: settings, gates, per-rule memory and the webhook.
    pub(super) rules: RuleRuntime,
    /// This replica's name: in the history rows it records, and on its rule leases.
    pub(super) replica: Arc<str>,
}

impl Services {
    /// `/healthz`: whether dbkill can do its work (its store can write).
    pub async fn health(&self) -> DasResult<()> {
        self.health.check().await
    }

    pub fn new(
        store: Arc<dyn Store>,
        sealer: Sealer,
        settings: &Settings,
        notifier: Notifier,
        replica: &str,
    ) -> Self {
        let timeouts = Timeouts {
            connect: settings.connect_timeout,
            statement: settings.statement_timeout,
        };
        Self {
            health: StoreHealth::new(store.clone()),
            store,
            sealer,
            engines: Arc::new(Engines::new(timeouts)),
            kill: KillSettings {
                verify_timeout: settings.verify_timeout,
                kill_user_statement: settings.kill_user_statement,
                kill_connections: settings.kill_connections,
                deadline: settings.kill_deadline,
            },
            in_flight: InFlight::default(),
            rules: RuleRuntime::new(settings.rules.clone(), notifier),
            replica: Arc::from(replica),
        }
    }
}
