//! The kill-rule benchmark of issue #13: how fast and how cheaply dbkill's rules (spec "Kill
//! rules") protect a server, against pt-kill and `KILL USER` in the same run.
//!
//! Run it through `scripts/bench --rules` (installs pt-kill and MariaDB when missing, builds
//! `target/release/dbkill`). It starts a throwaway `mariadbd` and `dbkill serve` (every setting
//! at its default, so rules tick every 1000 ms), then runs these scenes (`--scenes`):
//!
//! 1. `reaction` (`reaction.rs`): 1,000 sessions of `victim` start `SELECT SLEEP(600)` at once
//!    under a rule `user=victim command=Query time=2`, or under pt-kill `--busy-time 2
//!    --interval 1 --kill --match-user ^victim$ --victims all`, alternating, `--reps` each:
//!    the last start + 2 s → none listed;
//! 2. `mass` (`mass.rs`): 5,000 idle sessions, a rule `user=victim time=1` added and the switch
//!    turned ON, against `KILL USER victim`: the answer (or the statement sent) → none listed;
//! 3. `tick` (`tick_cost.rs`): 10,000 idle sessions and 20 rules matching none: matching time
//!    per tick from `/metrics`, mysqld's CPU per tick against one `SHOW FULL PROCESSLIST`;
//! 4. `idle` (`idle_cost.rs`): 20 instances × 1 rule matching nothing: dbkill's CPU.
//!
//! "None listed" is read every `--poll-ms` (20): in `reaction` the victims' count in
//! `information_schema.PROCESSLIST`, elsewhere as `examples/bench.rs` reads it (`victims.rs`:
//! `Threads_connected` until few remain, then that count). Results go to stdout as Markdown for BENCHMARKS.md, progress to stderr.
//! Everything it starts is stopped on exit.

#[path = "../tests/support/mariadb.rs"]
mod mariadb;
#[path = "../tests/support/server_process.rs"]
mod server_process;

// Shared with examples/bench.rs, which uses the parts this benchmark does not.
#[allow(dead_code)]
#[path = "bench/machine.rs"]
mod machine;
#[allow(dead_code)]
#[path = "bench/service.rs"]
mod service;
#[allow(dead_code)]
#[path = "bench/victims.rs"]
mod victims;

#[path = "bench_rules/args.rs"]
mod args;
#[path = "bench_rules/cpu.rs"]
mod cpu;
#[path = "bench_rules/idle_cost.rs"]
mod idle_cost;
#[path = "bench_rules/mass.rs"]
mod mass;
#[path = "bench_rules/prom.rs"]
mod prom;
#[path = "bench_rules/ptkill.rs"]
mod ptkill;
#[path = "bench_rules/reaction.rs"]
mod reaction;
#[path = "bench_rules/rules.rs"]
mod rules;
#[path = "bench_rules/sleepers.rs"]
mod sleepers;
#[path = "bench_rules/summary.rs"]
mod summary;
#[path = "bench_rules/tick_cost.rs"]
mod tick_cost;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use mysql_async::Conn;

use args::{Args, Scene};
use mariadb::{MariaDb, MariaDbOptions};
use rules::Instance;
use service::Dbkill;
use summary::Results;
use victims::Probe;

const KILLER: (&str, &str) = ("killer", "killerpw");
/// dbkill's default `rule_interval_ms`, which the benchmark's dbkill runs with.
const INTERVAL_MS: f64 = 1000.0;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_rules: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    // reqwest is built with `rustls-no-provider` (for the CLI); plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::iter::once("scripts/bench --rules".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let largest = args.largest();
    let nofile = machine::raise_nofile_limit()?;
    if nofile < largest as u64 + 256 {
        bail!("descriptor limit {nofile} is too low for {largest} sessions; raise it (ulimit -n)");
    }
    let info = machine::collect(nofile, &args.dbkill);
    eprintln!("bench_rules: starting mariadbd");
    let db = MariaDb::start(MariaDbOptions {
        max_connections: largest as u32 + 500,
        event_scheduler: false,
        extra_args: vec![
            "--skip-name-resolve".into(),
            "--thread-cache-size=256".into(),
        ],
        ..MariaDbOptions::default()
    });
    let (victim, vpw, vdb) = (victims::USER, victims::PASSWORD, victims::DATABASE);
    let (killer, kpw) = KILLER;
    let (pt, ptpw) = ptkill::LOGIN;
    db.sql(&format!(
        "DROP USER IF EXISTS ''@'localhost';
         CREATE DATABASE {vdb};
         CREATE USER '{victim}'@'%' IDENTIFIED BY '{vpw}'; GRANT ALL ON {vdb}.* TO '{victim}'@'%';
         CREATE USER '{killer}'@'%' IDENTIFIED BY '{kpw}'; GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%';
         CREATE USER '{pt}'@'%' IDENTIFIED BY '{ptpw}'; GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{pt}'@'%';"
    ));
    let runtime = tokio::runtime::Runtime::new()?;
    let results = runtime.block_on(bench(&args, &db, command))?;
    drop(runtime);
    drop(db);
    println!("{}", results.markdown(&info));
    Ok(())
}

/// What every scene needs.
struct Bench {
    port: u16,
    dbkill: Dbkill,
    instance: Instance,
    probe: Probe,
    /// `killer` over TCP: `KILL USER` and the client's `SHOW FULL PROCESSLIST`.
    killer: Conn,
    pids: cpu::Pids,
}

async fn bench(args: &Args, db: &MariaDb, command: String) -> Result<Results> {
    eprintln!("bench_rules: starting {} serve", args.dbkill.display());
    let dbkill = Dbkill::start(&args.dbkill, db.port(), KILLER).await?;
    let mut probe = Probe::connect(&db.dir().join("sock")).await?;
    probe.interval = Duration::from_millis(args.poll_ms);
    let mut bench = Bench {
        port: db.port(),
        instance: Instance::first(&dbkill),
        pids: cpu::Pids {
            mysqld: db.server_pid().context("mariadbd pid")?,
            dbkill: dbkill.pid,
            clock_ticks: machine::clock_ticks(),
        },
        killer: victims::connect_tcp(db.port(), KILLER.0, KILLER.1, None).await?,
        probe,
        dbkill,
    };
    let mut results = Results {
        command,
        interval_ms: INTERVAL_MS,
        reaction: Vec::new(),
        reaction_n: args.reaction_sessions,
        mass: Vec::new(),
        mass_n: args.mass_sessions,
        tick: None,
        idle: None,
        failed: Vec::new(),
    };
    for &scene in &args.scenes {
        eprintln!("bench_rules: scene {}", scene.key());
        let ran = match scene {
            Scene::Reaction => reaction(&mut bench, args, &mut results).await,
            Scene::Mass => mass(&mut bench, args, &mut results).await,
            Scene::Tick => tick(&mut bench, args, &mut results).await,
            Scene::Idle => idle(&mut bench, args, &mut results).await,
        };
        if let Err(e) = ran {
            let line = format!("{}: {e:#}", scene.key());
            eprintln!("bench_rules: {line}\n{}", bench.dbkill.log_tail());
            results.failed.push(line);
            // Back to a clean server for the next scene.
            bench.instance.clear(&bench.dbkill).await?;
            bench.probe.settle_clean().await?;
        }
    }
    Ok(results)
}

async fn reaction(b: &mut Bench, args: &Args, results: &mut Results) -> Result<()> {
    let task_id = reaction::add_rule(&b.dbkill, &b.instance).await?;
    let scene = reaction::Scene {
        dbkill: &b.dbkill,
        instance: &b.instance,
        task_id,
        port: b.port,
        n: args.reaction_sessions,
    };
    for rep in 0..args.reps {
        // Rotate who goes first, so none always runs on a server just cleaned up.
        let mut order = args.reaction_killers.clone();
        let first = rep % order.len();
        order.rotate_left(first);
        for killer in order {
            let cpu = b.pids.snapshot()?;
            let mut run = scene.run(killer, &mut b.probe, &mut b.killer).await?;
            run.other_cores = b.pids.since(&cpu)?.other_cores;
            eprintln!(
                "reaction rep {}/{} {:<16} first gone {}, none left {} (starts spread {:.0} ms, others {:.2} cores){}",
                rep + 1,
                args.reps,
                killer.key(),
                run.first_ms
                    .map_or("never".to_owned(), |r| format!("{r:.0} ms")),
                run.reaction_ms
                    .map_or("never".to_owned(), |r| format!("{r:.0} ms")),
                run.spread_ms,
                run.other_cores,
                run.problem
                    .as_ref()
                    .map_or(String::new(), |p| format!(" — PROBLEM: {p}"))
            );
            results.reaction.push(run);
        }
    }
    b.instance.clear(&b.dbkill).await
}

async fn mass(b: &mut Bench, args: &Args, results: &mut Results) -> Result<()> {
    use mass::Method;
    let scene = mass::Scene {
        dbkill: &b.dbkill,
        instance: &b.instance,
        port: b.port,
        n: args.mass_sessions,
    };
    for rep in 0..args.reps {
        let order = if rep % 2 == 0 {
            [Method::Rule, Method::KillUser]
        } else {
            [Method::KillUser, Method::Rule]
        };
        for method in order {
            let cpu = b.pids.snapshot()?;
            let mut run = scene.run(method, &mut b.probe, &mut b.killer).await?;
            run.other_cores = b.pids.since(&cpu)?.other_cores;
            eprintln!(
                "mass rep {}/{} {:<11} zero {} (others {:.2} cores){}",
                rep + 1,
                args.reps,
                method.key(),
                run.zero_ms
                    .map_or("never".to_owned(), |z| format!("{z:.0} ms")),
                run.other_cores,
                run.problem
                    .as_ref()
                    .map_or(String::new(), |p| format!(" — PROBLEM: {p}"))
            );
            results.mass.push(run);
        }
    }
    Ok(())
}

async fn tick(b: &mut Bench, args: &Args, results: &mut Results) -> Result<()> {
    let scene = tick_cost::Scene {
        dbkill: &b.dbkill,
        instance: &b.instance,
        pids: b.pids,
        port: b.port,
        n: args.tick_sessions,
        rules: args.rules,
        ticks: args.ticks,
    };
    let cost = scene.run(&mut b.probe, &mut b.killer).await?;
    eprintln!(
        "tick: {:.0} ticks, mysqld {:.2} ms per tick, {:.2} ms per SHOW FULL PROCESSLIST",
        cost.ticks,
        cost.mysqld_per_tick * 1e3,
        cost.mysqld_per_show * 1e3
    );
    results.tick = Some(cost);
    Ok(())
}

async fn idle(b: &mut Bench, args: &Args, results: &mut Results) -> Result<()> {
    let mut instances = vec![b.instance.clone()];
    for i in 1..args.instances {
        let name = format!("bench-mariadb-{}", i + 1);
        let (id, db_user) = b.dbkill.add_instance(&name, b.port, KILLER).await?;
        instances.push(Instance { id, db_user });
    }
    let scene = idle_cost::Scene {
        dbkill: &b.dbkill,
        instances: &instances,
        pids: b.pids,
        window: Duration::from_secs(args.idle_secs),
    };
    let cost = scene.run().await?;
    eprintln!(
        "idle: dbkill {:.2} % of one core, {:.1} ticks/s",
        cost.dbkill_cores * 100.0,
        cost.ticks_per_sec
    );
    results.idle = Some(cost);
    Ok(())
}
