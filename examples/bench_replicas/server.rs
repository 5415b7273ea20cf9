//! One `dbkill serve` child: the SQLite-store service, or a replica on the PostgreSQL store. It
//! keeps its port, data dir and settings, so a replica that was SIGKILLed or SIGTERMed can be
//! started again as the same replica. A guardian `sh` SIGKILLs it if the benchmark dies without
//! stopping it; it is told to stand down before the child is reaped, so it never signals a
//! reused pid.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

pub const ADMIN_PASSWORD: &str = "bench-admin-pw-0123";
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// dbkill's own graceful stop after SIGTERM; SIGKILL after that.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Exits on a line (a clean stop); on EOF without one, SIGKILLs `$1`.
const GUARDIAN: &str = r#"
IFS= read -r line && exit 0
kill -KILL "$1" 2>/dev/null
"#;

struct Running {
    child: Child,
    guardian: Child,
    guardian_stdin: ChildStdin,
}

pub struct Server {
    /// `sqlite`, or the replica's name (`r1`, …).
    pub name: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    env: Vec<(String, String)>,
    running: Option<Running>,
    http: reqwest::Client,
}

impl Server {
    /// Starts `bin serve` with data dir `<dir>/data`, its log in `<dir>/serve.log`, on a free
    /// port, with `env` added to the benchmark's settings; returns once `/healthz` answers 200.
    pub async fn start(
        name: &str,
        bin: &Path,
        dir: &Path,
        env: Vec<(String, String)>,
    ) -> Result<Server> {
        std::fs::create_dir_all(dir)?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut server = Server {
            name: name.to_owned(),
            base: format!("http://127.0.0.1:{port}"),
            bin: bin.to_owned(),
            dir: dir.to_owned(),
            port,
            env,
            running: None,
            http: reqwest::Client::builder()
                .no_proxy()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        server.launch().await?;
        Ok(server)
    }

    pub fn pid(&self) -> Option<u32> {
        self.running.as_ref().map(|r| r.child.id())
    }

    pub fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Starts it again on the same port, data dir and settings (after a stop).
    pub async fn restart(&mut self) -> Result<()> {
        if self.running.is_some() {
            bail!("{} is still running", self.name);
        }
        self.launch().await
    }

    async fn launch(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("serve.log"))?;
        let mut cmd = Command::new(&self.bin);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DBKILL_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg("serve")
            .current_dir(&self.dir)
            .env("DBKILL_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("DBKILL_DATA_DIR", self.dir.join("data"))
            .env("DBKILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DBKILL_RATE_LIMIT_PER_SECOND", "0")
            .env(
                "DBKILL_LOG",
                std::env::var("BENCH_DBKILL_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Terminal signals go to the benchmark only; the guardian handles its death.
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawn {} serve", self.bin.display()))?;
        let guardian = Command::new("sh")
            .args(["-c", GUARDIAN, "sh", &child.id().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut guardian = match guardian {
            Ok(g) => g,
            Err(e) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(e).context("spawn the guardian of dbkill");
            }
        };
        let guardian_stdin = guardian.stdin.take().context("guardian stdin")?;
        self.running = Some(Running {
            child,
            guardian,
            guardian_stdin,
        });
        self.wait_healthy().await
    }

    async fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let running = self.running.as_mut().context("not running")?;
            if let Some(status) = running.child.try_wait()? {
                self.release();
                bail!(
                    "{} exited ({status}) while starting:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let ok = self.http.get(format!("{}/healthz", self.base)).send().await;
            if ok.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "{} did not answer /healthz within {START_TIMEOUT:?}:\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, and reap it.
    pub fn sigkill(&mut self) {
        if let Some(r) = self.running.as_mut() {
            let _ = r.child.kill();
        }
        self.release();
    }

    /// SIGTERM now; [`Server::reap`] waits for the graceful stop.
    pub fn sigterm(&self) {
        if let Some(pid) = self.pid() {
            let _ = Command::new("kill")
                .args(["-TERM", &pid.to_string()])
                .status();
        }
    }

    /// Waits up to 10 s for a process sent SIGTERM to end, then SIGKILLs it; reaps it.
    pub async fn reap(&mut self) {
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Some(pid) = self.pid() {
            // A zombie has ended; it is reaped below, after the guardian stood down.
            if !matches!(process_state(pid), Some(s) if s != 'Z') || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.sigkill();
    }

    /// Tells the guardian to stand down while the child (killed or ended) is unreaped, then
    /// reaps it.
    fn release(&mut self) {
        if let Some(mut r) = self.running.take() {
            let _ = r.guardian_stdin.write_all(b"stop\n");
            let _ = r.guardian.wait();
            let _ = r.child.wait();
        }
    }

    /// The last lines of its log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_DBKILL_LOG").is_some() {
            let log = std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default();
            eprintln!("---- {} log ----\n{log}", self.name);
        }
        self.sigkill();
    }
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `Z`, …), `None` once it is gone.
fn process_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}
