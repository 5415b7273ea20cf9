//! One measured run of one method in one scene: stage the scene with N victims, settle, take t0,
//! run the method while the probe polls for time-to-zero (in `stalled` while mariadbd is stopped
//! mid-kill), record return time, mysqld CPU and, for dbkill, its answer checked against the
//! server and the general log and its peak memory; then clean up.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use mysql_async::Conn;

use crate::answer::{self, ReportCheck, ServerTruth};
use crate::general_log::{self, LateKills};
use crate::history::{self, HistoryCheck};
use crate::machine;
use crate::methods::{self, Method, Outcome, Target};
use crate::scenes::{Helpers, Scene, Victims};
use crate::service::Dbkill;
use crate::stall::{StallTimes, Staller};
use crate::victims::Probe;

/// Pause between "N victims listed" and t0 (baseline.md) …
const SETTLE: Duration = Duration::from_millis(500);
/// … repeated while other processes used more CPU cores than this during it …
const QUIET_CORES: f64 = 0.25;
/// … for at most this long.
const QUIET_MAX_WAIT: Duration = Duration::from_secs(30);

/// What the benchmark needs to run a method: the server, dbkill, and three open connections.
pub struct Bench {
    pub port: u16,
    /// mariadbd's unix socket.
    pub socket: PathBuf,
    pub mysqld_pid: u32,
    pub clock_ticks: f64,
    pub dbkill: Dbkill,
    pub probe: Probe,
    /// Like the probe (root, socket, not logged): checks answers against the server.
    pub checker: Probe,
    /// `killer` over TCP: runs `KILL USER` and the raw processlist query.
    pub killer: Conn,
    pub killer_login: (&'static str, &'static str),
}

/// One measured run.
pub struct Run {
    pub scene: Scene,
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
    /// loops, pt-kill); `None` for `KILL USER`, sent by the benchmark itself.
    pub tool_cpu_s: Option<f64>,
    /// CPU cores used by everything else on the machine meanwhile (noise; 2 cores here).
    pub other_cores: f64,
    /// Time spent settling before t0, waiting for other processes to quiet down.
    pub settled: Duration,
    pub report: Option<ReportCheck>,
    /// dbkill's peak RSS (KiB) during the run, when it could be reset before.
    pub peak_rss_kib: Option<u64>,
    /// dbkill outside `idle`: its KILLs in the general log against the answer.
    pub late_kills: Option<LateKills>,
    /// `stalled`: when mariadbd was stopped and continued.
    pub stall: Option<StallTimes>,
    /// `stalled`, dbkill: when the kill history came to equal what died.
    pub history: Option<HistoryCheck>,
    /// What went wrong with the method itself (the run still counts as measured).
    pub problem: Option<String>,
}

impl Run {
    /// `stalled`: SIGCONT → zero victims.
    pub fn zero_after_resume(&self) -> Option<Duration> {
        Some(self.zero?.saturating_sub(self.stall.as_ref()?.resumed))
    }

    /// `stalled`: the probe read zero before SIGCONT, so the server had answered it before
    /// SIGSTOP: the method ended every victim within the trigger's reaction time (a poll, about
    /// 1 ms, plus the signal) and was never stalled.
    pub fn escaped_stall(&self) -> bool {
        matches!((self.zero, &self.stall), (Some(z), Some(s)) if z < s.resumed)
    }
}

/// The first reads after dbkill's answer: the victims listed, and `killer` sessions still
/// running a KILL.
async fn after_answer(checker: &mut Probe) -> Result<(HashSet<u64>, u64)> {
    let running = checker.count(general_log::RUNNING).await?;
    let alive = checker.alive().await?;
    Ok((alive, running))
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

    /// Runs `method` once against `n` fresh victims of `scene`.
    pub async fn run(&mut self, scene: Scene, method: Method, n: usize) -> Result<Run> {
        let helpers = Helpers::open(scene, self.port, &mut self.probe).await?;
        let base = self.probe.threads_connected().await?;
        let victims = Victims::start(scene, self.port, &mut self.probe, n).await?;
        let ids = self.probe.victim_ids().await?;
        // Outside idle, dbkill's answers are checked against the server.
        let checked = scene != Scene::Idle && method.is_dbkill();
        let request_id = checked.then(|| uuid::Uuid::new_v4().to_string());
        let body = methods::kill_body(&self.dbkill.db_user, method, &ids, scene.deadline_ms());
        if scene.general_log() {
            general_log::truncate(self.checker.conn()).await?;
        }
        let waited = self.settle().await?;
        let mut staller = match scene {
            Scene::Stalled => Some((
                Staller::spawn(self.mysqld_pid)?,
                Probe::connect(&self.socket).await?,
            )),
            _ => None,
        };

        let peak_reset = method.is_dbkill() && machine::reset_peak_rss(self.dbkill.pid);
        let cpu0 = self.snapshot()?;
        let returned_at = Cell::new(None);
        let t0 = Instant::now();
        let t0_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as i64;
        let ((outcome, after_answer), zero, stall) = {
            let Bench {
                probe,
                checker,
                dbkill,
                killer,
                port,
                socket,
                killer_login,
                ..
            } = self;
            let target = Target {
                port: *port,
                socket,
                login: *killer_login,
            };
            let act = async {
                let outcome =
                    methods::execute(method, dbkill, killer, &target, body, request_id.as_deref())
                        .await;
                let done = match &outcome {
                    Outcome::Http(Ok(answer)) => answer.done,
                    _ => Instant::now(),
                };
                returned_at.set(Some(done));
                // The first reads after the answer (after SIGCONT while the server is stopped).
                let after = match (&outcome, checked) {
                    (Outcome::Http(Ok(_)), true) => Some(after_answer(checker).await),
                    _ => None,
                };
                (outcome, after)
            };
            let watch = probe.time_to_zero(t0, base, &returned_at);
            let stall = async {
                match staller.as_mut() {
                    Some((s, trigger)) => s.stall(trigger, t0, n as u64).await.map(Some),
                    None => Ok(None),
                }
            };
            tokio::join!(act, watch, stall)
        };
        drop(staller);
        let (zero, stall) = (zero?, stall?);
        let cpu1 = self.snapshot()?;
        let returned = returned_at
            .get()
            .map_or(Duration::ZERO, |r| r.duration_since(t0));
        let peak_rss_kib = peak_reset
            .then(|| machine::status_kib(self.dbkill.pid, "VmHWM").ok())
            .flatten();

        let mut problems = Vec::new();
        let (mut history, mut late_kills, mut report) = (None, None, None);
        match outcome {
            Outcome::Http(Ok(answer)) => {
                if let (Some(s), Some(id)) = (&stall, &request_id) {
                    let resumed = t0 + s.resumed;
                    let h =
                        history::check(&self.dbkill, &mut self.checker, &ids, t0_ms, id, resumed);
                    history = Some(h.await?);
                }
                let (after, running) = match after_answer {
                    Some(read) => {
                        let (alive, running) = read?;
                        (Some(alive), running)
                    }
                    None => (None, 0),
                };
                let at_end = match after {
                    Some(_) => Some(self.checker.alive().await?),
                    None => None,
                };
                let truth = after
                    .as_ref()
                    .zip(at_end.as_ref())
                    .map(|(a, e)| ServerTruth {
                        after_answer: a,
                        at_end: e,
                    });
                let check = answer::check_report(answer.status, &answer.body, &ids, truth.as_ref());
                if !check.exact {
                    problems.push(format!("inexact report: {}", check.summary));
                }
                report = Some(check);
                if checked {
                    let conn = self.checker.conn();
                    // KILLs delivered to a stopped server run when it resumes: the one case the
                    // contract allows a KILL after the answer.
                    let stopped = stall.as_ref().is_some_and(|s| returned < s.resumed);
                    let running = if stopped { 0 } else { running };
                    let late = general_log::late_kills(conn, answer.done_wall, running).await?;
                    if !late.ok() {
                        problems.push(format!("general log: {}", late.summary()));
                    }
                    late_kills = Some(late);
                }
            }
            Outcome::Http(Err(e)) => problems.push(format!("HTTP request failed: {e:#}")),
            Outcome::Done(Ok(())) => {}
            Outcome::Done(Err(e)) => problems.push(format!("{e:#}")),
        }
        if let Some(h) = history.as_ref().filter(|h| h.matched_after.is_none()) {
            problems.push(format!("history unequal 30 s after resume: {}", h.summary));
        }
        if zero.is_none() {
            let left = self.probe.victim_count().await?;
            problems.push(format!(
                "{left} of {n} victims still listed when the probe gave up"
            ));
        }
        victims.close(&mut self.probe).await?;
        helpers.close().await?;
        Ok(Run {
            scene,
            n,
            method,
            zero,
            returned,
            cpu_s: cpu1.mysqld.saturating_sub(cpu0.mysqld) as f64 / self.clock_ticks,
            probe_cpu_s: cpu1.probe.saturating_sub(cpu0.probe) as f64 / self.clock_ticks,
            tool_cpu_s: match method {
                m if m.is_dbkill() => Some(cpu1.dbkill.saturating_sub(cpu0.dbkill)),
                Method::KillUser => None,
                _ => Some(cpu1.children.saturating_sub(cpu0.children)),
            }
            .map(|t| t as f64 / self.clock_ticks),
            other_cores: cpu1.others_since(&cpu0) as f64
                / self.clock_ticks
                / cpu1.at.duration_since(cpu0.at).as_secs_f64().max(1e-3),
            settled: waited,
            report,
            peak_rss_kib,
            late_kills,
            stall,
            history,
            problem: (!problems.is_empty()).then(|| problems.join("; ")),
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
