//! Whether dbkill can do its work: its store can write. `/healthz` asks without credentials, so
//! the answer of one probe serves every caller for [`FRESH_FOR`], and one probe runs at a time
//! (later callers wait for its answer); a probe that takes longer than [`PROBE_TIMEOUT`] is a
//! failure. A flood of health checks makes at most one small write per second.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{DasError, DasResult};
use crate::store::Store;

/// How long one probe's answer stands.
pub const FRESH_FOR: Duration = Duration::from_secs(1);
/// How long a probe may take.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// When a probe finished, and what it found (`Err`: why the store cannot write).
type Finding = (Instant, Result<(), String>);

#[derive(Clone)]
pub struct StoreHealth {
    store: Arc<dyn Store>,
    last: Arc<Mutex<Option<Finding>>>,
    probing: Arc<tokio::sync::Mutex<()>>,
}

impl StoreHealth {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            store,
            last: Arc::default(),
            probing: Arc::default(),
        }
    }

    fn fresh(&self) -> Option<Result<(), String>> {
        match &*self.last.lock().expect("not poisoned") {
            Some((at, result)) if at.elapsed() < FRESH_FOR => Some(result.clone()),
            _ => None,
        }
    }

    /// `Ok` when the store wrote within the last second, or does so now.
    pub async fn check(&self) -> DasResult<()> {
        let result = match self.fresh() {
            Some(result) => result,
            None => {
                let _one_at_a_time = self.probing.lock().await;
                match self.fresh() {
                    Some(result) => result,
                    None => self.probe().await,
                }
            }
        };
        result.map_err(DasError::Unhealthy)
    }

    async fn probe(&self) -> Result<(), String> {
        let result = match tokio::time::timeout(PROBE_TIMEOUT, self.store.probe_write()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!("store write probe took over {PROBE_TIMEOUT:?}")),
        };
        metrics::counter!("dbkill_store_write_probes_total",
            "result" => if result.is_ok() { "ok" } else { "failed" })
        .increment(1);
        if let Err(why) = &result {
            tracing::error!("unhealthy: {why}");
        }
        *self.last.lock().expect("not poisoned") = Some((Instant::now(), result.clone()));
        result
    }
}
