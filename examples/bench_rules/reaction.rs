//! Scene 1, reaction: N sessions of `victim` start `SELECT SLEEP(600)` at once under a rule
//! `user=victim command=Query time=2` (dbkill, switch ON) or under pt-kill `--busy-time 2
//! --interval 1`; measured from the moment the last of them crosses 2 s until none is listed.
//! Optionally also `KILL USER victim` sent at that very moment: a killer with no reaction
//! time, showing how long the server itself takes to end N sleepers.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::ptkill::PtKill;
use crate::rules::Instance;
use crate::service::Dbkill;
use crate::sleepers::Sleepers;
use crate::victims::{Probe, USER};

/// The rule's (and pt-kill's) `time`.
pub const BUSY: Duration = Duration::from_secs(2);
/// How long the killer runs before the statements start, so a rule's runner (or pt-kill) is in
/// its steady state: more than one tick.
const ARMED: Duration = Duration::from_millis(1500);
/// Give up waiting for none listed this long after the crossing.
const GIVE_UP: Duration = Duration::from_secs(120);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Killer {
    Rule,
    PtKill,
    /// `KILL USER` from a client the moment the last sleeper crosses 2 s.
    KillUserAtCross,
}

impl Killer {
    pub fn key(self) -> &'static str {
        match self {
            Killer::Rule => "dbkill rule",
            Killer::PtKill => "pt-kill",
            Killer::KillUserAtCross => "KILL USER at 2 s",
        }
    }

    pub fn parse(s: &str) -> Option<Killer> {
        match s {
            "rule" => Some(Killer::Rule),
            "pt-kill" => Some(Killer::PtKill),
            "kill-user" => Some(Killer::KillUserAtCross),
            _ => None,
        }
    }
}

/// One run of the scene.
pub struct ReactionRun {
    pub killer: Killer,
    /// The last start + 2 s → the first of them gone (negative if before) …
    pub first_ms: Option<f64>,
    /// … and → none listed.
    pub reaction_ms: Option<f64>,
    /// First to last start of the statements.
    pub spread_ms: f64,
    /// The rule's `killed_total` growth in this run (must be N for the rule, 0 for the others).
    pub rule_killed: u64,
    /// Cores other processes on the machine used during the run (noise; set by the caller).
    pub other_cores: f64,
    pub problem: Option<String>,
}

/// What the runs need: dbkill with its instance and the scene's rule, and the server.
pub struct Scene<'a> {
    pub dbkill: &'a Dbkill,
    pub instance: &'a Instance,
    pub task_id: i64,
    pub port: u16,
    pub n: usize,
}

/// Adds the scene's rule (switch OFF until a rule run arms it); returns its task id.
pub async fn add_rule(dbkill: &Dbkill, instance: &Instance) -> Result<i64> {
    instance.clear(dbkill).await?;
    let conditions = json!({"user": USER, "command": "Query", "time": BUSY.as_secs()});
    instance
        .add_rule(dbkill, "bench-reaction", conditions)
        .await
}

impl Scene<'_> {
    pub async fn run(
        &self,
        killer: Killer,
        probe: &mut Probe,
        client: &mut Conn,
    ) -> Result<ReactionRun> {
        let before = self.instance.counters(self.dbkill, self.task_id).await?;
        let pt = match killer {
            Killer::Rule => {
                self.instance.switch(self.dbkill, true).await?;
                None
            }
            Killer::PtKill => Some(PtKill::start(self.port, BUSY.as_secs(), probe).await?),
            Killer::KillUserAtCross => None,
        };
        tokio::time::sleep(ARMED).await;
        let sleepers = Sleepers::start(self.port, probe, self.n, BUSY).await;
        let measured = match &sleepers {
            Ok(s) if killer == Killer::KillUserAtCross => {
                let cross = s.latest_start + BUSY;
                let kill = async {
                    tokio::time::sleep_until(cross.into()).await;
                    client.query_drop(format!("KILL USER {USER}")).await
                };
                let (sent, watched) = tokio::join!(kill, watch(probe, self.n as u64, cross));
                Some(sent.map_err(anyhow::Error::from).and(watched))
            }
            Ok(s) => Some(watch(probe, self.n as u64, s.latest_start + BUSY).await),
            Err(_) => None,
        };
        // Disarm before anything can fail, so no killer outlives the run.
        let disarmed = match (pt, killer) {
            (Some(pt), _) => pt.stop().await,
            (None, Killer::Rule) => self.instance.switch(self.dbkill, false).await.map(|_| ()),
            (None, _) => Ok(()),
        };
        let sleepers = sleepers?;
        let spread_ms = sleepers.spread_ms;
        sleepers.close(probe).await?;
        disarmed?;
        let (first_ms, reaction_ms) = measured.context("no measurement")??;
        let after = self.instance.counters(self.dbkill, self.task_id).await?;
        let rule_killed = after.killed.saturating_sub(before.killed);
        let mut problems = Vec::new();
        if reaction_ms.is_none() {
            problems.push("sessions still listed when the probe gave up".to_owned());
        }
        let expected = if killer == Killer::Rule {
            self.n as u64
        } else {
            0
        };
        if rule_killed != expected {
            problems.push(format!(
                "the rule's killed_total grew by {rule_killed}, expected {expected}"
            ));
        }
        Ok(ReactionRun {
            killer,
            first_ms,
            reaction_ms,
            spread_ms,
            rule_killed,
            other_cores: 0.0,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
        })
    }
}

/// Polls the victims' count every [`Probe::interval`] until it reads 0: the times from
/// `crossed` (ms, negative if earlier) to the first read below `n` and to the read of 0; `None`
/// for what had not happened [`GIVE_UP`] after `crossed`.
async fn watch(probe: &mut Probe, n: u64, crossed: Instant) -> Result<(Option<f64>, Option<f64>)> {
    let since = |at: Instant| {
        if at >= crossed {
            at.duration_since(crossed).as_secs_f64() * 1e3
        } else {
            -(crossed.duration_since(at).as_secs_f64() * 1e3)
        }
    };
    let mut tick = tokio::time::interval(probe.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut first = None;
    loop {
        tick.tick().await;
        let count = probe.victim_count().await?;
        let at = Instant::now();
        if count < n && first.is_none() {
            first = Some(since(at));
        }
        if count == 0 {
            return Ok((first, Some(since(at))));
        }
        if at > crossed + GIVE_UP {
            return Ok((first, None));
        }
    }
}
