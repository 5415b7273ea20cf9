//! Scene 4, idle cost: I instances (all the benchmark's mariadbd under different names, each
//! with its db user), one rule each that matches nothing, switch ON, default 1 s interval;
//! dbkill's CPU over a window.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::json;

use crate::cpu::Pids;
use crate::prom::Scrape;
use crate::rules::Instance;
use crate::service::Dbkill;

const TICKS: &str = "dbkill_rule_ticks_total";

pub struct IdleCost {
    pub instances: usize,
    pub secs: f64,
    /// dbkill's CPU in the window, in cores (1.0 = one core busy).
    pub dbkill_cores: f64,
    pub mysqld_cores: f64,
    /// Ticks of all instances in the window, per second.
    pub ticks_per_sec: f64,
    pub other_cores: f64,
}

pub struct Scene<'a> {
    pub dbkill: &'a Dbkill,
    /// Every instance of the scene, the first one registered at start among them.
    pub instances: &'a [Instance],
    pub pids: Pids,
    pub window: Duration,
}

impl Scene<'_> {
    pub async fn run(&self) -> Result<IdleCost> {
        for (i, instance) in self.instances.iter().enumerate() {
            instance.clear(self.dbkill).await?;
            let conditions = json!({"user": format!("nobody-{i}"), "time": 1});
            let name = format!("bench-idle-{i}");
            instance.add_rule(self.dbkill, &name, conditions).await?;
            instance.switch(self.dbkill, true).await?;
        }
        let measured = self.measure().await;
        for instance in self.instances {
            instance.clear(self.dbkill).await?;
        }
        measured
    }

    async fn measure(&self) -> Result<IdleCost> {
        // Let every runner open its connection and reach its steady state first.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let (scrape0, cpu0) = (Scrape::take(self.dbkill).await?, self.pids.snapshot()?);
        tokio::time::sleep(self.window).await;
        let (scrape1, w) = (Scrape::take(self.dbkill).await?, self.pids.since(&cpu0)?);
        let ticks =
            scrape1.sum(TICKS, None).unwrap_or(0.0) - scrape0.sum(TICKS, None).unwrap_or(0.0);
        if ticks < 1.0 {
            bail!("no rule tick counted in the window (is {TICKS} exported?)");
        }
        Ok(IdleCost {
            instances: self.instances.len(),
            secs: w.secs,
            dbkill_cores: w.dbkill / w.secs,
            mysqld_cores: w.mysqld / w.secs,
            ticks_per_sec: ticks / w.secs,
            other_cores: w.other_cores,
        })
    }
}
