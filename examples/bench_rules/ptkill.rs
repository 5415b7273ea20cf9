//! pt-kill as the peer of a rule: a long-running `pt-kill --busy-time 2 --interval 1 --kill
//! --match-user ^victim$ --victims all` as its own db user (`ptkill`), so the benchmark can see
//! when it is connected and watching.

use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use tokio::process::{Child, Command};

use crate::victims::{Probe, USER};

/// pt-kill's own account (PROCESS, CONNECTION ADMIN), distinct from dbkill's `killer`.
pub const LOGIN: (&str, &str) = ("ptkill", "ptkillpw");

/// A running pt-kill daemon.
pub struct PtKill {
    child: Child,
}

impl PtKill {
    /// Starts pt-kill and returns once its connection is listed (it is in its check loop).
    pub async fn start(port: u16, busy_secs: u64, probe: &mut Probe) -> Result<PtKill> {
        let (user, password) = LOGIN;
        let child = Command::new("pt-kill")
            .args([
                "--no-version-check",
                "--busy-time",
                &busy_secs.to_string(),
                "--interval",
                "1",
                "--kill",
                "--match-user",
                &format!("^{USER}$"),
                "--victims",
                "all",
                &format!("h=127.0.0.1,P={port},u={user},p={password}"),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("spawn pt-kill (scripts/bench installs percona-toolkit)")?;
        let mut pt = PtKill { child };
        let listed =
            format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}'");
        let deadline = Instant::now() + Duration::from_secs(30);
        while probe.count(&listed).await? == 0 {
            if let Some(status) = pt.child.try_wait()? {
                bail!("pt-kill exited at start ({status}): {}", pt.stderr().await);
            }
            if Instant::now() > deadline {
                bail!("pt-kill not connected within 30 s");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(pt)
    }

    /// Stops pt-kill (SIGKILL to the process this benchmark started) and reaps it; an error
    /// if it had exited on its own before.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "pt-kill exited during the run ({status}): {}",
                self.stderr().await
            );
        }
        self.child.kill().await?;
        Ok(())
    }

    async fn stderr(&mut self) -> String {
        use tokio::io::AsyncReadExt;
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = err.read_to_string(&mut text).await;
        }
        text.trim().to_owned()
    }
}
