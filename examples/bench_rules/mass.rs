//! Scene 3, mass match: N idle sessions of `victim` are already there when a rule `user=victim
//! time=1` is added and the switch turned ON; measured from the switch's answer until none is
//! listed, against `KILL USER victim` from a client measured the same way.

use std::cell::Cell;
use std::time::{Duration, Instant};

use anyhow::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::rules::Instance;
use crate::service::Dbkill;
use crate::victims::{self, Probe, USER};

/// Idle this long before t0, so every session's `time` is past the rule's 1 s.
const IDLE_BEFORE: Duration = Duration::from_millis(1500);
/// How long after zero the rule's counter may take to count every kill.
const COUNTED_WITHIN: Duration = Duration::from_secs(5);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Rule,
    KillUser,
}

impl Method {
    pub fn key(self) -> &'static str {
        match self {
            Method::Rule => "dbkill rule",
            Method::KillUser => "KILL USER",
        }
    }
}

pub struct MassRun {
    pub method: Method,
    /// t0 (the switch's answer, or `KILL USER` sent) → none listed.
    pub zero_ms: Option<f64>,
    /// The rule's `killed_total` after the run (N when it killed them all).
    pub rule_killed: Option<u64>,
    /// Cores other processes on the machine used during the run (noise; set by the caller).
    pub other_cores: f64,
    pub problem: Option<String>,
}

pub struct Scene<'a> {
    pub dbkill: &'a Dbkill,
    pub instance: &'a Instance,
    pub port: u16,
    pub n: usize,
}

impl Scene<'_> {
    pub async fn run(
        &self,
        method: Method,
        probe: &mut Probe,
        killer: &mut Conn,
    ) -> Result<MassRun> {
        self.instance.clear(self.dbkill).await?;
        let base = probe.threads_connected().await?;
        let conns = victims::open(self.port, self.n).await?;
        probe.wait_victims(self.n as u64).await?;
        tokio::time::sleep(IDLE_BEFORE).await;
        let returned = Cell::new(None);
        let (zero, task_id) = match method {
            Method::Rule => {
                let conditions = json!({"user": USER, "time": 1});
                let rule = self
                    .instance
                    .add_rule(self.dbkill, "bench-mass", conditions);
                let task_id = rule.await?;
                let t0 = self.instance.switch(self.dbkill, true).await?;
                (probe.time_to_zero(t0, base, &returned).await, Some(task_id))
            }
            Method::KillUser => {
                // Polled while the statement runs, as bench.rs does: it returns before its
                // sessions are gone.
                let t0 = Instant::now();
                let kill = async {
                    let sent = killer.query_drop(format!("KILL USER {USER}")).await;
                    returned.set(Some(Instant::now()));
                    sent
                };
                let (sent, zero) = tokio::join!(kill, probe.time_to_zero(t0, base, &returned));
                sent?;
                (zero, None)
            }
        };
        let rule_killed = match task_id {
            Some(id) => Some(self.killed_total(id).await?),
            None => None,
        };
        self.instance.clear(self.dbkill).await?;
        victims::close(conns).await;
        probe.settle_clean().await?;
        let zero_ms = zero?.map(|z| z.as_secs_f64() * 1e3);
        let problem = zero_ms
            .is_none()
            .then(|| "sessions still listed when the probe gave up".to_owned());
        Ok(MassRun {
            method,
            zero_ms,
            rule_killed,
            other_cores: 0.0,
            problem,
        })
    }

    /// The rule's `killed_total` once it reaches N, or after [`COUNTED_WITHIN`]: it counts after
    /// verifying, which may end after the sessions are gone.
    async fn killed_total(&self, task_id: i64) -> Result<u64> {
        let deadline = Instant::now() + COUNTED_WITHIN;
        loop {
            let killed = self.instance.counters(self.dbkill, task_id).await?.killed;
            if killed >= self.n as u64 || Instant::now() > deadline {
                return Ok(killed);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
