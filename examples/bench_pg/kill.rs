//! One kill run: N idle victims, then one method kills them all while the monitor polls their
//! count, the same way for every method, from t0 until it reads 0.
//!
//! - `floor`: `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'victim';`
//!   written to the open psql session (t0 when the line is written): one statement, the least a
//!   client can do.
//! - `psql-loop` (the goal's peer): the shell loop typed in an incident, run as
//!   `sh -c '`[`SHELL_LOOP`]`'` (t0 when sh is spawned, so listing the pids is timed too): one
//!   psql lists the victims' pids, then one new psql per pid (a process, a login, one
//!   `pg_terminate_backend`). Connection settings come from `PGHOST`, `PGPORT`, `PGUSER`,
//!   `PGPASSWORD`, `PGDATABASE` in sh's environment; `psql` is the cluster's own binary (first
//!   on `PATH`, not Debian's Perl wrapper, which would only make the loop slower).
//! - `psql-script` (reported, no goal): the victims' pids listed beforehand (not timed), then one
//!   line `SELECT pg_terminate_backend(<pid>);` per pid written to the open psql session, all at
//!   once, as `… | psql` does with a generated script (t0 when the first line is written): psql
//!   runs them one after the other, one round trip each.
//! - `dbkill`: `DELETE …/process {"db_user_id":…,"user":"victim"}` (t0 when the request is
//!   sent), while dbkill's RSS is sampled.

use std::cell::Cell;
use std::collections::HashSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use crate::Bench;
use crate::rss::{Peak, Sampler};
use crate::victims::{self, USER};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Floor,
    PsqlLoop,
    PsqlScript,
    Dbkill,
}

/// The loop a person types to kill one user's sessions with psql, one psql per pid.
pub const SHELL_LOOP: &str = "for pid in $(psql -Atc \"SELECT pid FROM pg_stat_activity WHERE \
usename='victim'\"); do psql -c \"SELECT pg_terminate_backend($pid)\"; done";

impl Method {
    pub const ALL: [Method; 4] = [
        Method::Floor,
        Method::PsqlLoop,
        Method::PsqlScript,
        Method::Dbkill,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Method::Floor => "floor",
            Method::PsqlLoop => "psql-loop",
            Method::PsqlScript => "psql-script",
            Method::Dbkill => "dbkill",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.key() == s)
    }
}

pub struct Run {
    pub method: Method,
    pub n: usize,
    /// t0 → the monitor read 0 victims; `None` if it never did.
    pub zero: Option<Duration>,
    /// t0 → the method returned (psql's marker row after the statements; dbkill's answer).
    pub returned: Option<Duration>,
    pub polls: usize,
    /// Opening the N victims took this long (not timed as part of the run).
    pub staged: Duration,
    /// How long the machine took to settle before t0.
    pub settled: Duration,
    /// dbkill's memory during the run.
    pub peak: Option<Peak>,
    /// dbkill's answer, summed up, and whether it names exactly the N victims as killed.
    pub report: Option<String>,
    pub exact: Option<bool>,
    pub problem: Option<String>,
}

impl Bench {
    pub async fn kill_run(&mut self, method: Method, n: usize) -> Result<Run> {
        let start = Instant::now();
        let conns = victims::open(self.port, n).await?;
        self.monitor.wait_for(n).await?;
        let staged = start.elapsed();
        let settled = self.settle().await?;
        let pids = self.monitor.pids().await?;
        let mut run = Run {
            method,
            n,
            zero: None,
            returned: None,
            polls: 0,
            staged,
            settled,
            peak: None,
            report: None,
            exact: None,
            problem: None,
        };
        let measured = match method {
            Method::Floor => {
                let sql = format!(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{USER}';\n"
                );
                self.psql_run(sql, &mut run).await
            }
            Method::PsqlLoop => self.shell_loop_run(&mut run).await,
            Method::PsqlScript => {
                let sql: String = pids
                    .iter()
                    .map(|p| format!("SELECT pg_terminate_backend({p});\n"))
                    .collect();
                self.psql_run(sql, &mut run).await
            }
            Method::Dbkill => self.dbkill_run(&pids, &mut run).await,
        };
        if let Err(e) = measured {
            run.problem = Some(format!("{e:#}"));
        }
        if run.zero.is_none() || run.problem.is_some() {
            self.monitor.clear().await?;
        }
        drop(conns);
        Ok(run)
    }

    /// Writes `sql` to the open psql session at t0; every statement answers one `t` row.
    async fn psql_run(&mut self, sql: String, run: &mut Run) -> Result<()> {
        let t0 = Instant::now();
        let mark = self.psql.send(sql);
        let psql = &mut self.psql;
        let zero = self
            .monitor
            .time_to_zero(t0, || {
                // A failing psql shows in `wait` below; here it only stops the poll.
                match psql.try_mark(mark) {
                    Ok(m) => m.map(|m| (m.at, false)),
                    Err(_) => Some((Instant::now(), true)),
                }
            })
            .await?;
        (run.zero, run.polls) = (zero.zero, zero.polls);
        let m = self.psql.wait(mark, Duration::from_secs(120)).await?;
        run.returned = Some(m.at - t0);
        if (m.t, m.f, m.other) != (run.n, 0, 0) {
            run.problem = Some(format!(
                "psql answered {} t, {} f, {} other rows; expected {} t: {}",
                m.t,
                m.f,
                m.other,
                run.n,
                self.psql.errors()
            ));
        }
        Ok(())
    }

    /// Runs [`SHELL_LOOP`] through `sh -c`; each psql prints one `t` row when its backend was
    /// signalled.
    async fn shell_loop_run(&mut self, run: &mut Run) -> Result<()> {
        let (user, password) = crate::KILLER;
        let path = format!(
            "{}:{}",
            self.psql_bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut cmd = tokio::process::Command::new("sh");
        cmd.args(["-c", SHELL_LOOP])
            .env("PATH", path)
            .env("PGHOST", "127.0.0.1")
            .env("PGPORT", self.port.to_string())
            .env("PGUSER", user)
            .env("PGPASSWORD", password)
            .env("PGDATABASE", "postgres")
            .env("PGSSLMODE", "disable")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let answered: Cell<Option<(Instant, bool)>> = Cell::new(None);
        let t0 = Instant::now();
        let child = async {
            let out = cmd.output().await;
            let failed = !out.as_ref().is_ok_and(|o| o.status.success());
            answered.set(Some((Instant::now(), failed)));
            out
        };
        let poll = self.monitor.time_to_zero(t0, || answered.get());
        let (out, zero) = tokio::join!(child, poll);
        let zero = zero?;
        (run.zero, run.polls) = (zero.zero, zero.polls);
        let out = out.context("run sh -c <the psql loop>")?;
        run.returned = answered.get().map(|(at, _)| at - t0);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let t = stdout.lines().filter(|l| l.trim() == "t").count();
        if !out.status.success() || t != run.n {
            let stderr = String::from_utf8_lossy(&out.stderr);
            run.problem = Some(format!(
                "the psql loop exited {}, {t} backends signalled, expected {}: {}",
                out.status,
                run.n,
                stderr.lines().take(5).collect::<Vec<_>>().join(" | ")
            ));
        }
        Ok(())
    }

    async fn dbkill_run(&mut self, pids: &[i32], run: &mut Run) -> Result<()> {
        let dbkill = self.dbkill.as_ref().context("dbkill is not running")?;
        let body = serde_json::to_vec(&json!({"db_user_id": dbkill.db_user, "user": USER}))?;
        let sampler = Sampler::start(dbkill.pid);
        let answered: Cell<Option<(Instant, bool)>> = Cell::new(None);
        let t0 = Instant::now();
        let kill = async {
            let answer = dbkill.kill(body, None).await;
            let failed = !answer.as_ref().is_ok_and(|a| a.status == 200);
            let at = answer.as_ref().map_or_else(|_| Instant::now(), |a| a.done);
            answered.set(Some((at, failed)));
            answer
        };
        let poll = self.monitor.time_to_zero(t0, || answered.get());
        let (answer, zero) = tokio::join!(kill, poll);
        run.peak = Some(sampler.stop());
        let zero = zero?;
        (run.zero, run.polls) = (zero.zero, zero.polls);
        let answer = answer?;
        run.returned = Some(answer.done - t0);
        let (summary, exact) = check_report(answer.status, &answer.body, pids);
        run.report = Some(summary);
        run.exact = Some(exact);
        Ok(())
    }

    /// Waits 0.5 s, and again while other processes keep more than a quarter of a core busy
    /// (at most 30 s); returns the time spent.
    pub async fn settle(&self) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let before = crate::machine::machine_busy_ticks()?;
            tokio::time::sleep(Duration::from_millis(500)).await;
            let busy =
                (crate::machine::machine_busy_ticks()? - before) as f64 / self.clock_ticks / 0.5;
            if busy < 0.25 || start.elapsed() > Duration::from_secs(30) {
                return Ok(start.elapsed());
            }
        }
    }
}

/// A one-line summary of dbkill's answer, and whether it is exact: HTTP 200 whose `killed`
/// names exactly the victims' pids, with nothing `failed`, `not_found` or `uncertain`.
fn check_report(status: u16, body: &[u8], pids: &[i32]) -> (String, bool) {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    if status != 200 {
        return (format!("HTTP {status}: {}", text()), false);
    }
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return (format!("not JSON: {}", text()), false);
    };
    let list = |key: &str| {
        v.get(key)
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let killed = list("killed");
    let ids: HashSet<i64> = killed
        .iter()
        .filter_map(|k| k.get("id")?.as_str()?.parse().ok())
        .collect();
    let gone = killed
        .iter()
        .filter(|k| k.get("gone").and_then(Value::as_bool) == Some(true))
        .count();
    let victims: HashSet<i64> = pids.iter().map(|&p| i64::from(p)).collect();
    let others = ["failed", "not_found", "uncertain", "skipped"].map(|k| (k, list(k).len()));
    let exact = ids == victims && others[..3].iter().all(|(_, c)| *c == 0);
    let mut summary = format!("killed {} ({gone} gone)", killed.len());
    for (key, count) in others {
        if count > 0 {
            summary += &format!(", {key} {count}");
        }
    }
    if !exact {
        summary += &format!(" — not exactly the {} victims", victims.len());
    }
    (summary, exact)
}
