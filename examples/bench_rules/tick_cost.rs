//! Scene 2, tick cost: N idle sessions and 20 rules that match none of them. Inside dbkill, the
//! matching time per tick (`dbkill_rule_match_seconds`); on mysqld, the CPU a tick's listing
//! costs against one `SHOW FULL PROCESSLIST` from a client, both net of mysqld's idle CPU.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Row};
use serde_json::json;

use crate::cpu::{Pids, Window};
use crate::prom::{HistogramDelta, Scrape};
use crate::rules::Instance;
use crate::service::Dbkill;
use crate::victims::{self, Probe};

/// The bucket bound the goal is at (5 ms), as `/metrics` writes it.
pub const GOAL_BUCKET: &str = "0.005";
const TICKS: &str = "dbkill_rule_ticks_total";
const FAILURES: &str = "dbkill_rule_tick_failures_total";
/// dbkill's `rule_interval_ms` (its default, which the benchmark runs with).
const INTERVAL: Duration = Duration::from_secs(1);

pub struct TickCost {
    pub n: usize,
    pub rules: usize,
    /// Ticks counted in the measured window.
    pub ticks: f64,
    /// Mean matching time per tick (s), and how many ticks matched within 5 ms.
    pub matching: Option<HistogramDelta>,
    /// Mean whole tick (s): listing, matching, and nothing to kill.
    pub tick: Option<HistogramDelta>,
    /// mysqld CPU seconds per tick, net of its idle CPU.
    pub mysqld_per_tick: f64,
    /// mysqld CPU seconds per `SHOW FULL PROCESSLIST` from a client, net of its idle CPU …
    pub mysqld_per_show: f64,
    /// … and that statement's client-side time (s), median.
    pub show_wall: f64,
    /// dbkill's CPU seconds per tick.
    pub dbkill_per_tick: f64,
    /// mysqld's idle CPU (cores) with the sessions open and the switch OFF.
    pub idle_cores: f64,
    /// Other processes' cores during the three windows (noise).
    pub other_cores: [f64; 3],
    pub problem: Option<String>,
}

pub struct Scene<'a> {
    pub dbkill: &'a Dbkill,
    pub instance: &'a Instance,
    pub pids: Pids,
    pub port: u16,
    pub n: usize,
    pub rules: usize,
    /// Ticks (≈ seconds) in each measured window; also the number of client statements.
    pub ticks: usize,
}

impl Scene<'_> {
    pub async fn run(&self, probe: &mut Probe, killer: &mut Conn) -> Result<TickCost> {
        self.instance.clear(self.dbkill).await?;
        let mut tasks = Vec::new();
        for i in 0..self.rules {
            let conditions = json!({"user": format!("nobody-{i}"), "time": 1});
            let name = format!("bench-tick-{i}");
            tasks.push(
                self.instance
                    .add_rule(self.dbkill, &name, conditions)
                    .await?,
            );
        }
        let conns = victims::open(self.port, self.n).await?;
        probe.wait_victims(self.n as u64).await?;
        let measured = self.measure(killer).await;
        let mut matched = 0;
        for &id in &tasks {
            matched += self.instance.counters(self.dbkill, id).await?.matched;
        }
        self.instance.clear(self.dbkill).await?;
        victims::close(conns).await;
        probe.settle_clean().await?;
        let mut cost = measured?;
        if matched > 0 {
            let note = format!("the rules matched {matched} sessions (they should match none)");
            cost.problem = Some(
                cost.problem
                    .map_or(note.clone(), |p| format!("{p}; {note}")),
            );
        }
        Ok(cost)
    }

    async fn measure(&self, killer: &mut Conn) -> Result<TickCost> {
        let window = Duration::from_secs(self.ticks as u64);
        // Idle: the sessions open, nothing listing them.
        tokio::time::sleep(Duration::from_secs(2)).await;
        let before = self.pids.snapshot()?;
        tokio::time::sleep(window).await;
        let idle = self.pids.since(&before)?;
        let idle_rate = idle.mysqld / idle.secs;

        // The client's statement, once per interval as a tick sends it (back to back, the
        // server's caches would stay warm between statements, which a tick's do not).
        let mut walls = Vec::with_capacity(self.ticks);
        let mut pace = tokio::time::interval(INTERVAL);
        let before = self.pids.snapshot()?;
        for _ in 0..self.ticks {
            pace.tick().await;
            let t = Instant::now();
            let rows: Vec<Row> = killer.query("SHOW FULL PROCESSLIST").await?;
            walls.push(t.elapsed().as_secs_f64());
            if rows.len() < self.n {
                bail!(
                    "SHOW FULL PROCESSLIST returned {} rows, expected ≥ {}",
                    rows.len(),
                    self.n
                );
            }
        }
        let show = self.pids.since(&before)?;
        walls.sort_by(f64::total_cmp);

        // The rules: wait for the first tick, then one more, before the window opens.
        let id = self.instance.id.as_str();
        let ticks_of = |s: &Scrape| s.sum(TICKS, Some(("instance_id", id))).unwrap_or(0.0);
        let start = ticks_of(&Scrape::take(self.dbkill).await?);
        self.instance.switch(self.dbkill, true).await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while ticks_of(&Scrape::take(self.dbkill).await?) < start + 1.0 {
            if Instant::now() > deadline {
                bail!("no rule tick within 10 s of the switch ON (is {TICKS} exported?)");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let (scrape0, cpu0) = (Scrape::take(self.dbkill).await?, self.pids.snapshot()?);
        tokio::time::sleep(window).await;
        let (scrape1, on) = (Scrape::take(self.dbkill).await?, self.pids.since(&cpu0)?);
        self.instance.switch(self.dbkill, false).await?;

        let ticks = ticks_of(&scrape1) - ticks_of(&scrape0);
        if ticks < 1.0 {
            bail!("no rule tick counted in the {window:?} window");
        }
        let failures =
            scrape1.sum(FAILURES, None).unwrap_or(0.0) - scrape0.sum(FAILURES, None).unwrap_or(0.0);
        let net = |w: &Window| (w.mysqld - idle_rate * w.secs).max(0.0);
        Ok(TickCost {
            n: self.n,
            rules: self.rules,
            ticks,
            matching: HistogramDelta::between(
                &scrape0,
                &scrape1,
                "dbkill_rule_match_seconds",
                GOAL_BUCKET,
            ),
            tick: HistogramDelta::between(&scrape0, &scrape1, "dbkill_rule_tick_seconds", "+Inf"),
            mysqld_per_tick: net(&on) / ticks,
            mysqld_per_show: net(&show) / self.ticks as f64,
            show_wall: walls[walls.len() / 2],
            dbkill_per_tick: on.dbkill / ticks,
            idle_cores: idle_rate,
            other_cores: [idle.other_cores, show.other_cores, on.other_cores],
            problem: (failures > 0.0).then(|| format!("{failures} failed ticks in the window")),
        })
    }
}
