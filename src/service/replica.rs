//! This process as one replica among those sharing the store: its name (in leases, in the
//! history rows it records, in logs), the heartbeat by which the others know it is alive (so
//! they leave its kills in flight to it), and its retirement at shutdown, which releases its
//! rule leases at once so another replica takes its instances over without waiting for them to
//! expire.

use std::time::Duration;

use tokio::task::JoinHandle;

use super::Services;

/// How long one store call of the heartbeat or the retirement may take.
const STORE_CALL: Duration = Duration::from_secs(2);

impl Services {
    pub fn replica_name(&self) -> &str {
        &self.replica
    }

    /// Renews this replica's heartbeat every `lease_renew` until aborted.
    pub fn spawn_heartbeat(&self) -> JoinHandle<()> {
        // Shown from the start, at 0, so that every replica's /metrics has them.
        metrics::gauge!("dbkill_rule_leases_held").increment(0.0);
        metrics::counter!("dbkill_kill_statements_total").increment(0);
        let services = self.clone();
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(services.rules.settings.lease_renew);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut failing = false;
            loop {
                ticker.tick().await;
                let beat = services
                    .store
                    .heartbeat(&services.replica, services.rules.settings.lease_ttl);
                match tokio::time::timeout(STORE_CALL, beat).await {
                    Ok(Ok(())) => {
                        if failing {
                            tracing::info!("replica heartbeat: the store answers again");
                        }
                        failing = false;
                    }
                    Ok(Err(e)) if !failing => {
                        tracing::warn!("replica heartbeat failed: {e}");
                        failing = true;
                    }
                    Err(_) if !failing => {
                        tracing::warn!("replica heartbeat timed out after {STORE_CALL:?}");
                        failing = true;
                    }
                    _ => {}
                }
            }
        })
    }

    /// Releases every lease this replica holds and removes its heartbeat; a failure only means
    /// the others wait for the leases to expire.
    pub async fn retire(&self) {
        match tokio::time::timeout(STORE_CALL, self.store.retire_replica(&self.replica)).await {
            Ok(Ok(())) => {
                tracing::info!(replica = %self.replica, "released this replica's rule leases")
            }
            Ok(Err(e)) => tracing::warn!(
                "cannot release this replica's rule leases: {e}; they expire by themselves"
            ),
            Err(_) => tracing::warn!(
                "releasing this replica's rule leases timed out; they expire by themselves"
            ),
        }
    }
}
