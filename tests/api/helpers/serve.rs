//! The real `dbkill serve` binary as a child process, for tests that must stop it the hard way
//! (SIGKILL) and start it again on the same data dir. It listens on 127.0.0.1:0 and the port is
//! read from its log. A guardian shell SIGKILLs the child if the test process dies without
//! dropping it, so no server outlives the tests.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::app::ADMIN_PASSWORD;
use crate::support::mariadb::{MariaDb, unique_name};

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Exits on a line (a clean stop); on EOF without one, SIGKILLs `$1`.
const GUARDIAN: &str = r#"
IFS= read -r line && exit 0
kill -KILL "$1" 2>/dev/null
"#;

pub struct ServeProcess {
    child: Child,
    guardian: Child,
    guardian_stdin: Option<ChildStdin>,
    log: PathBuf,
    pub base: String,
    pub client: reqwest::Client,
}

impl ServeProcess {
    /// Starts `dbkill serve` on `data_dir` (logging to `log`) with `env` added to a clean
    /// environment, and waits until it listens.
    pub async fn start(data_dir: &Path, log: &Path, env: &[(&str, &str)]) -> ServeProcess {
        Self::start_wrapped(data_dir, log, env, &[]).await
    }

    /// [`ServeProcess::start`], run by `wrapper` (a command and its arguments that end by
    /// exec'ing the rest of its command line, e.g. `sh -c 'umask 022 && exec "$@"' sh`).
    pub async fn start_wrapped(
        data_dir: &Path,
        log: &Path,
        env: &[(&str, &str)],
        wrapper: &[&str],
    ) -> ServeProcess {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let child = serve_command(data_dir, log, env, wrapper)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn dbkill serve");
        let mut guardian = Command::new("sh")
            .args(["-c", GUARDIAN, "sh", &child.id().to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn guardian");
        let mut serve = ServeProcess {
            child,
            guardian_stdin: guardian.stdin.take(),
            guardian,
            log: log.to_owned(),
            base: String::new(),
            client: reqwest::Client::new(),
        };
        serve.base = serve.listening_on().await;
        serve
    }

    /// The base URL the server logs (`http://…` or `https://…`).
    async fn listening_on(&mut self) -> String {
        const LINE: &str = "dbkill listening on ";
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            if let Some(at) = log.find(LINE) {
                let rest = &log[at + LINE.len()..];
                return rest.split_whitespace().next().unwrap().to_owned();
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("dbkill serve exited ({status}) during startup:\n{log}");
            }
            assert!(
                Instant::now() < deadline,
                "dbkill serve did not listen within {START_TIMEOUT:?}:\n{log}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the log contains `line` (a server reaction to a signal, say).
    pub async fn wait_for_log(&self, line: &str, within: Duration) {
        let deadline = Instant::now() + within;
        while !self.log().contains(line) {
            assert!(
                Instant::now() < deadline,
                "no {line:?} in the log within {within:?}:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The process id of `dbkill serve` (after the wrapper, if any, exec'ed it), e.g. to read its
    /// memory in `/proc/<pid>/status`.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no destructor, no graceful shutdown, nothing flushed by dbkill itself.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("SIGKILL dbkill");
        self.reap();
    }

    /// SIGTERM, and waits (≤ 15 s) for the clean stop to end the process.
    pub async fn sigterm(&mut self) {
        let pid = self.child.id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status();
        assert!(sent.is_ok_and(|s| s.success()), "SIGTERM {pid}");
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "dbkill serve did not stop within 15 s of SIGTERM:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.reap();
    }

    /// Stops the guardian while the killed child is still a zombie (so the guardian can never
    /// hit a reused pid), then reaps the child.
    fn reap(&mut self) {
        if let Some(mut stdin) = self.guardian_stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.guardian.wait();
        let _ = self.child.wait();
    }

    pub async fn login(&self) -> String {
        let body = json!({"auth": {"identity": {"methods": ["password"],
            "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}});
        let resp = self
            .client
            .post(format!("{}/v3/auth/tokens", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        resp.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_owned()
    }

    /// A call that must answer `expect`; its JSON body.
    pub async fn expect(
        &self,
        token: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
        expect: u16,
    ) -> Value {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("X-Auth-Token", token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert_eq!(status, expect, "{path}: {text}");
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

/// `dbkill serve` on `data_dir`, as [`ServeProcess::start_wrapped`] runs it, its output in `log`.
fn serve_command(data_dir: &Path, log: &Path, env: &[(&str, &str)], wrapper: &[&str]) -> Command {
    let out = std::fs::File::create(log).unwrap();
    let mut cmd = match wrapper.split_first() {
        Some((program, args)) => {
            let mut cmd = Command::new(program);
            cmd.args(args).arg(env!("CARGO_BIN_EXE_dbkill"));
            cmd
        }
        None => Command::new(env!("CARGO_BIN_EXE_dbkill")),
    };
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DBKILL_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("serve")
        // No ./dbkill.toml of the developer's is read.
        .current_dir(data_dir.parent().unwrap())
        .env("DBKILL_DATA_DIR", data_dir)
        .env("DBKILL_LISTEN", "127.0.0.1:0")
        .env("DBKILL_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .env("DBKILL_RATE_LIMIT_PER_SECOND", "0")
        .env("DBKILL_LOG", "info,dbkill=debug")
        .env(
            "DBKILL_REPLICA_NAME",
            super::store_backend::replica_name_for_data_dir(data_dir),
        )
        .envs(
            super::store_backend::store_url_for_data_dir(data_dir)
                .map(|url| ("DBKILL_STORE_URL", url)),
        )
        .envs(env.iter().copied())
        .stdout(out.try_clone().unwrap())
        .stderr(out);
    cmd
}

/// Runs `dbkill serve` on `data_dir` with `env`, expecting it to refuse to start: its exit
/// status and output. A server that starts instead is killed after 10 s.
pub fn serve_refusal(
    data_dir: &Path,
    log: &Path,
    env: &[(&str, &str)],
) -> (std::process::ExitStatus, String) {
    let mut child = serve_command(data_dir, log, env, &[])
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn dbkill serve");
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, std::fs::read_to_string(log).unwrap_or_default())
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        self.reap();
    }
}

/// A killer account on a MariaDB, registered through a `dbkill serve` child: a new project, the
/// server as its instance and the account as that instance's db user.
pub struct ServedKiller {
    pub token: String,
    /// `/v3/{project}/instances/{instance}`.
    pub instance_path: String,
    pub db_user_id: String,
}

impl ServedKiller {
    pub fn process_path(&self) -> String {
        format!("{}/process", self.instance_path)
    }

    pub fn history_path(&self) -> String {
        format!(
            "{}/auto-flow/query-kill-process-history",
            self.instance_path
        )
    }
}

impl ServeProcess {
    /// Creates a killer account (PROCESS, CONNECTION ADMIN) on `db` and registers it.
    pub async fn register_killer(&self, db: &MariaDb) -> ServedKiller {
        let killer = unique_name("killer");
        db.sql(&format!(
            "CREATE USER '{killer}'@'%' IDENTIFIED BY 'killer-pw'; \
             GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%'"
        ));
        let token = self.login().await;
        let project = self
            .expect(
                &token,
                Method::POST,
                "/v3/projects",
                Some(json!({"project": {"name": unique_name("served")}})),
                201,
            )
            .await["project"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let instance = self
            .expect(
                &token,
                Method::POST,
                &format!("/v3/{project}/instances"),
                Some(
                    json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(),
                            "port": db.port()}),
                ),
                200,
            )
            .await["instance_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let instance_path = format!("/v3/{project}/instances/{instance}");
        let db_user = self
            .expect(
                &token,
                Method::POST,
                &format!("{instance_path}/db-users"),
                Some(
                    json!({"db_username": killer, "db_user_password": "killer-pw",
                            "datastore_type": "MySQL"}),
                ),
                200,
            )
            .await;
        ServedKiller {
            token,
            instance_path,
            db_user_id: db_user["db_user_id"].as_str().unwrap().to_owned(),
        }
    }
}
