//! The kill benchmark of issues #4 and #11: dbkill (by user, by database, by id list) against
//! MariaDB's own `KILL USER`, the plain client loop, an 8-connection client loop and pt-kill, in
//! scenes of what the victims are doing (`scenes.rs`: idle, sleeping, waiting for a row lock or
//! a metadata lock, burning CPU, or idle while the server stalls mid-kill), plus ListProcesses
//! and dbkill's memory.
//!
//! Run it through `scripts/bench` (installs pt-kill and MariaDB when missing, builds
//! `target/release/dbkill`), e.g. `scripts/bench --scenes sleep --sizes 100 --reps 1`. It starts
//! a throwaway `mariadbd` (12,000 connections) and `dbkill serve`, registers the server in
//! dbkill, warms it up, then for each scene, N and rep runs every method once, in an order
//! rotated per rep:
//!
//! 1. stage the scene: open N victim connections (TCP, 64 at a time), start their statement and
//!    wait until the processlist shows all N where the scene wants them;
//! 2. settle 0.5 s, repeated (up to 30 s) while other processes on the machine were busy;
//! 3. take t0 and run the method while an admin connection polls as baseline.md describes
//!    (`Threads_connected` every ~1 ms until at most 64 extra remain, then the victims'
//!    processlist count until 0): time-to-zero, and when the method returned;
//! 4. record mysqld CPU (also without the probe's own thread, found by its `TID`), the killer's
//!    CPU, other processes' CPU, and for dbkill its report (exact? outside idle checked against
//!    the server, the general log and in `stalled` the kill history) and peak RSS.
//!
//! All killers reach the server over TCP, as dbkill must (`client-loop-socket`, not run by
//! default, is the client loop over the unix socket, as baseline.md ran it). Results go to
//! stdout, as text and then as Markdown for BENCHMARKS.md; progress goes to stderr. Everything
//! it starts is stopped on exit: mariadbd and dbkill also when the benchmark is killed.

#[path = "../tests/support/mariadb.rs"]
mod mariadb;
#[path = "../tests/support/server_process.rs"]
mod server_process;

#[path = "bench/answer.rs"]
mod answer;
#[path = "bench/general_log.rs"]
mod general_log;
#[path = "bench/goals.rs"]
mod goals;
#[path = "bench/history.rs"]
mod history;
#[path = "bench/listing.rs"]
mod listing;
#[path = "bench/machine.rs"]
mod machine;
#[path = "bench/methods.rs"]
mod methods;
#[path = "bench/report.rs"]
mod report;
#[path = "bench/run.rs"]
mod run;
#[path = "bench/scenes.rs"]
mod scenes;
// Shared with the PostgreSQL benchmark, which starts dbkill with a PostgreSQL instance.
#[allow(dead_code)]
#[path = "bench/service.rs"]
mod service;
#[path = "bench/stall.rs"]
mod stall;
#[path = "bench/victims.rs"]
mod victims;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

use mariadb::{MariaDb, MariaDbOptions};
use methods::Method;
use run::{Bench, Run};
use scenes::Scene;
use service::Dbkill;

const KILLER: (&str, &str) = ("killer", "killerpw");

const USAGE: &str = "usage: bench [--scenes idle,sleep,…] [--sizes 100,300,1000] [--reps 5] \
[--methods dbkill-user,…] [--list-calls 7] [--poll-ms 1] [--dbkill target/release/dbkill]
scenes (default all): idle sleep rowlock mdl cpu stalled
sizes (default): idle 1000,5000,10000; the others 100,300,1000
methods (default): idle dbkill-user dbkill-database dbkill-ids kill-user client-loop pt-kill;
  the others dbkill-user kill-user client-loop client-loop-8 pt-kill; also client-loop-socket";

struct Args {
    scenes: Vec<Scene>,
    /// `None`: each scene's default sizes.
    sizes: Option<Vec<usize>>,
    reps: usize,
    /// `None`: each scene's default methods.
    methods: Option<Vec<Method>>,
    list_calls: usize,
    poll_ms: u64,
    dbkill: PathBuf,
}

impl Args {
    fn parse() -> Result<Args> {
        let exe = std::env::current_exe()?;
        // target/release/examples/bench -> target/release/dbkill
        let default_dbkill = exe
            .parent()
            .and_then(|p| p.parent())
            .map(|p| p.join("dbkill"))
            .context("locate target/release")?;
        let mut args = Args {
            scenes: Scene::ALL.to_vec(),
            sizes: None,
            reps: 5,
            methods: None,
            list_calls: 7,
            poll_ms: 1,
            dbkill: default_dbkill,
        };
        let mut it = std::env::args().skip(1);
        while let Some(flag) = it.next() {
            if flag == "-h" || flag == "--help" {
                println!("{USAGE}");
                std::process::exit(0);
            }
            let value = it
                .next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))?;
            match flag.as_str() {
                "--scenes" => {
                    args.scenes = value
                        .split(',')
                        .map(|s| {
                            Scene::parse(s.trim())
                                .with_context(|| format!("unknown scene {s:?}\n{USAGE}"))
                        })
                        .collect::<Result<_>>()?;
                }
                "--sizes" => {
                    args.sizes = Some(
                        value
                            .split(',')
                            .map(|s| {
                                s.trim()
                                    .parse::<usize>()
                                    .with_context(|| format!("bad size {s:?}"))
                            })
                            .collect::<Result<_>>()?,
                    );
                }
                "--reps" => args.reps = value.parse().context("bad --reps")?,
                "--methods" => {
                    args.methods = Some(
                        value
                            .split(',')
                            .map(|s| {
                                Method::parse(s.trim())
                                    .with_context(|| format!("unknown method {s:?}\n{USAGE}"))
                            })
                            .collect::<Result<_>>()?,
                    );
                }
                "--list-calls" => args.list_calls = value.parse().context("bad --list-calls")?,
                "--poll-ms" => args.poll_ms = value.parse().context("bad --poll-ms")?,
                "--dbkill" => args.dbkill = PathBuf::from(value),
                _ => bail!("unknown flag {flag}\n{USAGE}"),
            }
        }
        if args
            .sizes
            .as_ref()
            .is_some_and(|s| s.is_empty() || s.contains(&0))
            || args.reps == 0
            || args.poll_ms == 0
            || args.methods.as_ref().is_some_and(Vec::is_empty)
            || args.scenes.is_empty()
        {
            bail!("scenes, sizes, reps and methods must be non-empty and positive\n{USAGE}");
        }
        Ok(args)
    }

    /// The sizes `scene` runs at.
    fn sizes(&self, scene: Scene) -> Vec<usize> {
        self.sizes
            .clone()
            .unwrap_or_else(|| scene.default_sizes().to_vec())
    }

    /// The methods `scene` runs: its defaults, or those of `--methods` it supports.
    fn methods(&self, scene: Scene) -> Vec<Method> {
        match &self.methods {
            None => scene.default_methods().to_vec(),
            Some(m) => m.iter().copied().filter(|&m| scene.supports(m)).collect(),
        }
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    // reqwest is built with `rustls-no-provider` (for the CLI); plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::iter::once("scripts/bench".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let largest = args
        .scenes
        .iter()
        .flat_map(|&s| args.sizes(s))
        .max()
        .unwrap_or(0);
    let nofile = machine::raise_nofile_limit()?;
    if nofile < largest as u64 + 256 {
        bail!("descriptor limit {nofile} is too low for {largest} victims; raise it (ulimit -n)");
    }
    let info = machine::collect(nofile, &args.dbkill);
    eprintln!("bench: starting mariadbd");
    let db = MariaDb::start(MariaDbOptions {
        max_connections: (largest as u32 + 500).max(12_000),
        event_scheduler: false,
        extra_args: vec![
            "--skip-name-resolve".into(),
            "--thread-cache-size=256".into(),
            // The general log goes to mysql.general_log when a scene turns it on (not in idle).
            "--log-output=TABLE".into(),
            "--general-log=0".into(),
        ],
        ..MariaDbOptions::default()
    });
    let (victim, vpw, vdb) = (victims::USER, victims::PASSWORD, victims::DATABASE);
    let (killer, kpw) = KILLER;
    db.sql(&format!(
        "DROP USER IF EXISTS ''@'localhost';
         CREATE DATABASE {vdb};
         CREATE USER '{victim}'@'%' IDENTIFIED BY '{vpw}'; GRANT ALL ON {vdb}.* TO '{victim}'@'%';
         CREATE USER '{killer}'@'%' IDENTIFIED BY '{kpw}'; GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%';
         {}",
        scenes::server_sql()
    ));
    let runtime = tokio::runtime::Runtime::new()?;
    let result = runtime.block_on(bench(&args, &db, &info, command));
    drop(runtime);
    drop(db);
    result
}

async fn bench(
    args: &Args,
    db: &MariaDb,
    info: &machine::MachineInfo,
    command: String,
) -> Result<()> {
    let mysqld_pid = db.server_pid().context("mariadbd pid")?;
    eprintln!("bench: starting {} serve", args.dbkill.display());
    let dbkill = Dbkill::start(&args.dbkill, db.port(), KILLER).await?;
    let mut bench = Bench {
        port: db.port(),
        socket: db.dir().join("sock"),
        mysqld_pid,
        clock_ticks: machine::clock_ticks(),
        probe: victims::Probe::connect(&db.dir().join("sock")).await?,
        checker: victims::Probe::connect(&db.dir().join("sock")).await?,
        killer: victims::connect_tcp(db.port(), KILLER.0, KILLER.1, None).await?,
        killer_login: KILLER,
        dbkill,
    };
    bench.probe.interval = std::time::Duration::from_millis(args.poll_ms);
    // Warm-up: dbkill opens its lifeline connection on the first call.
    let warm = bench.dbkill.list(victims::USER, 20).await?;
    if warm.status != 200 {
        bail!(
            "warm-up ListProcesses: HTTP {}: {}\n{}",
            warm.status,
            String::from_utf8_lossy(&warm.body),
            bench.dbkill.log_tail()
        );
    }
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    let idle_kib = machine::status_kib(bench.dbkill.pid, "VmRSS").ok();

    let mut runs: Vec<Run> = Vec::new();
    let mut lists = Vec::new();
    let mut skipped = Vec::new();
    let measured = measure(args, &mut bench, &mut runs, &mut lists, &mut skipped).await;
    if let Err(e) = &measured {
        eprintln!("bench: stopped early ({e:#}); the results so far follow");
    }
    let idle_end_kib = machine::status_kib(bench.dbkill.pid, "VmRSS").ok();
    let plan: Vec<(Scene, Vec<usize>)> = args.scenes.iter().map(|&s| (s, args.sizes(s))).collect();
    let summary = report::Summary {
        runs: &runs,
        lists: &lists,
        memory: report::Memory {
            idle_kib,
            idle_end_kib,
        },
        info,
        command,
        plan: &plan,
        skipped: &skipped,
        reps: args.reps,
    };
    println!("{}", summary.text());
    println!("\n---------------- Markdown (for BENCHMARKS.md) ----------------\n");
    println!("{}", summary.markdown());
    measured
}

/// The runs themselves: every scene, N, rep and method, then ListProcesses at that N (idle).
/// Combinations the machine cannot run go to `skipped`, with the reason.
async fn measure(
    args: &Args,
    bench: &mut Bench,
    runs: &mut Vec<Run>,
    lists: &mut Vec<listing::ListBench>,
    skipped: &mut Vec<String>,
) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    for &scene in &args.scenes {
        let methods = args.methods(scene);
        if methods.is_empty() {
            skipped.push(format!(
                "{}: none of --methods runs in this scene",
                scene.key()
            ));
            continue;
        }
        general_log::set(bench.checker.conn(), scene.general_log()).await?;
        for n in args.sizes(scene) {
            if let Some(reason) = scene.skip_reason(n, cores) {
                let line = format!("{} N={n} skipped: {reason}", scene.key());
                eprintln!("{line}");
                skipped.push(line);
                continue;
            }
            for rep in 0..args.reps {
                for method in williams_order(&methods, rep) {
                    let run = bench
                        .run(scene, method, n)
                        .await
                        .with_context(|| format!("{} N={n} {}", scene.key(), method.key()))?;
                    eprintln!("{}", progress(&run, rep, args.reps));
                    runs.push(run);
                }
            }
            if scene == Scene::Idle && methods.iter().any(|m| m.is_dbkill()) {
                let l = bench
                    .list_bench(n, args.list_calls)
                    .await
                    .with_context(|| format!("N={n} ListProcesses"))?;
                if let Some(p) = &l.problem {
                    eprintln!("N={n} ListProcesses: {p}");
                }
                lists.push(l);
            }
        }
    }
    general_log::set(bench.checker.conn(), false).await
}

/// Rep `rep`'s order of `methods`: row `rep` of a Williams square, so that every method runs in
/// every position and (over enough reps) after every other method equally often, which a plain
/// rotation would not give (its neighbours never change).
fn williams_order(methods: &[Method], rep: usize) -> Vec<Method> {
    let n = methods.len();
    // First row 0, 1, n-1, 2, n-2, …; row r adds r to each entry (mod n).
    let first = (0..n).map(|j| {
        if j % 2 == 1 {
            j.div_ceil(2)
        } else {
            (n - j / 2) % n
        }
    });
    first.map(|i| methods[(i + rep) % n]).collect()
}

fn progress(run: &Run, rep: usize, reps: usize) -> String {
    let zero = run.zero.map_or("never".to_owned(), |z| {
        format!("{:.1} ms", z.as_secs_f64() * 1e3)
    });
    let mut line = format!(
        "{} N={} rep {}/{reps} {:<15} zero {zero:>10}, returned {:>8.1} ms, \
         mysqld CPU {:>4.0} µs/session ({:.0} excl. probe)",
        run.scene.key(),
        run.n,
        rep + 1,
        run.method.key(),
        run.returned.as_secs_f64() * 1e3,
        run.cpu_s / run.n as f64 * 1e6,
        (run.cpu_s - run.probe_cpu_s) / run.n as f64 * 1e6
    );
    if let Some(r) = &run.report {
        line += &format!(", {}", r.summary);
    }
    if let Some(s) = &run.stall {
        line += &format!(
            ", stopped at {:.1} ms ({} left), resumed at {:.1} ms",
            s.stopped.as_secs_f64() * 1e3,
            s.left_at_stop,
            s.resumed.as_secs_f64() * 1e3
        );
    }
    if let Some(l) = &run.late_kills {
        line += &format!(", {}", l.summary());
    }
    if let Some(h) = &run.history {
        line += &format!(
            ", history {}",
            h.matched_after.map_or("unequal".to_owned(), |d| format!(
                "equal {:.1} s after resume",
                d.as_secs_f64()
            ))
        );
    }
    if let Some(k) = run.peak_rss_kib {
        line += &format!(", peak RSS {:.1} MiB", k as f64 / 1024.0);
    }
    if run.other_cores > 0.1 || run.settled > std::time::Duration::from_secs(1) {
        line += &format!(
            ", others used {:.2} cores (settled {:.1} s)",
            run.other_cores,
            run.settled.as_secs_f64()
        );
    }
    if let Some(p) = &run.problem {
        line += &format!(" — PROBLEM: {p}");
    }
    line
}
