//! Failover of a rule: a rule on role `ruled` (sessions older than 1 s) runs on the replicas;
//! each run finds the owner (the replica whose `dbkill_rule_leases_held` is 1), opens one
//! victim, and at once (the victim is younger than the rule's 1 s, so the owner cannot have
//! killed it) SIGKILLs or SIGTERMs the owner. The figure is the time from the signal to the
//! victim's backend leaving `pg_stat_activity`: the first kill by the new owner (the history
//! row says which replica it was). The signalled replica is started again afterwards, so every
//! run begins with all replicas up.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::Row;
use sqlx::postgres::PgConnection;

use crate::api::Api;
use crate::server::Server;
use crate::victims;

const LEASES_HELD: &str = "dbkill_rule_leases_held";
/// The default lease TTL is 15 s; a run that takes more than this has failed.
const GIVE_UP: Duration = Duration::from_secs(60);
const OWNER_WITHIN: Duration = Duration::from_secs(30);
/// The rule's `time`: a session younger than this is not matched.
const RULE_TIME: Duration = Duration::from_secs(1);

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    Kill,
    Term,
}

impl Signal {
    pub fn name(self) -> &'static str {
        match self {
            Signal::Kill => "SIGKILL",
            Signal::Term => "SIGTERM",
        }
    }
}

pub struct Run {
    pub signal: Signal,
    pub owner: String,
    /// The replica the history names for the victim.
    pub new_owner: Option<String>,
    /// Signal → victim gone; `None` if it was not within a minute.
    pub took: Option<Duration>,
    /// Signal → the victim old enough for the rule (1 s after it connected): no replica could
    /// have killed it sooner, so this much of `took` is the rule's, not the failover's.
    pub eligible: Duration,
    pub problem: Option<String>,
}

/// `runs` failovers with `signal`, one after the other.
pub async fn runs(
    replicas: &mut [Server],
    api: &Api,
    monitor: &mut PgConnection,
    pg_port: u16,
    signal: Signal,
    runs: usize,
) -> Result<Vec<Run>> {
    let mut out = Vec::with_capacity(runs);
    for i in 0..runs {
        let run = one(replicas, api, monitor, pg_port, signal)
            .await
            .with_context(|| format!("{} run {}", signal.name(), i + 1))?;
        eprintln!(
            "bench_replicas: {} {} ({}/{runs}): {} → {}{}",
            signal.name(),
            run.owner,
            i + 1,
            run.took
                .map_or("never".to_owned(), |d| format!("{:.2} s", d.as_secs_f64())),
            run.new_owner.as_deref().unwrap_or("?"),
            run.problem
                .as_ref()
                .map_or(String::new(), |p| format!(" — PROBLEM: {p}"))
        );
        out.push(run);
    }
    Ok(out)
}

async fn one(
    replicas: &mut [Server],
    api: &Api,
    monitor: &mut PgConnection,
    pg_port: u16,
    signal: Signal,
) -> Result<Run> {
    let owner = owner(replicas, api).await?;
    let mut conns = victims::open(pg_port, victims::RULED, 1).await?;
    let pid: i32 = sqlx::query("SELECT pg_backend_pid()")
        .fetch_one(&mut conns[0])
        .await?
        .get(0);
    // An idle backend's age counts from its last statement's end (`state_change`).
    let opened = Instant::now();
    let t0 = Instant::now();
    match signal {
        Signal::Kill => replicas[owner].sigkill(),
        Signal::Term => replicas[owner].sigterm(),
    }
    let eligible = (opened + RULE_TIME).saturating_duration_since(t0);
    let took = victims::gone_after(monitor, pid, t0, GIVE_UP).await?;
    if signal == Signal::Term {
        replicas[owner].reap().await;
    }
    let owner_name = replicas[owner].name.clone();
    let mut run = Run {
        signal,
        owner: owner_name.clone(),
        new_owner: None,
        took,
        eligible,
        problem: None,
    };
    if took.is_none() {
        run.problem = Some(format!("the victim was not killed within {GIVE_UP:?}"));
    } else {
        let survivor = replicas
            .iter()
            .find(|r| r.is_running())
            .context("no replica left")?;
        let reader = api.at(&survivor.base);
        let deadline = Instant::now() + Duration::from_secs(5);
        while run.new_owner.is_none() && Instant::now() < deadline {
            run.new_owner = reader.killed_by(pid).await?;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        match &run.new_owner {
            None => run.problem = Some("no history row for the victim".into()),
            Some(n) if *n == owner_name => {
                run.problem = Some("the signalled owner killed the victim itself".into())
            }
            Some(_) => {}
        }
    }
    replicas[owner].restart().await?;
    Ok(run)
}

/// The index of the one running replica that holds the lease, waiting for exactly one.
async fn owner(replicas: &[Server], api: &Api) -> Result<usize> {
    let deadline = Instant::now() + OWNER_WITHIN;
    loop {
        let mut holders = Vec::new();
        for (i, r) in replicas.iter().enumerate().filter(|(_, r)| r.is_running()) {
            if api.at(&r.base).metric(LEASES_HELD).await? >= 1.0 {
                holders.push(i);
            }
        }
        if let [one] = holders[..] {
            return Ok(one);
        }
        if Instant::now() > deadline {
            bail!(
                "not exactly one lease holder within {OWNER_WITHIN:?}: {:?}",
                holders
                    .iter()
                    .map(|&i| &replicas[i].name)
                    .collect::<Vec<_>>()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
