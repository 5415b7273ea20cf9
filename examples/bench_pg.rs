//! The PostgreSQL benchmark of issue #14: dbkill killing every session of one user on a
//! PostgreSQL instance against the floor (one `pg_terminate_backend` statement over
//! `pg_stat_activity` in an open psql session), the psql loop (the shell loop starting one psql
//! per pid) and a psql script (one statement per pid piped into one psql), plus ListProcesses
//! against the driver's own listing statement sent raw, and dbkill's memory during the kill.
//!
//! Run it through `scripts/bench --pg` (installs PostgreSQL when `initdb` is missing, raises the
//! descriptor limit, builds `target/release/dbkill`), e.g. `scripts/bench --pg --sizes 1000
//! --reps 1`. It starts a throwaway cluster (`bench_pg/cluster.rs`; `max_connections` the
//! largest N + 100) with roles `victim` (owner of database `example`) and `killer` (superuser,
//! password logins over TCP), and `dbkill serve` with that cluster registered as a `postgresql`
//! instance and `killer` as its db user, warms dbkill up with one ListProcesses, then for each
//! N and rep runs every method once (order rotated per rep, `kill.rs`):
//!
//! 1. open N idle `victim` connections to `example` from this process (sqlx over TCP, 32 at a
//!    time) and wait until `pg_stat_activity` lists N;
//! 2. settle 0.5 s, again while other processes use more than a quarter of a core (≤ 30 s);
//! 3. take t0, start the method, and poll `SELECT count(*) FROM pg_stat_activity WHERE usename
//!    = $1` every `--poll-ms` on the superuser's monitoring connection (unix socket) until 0.
//!
//! then times ListProcesses (`listing.rs`) with N victims. Results go to stdout as Markdown for
//! BENCHMARKS.md, progress to stderr. Everything it starts is stopped on exit: the cluster and
//! dbkill also when the benchmark is killed.

// Shared with examples/bench.rs, which uses the parts this benchmark does not.
#[allow(dead_code)]
#[path = "bench/machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "bench/service.rs"]
mod service;

// The driver's own statements, so the raw listing sends exactly what dbkill sends.
#[allow(dead_code)]
#[path = "../src/engine/postgres/sql.rs"]
mod pg_sql;
/// What `pg_sql` refers to as `crate::domain`.
use dbkill::domain;

#[path = "bench_pg/args.rs"]
mod args;
#[path = "bench_pg/cluster.rs"]
mod cluster;
#[path = "bench_pg/kill.rs"]
mod kill;
#[path = "bench_pg/listing.rs"]
mod listing;
#[path = "bench_pg/psql.rs"]
mod psql;
#[path = "bench_pg/rss.rs"]
mod rss;
#[path = "bench_pg/summary.rs"]
mod summary;
#[path = "bench_pg/victims.rs"]
mod victims;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use sqlx::postgres::PgConnection;

use args::Args;
use cluster::Cluster;
use kill::Run;
use psql::Psql;
use service::Dbkill;
use summary::Results;
use victims::Monitor;

/// dbkill's db user, and the role psql logs in as: a superuser, so it may signal any backend.
pub const KILLER: (&str, &str) = ("killer", "killerpw");
/// Connections beyond the victims: dbkill's lifeline and pool, psql, the monitor, the raw query.
const HEADROOM: usize = 100;

/// What every run needs.
pub struct Bench {
    pub port: u16,
    pub clock_ticks: f64,
    pub monitor: Monitor,
    /// `killer`'s open psql session (floor and psql script).
    pub psql: Psql,
    /// The directory of the cluster's `psql`, put first on the psql loop's `PATH`.
    pub psql_bin: std::path::PathBuf,
    /// `killer` over TCP, for the raw listing query.
    pub killer: PgConnection,
    pub dbkill: Option<Dbkill>,
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_pg: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    // reqwest is built with `rustls-no-provider` (for the CLI); plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::iter::once("scripts/bench --pg".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let largest = args.largest();
    let nofile = machine::raise_nofile_limit()?;
    if nofile < largest as u64 + 256 {
        bail!("descriptor limit {nofile} is too low for {largest} victims; raise it (ulimit -n)");
    }
    let info = machine::collect(nofile, &args.dbkill);
    eprintln!("bench_pg: starting a PostgreSQL cluster");
    let cluster = Cluster::start((largest + HEADROOM) as u32)?;
    let (victim, vpw, vdb) = (victims::USER, victims::PASSWORD, victims::DATABASE);
    let (killer, kpw) = KILLER;
    cluster.sql(&[
        &format!("CREATE ROLE {victim} LOGIN PASSWORD '{vpw}'"),
        &format!("CREATE DATABASE {vdb} OWNER {victim}"),
        &format!("CREATE ROLE {killer} LOGIN SUPERUSER PASSWORD '{kpw}'"),
    ])?;
    let runtime = tokio::runtime::Runtime::new()?;
    let results = runtime.block_on(bench(&args, &cluster, command));
    drop(runtime);
    let results = results.with_context(|| format!("server log:\n{}", cluster.log_tail()))?;
    drop(cluster);
    println!("{}", results.markdown(&info));
    Ok(())
}

async fn bench(args: &Args, cluster: &Cluster, command: String) -> Result<Results> {
    let port = cluster.port();
    let dbkill = if args.needs_dbkill() {
        eprintln!("bench_pg: starting {} serve", args.dbkill.display());
        Some(Dbkill::start_pg(&args.dbkill, port, KILLER).await?)
    } else {
        None
    };
    let mut results = Results {
        command,
        sizes: args.sizes.clone(),
        reps: args.reps,
        poll_ms: args.poll_ms,
        postgres: cluster.version.clone(),
        load_end: String::new(),
        idle_rss_kib: None,
        runs: Vec::new(),
        lists: Vec::new(),
        problems: Vec::new(),
    };
    if let Some(d) = &dbkill {
        // Warm-up: dbkill opens its lifeline connection on the first call.
        let warm = d.list(victims::USER, 20).await?;
        if warm.status != 200 {
            let line = format!(
                "dbkill warm-up ListProcesses: HTTP {}: {}",
                warm.status,
                String::from_utf8_lossy(&warm.body)
            );
            eprintln!("bench_pg: {line}");
            results.problems.push(line);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        results.idle_rss_kib = machine::status_kib(d.pid, "VmRSS").ok();
    }
    let monitor = Monitor::new(
        cluster.connect_superuser().await?,
        Duration::from_millis(args.poll_ms),
    );
    let mut bench = Bench {
        port,
        clock_ticks: machine::clock_ticks(),
        monitor,
        psql: Psql::open(&cluster.psql(), port, KILLER).await?,
        psql_bin: cluster
            .psql()
            .parent()
            .context("psql's directory")?
            .to_owned(),
        killer: PgConnection::connect_with(&victims::tcp_options(
            port, KILLER.0, KILLER.1, "postgres",
        ))
        .await
        .context("connect as killer")?,
        dbkill,
    };
    if let Err(e) = measure(args, &mut bench, &mut results).await {
        let line = format!("stopped early: {e:#}");
        eprintln!("bench_pg: {line}; the results so far follow");
        if let Some(d) = &bench.dbkill {
            eprintln!("dbkill log:\n{}", d.log_tail());
        }
        results.problems.push(line);
    }
    results.load_end = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Ok(results)
}

async fn measure(args: &Args, bench: &mut Bench, results: &mut Results) -> Result<()> {
    for &n in &args.sizes {
        for rep in 0..args.reps {
            let mut order = args.methods.clone();
            if rep >= args.loop_reps {
                order.retain(|m| *m != kill::Method::PsqlLoop);
            }
            let first = rep % order.len();
            order.rotate_left(first);
            for method in order {
                let run = bench
                    .kill_run(method, n)
                    .await
                    .with_context(|| format!("N={n} {}", method.key()))?;
                eprintln!("{}", progress(&run, rep, args.reps));
                if let Some(p) = &run.problem {
                    results
                        .problems
                        .push(format!("N={n} {} rep {}: {p}", method.key(), rep + 1));
                }
                results.runs.push(run);
            }
        }
        if args.list_calls > 0 {
            let l = bench
                .list_bench(n, args.list_calls)
                .await
                .with_context(|| format!("N={n} ListProcesses"))?;
            let med = |v: &[Duration]| {
                let mut v = v.to_vec();
                v.sort();
                v.get(v.len() / 2)
                    .map_or(f64::NAN, |d| d.as_secs_f64() * 1e3)
            };
            eprintln!(
                "N={n} ListProcesses: default page {:.2} ms, all pages {:.2} ms, raw {:.2} ms{}",
                med(&l.default_page),
                med(&l.all_pages),
                med(&l.raw),
                l.problem
                    .as_ref()
                    .map_or(String::new(), |p| format!(" — PROBLEM: {p}"))
            );
            if let Some(p) = &l.problem {
                results.problems.push(format!("N={n} {p}"));
            }
            results.lists.push(l);
        }
    }
    Ok(())
}

fn progress(run: &Run, rep: usize, reps: usize) -> String {
    let ms = |d: Option<Duration>| {
        d.map_or("never".to_owned(), |d| {
            format!("{:.1} ms", d.as_secs_f64() * 1e3)
        })
    };
    let mut line = format!(
        "N={} rep {}/{reps} {:<9} zero {:>10}, returned {:>10}, {} polls",
        run.n,
        rep + 1,
        run.method.key(),
        ms(run.zero),
        ms(run.returned),
        run.polls
    );
    if let Some(r) = &run.report {
        line += &format!(", {r}");
    }
    if let Some(p) = &run.peak {
        line += &format!(", peak RSS {:.1} MiB", p.sampled_kib as f64 / 1024.0);
    }
    line += &format!(
        " (staged in {:.1} s, settled {:.1} s)",
        run.staged.as_secs_f64(),
        run.settled.as_secs_f64()
    );
    if let Some(p) = &run.problem {
        line += &format!(" — PROBLEM: {p}");
    }
    line
}
