//! The `stalled` scene's stall: mariadbd is stopped (SIGSTOP) as soon as the first victim is
//! gone, kept stopped [`STALL`], then continued (SIGCONT); a server that hangs mid-kill.
//!
//! The signals come from a small `sh` started before t0 (so that stopping costs a pipe write,
//! not a process start), in its own process group. It continues the server whenever its stdin
//! closes, so a benchmark that dies while the server is stopped leaves no stopped server.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use crate::victims::Probe;

/// How long the server stays stopped.
pub const STALL: Duration = Duration::from_secs(3);
/// Stop anyway this long after t0 if no victim has gone by then (the method failed).
const TRIGGER_TIMEOUT: Duration = Duration::from_secs(10);

/// `$1` is mariadbd's pid: a line stops it, the next line or EOF continues it.
const SIGNALLER: &str = r#"
IFS= read -r line || exit 0
kill -STOP "$1" && echo stopped
IFS= read -r line
kill -CONT "$1" && echo resumed
"#;

/// When the stall happened, from t0.
#[derive(Clone, Debug)]
pub struct StallTimes {
    /// SIGSTOP delivered.
    pub stopped: Duration,
    /// Victims the trigger read just before (fewer than N).
    pub left_at_stop: u64,
    /// SIGCONT delivered.
    pub resumed: Duration,
}

pub struct Staller {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Staller {
    pub fn spawn(mysqld_pid: u32) -> Result<Staller> {
        let mut child = Command::new("sh")
            .args(["-c", SIGNALLER, "sh", &mysqld_pid.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("spawn the stall signaller")?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().context("signaller stdout")?).lines();
        Ok(Staller {
            child,
            stdin,
            stdout,
        })
    }

    async fn signal(&mut self, expect: &str) -> Result<()> {
        let stdin = self.stdin.as_mut().context("signaller closed")?;
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
        match self.stdout.next_line().await? {
            Some(line) if line == expect => Ok(()),
            other => bail!("stall signaller: expected {expect:?}, got {other:?}"),
        }
    }

    /// Waits (polling `trigger`, its own connection, every ms) until fewer than `n` victims are
    /// listed, stops mariadbd for [`STALL`], continues it.
    pub async fn stall(&mut self, trigger: &mut Probe, t0: Instant, n: u64) -> Result<StallTimes> {
        let mut left = n;
        while t0.elapsed() < TRIGGER_TIMEOUT {
            left = trigger.victim_count().await?;
            if left < n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        self.signal("stopped").await?;
        let stopped = t0.elapsed();
        tokio::time::sleep(STALL).await;
        self.signal("resumed").await?;
        let resumed = t0.elapsed();
        self.stdin = None;
        let _ = self.child.wait().await;
        Ok(StallTimes {
            stopped,
            left_at_stop: left,
            resumed,
        })
    }
}

impl Drop for Staller {
    fn drop(&mut self) {
        // EOF continues a stopped server; the shell then exits on its own.
        self.stdin = None;
    }
}
