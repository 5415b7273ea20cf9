//! `dbkill serve` as a child process, and the API calls the benchmark makes to it (the curl
//! walk-through of README.md: token, project, instance, db user, ListProcesses, KillSession).
//! Shared with the rule benchmark (`examples/bench_rules.rs`), which makes its own calls through
//! [`Dbkill::call`] and registers more instances with [`Dbkill::add_instance`], and with the
//! PostgreSQL benchmark (`examples/bench_pg.rs`), which registers a PostgreSQL instance instead
//! ([`Dbkill::start_pg`]).

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail};
use serde_json::{Value, json};
use tempfile::TempDir;

const ADMIN_PASSWORD: &str = "bench-admin-pw-0123";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Kills `$1` (dbkill's pid) with SIGTERM and deletes `$2` (its temporary directory) when its
/// stdin reaches EOF without a line first, i.e. when the benchmark died without cleaning up. A
/// clean shutdown writes a line, then kills, reaps and deletes itself.
const GUARDIAN: &str = r#"
IFS= read -r line && exit 0
kill -TERM "$1" 2>/dev/null
sleep 2
case $2 in
    */dbkill-bench-*) rm -rf -- "$2" ;;
esac
"#;

/// A running `dbkill serve` with a project, an instance (the benchmark's mariadbd) and a db user
/// registered. Dropping it kills the process and deletes its data directory.
pub struct Dbkill {
    child: Child,
    guardian: Child,
    guardian_stdin: Option<ChildStdin>,
    dir: TempDir,
    pub pid: u32,
    pub http: reqwest::Client,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    token: String,
    pub project: String,
    /// The instance registered at start (the benchmark's mariadbd) and its db user.
    pub instance: String,
    pub db_user: String,
}

/// An HTTP answer and when its body had fully arrived.
pub struct Answer {
    pub done: Instant,
    /// The same moment on the wall clock (compared with the general log's times).
    pub done_wall: SystemTime,
    pub status: u16,
    pub body: Vec<u8>,
}

impl Dbkill {
    /// Starts a private copy of `bin` (so a rebuild during the run cannot change what is
    /// measured) as `serve` on a free port with a fresh data directory, waits for `/healthz`,
    /// then registers the instance on `mysql_port` with `killer` as its db user.
    pub async fn start(bin: &Path, mysql_port: u16, killer: (&str, &str)) -> Result<Dbkill> {
        let mut dbkill = Dbkill::launch(bin).await?;
        (dbkill.instance, dbkill.db_user) = dbkill
            .add_instance("bench-mariadb", mysql_port, killer)
            .await?;
        Ok(dbkill)
    }

    /// As [`Dbkill::start`], with the PostgreSQL server on 127.0.0.1:`pg_port` as the instance
    /// (`postgres` protected) and `login` as its db user.
    pub async fn start_pg(bin: &Path, pg_port: u16, login: (&str, &str)) -> Result<Dbkill> {
        let mut dbkill = Dbkill::launch(bin).await?;
        (dbkill.instance, dbkill.db_user) = dbkill
            .register_instance(
                "bench-postgresql",
                ("postgresql", "postgresql", "postgres"),
                pg_port,
                login,
            )
            .await?;
        Ok(dbkill)
    }

    /// Starts the private copy, waits for `/healthz`, logs in and creates the project.
    async fn launch(bin: &Path) -> Result<Dbkill> {
        if !bin.is_file() {
            bail!(
                "{} not found; run `cargo build --release` first (scripts/bench does)",
                bin.display()
            );
        }
        let dir = tempfile::Builder::new().prefix("dbkill-bench-").tempdir()?;
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("dbkill.log"))?;
        let copy = dir.path().join("dbkill");
        std::fs::copy(bin, &copy).with_context(|| format!("copy {}", bin.display()))?;
        let mut cmd = Command::new(&copy);
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("DBKILL_") {
                cmd.env_remove(key);
            }
        }
        let child = cmd
            .arg("serve")
            .current_dir(dir.path())
            .env("DBKILL_LISTEN", format!("127.0.0.1:{port}"))
            .env("DBKILL_DATA_DIR", dir.path().join("data"))
            .env("DBKILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
            .env("DBKILL_RATE_LIMIT_PER_SECOND", "0")
            // `BENCH_DBKILL_LOG=dbkill=debug` logs dbkill's kill phases; the log is copied to
            // stderr when the benchmark ends.
            .env(
                "DBKILL_LOG",
                std::env::var("BENCH_DBKILL_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Terminal signals go to the benchmark only; the guardian handles its death.
            .process_group(0)
            .spawn()
            .with_context(|| format!("spawn {} serve", bin.display()))?;
        let pid = child.id();
        let guardian = Command::new("sh")
            .args(["-c", GUARDIAN, "sh", &pid.to_string()])
            .arg(dir.path())
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
                return Err(e).context("spawn guardian for dbkill");
            }
        };
        let guardian_stdin = guardian.stdin.take();
        let http = reqwest::Client::builder()
            .no_proxy()
            .pool_idle_timeout(None)
            .timeout(Duration::from_secs(300))
            .build()?;
        let mut dbkill = Dbkill {
            child,
            guardian,
            guardian_stdin,
            dir,
            pid,
            http,
            base: format!("http://127.0.0.1:{port}"),
            token: String::new(),
            project: String::new(),
            instance: String::new(),
            db_user: String::new(),
        };
        dbkill.wait_ready().await?;
        dbkill.login().await?;
        Ok(dbkill)
    }

    async fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "dbkill serve exited ({status}) during startup:\n{}",
                    self.log_tail()
                );
            }
            let ok = self.http.get(format!("{}/healthz", self.base)).send().await;
            if ok.is_ok_and(|r| r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "dbkill serve not ready within {START_TIMEOUT:?}:\n{}",
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn login(&mut self) -> Result<()> {
        let login = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}});
        let resp = self
            .http
            .post(format!("{}/v3/auth/tokens", self.base))
            .json(&login)
            .send()
            .await?;
        if resp.status().as_u16() != 201 {
            bail!(
                "login: {} {}",
                resp.status(),
                resp.text().await.unwrap_or_default()
            );
        }
        self.token = resp
            .headers()
            .get("x-subject-token")
            .context("login: no X-Subject-Token")?
            .to_str()?
            .to_owned();
        let project = self
            .post("/v3/projects", json!({"project": {"name": "bench"}}))
            .await?;
        self.project = string_at(&project, "/project/id")?;
        Ok(())
    }

    /// Registers the MariaDB server on 127.0.0.1:`mysql_port` as instance `name` (`root`
    /// protected) with `user` as its db user; returns the instance id and db user id.
    pub async fn add_instance(
        &self,
        name: &str,
        mysql_port: u16,
        login: (&str, &str),
    ) -> Result<(String, String)> {
        self.register_instance(name, ("mariadb", "MySQL", "root"), mysql_port, login)
            .await
    }

    /// Registers 127.0.0.1:`port` as instance `name` of `(datastore type, db user datastore
    /// type, protected user)` with `user` as its db user; returns the instance id and db user id.
    async fn register_instance(
        &self,
        name: &str,
        (kind, db_user_kind, protected): (&str, &str, &str),
        port: u16,
        (user, password): (&str, &str),
    ) -> Result<(String, String)> {
        let instance = self
            .post(
                &format!("/v3/{}/instances", self.project),
                json!({"name": name, "datastore_type": kind, "host": "127.0.0.1",
                       "port": port, "protected_users": [protected]}),
            )
            .await?;
        let instance = string_at(&instance, "/instance_id")?;
        let db_user = self
            .post(
                &format!("/v3/{}/instances/{instance}/db-users", self.project),
                json!({"db_username": user, "db_user_password": password,
                       "datastore_type": db_user_kind}),
            )
            .await?;
        Ok((instance, string_at(&db_user, "/db_user_id")?))
    }

    async fn post(&self, path: &str, body: Value) -> Result<Value> {
        self.call(reqwest::Method::POST, path, Some(&body)).await
    }

    /// An authenticated API call (`path` from `/v3/…` on) with an optional JSON body; its JSON
    /// answer, or an error naming the status unless it is a success.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .header("X-Auth-Token", &self.token);
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("{method} {path}: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("{method} {path}: not JSON: {text}"))
    }

    /// KillSession (`DELETE …/process`) with a prepared JSON body, and our own `X-Request-Id`
    /// if given (dbkill keeps it as the report's `request_id`).
    pub async fn kill(&self, body: Vec<u8>, request_id: Option<&str>) -> Result<Answer> {
        let url = format!(
            "{}/v3/{}/instances/{}/process",
            self.base, self.project, self.instance
        );
        let mut req = self
            .http
            .delete(url)
            .header("X-Auth-Token", &self.token)
            .header("Content-Type", "application/json");
        if let Some(id) = request_id {
            req = req.header("X-Request-Id", id);
        }
        let resp = req.body(body).send().await?;
        answer(resp).await
    }

    /// One page (`page_num` from 1, 100 a page) of the kill history since `start_ms` (Unix
    /// ms), narrowed to `request_id` where dbkill supports that filter.
    pub async fn history(&self, start_ms: i64, request_id: &str, page_num: u32) -> Result<Value> {
        let url = format!(
            "{}/v3/{}/instances/{}/auto-flow/query-kill-process-history?start_time={start_ms}\
             &page_size=100&page_num={page_num}&request_id={request_id}",
            self.base, self.project, self.instance
        );
        let resp = self
            .http
            .get(url)
            .header("X-Auth-Token", &self.token)
            .send()
            .await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            bail!("kill history: {status} {text}");
        }
        serde_json::from_str(&text).with_context(|| format!("kill history: not JSON: {text}"))
    }

    /// ListProcesses (`GET …/processes`) of one user: the count and the first page of `limit`.
    pub async fn list(&self, user: &str, limit: u32) -> Result<Answer> {
        self.list_page(user, Some((0, limit))).await
    }

    /// ListProcesses of one user: the count and the page at `(offset, limit)`, or without
    /// either parameter (dbkill's default page) when `None`.
    pub async fn list_page(&self, user: &str, page: Option<(usize, u32)>) -> Result<Answer> {
        let mut url = format!(
            "{}/v3/{}/instances/{}/processes?db_user_id={}&user={user}",
            self.base, self.project, self.instance, self.db_user
        );
        if let Some((offset, limit)) = page {
            url += &format!("&offset={offset}&limit={limit}");
        }
        let resp = self
            .http
            .get(url)
            .header("X-Auth-Token", &self.token)
            .send()
            .await?;
        answer(resp).await
    }

    /// The last lines of dbkill's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("dbkill.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Dbkill {
    fn drop(&mut self) {
        if std::env::var_os("BENCH_DBKILL_LOG").is_some() {
            let log =
                std::fs::read_to_string(self.dir.path().join("dbkill.log")).unwrap_or_default();
            eprintln!("---- dbkill log ----\n{log}");
        }
        // SIGKILL leaves a zombie until we reap it, so the guardian can never hit a reused pid.
        let _ = self.child.kill();
        if let Some(mut stdin) = self.guardian_stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.guardian.wait();
        let _ = self.child.wait();
    }
}

async fn answer(resp: reqwest::Response) -> Result<Answer> {
    let status = resp.status().as_u16();
    let body = resp.bytes().await?;
    let done = Instant::now();
    let done_wall = SystemTime::now();
    Ok(Answer {
        done,
        done_wall,
        status,
        body: body.to_vec(),
    })
}

fn string_at(v: &Value, pointer: &str) -> Result<String> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .map(str::to_owned)
        .with_context(|| format!("no string at {pointer} in {v}"))
}
