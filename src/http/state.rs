//! The state every request handler shares: the service layer, and what only HTTP needs (the
//! password hasher for logins, the rate limiter, the metrics).

use std::sync::Arc;

use super::{CallerLimiter, MetricsHandle};
use crate::config::Settings;
use crate::secrets::{PasswordHasher, Sealer};
use crate::service::Services;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    /// Everything that reaches a target goes through here.
    pub services: Services,
    /// Identity, catalog reads and history, which need no target.
    pub store: Arc<dyn Store>,
    /// Seals and opens access keys' secrets.
    pub sealer: Sealer,
    pub hasher: Arc<PasswordHasher>,
    pub settings: Arc<Settings>,
    pub metrics: MetricsHandle,
    /// `None` when rate limiting is configured off.
    pub limiter: Option<CallerLimiter>,
}
