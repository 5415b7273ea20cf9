//! The state every request handler shares: the service layer, and what only HTTP needs (the
//! password hasher for logins, the guards in front of the handlers, the metrics).

use std::sync::{Arc, Mutex};

use tokio::sync::Semaphore;

use super::MetricsHandle;
use super::login_throttle::LoginThrottle;
use super::rate_limit::RateLimits;
use super::signed::LARGE_BODY_SLOTS;
use crate::config::Settings;
use crate::secrets::{PasswordHasher, Sealer};
use crate::service::Services;
use crate::signing::replay::ReplayCache;
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
    pub guards: Guards,
}

/// What stands between a request and the handlers: rate limits, login delays, the replay cache
/// of signatures and the slots for large bodies of signatures not yet proven.
#[derive(Clone)]
pub struct Guards {
    /// `None` when rate limiting is configured off.
    pub limits: Option<RateLimits>,
    pub logins: Arc<LoginThrottle>,
    pub replays: Arc<Mutex<ReplayCache>>,
    pub signed_bodies: Arc<Semaphore>,
}

impl Guards {
    pub fn new(settings: &Settings) -> Self {
        let signatures = settings.signatures;
        Self {
            limits: settings.rate_limit.map(RateLimits::new),
            logins: Arc::default(),
            replays: Arc::new(Mutex::new(ReplayCache::new(
                signatures.max_skew_secs,
                signatures.replay_cache_entries,
            ))),
            signed_bodies: Arc::new(Semaphore::new(LARGE_BODY_SLOTS)),
        }
    }
}
