//! The rule runner: a supervisor that starts one loop per instance whose switch is on and that
//! has a running rule, and the loops, which tick every `rule_interval_ms` — one tick at a time
//! (a slow tick delays the next instead of piling ticks up) — until their instance has nothing
//! left to run. The supervisor owns the loops: stopping it stops them all.

use std::collections::HashMap;

use tokio::task::{AbortHandle, JoinSet};
use tokio::time::MissedTickBehavior;

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
                        let services = self.clone();
                        let id = instance.clone();
                        let handle = loops.spawn(async move {
                            services.instance_loop(project, id.clone()).await;
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

    async fn instance_loop(self, project: ProjectId, instance: InstanceId) {
        tracing::debug!(%instance, "kill rules: instance loop starts");
        let mut ticker = tokio::time::interval(self.rules.settings.interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // Logged when failures start and when they end, not every tick of an outage.
        let mut failing = false;
        loop {
            ticker.tick().await;
            match self.tick(&project, &instance).await {
                Ok(TickEnd::Idle) => break,
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
        tracing::debug!(%instance, "kill rules: instance loop ends");
    }
}
