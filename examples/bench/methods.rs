//! The ways to kill the victims (six by default), and one measured run of one of them: open N
//! victims, settle, take t0, run the method while the probe polls for time-to-zero, record return
//! time, mysqld CPU and (for dbkill) the report and peak memory, then clean up.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use serde_json::{Value, json};
use tokio::process::Command;

use crate::machine;
use crate::service::Dbkill;
use crate::victims::{self, DATABASE, Probe, USER};

/// Pause between "N victims listed" and t0 (baseline.md) …
const SETTLE: Duration = Duration::from_millis(500);
/// … repeated while other processes used more CPU cores than this during it …
const QUIET_CORES: f64 = 0.25;
/// … for at most this long.
const QUIET_MAX_WAIT: Duration = Duration::from_secs(30);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    DbkillUser,
    DbkillDatabase,
    DbkillIds,
    KillUser,
    ClientLoop,
    PtKill,
    /// The client loop over the unix socket, as baseline.md ran it (not run by default).
    ClientLoopSocket,
}

impl Method {
    /// What issue #4 asks for, in the default interleaving order.
    pub const DEFAULT: [Method; 6] = [
        Method::DbkillUser,
        Method::DbkillDatabase,
        Method::DbkillIds,
        Method::KillUser,
        Method::ClientLoop,
        Method::PtKill,
    ];
    pub const ALL: [Method; 7] = [
        Method::DbkillUser,
        Method::DbkillDatabase,
        Method::DbkillIds,
        Method::KillUser,
        Method::ClientLoop,
        Method::PtKill,
        Method::ClientLoopSocket,
    ];

    /// The name used in tables and on the command line (`--methods`).
    pub fn key(self) -> &'static str {
        match self {
            Method::DbkillUser => "dbkill-user",
            Method::DbkillDatabase => "dbkill-database",
            Method::DbkillIds => "dbkill-ids",
            Method::KillUser => "kill-user",
            Method::ClientLoop => "client-loop",
            Method::PtKill => "pt-kill",
            Method::ClientLoopSocket => "client-loop-socket",
        }
    }

    pub fn parse(s: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.key() == s)
    }

    pub fn is_dbkill(self) -> bool {
        matches!(
            self,
            Method::DbkillUser | Method::DbkillDatabase | Method::DbkillIds
        )
    }
}

/// What the benchmark needs to run a method: the server, dbkill, and two open connections.
pub struct Bench {
    pub port: u16,
    /// mariadbd's unix socket.
    pub socket: PathBuf,
    pub mysqld_pid: u32,
    pub clock_ticks: f64,
    pub dbkill: Dbkill,
    pub probe: Probe,
    /// `killer` over TCP: runs `KILL USER` and the raw processlist query.
    pub killer: Conn,
    pub killer_login: (&'static str, &'static str),
}

/// How dbkill answered a kill.
pub struct ReportCheck {
    pub killed: usize,
    pub gone: usize,
    /// 200, and `killed` names exactly the N victims, nothing failed or not found.
    pub exact: bool,
    pub summary: String,
}

/// One measured run.
pub struct Run {
    pub n: usize,
    pub method: Method,
    /// t0 → the probe read zero victims; `None` if that never happened.
    pub zero: Option<Duration>,
    /// t0 → the method returned (HTTP body received, statement returned, tool exited).
    pub returned: Duration,
    /// mysqld user+system CPU seconds from t0 until both of the above …
    pub cpu_s: f64,
    /// … of which the probe's own connection thread used this much.
    pub probe_cpu_s: f64,
    /// The killer's own CPU seconds in that window: dbkill's, or the tool processes' (client
    /// loop, pt-kill); `None` for `KILL USER`, sent by the benchmark itself.
    pub tool_cpu_s: Option<f64>,
    /// CPU cores used by everything else on the machine meanwhile (noise; 2 cores here).
    pub other_cores: f64,
    /// Time spent settling before t0, waiting for other processes to quiet down.
    pub settled: Duration,
    pub report: Option<ReportCheck>,
    /// dbkill's peak RSS (KiB) during the run, when it could be reset before.
    pub peak_rss_kib: Option<u64>,
    /// What went wrong with the method itself (the run still counts as measured).
    pub problem: Option<String>,
}

impl Bench {
    /// Sleeps [`SETTLE`], again while other processes were busy meanwhile (up to
    /// [`QUIET_MAX_WAIT`]); returns the time spent.
    async fn settle(&self) -> Result<Duration> {
        let start = Instant::now();
        loop {
            let before = self.snapshot()?;
            tokio::time::sleep(SETTLE).await;
            let after = self.snapshot()?;
            let others = after.others_since(&before) as f64
                / self.clock_ticks
                / after.at.duration_since(before.at).as_secs_f64();
            if others <= QUIET_CORES || start.elapsed() >= QUIET_MAX_WAIT {
                return Ok(start.elapsed());
            }
        }
    }

    /// Runs `method` once against `n` fresh victims.
    pub async fn run(&mut self, method: Method, n: usize) -> Result<Run> {
        let base = self.probe.threads_connected().await?;
        let conns = victims::open(self.port, n).await?;
        self.probe.wait_victims(n as u64).await?;
        let ids = self.probe.victim_ids().await?;
        let body = self.kill_body(method, &ids);
        let waited = self.settle().await?;

        let peak_reset = method.is_dbkill() && machine::reset_peak_rss(self.dbkill.pid);
        let cpu0 = self.snapshot()?;
        let returned_at = Cell::new(None);
        let t0 = Instant::now();
        let (outcome, zero) = {
            let Bench {
                probe,
                dbkill,
                killer,
                port,
                socket,
                killer_login,
                ..
            } = self;
            let act = async {
                let outcome =
                    execute(method, dbkill, killer, (*port, socket), *killer_login, body).await;
                let done = match &outcome {
                    Outcome::Http(Ok(answer)) => answer.done,
                    _ => Instant::now(),
                };
                returned_at.set(Some(done));
                outcome
            };
            let watch = probe.time_to_zero(t0, base, &returned_at);
            tokio::join!(act, watch)
        };
        let zero = zero?;
        let cpu1 = self.snapshot()?;
        let returned = returned_at
            .get()
            .map_or(Duration::ZERO, |r| r.duration_since(t0));
        let peak_rss_kib = peak_reset
            .then(|| machine::status_kib(self.dbkill.pid, "VmHWM").ok())
            .flatten();

        let (report, mut problem) = match outcome {
            Outcome::Http(Ok(answer)) => {
                let check = check_report(answer.status, &answer.body, &ids);
                let problem = (!check.exact).then(|| format!("inexact report: {}", check.summary));
                (Some(check), problem)
            }
            Outcome::Http(Err(e)) => (None, Some(format!("HTTP request failed: {e:#}"))),
            Outcome::Done(Ok(())) => (None, None),
            Outcome::Done(Err(e)) => (None, Some(format!("{e:#}"))),
        };
        if zero.is_none() {
            let left = self.probe.victim_count().await?;
            let msg = format!("{left} of {n} victims still listed when the probe gave up");
            problem = Some(problem.map_or(msg.clone(), |p| format!("{p}; {msg}")));
        }
        victims::close(conns).await;
        self.probe.settle_clean().await?;
        Ok(Run {
            n,
            method,
            zero,
            returned,
            cpu_s: cpu1.mysqld.saturating_sub(cpu0.mysqld) as f64 / self.clock_ticks,
            probe_cpu_s: cpu1.probe.saturating_sub(cpu0.probe) as f64 / self.clock_ticks,
            tool_cpu_s: match method {
                m if m.is_dbkill() => Some(cpu1.dbkill.saturating_sub(cpu0.dbkill)),
                Method::ClientLoop | Method::ClientLoopSocket | Method::PtKill => {
                    Some(cpu1.children.saturating_sub(cpu0.children))
                }
                _ => None,
            }
            .map(|t| t as f64 / self.clock_ticks),
            other_cores: cpu1.others_since(&cpu0) as f64
                / self.clock_ticks
                / cpu1.at.duration_since(cpu0.at).as_secs_f64().max(1e-3),
            settled: waited,
            report,
            peak_rss_kib,
            problem,
        })
    }

    fn snapshot(&self) -> Result<CpuSnapshot> {
        let (own, children) = machine::own_ticks()?;
        Ok(CpuSnapshot {
            at: Instant::now(),
            mysqld: machine::cpu_ticks(self.mysqld_pid)?,
            probe: match self.probe.tid {
                Some(tid) => machine::thread_cpu_ticks(self.mysqld_pid, tid)?,
                None => 0,
            },
            dbkill: machine::cpu_ticks(self.dbkill.pid)?,
            own,
            children,
            machine: machine::machine_busy_ticks()?,
        })
    }

    fn kill_body(&self, method: Method, ids: &[u64]) -> Vec<u8> {
        let db_user = &self.dbkill.db_user;
        let body = match method {
            Method::DbkillUser => json!({"db_user_id": db_user, "user": USER}),
            Method::DbkillDatabase => json!({"db_user_id": db_user, "database": DATABASE}),
            Method::DbkillIds => json!({"db_user_id": db_user,
                "process_ids": ids.iter().map(u64::to_string).collect::<Vec<_>>()}),
            _ => return Vec::new(),
        };
        serde_json::to_vec(&body).expect("JSON of a json! value")
    }
}

/// CPU clock ticks used so far by the processes that matter, and by the whole machine.
struct CpuSnapshot {
    at: Instant,
    mysqld: u64,
    /// The probe's thread in mysqld (part of `mysqld`).
    probe: u64,
    dbkill: u64,
    own: u64,
    /// Our reaped children: the mariadb clients and pt-kill.
    children: u64,
    machine: u64,
}

impl CpuSnapshot {
    /// Busy ticks since `before` that none of ours account for.
    fn others_since(&self, before: &CpuSnapshot) -> u64 {
        let ours = |s: &CpuSnapshot| s.mysqld + s.dbkill + s.own + s.children;
        (self.machine.saturating_sub(before.machine))
            .saturating_sub(ours(self).saturating_sub(ours(before)))
    }
}

enum Outcome {
    Http(Result<crate::service::Answer>),
    Done(Result<()>),
}

/// Runs the method itself: what happens between t0 and its return.
async fn execute(
    method: Method,
    dbkill: &Dbkill,
    killer: &mut Conn,
    (port, socket): (u16, &Path),
    (user, password): (&str, &str),
    body: Vec<u8>,
) -> Outcome {
    match method {
        Method::DbkillUser | Method::DbkillDatabase | Method::DbkillIds => {
            Outcome::Http(dbkill.kill(body).await)
        }
        Method::KillUser => Outcome::Done(
            killer
                .query_drop(format!("KILL USER {USER}"))
                .await
                .map_err(anyhow::Error::from),
        ),
        Method::ClientLoop | Method::ClientLoopSocket => {
            let to = if method == Method::ClientLoop {
                format!("--protocol=TCP -h127.0.0.1 -P{port}")
            } else {
                format!("-S {}", socket.display())
            };
            let client = format!("mariadb --no-defaults {to} -u{user} -p{password}");
            let script = format!(
                "{client} -N -e \"SELECT CONCAT('KILL ',id,';') FROM information_schema.processlist \
                 WHERE user='{USER}'\" | {client}"
            );
            Outcome::Done(run_tool(Command::new("sh").args(["-c", &script])).await)
        }
        Method::PtKill => Outcome::Done(
            run_tool(Command::new("pt-kill").args([
                "--no-version-check",
                "--match-user",
                &format!("^{USER}$"),
                "--victims",
                "all",
                "--kill",
                "--run-time",
                "1",
                "--interval",
                "1",
                &format!("h=127.0.0.1,P={port},u={user},p={password}"),
            ]))
            .await,
        ),
    }
}

/// Runs a tool to completion; an error if it fails.
async fn run_tool(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        anyhow::bail!(
            "exited with {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Checks that a KillSession answer is the full, exact report on `ids`.
fn check_report(status: u16, body: &[u8], ids: &[u64]) -> ReportCheck {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let list = |key: &str| {
        parsed
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let killed = list("killed");
    let (skipped, not_found, failed) = (
        list("skipped").len(),
        list("not_found").len(),
        list("failed").len(),
    );
    let killed_ids: HashSet<u64> = killed
        .iter()
        .filter_map(|k| k.get("id")?.as_str()?.parse().ok())
        .collect();
    let expected: HashSet<u64> = ids.iter().copied().collect();
    let all_victims = killed
        .iter()
        .all(|k| k.get("user").and_then(Value::as_str) == Some(USER));
    let gone = killed
        .iter()
        .filter(|k| k.get("gone").and_then(Value::as_bool) == Some(true))
        .count();
    let exact = status == 200
        && parsed.is_some()
        && killed.len() == ids.len()
        && killed_ids == expected
        && all_victims
        && failed == 0
        && not_found == 0;
    let mut summary = format!(
        "HTTP {status}, killed {}/{} ({} distinct, {gone} gone), skipped {skipped}, not_found {not_found}, failed {failed}",
        killed.len(),
        ids.len(),
        killed_ids.len()
    );
    if parsed.is_none() || status != 200 {
        let text = String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
        summary.push_str(&format!("; body: {text}"));
    }
    ReportCheck {
        killed: killed.len(),
        gone,
        exact,
        summary,
    }
}
