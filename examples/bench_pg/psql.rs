//! An open `psql` session as a person would keep one: a child process logged in over TCP, fed
//! statements on its stdin. Its answers are read on a thread; after each batch of statements the
//! benchmark sends a marker query (`SELECT 'bench-mark-<k>'`), whose row tells when psql had
//! executed everything before it. (psql flushes its output after each query's result, not after
//! `\echo`, so a query is the marker.)

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::sync::mpsc::{UnboundedReceiver, error::TryRecvError, unbounded_channel};
use tokio::task::JoinHandle;

const MARK: &str = "bench-mark-";

/// psql's output up to a marker.
#[derive(Clone, Copy, Debug)]
pub struct Mark {
    pub k: u64,
    /// When its row arrived.
    pub at: Instant,
    /// Rows `t` and `f` before it (what `pg_terminate_backend` answered), and any other lines.
    pub t: usize,
    pub f: usize,
    pub other: usize,
}

pub struct Psql {
    child: Child,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    marks: UnboundedReceiver<Mark>,
    errors: Arc<Mutex<Vec<String>>>,
    /// The last marker number sent, and the last marker seen.
    next: u64,
    seen: Option<Mark>,
    /// The last write: a long batch fills the pipe and waits for psql to read.
    writer: Option<JoinHandle<std::io::Result<()>>>,
}

impl Psql {
    /// Starts `psql` as `user` on 127.0.0.1:`port` (database `postgres`) and waits until it
    /// has answered a first query, so it is logged in.
    pub async fn open(psql: &Path, port: u16, (user, password): (&str, &str)) -> Result<Psql> {
        let mut child = Command::new(psql)
            // No ~/.psqlrc; quiet; unaligned rows without headers or footers.
            .args(["-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p"])
            .arg(port.to_string())
            .args(["-U", user, "-d", "postgres"])
            .env("PGPASSWORD", password)
            .env("PGSSLMODE", "disable")
            .env("PGAPPNAME", "bench-psql")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawn {}", psql.display()))?;
        let stdout = child.stdout.take().context("psql stdout")?;
        let stderr = child.stderr.take().context("psql stderr")?;
        let (tx, marks) = unbounded_channel();
        std::thread::spawn(move || {
            let (mut t, mut f, mut other) = (0, 0, 0);
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(k) = line.strip_prefix(MARK).and_then(|k| k.parse().ok()) {
                    let at = Instant::now();
                    if tx.send(Mark { k, at, t, f, other }).is_err() {
                        break;
                    }
                    (t, f, other) = (0, 0, 0);
                } else if line == "t" {
                    t += 1;
                } else if line == "f" {
                    f += 1;
                } else {
                    other += 1;
                }
            }
        });
        let errors = Arc::new(Mutex::new(Vec::new()));
        let sink = errors.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                sink.lock().unwrap().push(line);
            }
        });
        let mut psql = Psql {
            stdin: Arc::new(Mutex::new(child.stdin.take())),
            child,
            marks,
            errors,
            next: 0,
            seen: None,
            writer: None,
        };
        let mark = psql.send("SELECT 1;\n".into());
        psql.wait(mark, Duration::from_secs(30))
            .await
            .context("psql: first query")?;
        Ok(psql)
    }

    /// Writes `statements` (whole lines) and a marker query after them, on a blocking thread;
    /// returns the marker's number.
    pub fn send(&mut self, mut statements: String) -> u64 {
        self.next += 1;
        let mark = self.next;
        statements += &format!("SELECT '{MARK}{mark}';\n");
        let stdin = self.stdin.clone();
        self.writer = Some(tokio::task::spawn_blocking(move || {
            let mut stdin = stdin.lock().unwrap();
            let pipe = stdin.as_mut().ok_or(std::io::ErrorKind::BrokenPipe)?;
            pipe.write_all(statements.as_bytes())?;
            pipe.flush()
        }));
        mark
    }

    /// The marker `mark` if psql has answered it, without waiting.
    pub fn try_mark(&mut self, mark: u64) -> Result<Option<Mark>> {
        while self.seen.is_none_or(|m| m.k < mark) {
            match self.marks.try_recv() {
                Ok(m) => self.seen = Some(m),
                Err(TryRecvError::Empty) => return Ok(None),
                Err(TryRecvError::Disconnected) => bail!("psql exited: {}", self.errors()),
            }
        }
        Ok(self.seen.filter(|m| m.k == mark))
    }

    /// Waits up to `timeout` for the marker `mark` (and the write before it).
    pub async fn wait(&mut self, mark: u64, timeout: Duration) -> Result<Mark> {
        if let Some(writer) = self.writer.take() {
            writer
                .await?
                .with_context(|| format!("write to psql: {}", self.errors()))?;
        }
        let deadline = tokio::time::Instant::now() + timeout;
        while self.seen.is_none_or(|m| m.k < mark) {
            match tokio::time::timeout_at(deadline, self.marks.recv()).await {
                Err(_) => bail!("psql did not answer within {timeout:?}: {}", self.errors()),
                Ok(None) => bail!("psql exited: {}", self.errors()),
                Ok(Some(m)) => self.seen = Some(m),
            }
        }
        self.seen
            .filter(|m| m.k == mark)
            .with_context(|| format!("psql skipped marker {mark}"))
    }

    /// What psql wrote to stderr so far (its ERROR lines).
    pub fn errors(&self) -> String {
        self.errors.lock().unwrap().join("\n")
    }
}

impl Drop for Psql {
    fn drop(&mut self) {
        // EOF on stdin ends psql; kill it if it lingers.
        self.stdin.lock().unwrap().take();
        for _ in 0..50 {
            if self.child.try_wait().ok().flatten().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
