//! Kill rules (DAS's auto-kill tasks) in the service: the auto-flow operations (`ops`), and the
//! runner that applies running rules on its own — a supervisor and one loop per instance
//! (`runner`), each tick of which lists once and kills through the KillSession phases (`tick`).
//! Between ticks the runner remembers per rule what it matched and killed lately (`memory`);
//! a gate per instance lets terminate and switch-off wait for a tick in flight (`gates`).

mod events;
mod gates;
mod lease;
mod memory;
mod ops;
mod runner;
mod tick;
mod trx;

use std::sync::Arc;

use tokio::sync::Notify;

pub use ops::RulePreview;

use crate::config::RuleSettings;
use crate::notify::Notifier;

/// The runner's settings and its shared state.
#[derive(Clone)]
pub(super) struct RuleRuntime {
    pub(in crate::service) settings: RuleSettings,
    gates: gates::Gates,
    memories: memory::Memories,
    notifier: Notifier,
    wake: Arc<Notify>,
}

impl RuleRuntime {
    pub(super) fn new(settings: RuleSettings, notifier: Notifier) -> Self {
        Self {
            settings,
            gates: gates::Gates::default(),
            memories: memory::Memories::default(),
            notifier,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Asks the supervisor to look for instances to run now.
    fn wake(&self) {
        self.wake.notify_one();
    }

    async fn woken(&self) {
        self.wake.notified().await;
    }
}
