//! The rule runner: a supervisor that starts one loop per instance whose switch is on, that
//! has a running rule, and whose lease this replica can take (`lease`), and the loops, which
//! tick every `rule_interval_ms` — one tick at a time (a slow tick delays the next instead of
//! piling ticks up) — until their instance has nothing left to run or the lease is lost. The
//! supervisor owns the loops: stopping it stops them all. With several replicas every
//! supervisor looks every interval, so an instance whose owner died or retired is taken over
//! within one interval of its lease lapsing or being released.

use std::collections::HashMap;

use tokio::task::{AbortHandle, JoinSet};
use tokio::time::MissedTickBehavior;

use super::lease::HeldLease;
use super::tick::TickEnd;
use crate::domain::{InstanceId, ProjectId};
use crate::service::Services;

impl Services {
    /// Starts the runner; aborting the handle stops every instance loop with it.
    pub fn spawn_rule_runner(&self) -> tokio::task::JoinHandle<()> {
        let services = self.clone();
        tokio::spawn(async move { services.supervise_rules().await })
    }

    async fn supervise_rules(self) {
        let mut loops: JoinSet<InstanceId> = JoinSet::new();
        let mut running: HashMap<InstanceId, AbortHandle> = HashMap::new();
        let interval = self.rules.settings.interval;
        // Logged when the store starts failing and when it answers again, not every interval.
        let mut store_failing = false;
        loop {
            while let Some(done) = loops.try_join_next() {
                if let Ok(instance) = done {
                    running.remove(&instance);
                }
            }
            running.retain(|_, h| !h.is_finished());
            match self.store.rule_instances().await {
                Ok(instances) => {
                    if store_failing {
                        tracing::info!("kill rules: the store answers again");
                        store_failing = false;
                    }
                    for (project, instance) in instances {
                        if running.contains_key(&instance) {
                            continue;
                        }
                        let Some(lease) = self.take_lease(&instance).await else {
                            continue;
                        };
                        let services = self.clone();
                        let id = instance.clone();
                        let handle = loops.spawn(async move {
                            services.instance_loop(project, lease).await;
                            id
                        });
                        running.insert(instance, handle);
                    }
                }
                Err(e) => {
                    if !store_failing {
                        tracing::warn!(
                            "kill rules: cannot read which instances run rules: {e}; retrying every interval"
                        );
                    }
                    store_failing = true;
                }
            }
            // A rule added or a switch turned on starts its loop at once, not a tick later.
            tokio::select! {
                _ = tokio::time::sleep(interval) => {}
                _ = self.rules.woken() => {}
            }
        }
    }

    async fn instance_loop(self, project: ProjectId, mut lease: HeldLease) {
        let instance = lease.fence.instance_id.clone();
        tracing::info!(%instance, version = lease.fence.version, "kill rules: this replica runs the instance's rules");
        let _held = LeaseGauge::up();
        let mut ticker = tokio::time::interval(self.rules.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Logged when failures start and when they end, not every tick of an outage.
        let mut failing = false;
        loop {
            ticker.tick().await;
            if !self.keep_lease(&mut lease).await {
                break;
            }
            match self.tick(&project, &lease.fence).await {
                Ok(TickEnd::Idle) => break,
                Err(f) if f.reason == super::tick::LEASE_LOST => {
                    tracing::info!(%instance, "kill rules: the lease was lost before the tick's intent; nothing was sent");
                    break;
                }
                Ok(TickEnd::Continue) => {
                    if failing {
                        tracing::info!(%instance, "kill rules: ticks succeed again");
                    }
                    failing = false;
                }
                Err(f) => {
                    if !failing {
                        tracing::warn!(%instance, reason = f.reason, "kill rules: a tick failed and killed nothing ({}); retrying every tick", f.detail);
                    }
                    failing = true;
                }
            }
        }
        self.give_up_lease(lease).await;
        tracing::debug!(%instance, "kill rules: instance loop ends");
    }
}

/// One lease counted in `dbkill_rule_leases_held` for as long as it lives, however its loop ends.
struct LeaseGauge;

impl LeaseGauge {
    fn up() -> Self {
        metrics::gauge!("dbkill_rule_leases_held").increment(1.0);
        Self
    }
}

impl Drop for LeaseGauge {
    fn drop(&mut self) {
        metrics::gauge!("dbkill_rule_leases_held").decrement(1.0);
    }
}
