//! The state every request handler and service function shares.

use std::sync::Arc;

use crate::config::Settings;
use crate::engine::{Engines, Timeouts};
use crate::http::{CallerLimiter, MetricsHandle};
use crate::secrets::{PasswordHasher, Sealer};
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub sealer: Sealer,
    pub hasher: Arc<PasswordHasher>,
    pub settings: Arc<Settings>,
    pub metrics: MetricsHandle,
    /// `None` when rate limiting is configured off.
    pub limiter: Option<CallerLimiter>,
    /// Drivers (and their lifeline connections) of the target instances.
    pub engines: Arc<Engines>,
}

impl AppState {
    pub fn timeouts(&self) -> Timeouts {
        Timeouts {
            connect: self.settings.connect_timeout,
            statement: self.settings.statement_timeout,
        }
    }
}
