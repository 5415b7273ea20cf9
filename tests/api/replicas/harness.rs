//! Three replicas as a user starts them: `scripts/replicas` with the test's `dbkill` (`--bin`) on
//! free ports, its store a fresh database (owned by a non-superuser role) of the test process's
//! store cluster (`helpers/store_backend.rs`). The script's stdout names each replica and its
//! pid once all answer `/healthz`. The script and its replicas form one process group, which
//! dropping [`Replicas`] stops (SIGTERM, then SIGKILL); a guardian does the same if the test
//! process dies first. A failing test prints the end of every replica's log.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::node::Node;
use crate::helpers::app::ADMIN_PASSWORD;
use crate::support::server_process::{free_port, process_state};

/// How many replicas every test starts.
pub const REPLICAS: usize = 3;
/// The script's `--bin` default would build with cargo; the tests hand it the binary they built.
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/replicas");
/// Three fresh replicas migrate one store at once on a small, busy machine.
const START_TIMEOUT: Duration = Duration::from_secs(90);
/// The script gives its replicas 10 s after SIGTERM before it SIGKILLs them.
const STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// Rules tick as often as the settings allow, as in the single-process rule tests.
pub const RULE_INTERVAL_MS: &str = "250";

/// On EOF without a line first (the test process died), SIGTERM then SIGKILL the group `$1`.
const GUARDIAN: &str = r#"
IFS= read -r line && exit 0
kill -s TERM -- "-$1" 2>/dev/null
sleep 3
kill -s KILL -- "-$1" 2>/dev/null
"#;

pub struct Replicas {
    /// r1, r2, r3, in the order of their ports.
    pub nodes: Vec<Node>,
    script: Child,
    guardian: Child,
    guardian_stdin: Option<ChildStdin>,
    root: TempDir,
}

impl Replicas {
    /// Starts three replicas with the tests' settings plus `env` (which wins), and returns once
    /// the script has printed all three.
    pub async fn start(env: &[(&str, &str)]) -> Replicas {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let store = crate::helpers::store_backend::fresh_store_url();
        let ports: Vec<String> = (0..REPLICAS).map(|_| free_port().to_string()).collect();
        let root = tempfile::Builder::new()
            .prefix("dbkill-replicas-")
            .tempdir()
            .expect("create the data root");
        let script_log = std::fs::File::create(root.path().join("script.log")).unwrap();
        let mut cmd = Command::new(SCRIPT);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DBKILL_") {
                cmd.env_remove(key);
            }
        }
        let mut script = cmd
            .arg("--store")
            .arg(&store)
            .args(["--ports", &ports.join(",")])
            .arg("--data-root")
            .arg(root.path())
            .args(["--bin", env!("CARGO_BIN_EXE_dbkill")])
            // No ./dbkill.toml of the developer's is read.
            .current_dir(root.path())
            .env("DBKILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DBKILL_RATE_LIMIT_PER_SECOND", "0")
            .env("DBKILL_RULE_INTERVAL_MS", RULE_INTERVAL_MS)
            .env("DBKILL_LOG", "info,dbkill=debug")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(script_log)
            // The replicas inherit the group: one signal reaches them all.
            .process_group(0)
            .spawn()
            .expect("spawn scripts/replicas");
        let stdout = script.stdout.take().expect("piped stdout");
        let mut guardian = Command::new("sh")
            .args(["-c", GUARDIAN, "sh", &script.id().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn the guardian of scripts/replicas");
        let mut replicas = Replicas {
            nodes: Vec::new(),
            guardian_stdin: guardian.stdin.take(),
            script,
            guardian,
            root,
        };
        let lines = read_lines(stdout);
        let deadline = Instant::now() + START_TIMEOUT;
        while replicas.nodes.len() < REPLICAS {
            match lines.try_recv() {
                Ok(line) => replicas
                    .nodes
                    .push(Node::from_line(&line, replicas.root.path())),
                Err(TryRecvError::Empty) => {
                    assert!(
                        Instant::now() < deadline,
                        "the replicas did not all answer /healthz within {START_TIMEOUT:?}\n{}",
                        replicas.logs()
                    );
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(TryRecvError::Disconnected) => {
                    panic!("scripts/replicas ended early\n{}", replicas.logs())
                }
            }
        }
        replicas
    }

    /// r1, r2 and r3.
    pub fn trio(&self) -> [&Node; REPLICAS] {
        std::array::from_fn(|i| &self.nodes[i])
    }

    /// The replicas whose process still runs.
    pub fn running(&self) -> Vec<&Node> {
        self.nodes.iter().filter(|n| n.running()).collect()
    }

    /// What the script and every replica logged last, for assertion messages.
    pub fn logs(&self) -> String {
        let mut out = format!(
            "---- scripts/replicas ----\n{}",
            std::fs::read_to_string(self.root.path().join("script.log")).unwrap_or_default()
        );
        for i in 1..=REPLICAS {
            let name = format!("r{i}");
            out += &format!(
                "---- {name} ----\n{}\n",
                log_tail(&self.root.path().join(&name).join("serve.log"), 40)
            );
        }
        out
    }

    /// SIGTERM to the group, SIGKILL to what is left once the script has ended (or not in
    /// time). The script is reaped only afterwards: while it is a zombie, its pid, which is the
    /// group's id, cannot be reused.
    fn stop(&mut self) {
        let group = self.script.id();
        signal_group("TERM", group);
        let deadline = Instant::now() + STOP_TIMEOUT;
        while matches!(process_state(group), Some(s) if s != 'Z') && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group("KILL", group);
        let _ = self.script.wait();
        if let Some(mut stdin) = self.guardian_stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.guardian.wait();
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.logs());
        }
        self.stop();
    }
}

/// The script's stdout, line by line, from a thread of its own (the pipe blocks).
fn read_lines(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// `kill -s <name> -- -<group>`, ignoring failure (the group may be gone).
fn signal_group(name: &str, group: u32) {
    let _ = Command::new("kill")
        .args(["-s", name, "--", &format!("-{group}")])
        .stderr(Stdio::null())
        .status();
}

/// The last `lines` lines of a log file (empty if it is missing).
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
