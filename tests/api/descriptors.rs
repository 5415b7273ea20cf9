//! Running out of file descriptors: the real `dbkill serve` has its open-file limit lowered
//! under it (`prlimit`), then a flood of silent connections makes `accept` fail with EMFILE.
//! dbkill must close waiting connections to free descriptors, answer `/healthz` again while
//! the flood is still connected, and log the failure a bounded number of times, not in a loop.

use std::process::Command;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use crate::helpers::raw_http::addr_of;
use crate::helpers::serve::ServeProcess;

const FLOOD: usize = 300;
/// Descriptors left to dbkill above what it holds once started.
const HEADROOM: usize = 40;

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count()
}

fn lower_open_file_limit(pid: u32, limit: usize) {
    let ok = Command::new("prlimit")
        .args([
            "--pid",
            &pid.to_string(),
            &format!("--nofile={limit}:{limit}"),
        ])
        .status()
        .expect("prlimit (util-linux) runs")
        .success();
    assert!(ok, "prlimit --pid {pid} --nofile={limit}");
}

#[tokio::test]
async fn out_of_descriptors_the_accept_loop_frees_some_and_serves_again() {
    let dir = tempfile::tempdir().unwrap();
    // Flood connections would wait a minute for their heads: only eviction frees descriptors.
    let dbkill = ServeProcess::start(
        &dir.path().join("data"),
        &dir.path().join("serve.log"),
        &[("DBKILL_HEADER_READ_TIMEOUT_MS", "60000")],
    )
    .await;
    let pid = dbkill.pid();
    lower_open_file_limit(pid, open_descriptors(pid) + HEADROOM);

    let addr = addr_of(&dbkill.base);
    let mut flood = Vec::with_capacity(FLOOD);
    for _ in 0..FLOOD {
        flood.push(
            TcpStream::connect(&addr)
                .await
                .expect("the kernel accepts into the backlog"),
        );
    }
    let started = Instant::now();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(2))
        .build()
        .unwrap();
    let answered = loop {
        if let Ok(r) = client.get(format!("{}/healthz", dbkill.base)).send().await {
            break r.status().as_u16();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "/healthz did not answer while the flood was connected:\n{}",
            dbkill.log()
        );
    };
    assert_eq!(answered, 200);
    let log = dbkill.log();
    assert!(
        log.contains("Too many open files"),
        "EMFILE was reached:\n{log}"
    );
    let reports = log.matches("cannot accept connections").count();
    let allowed = 1 + started.elapsed().as_secs() as usize / 5 + 1;
    assert!(
        reports <= allowed,
        "{reports} accept failures logged in {:?}:\n{log}",
        started.elapsed()
    );
    drop(flood);
}
