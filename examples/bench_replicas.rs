//! The replica benchmark of issue #15: request latency through one replica on the PostgreSQL
//! store against one dbkill on the SQLite store (the token check, ListProcesses and a
//! one-session kill, p50 and p99 each, goal ratio ≤ 1.5), and the failover time of a rule when
//! its owner is SIGKILLed (and SIGTERMed): p50 and max over 5 runs.
//!
//! Run it through `scripts/bench --replicas` (installs PostgreSQL when `initdb` is missing,
//! builds `target/release/dbkill`), e.g. `scripts/bench --replicas --calls 200 --kills 50
//! --failover-runs 3`. It starts a throwaway PostgreSQL cluster (`bench_pg/cluster.rs`) that is
//! both the target instance and, in a database of its own (`dbkill_store`, owned by a role of
//! its own), the replicas' store; a dbkill on the SQLite store in a data dir of its own; and
//! three replicas r1..r3 on the PostgreSQL store with one master key (`server.rs`). Both
//! services register the cluster as a `postgresql` instance with a superuser `killer` as its db
//! user. Latency is measured through the SQLite service and r1 in turn (`latency.rs`); then a
//! rule on role `ruled` runs on the replicas and its owner is signalled run after run
//! (`failover.rs`). Results go to stdout as Markdown for BENCHMARKS.md, progress to stderr.
//! Everything it starts is stopped on exit, also when the benchmark is killed.

// Shared with examples/bench.rs, which uses the parts this benchmark does not.
#[allow(dead_code)]
#[path = "bench/machine.rs"]
mod machine;
// Shared with examples/bench_pg.rs.
#[allow(dead_code)]
#[path = "bench_pg/cluster.rs"]
mod cluster;

#[path = "bench_replicas/api.rs"]
mod api;
#[path = "bench_replicas/args.rs"]
mod args;
#[path = "bench_replicas/failover.rs"]
mod failover;
#[path = "bench_replicas/latency.rs"]
mod latency;
#[path = "bench_replicas/server.rs"]
mod server;
#[path = "bench_replicas/summary.rs"]
mod summary;
#[path = "bench_replicas/victims.rs"]
mod victims;

use std::process::ExitCode;

use anyhow::{Context, Result};

use api::Api;
use args::Args;
use cluster::Cluster;
use failover::Signal;
use server::Server;
use summary::Results;

/// The instance's db user: a superuser, so it may terminate any backend.
const KILLER: (&str, &str) = ("killer", "killerpw");
/// The replicas' store: a role owning a database of its own on the same cluster.
const STORE: (&str, &str) = ("dbkill_store", "storepw");
const REPLICAS: usize = 3;
/// Connections beyond the listed victims: the replicas' pools and lifelines, the SQLite
/// service's, the kill victims and the monitor.
const HEADROOM: usize = 200;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench_replicas: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<()> {
    let args = Args::parse()?;
    // reqwest is built with `rustls-no-provider` (for the CLI); plain HTTP still needs one set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let command = std::iter::once("scripts/bench --replicas".to_owned())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ");
    let nofile = machine::raise_nofile_limit()?;
    let info = machine::collect(nofile, &args.dbkill);
    eprintln!("bench_replicas: starting a PostgreSQL cluster");
    let cluster = Cluster::start((args.victims + HEADROOM) as u32)?;
    let (killer, kpw) = KILLER;
    let (store, spw) = STORE;
    let mut setup = vec![
        format!("CREATE ROLE {killer} LOGIN SUPERUSER PASSWORD '{kpw}'"),
        format!("CREATE ROLE {store} LOGIN PASSWORD '{spw}'"),
        format!("CREATE DATABASE {store} OWNER {store}"),
    ];
    setup.extend(victims::setup_sql());
    cluster.sql(&setup.iter().map(String::as_str).collect::<Vec<_>>())?;
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
    let root = tempfile::Builder::new()
        .prefix("dbkill-bench-replicas-")
        .tempdir()?;
    // A private copy, so a rebuild during the run cannot change what is measured.
    let bin = root.path().join("dbkill");
    std::fs::copy(&args.dbkill, &bin).with_context(|| {
        format!(
            "copy {} (run `cargo build --release` first; scripts/bench does)",
            args.dbkill.display()
        )
    })?;

    eprintln!("bench_replicas: starting dbkill on the SQLite store");
    let sqlite = Server::start("sqlite", &bin, &root.path().join("sqlite"), Vec::new()).await?;
    let store_url = format!(
        "postgres://{}:{}@127.0.0.1:{port}/{}",
        STORE.0, STORE.1, STORE.0
    );
    let mut key = [0u8; 32];
    getrandom::fill(&mut key).map_err(|e| anyhow::anyhow!("random master key: {e}"))?;
    let key = hex::encode(key);
    eprintln!("bench_replicas: starting {REPLICAS} replicas on the PostgreSQL store");
    let mut replicas = Vec::with_capacity(REPLICAS);
    for i in 1..=REPLICAS {
        let name = format!("r{i}");
        let env = vec![
            ("DBKILL_STORE_URL".to_owned(), store_url.clone()),
            ("DBKILL_REPLICA_NAME".to_owned(), name.clone()),
            ("DBKILL_MASTER_KEY".to_owned(), key.clone()),
        ];
        replicas.push(Server::start(&name, &bin, &root.path().join(&name), env).await?);
    }

    let mut on_sqlite = Api::login(&sqlite.base).await?;
    on_sqlite.register(port, KILLER).await?;
    let mut on_pg = Api::login(&replicas[0].base).await?;
    on_pg.register(port, KILLER).await?;
    let _listed = victims::open(port, victims::LISTED, args.victims).await?;

    let mut results = Results {
        command,
        postgres: cluster.version.clone(),
        replicas: REPLICAS,
        victims: args.victims,
        load_end: String::new(),
        latency: Vec::new(),
        failovers: Vec::new(),
        problems: Vec::new(),
    };
    eprintln!(
        "bench_replicas: latency, {} calls and {} kills per store",
        args.calls, args.kills
    );
    results.latency = latency::measure([&on_sqlite, &on_pg], port, args.calls, args.kills).await?;
    // The SQLite service has done its part; the failover runs need the machine to themselves.
    drop(sqlite);

    if args.failover_runs + args.sigterm_runs > 0 {
        on_pg.rule_on(victims::RULED.0).await?;
        let mut monitor = cluster.connect_superuser().await?;
        for (signal, n) in [
            (Signal::Kill, args.failover_runs),
            (Signal::Term, args.sigterm_runs),
        ] {
            match failover::runs(&mut replicas, &on_pg, &mut monitor, port, signal, n).await {
                Ok(runs) => results.failovers.extend(runs),
                Err(e) => {
                    let line = format!("failover stopped early: {e:#}");
                    eprintln!("bench_replicas: {line}");
                    results.problems.push(line);
                    break;
                }
            }
        }
    }
    for r in results.failovers.iter().filter_map(|r| {
        r.problem
            .as_ref()
            .map(|p| format!("{} of {}: {p}", r.signal.name(), r.owner))
    }) {
        results.problems.push(r);
    }
    results.load_end = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Ok(results)
}
