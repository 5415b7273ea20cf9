//! The check that a throwaway server held by a static (`support::mariadb::shared`,
//! `support::postgres::shared`) does not outlive its test process when that is
//! killed outright: a helper test runs in a child process, reports its server,
//! and is SIGKILLed.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Set in the child process, so that the helper test does nothing when run directly.
const CHILD_ENV: &str = "DBKILL_HARNESS_SMOKE_CHILD";
/// Starts the line in which the helper reports its server.
const REPORT: &str = "SERVER ";

/// Runs the ignored test `helper_test` (its full path) in a child process,
/// reads the server it reports, kills the child with SIGKILL (no destructors,
/// no atexit) and waits until that `program`'s server has stopped and its
/// directory is gone.
pub fn assert_server_dies_with_killed_process(helper_test: &str, program: &str) {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", helper_test, "--ignored", "--nocapture"])
        .env(CHILD_ENV, "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let line = stdout
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with(REPORT))
        .unwrap_or_else(|| panic!("child test process did not report its {program} server"));
    let mut fields = line.split(' ').skip(1);
    let pid: u32 = fields.next().unwrap().parse().unwrap();
    let dir = PathBuf::from(fields.next().unwrap());
    assert!(server_running(program, pid, &dir));

    child.kill().unwrap();
    child.wait().unwrap();

    wait_for("orphaned server to stop", || {
        !server_running(program, pid, &dir)
    });
    wait_for("orphaned dir to be removed", || !dir.exists());
}

/// Whether this is the child process of [`assert_server_dies_with_killed_process`].
pub fn in_helper_process() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The helper test's report of its server; the parent kills the helper soon after.
pub fn report_server(pid: u32, dir: &Path) {
    println!("{REPORT}{pid} {}", dir.display());
}

/// Whether `pid` is still a `program` using `dir`; checking the command line
/// guards against the pid having been reused.
pub fn server_running(program: &str, pid: u32, dir: &Path) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
        let cmdline = String::from_utf8_lossy(&cmdline);
        cmdline.contains(program) && cmdline.contains(&*dir.to_string_lossy())
    })
}

/// Polls `done` every 50 ms; panics after 15 s.
pub fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
