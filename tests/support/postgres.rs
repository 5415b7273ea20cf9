//! Throwaway PostgreSQL clusters for integration tests.
//!
//! Each [`Postgres`] owns a fresh cluster (a copy of one made by `initdb` once
//! per test process) whose postmaster listens on a free port of 127.0.0.1 and
//! on a unix socket in its own temp dir. The bootstrap superuser is `postgres`
//! with password `postgres`; unix-socket logins are trusted, TCP logins
//! (including replication connections, for `pg_receivewal`) need a password
//! (scram-sha-256). The system cluster on 5432 is never touched.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root the
//! cluster's files belong to the `postgres` account and `initdb`/`postgres`
//! run under `setpriv` as that account.
//!
//! As in `mariadb.rs`, the postmaster runs under the `sh` wrapper of
//! `server_process.rs`, which shuts the cluster down (fast shutdown) when the
//! test process stops it, exits or is killed (always how [`shared`] ends), and
//! in the latter case also deletes its directory.
//!
//! Everything here is blocking and thread-safe apart from the `async` connect
//! helpers, whose connections belong to the calling test's runtime.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::env;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgSslMode};
use sqlx::{ConnectOptions, PgConnection};
use tempfile::TempDir;

pub use super::mariadb::unique_name;
pub use super::server_process::process_state;
use super::server_process::{
    self, HOST, LaunchError, START_ATTEMPTS, START_TIMEOUT, STOP_TIMEOUT, ServerProcess, Shutdown,
    Startup, children_of, free_port, panic_message, running_as_root, signal,
};

/// The bootstrap superuser and its password (TCP logins need one).
pub const SUPERUSER: &str = "postgres";
pub const SUPERUSER_PASSWORD: &str = "postgres";
/// `application_name` of the connections [`Postgres::connect`] opens.
pub const TEST_APPLICATION_NAME: &str = "dbkill-test";
/// How [`Postgres::backend_start`] formats `pg_stat_activity.backend_start`,
/// independent of the session's TimeZone, for comparing with other readings.
pub const BACKEND_START_SQL: &str =
    r#"to_char(backend_start AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')"#;
/// The OS account PostgreSQL runs as when the tests run as root.
const OS_USER: &str = "postgres";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const WALSENDER_TIMEOUT: Duration = Duration::from_secs(15);
/// How many connections [`Postgres::open_idle`] opens at once.
const OPEN_CONCURRENCY: usize = 16;
/// Our directories carry this prefix; the shell scripts refuse to delete anything else.
const DIR_PREFIX: &str = "dbkill-postgres-";

const INSTALL_HINT: &str = "PostgreSQL is needed for the integration tests: run \
    `apt-get install -y --no-install-recommends postgresql postgresql-client` \
    (or run scripts/test)";

/// SIGINT is PostgreSQL's fast shutdown (SIGTERM would wait for every client
/// to leave); SIGQUIT, then SIGKILL if that takes too long. HUP is ignored
/// from the start (postgres sets its own handler), so that a test process
/// dying while the cluster is paused cannot kill the wrapper's watcher before
/// it has continued the paused processes.
const SHUTDOWN: Shutdown = Shutdown {
    signal: "INT",
    escalation: &["QUIT", "KILL"],
    ignore_hup: true,
};

/// How to start a cluster. `Default` gives PostgreSQL's own defaults.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// `max_connections` (default 100).
    pub max_connections: u32,
    /// `superuser_reserved_connections` (default 3).
    pub superuser_reserved_connections: u32,
    /// More `-c name=value` settings, applied last so they override the harness's.
    pub settings: Vec<(String, String)>,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            max_connections: 100,
            superuser_reserved_connections: 3,
            settings: Vec::new(),
        }
    }
}

/// A running (or stopped) throwaway cluster. Dropping it stops the cluster
/// and deletes its directory.
#[derive(Debug)]
pub struct Postgres {
    process: ServerProcess,
    dir: TempDir,
    port: u16,
    opts: PostgresOptions,
}

impl Postgres {
    /// Copies the template cluster and starts it on a free port. Panics,
    /// including the server log, if it does not accept logins within 20 s.
    pub fn start(opts: PostgresOptions) -> Postgres {
        let template = template_datadir();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("create PostgreSQL temp dir");
        // `.s.PGSQL.<port>` must fit sun_path (108 bytes).
        assert!(
            dir.path().as_os_str().len() < 80,
            "temp dir {} is too long for a unix socket; set TMPDIR to a shorter directory",
            dir.path().display()
        );
        // `cp -a` keeps the owner (postgres) and the 0700 mode PostgreSQL insists on.
        let out = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(dir.path().join("data"))
            .output()
            .expect("run cp");
        assert!(
            out.status.success(),
            "copying the template cluster failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        give_to_os_user(dir.path());

        let mut pg = Postgres {
            process: ServerProcess::new(dir.path(), SHUTDOWN),
            dir,
            port: 0,
            opts,
        };
        let started = server_process::launch_with_retries(Duration::ZERO, || {
            pg.port = free_port();
            pg.launch()
        });
        match started {
            Ok(()) => pg,
            Err(LaunchError::AddressInUse) => panic!(
                "PostgreSQL: ports kept being taken after {START_ATTEMPTS} attempts\n{}",
                pg.log()
            ),
            Err(LaunchError::Failed(msg)) => panic!("{msg}"),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// Where the unix socket `.s.PGSQL.<port>` lives (the cluster's directory).
    pub fn socket_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The directory holding `data/`, the socket and `server.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn options(&self) -> &PostgresOptions {
        &self.opts
    }

    /// Pid of the running postmaster, `None` once stopped.
    pub fn server_pid(&self) -> Option<u32> {
        self.process.server_pid()
    }

    /// Runs `sql` as `postgres` over the unix socket with `psql -X -At` and
    /// returns stdout minus trailing newlines (rows separated by `\n`, columns
    /// by `|`; with several statements, the rows of each in turn). Panics with
    /// psql's stderr on failure, also when the cluster is paused (after 10 s).
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("psql failed running {sql:?}:\n{e}"))
    }

    /// Like [`Postgres::sql`], but returns psql's stderr as the error.
    pub fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = self.psql(&["-c", sql]);
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout)
                .trim_end_matches('\n')
                .to_owned())
        } else {
            Err(format!(
                "{}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim_end()
            ))
        }
    }

    /// `CREATE ROLE name LOGIN PASSWORD 'password' <attributes>`, e.g.
    /// attributes `"SUPERUSER"` or `"IN ROLE pg_signal_backend"` (or `""`).
    pub fn create_role(&self, name: &str, password: &str, attributes: &str) {
        self.sql(&format!(
            "CREATE ROLE {} LOGIN PASSWORD {} {attributes}",
            quote_ident(name),
            quote_literal(password)
        ));
    }

    /// Connects over TCP to 127.0.0.1 with `application_name` `dbkill-test`;
    /// panics on failure or after 10 s.
    pub async fn connect(&self, user: &str, password: &str, database: &str) -> PgConnection {
        self.try_connect(user, password, database)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "connect as {user:?} to PostgreSQL on port {} failed: {e}",
                    self.port
                )
            })
    }

    /// Like [`Postgres::connect`], but returns the error (e.g. to assert
    /// SQLSTATE 28P01 for a wrong password). A 10 s timeout still panics.
    pub async fn try_connect(
        &self,
        user: &str,
        password: &str,
        database: &str,
    ) -> Result<PgConnection, sqlx::Error> {
        connect_with(self.connect_options(user, password, database), self.port).await
    }

    /// Options for a TCP connection like [`Postgres::connect`]'s, for tests
    /// that need to adjust them.
    pub fn connect_options(&self, user: &str, password: &str, database: &str) -> PgConnectOptions {
        PgConnectOptions::new_without_pgpass()
            .host(HOST)
            .port(self.port)
            .username(user)
            .password(password)
            .database(database)
            .application_name(TEST_APPLICATION_NAME)
            .ssl_mode(PgSslMode::Disable)
    }

    /// Opens `n` connections as `user` (up to 16 at a time) and returns them
    /// idle. Panics if any fails.
    pub async fn open_idle(
        &self,
        user: &str,
        password: &str,
        database: &str,
        n: usize,
    ) -> Vec<PgConnection> {
        let opts = self.connect_options(user, password, database);
        let port = self.port;
        let permits = Arc::new(tokio::sync::Semaphore::new(OPEN_CONCURRENCY));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..n {
            let opts = opts.clone();
            let permits = Arc::clone(&permits);
            tasks.spawn(async move {
                let _permit = permits.acquire_owned().await.expect("semaphore open");
                connect_with(opts, port).await
            });
        }
        let mut conns = Vec::with_capacity(n);
        while let Some(joined) = tasks.join_next().await {
            let conn = joined.expect("connect task panicked").unwrap_or_else(|e| {
                panic!(
                    "opening {n} connections as {user:?} failed after {}: {e}",
                    conns.len()
                )
            });
            conns.push(conn);
        }
        conns
    }

    /// Starts `pg_receivewal` as `user` (a role with REPLICATION, e.g.
    /// `postgres`), which holds a walsender backend open, and waits until the
    /// walsender shows in `pg_stat_activity`. The guard kills it on drop; it
    /// also exits by itself when the cluster goes away (`--no-loop`).
    pub fn receive_wal(&self, user: &str, password: &str) -> WalReceiver {
        let wal_dir = tempfile::Builder::new()
            .prefix("wal-")
            .tempdir_in(self.dir.path())
            .expect("create pg_receivewal dir");
        let before: BTreeSet<i32> = self.walsender_pids().into_iter().collect();
        let log = fs::File::create(wal_dir.path().join("receivewal.log")).expect("create log");
        let child = Command::new(&tools().receivewal)
            .args(["--no-loop", "--no-password", "-h", HOST])
            .arg("-p")
            .arg(self.port.to_string())
            .arg("-U")
            .arg(user)
            .arg("-D")
            .arg(wal_dir.path())
            .env("PGPASSWORD", password)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup log"))
            .stderr(log)
            .spawn()
            .expect("spawn pg_receivewal");
        let mut receiver = WalReceiver {
            child,
            walsender_pid: 0,
            dir: wal_dir,
        };
        let deadline = Instant::now() + WALSENDER_TIMEOUT;
        loop {
            if let Some(pid) = self
                .walsender_pids()
                .into_iter()
                .find(|p| !before.contains(p))
            {
                receiver.walsender_pid = pid;
                return receiver;
            }
            if let Ok(Some(status)) = receiver.child.try_wait() {
                panic!("pg_receivewal exited ({status}):\n{}", receiver.log());
            }
            assert!(
                Instant::now() < deadline,
                "no walsender within {WALSENDER_TIMEOUT:?}; pg_receivewal:\n{}",
                receiver.log()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// Pids of `user`'s client backends, ascending.
    pub fn pids(&self, user: &str) -> Vec<i32> {
        self.sql(&format!(
            "SELECT pid FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND usename = {} ORDER BY pid",
            quote_literal(user)
        ))
        .lines()
        .map(|l| l.parse().expect("numeric pid"))
        .collect()
    }

    /// Whether a client backend with this pid exists.
    pub fn alive(&self, pid: i32) -> bool {
        self.sql(&format!(
            "SELECT count(*) FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid = {pid}"
        )) != "0"
    }

    /// `backend_start` of the client backend `pid` in UTC, RFC 3339 with
    /// microseconds (`2026-12-02T14:04:05.123456Z`, [`BACKEND_START_SQL`]),
    /// `None` if there is none.
    pub fn backend_start(&self, pid: i32) -> Option<String> {
        let out = self.sql(&format!(
            "SELECT {BACKEND_START_SQL} FROM pg_stat_activity \
             WHERE backend_type = 'client backend' AND pid = {pid}"
        ));
        (!out.is_empty()).then_some(out)
    }

    /// Fast shutdown (SIGINT; SIGQUIT after 10 s, then SIGKILL), waiting for
    /// the postmaster to exit. The directory is kept, so `restart` can follow.
    pub fn stop(&mut self) {
        // The wrapper continues paused processes before it waits.
        self.process.stop();
        let _ = fs::remove_file(self.dir.path().join("paused"));
    }

    /// Stops the cluster and starts it again on the same port and data.
    pub fn restart(&mut self) {
        self.stop();
        match server_process::launch_with_retries(Duration::from_millis(500), || self.launch()) {
            Ok(()) => {}
            Err(LaunchError::AddressInUse) => panic!(
                "PostgreSQL restart: port {} stayed in use\n{}",
                self.port,
                self.log()
            ),
            Err(LaunchError::Failed(msg)) => panic!("{msg}"),
        }
    }

    /// Stalls the cluster: SIGSTOP to the postmaster (first, so it forks no
    /// more) and to every process it forked. Connections stay open but nothing
    /// answers, and new connections hang. Undo with [`Postgres::resume`];
    /// `stop`, drop and the test process dying undo it too.
    pub fn pause(&self) {
        let server = self.server_pid().expect("pause: cluster is not running");
        let mut stopped = vec![server];
        signal("STOP", &server.to_string());
        for pid in children_of(server) {
            signal("STOP", &pid.to_string());
            stopped.push(pid);
        }
        let list: Vec<String> = stopped.iter().map(u32::to_string).collect();
        fs::write(self.dir.path().join("paused"), list.join(" ")).expect("write paused pid list");
        // kill(2) only queues the signal; wait until every process has
        // actually stopped, so that callers see a stalled cluster at once.
        let deadline = Instant::now() + STOP_TIMEOUT;
        for pid in stopped {
            while process_state(pid).is_some_and(|s| s != 'T' && s != 't' && s != 'Z') {
                assert!(Instant::now() < deadline, "pause: pid {pid} did not stop");
                thread::sleep(Duration::from_millis(5));
            }
        }
    }

    /// Continues what [`Postgres::pause`] stopped.
    pub fn resume(&self) {
        let paused = self.dir.path().join("paused");
        let Ok(list) = fs::read_to_string(&paused) else {
            return;
        };
        for pid in list.split_whitespace() {
            signal("CONT", pid);
        }
        let _ = fs::remove_file(paused);
    }

    /// The server's log (stderr of the postmaster and its children).
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn walsender_pids(&self) -> Vec<i32> {
        self.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'walsender' ORDER BY pid")
            .lines()
            .map(|l| l.parse().expect("numeric pid"))
            .collect()
    }

    fn psql(&self, args: &[&str]) -> Output {
        Command::new(&tools().psql)
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", "postgres"])
            .args(args)
            .env_remove("PGOPTIONS")
            .env_remove("PGSERVICE")
            // Fail rather than hang forever when the cluster is paused.
            .env("PGCONNECT_TIMEOUT", "10")
            .stdin(Stdio::null())
            .output()
            .expect("run psql")
    }

    /// Writes the harness's settings to `data/dbkill.conf`, which the
    /// template's postgresql.conf includes last. A config file rather than
    /// `-c` arguments: on every reload (`pg_reload_conf()`, or the HUP the
    /// kernel sends an orphaned stopped postmaster) PostgreSQL would complain
    /// that postgresql.conf's values of restart-only settings differ from the
    /// command line's. `ALTER SYSTEM` still overrides these.
    fn write_settings(&self) {
        let d = self.dir.path().display();
        let mut settings: Vec<(String, String)> = [
            ("listen_addresses", HOST.to_owned()),
            ("port", self.port.to_string()),
            ("unix_socket_directories", d.to_string()),
            ("max_connections", self.opts.max_connections.to_string()),
            (
                "superuser_reserved_connections",
                self.opts.superuser_reserved_connections.to_string(),
            ),
            // Durability is pointless for a throwaway cluster.
            ("fsync", "off".to_owned()),
            ("synchronous_commit", "off".to_owned()),
            ("full_page_writes", "off".to_owned()),
            // Several clusters run at once on a small machine.
            ("shared_buffers", "32MB".to_owned()),
            // Room for parallel-query tests (a leader with 2 workers), and
            // for walsenders (pg_receivewal).
            ("max_worker_processes", "8".to_owned()),
            ("max_parallel_workers", "8".to_owned()),
            ("max_parallel_workers_per_gather", "2".to_owned()),
            ("wal_level", "replica".to_owned()),
            ("max_wal_senders", "10".to_owned()),
            // The log is the wrapper's stderr; `log()` reads it.
            ("logging_collector", "off".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        settings.extend(self.opts.settings.iter().cloned());
        let conf: String = settings
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", quote_literal(v)))
            .collect();
        fs::write(self.dir.path().join("data").join(SETTINGS_FILE), conf)
            .expect("write dbkill.conf");
    }

    /// Spawns the wrapper and waits until the superuser can log in over TCP.
    fn launch(&mut self) -> Result<(), LaunchError> {
        let dir = self.dir.path().to_owned();
        let log_path = dir.join("server.log");
        // Only the part of the log written by this attempt matters.
        let log_offset = fs::metadata(&log_path).map(|m| m.len()).unwrap_or(0) as usize;
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("open server.log");
        // Left over if a stop had to kill; its pids may be reused by now.
        let _ = fs::remove_file(dir.join("paused"));
        self.write_settings();
        let mut cmd = self.process.command();
        as_os_user(&mut cmd);
        let child = cmd
            .arg(&tools().postgres)
            .arg("-D")
            .arg(dir.join("data"))
            .current_dir(&dir)
            .stdout(log.try_clone().expect("dup server.log"))
            .stderr(log)
            .spawn()
            .expect("spawn sh wrapper for postgres");

        match server_process::await_start(child, || self.answers_over_tcp()) {
            Startup::Ready(child) => {
                self.process.set(child);
                Ok(())
            }
            Startup::Exited(status) => {
                let log = self.log();
                if server_process::lost_port_race(&log, log_offset) {
                    return Err(LaunchError::AddressInUse);
                }
                Err(LaunchError::Failed(format!(
                    "postgres exited ({status}) during startup on port {}.\nlog:\n{}",
                    self.port,
                    log.get(log_offset..).unwrap_or(&log)
                )))
            }
            Startup::TimedOut(child) => {
                self.process.set(child);
                self.stop();
                Err(LaunchError::Failed(format!(
                    "postgres on port {} was not ready within {START_TIMEOUT:?}.\nlog:\n{}",
                    self.port,
                    self.log()
                )))
            }
        }
    }

    /// A password login over TCP, which is what tests rely on.
    fn answers_over_tcp(&self) -> bool {
        Command::new(&tools().psql)
            .args(["-X", "-A", "-t", "-w", "-h", HOST])
            .arg("-p")
            .arg(self.port.to_string())
            .args(["-U", SUPERUSER, "-d", "postgres", "-c", "SELECT 1"])
            .env("PGPASSWORD", SUPERUSER_PASSWORD)
            .env("PGCONNECT_TIMEOUT", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A running `pg_receivewal`: one walsender backend on the cluster. Dropping
/// it kills the process.
#[derive(Debug)]
pub struct WalReceiver {
    child: Child,
    walsender_pid: i32,
    dir: TempDir,
}

impl WalReceiver {
    /// Pid of the walsender backend serving it.
    pub fn walsender_pid(&self) -> i32 {
        self.walsender_pid
    }

    /// Pid of the `pg_receivewal` process.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What `pg_receivewal` printed.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.path().join("receivewal.log")).unwrap_or_default()
    }
}

impl Drop for WalReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The one cluster shared by all tests of this test binary (300
/// connections). Tests must isolate themselves with `unique_name` and must
/// not stop, restart or pause it. It is never dropped; the wrapper stops it
/// when the process exits.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Result<Postgres, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        // Remember a failure so that every other test fails fast with the
        // same message instead of retrying a 20 s start.
        std::panic::catch_unwind(|| {
            Postgres::start(PostgresOptions {
                max_connections: 300,
                ..PostgresOptions::default()
            })
        })
        .map_err(panic_message)
    });
    match started {
        Ok(pg) => pg,
        Err(msg) => panic!("shared PostgreSQL cluster failed to start: {msg}"),
    }
}

async fn connect_with(opts: PgConnectOptions, port: u16) -> Result<PgConnection, sqlx::Error> {
    let user = opts.get_username().to_owned();
    tokio::time::timeout(CONNECT_TIMEOUT, opts.connect())
        .await
        .unwrap_or_else(|_| panic!("connecting as {user:?} to port {port} timed out"))
}

struct Tools {
    initdb: PathBuf,
    postgres: PathBuf,
    psql: PathBuf,
    receivewal: PathBuf,
}

/// `initdb` from PATH, else from the highest /usr/lib/postgresql/<v>/bin; the
/// other programs from initdb's own directory when they are there (so all
/// are one version), else from PATH.
fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let initdb = on_path("initdb")
            .and_then(|p| fs::canonicalize(p).ok())
            .or_else(|| debian_bin_dir().map(|d| d.join("initdb")))
            .unwrap_or_else(|| {
                panic!("`initdb` not found in PATH or /usr/lib/postgresql/*/bin. {INSTALL_HINT}")
            });
        let bin = initdb.parent().expect("initdb has a directory").to_owned();
        let find = |name: &str| {
            Some(bin.join(name))
                .filter(|p| p.is_file())
                .or_else(|| on_path(name))
                .unwrap_or_else(|| {
                    panic!(
                        "`{name}` not found in {} or PATH. {INSTALL_HINT}",
                        bin.display()
                    )
                })
        };
        Tools {
            postgres: find("postgres"),
            psql: find("psql"),
            receivewal: find("pg_receivewal"),
            initdb,
        }
    })
}

fn on_path(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The `bin` directory of the highest PostgreSQL version Debian installed.
fn debian_bin_dir() -> Option<PathBuf> {
    fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| {
            let version: Vec<u32> = e
                .file_name()
                .to_str()?
                .split('.')
                .map(str::parse)
                .collect::<Result<_, _>>()
                .ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max()
        .map(|(_, bin)| bin)
}

/// When root, prefixes `cmd`'s remaining arguments with a `setpriv` that runs
/// the program as the `postgres` account. setpriv execs (unlike runuser,
/// which forks), so pids and signals reach PostgreSQL itself.
fn as_os_user(cmd: &mut Command) {
    if running_as_root() {
        cmd.args([
            "setpriv",
            &format!("--reuid={OS_USER}"),
            &format!("--regid={OS_USER}"),
            "--init-groups",
            "--",
        ]);
    }
}

/// When root, hands `path` (not recursively) to the `postgres` account, which
/// creates its socket and lock files there.
fn give_to_os_user(path: &Path) {
    if !running_as_root() {
        return;
    }
    let (uid, gid) = os_user_ids();
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|e| panic!("chown {} to {OS_USER}: {e}", path.display()));
}

fn os_user_ids() -> (u32, u32) {
    static IDS: OnceLock<(u32, u32)> = OnceLock::new();
    *IDS.get_or_init(|| {
        let passwd = fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
        passwd
            .lines()
            .map(|l| l.split(':').collect::<Vec<_>>())
            .find(|f| f.len() > 3 && f[0] == OS_USER)
            .map(|f| (f[2].parse().unwrap(), f[3].parse().unwrap()))
            .unwrap_or_else(|| {
                panic!("PostgreSQL refuses to run as root, and there is no `{OS_USER}` account. {INSTALL_HINT}")
            })
    })
}

/// A cluster made by `initdb` once per test process and copied for every
/// server: initdb takes about a second, a copy a few ms.
fn template_datadir() -> &'static Path {
    static TEMPLATE: OnceLock<Result<(PathBuf, Child), String>> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        server_process::kept_dir(DIR_PREFIX, |dir| {
            give_to_os_user(dir);
            initdb(dir);
        })
        .map(|(path, guardian)| (path.join("data"), guardian))
    });
    match template {
        Ok((data, _guardian)) => data,
        Err(msg) => panic!("initdb of the PostgreSQL template cluster failed earlier: {msg}"),
    }
}

/// The settings of one cluster (port, socket dir, options), rewritten at
/// every start; relative to the data dir.
const SETTINGS_FILE: &str = "dbkill.conf";

/// Lets local (unix socket) logins in without a password, including
/// replication ones; TCP from 127.0.0.1 needs the role's password.
const PG_HBA: &str = "\
local   all          all                 trust
local   replication  all                 trust
host    all          all   127.0.0.1/32  scram-sha-256
host    replication  all   127.0.0.1/32  scram-sha-256
";

fn initdb(dir: &Path) {
    let pwfile = dir.join("pwfile");
    fs::write(&pwfile, format!("{SUPERUSER_PASSWORD}\n")).expect("write pwfile");
    if running_as_root() {
        let (uid, gid) = os_user_ids();
        std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).expect("chown pwfile");
    }
    let data = dir.join("data");
    let mut cmd = Command::new("sh");
    // `sh -c '"$@"'` only so that `as_os_user` can prefix the program.
    cmd.arg("-c").arg("exec \"$@\"").arg("sh");
    as_os_user(&mut cmd);
    let out = cmd
        .arg(&tools().initdb)
        .arg("-D")
        .arg(&data)
        .args(["-U", SUPERUSER])
        .arg(format!("--pwfile={}", pwfile.display()))
        .args([
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--locale=C",
            // Durability is pointless for a throwaway cluster; saves seconds.
            "--no-sync",
            "--no-instructions",
        ])
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run initdb");
    if !out.status.success() {
        panic!(
            "initdb failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let _ = fs::remove_file(&pwfile);
    // Truncating keeps the file's owner (postgres) and mode.
    fs::write(data.join("pg_hba.conf"), PG_HBA).expect("write pg_hba.conf");
    let mut conf = fs::OpenOptions::new()
        .append(true)
        .open(data.join("postgresql.conf"))
        .expect("open postgresql.conf");
    writeln!(conf, "include '{SETTINGS_FILE}'").expect("append to postgresql.conf");
}

/// `"name"` with inner quotes doubled.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// `'value'` with inner quotes doubled (standard_conforming_strings is on).
pub fn quote_literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}
