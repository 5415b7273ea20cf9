//! Throwaway MariaDB servers for integration tests.
//!
//! Each [`MariaDb`] owns a fresh data directory (a copy of one made by
//! `mariadb-install-db` once per test process) and a `mariadbd` listening on
//! a free port of 127.0.0.1. `root@localhost` has an empty password; the
//! server resolves 127.0.0.1 to `localhost`, so accounts that tests log in
//! with over TCP must be created as `name@'%'`.
//!
//! `mariadbd` runs under the `sh` wrapper of `server_process.rs`, so no
//! server or 26 MB data directory outlives the tests, not even [`shared`]
//! (a static, never dropped).
//!
//! Everything here is blocking and thread-safe apart from [`MariaDb::connect`]
//! and [`MariaDb::try_connect`], which return a `mysql_async::Conn` bound to
//! the calling test's runtime.

#![allow(dead_code)]

use std::collections::HashMap;
use std::env;
use std::fs;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::server_process::{
    self, HOST, LaunchError, START_ATTEMPTS, START_TIMEOUT, ServerProcess, Shutdown, Startup,
    free_port, panic_message, running_as_root,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const REPLICATION_TIMEOUT: Duration = Duration::from_secs(20);
/// Our directories carry this prefix; the shell scripts refuse to delete anything else.
const DIR_PREFIX: &str = "dbkill-mariadb-";
/// Account that `replica_pair` creates on the primary for the replica's IO thread.
pub const REPL_USER: &str = "repl";
pub const REPL_PASSWORD: &str = "repl";

const INSTALL_HINT: &str = "MariaDB is needed for the integration tests: run \
    `apt-get install -y --no-install-recommends mariadb-server-core mariadb-client-core` \
    (or run scripts/test)";

/// SIGTERM is mariadbd's clean shutdown; SIGKILL if that takes too long.
const SHUTDOWN: Shutdown = Shutdown {
    signal: "TERM",
    escalation: &["KILL"],
    ignore_hup: false,
};

/// How to start a server. `Default` gives a plain standalone server.
#[derive(Debug, Clone)]
pub struct MariaDbOptions {
    /// `--max-connections` (default 300).
    pub max_connections: u32,
    /// Also listen on a second port (`--extra-port`, 2 extra connections).
    pub extra_port: bool,
    /// Write a binary log (`--log-bin`); without it `--skip-log-bin`.
    pub log_bin: bool,
    /// `--server-id` (default 1).
    pub server_id: u32,
    /// `--event-scheduler=ON` (default true, as on many production servers),
    /// which adds an `event_scheduler` Daemon row to the processlist.
    pub event_scheduler: bool,
    /// Serve TLS with these files; clients of the harness then connect over TLS (without
    /// checking the certificate).
    pub tls: Option<ServerTls>,
    /// Appended last, so they override anything the harness sets.
    pub extra_args: Vec<String>,
}

/// PEM files of a server's TLS identity, and whether plain connections are refused.
#[derive(Debug, Clone)]
pub struct ServerTls {
    pub ca: PathBuf,
    pub cert: PathBuf,
    pub key: PathBuf,
    /// `--require-secure-transport=ON`: TCP logins without TLS are refused.
    pub require_secure_transport: bool,
}

impl Default for MariaDbOptions {
    fn default() -> Self {
        MariaDbOptions {
            max_connections: 300,
            extra_port: false,
            log_bin: false,
            server_id: 1,
            event_scheduler: true,
            tls: None,
            extra_args: Vec::new(),
        }
    }
}

/// A running (or stopped) throwaway server. Dropping it stops the server and
/// deletes its data directory.
#[derive(Debug)]
pub struct MariaDb {
    process: ServerProcess,
    dir: TempDir,
    port: u16,
    extra_port: Option<u16>,
    socket: PathBuf,
    opts: MariaDbOptions,
}

impl MariaDb {
    /// Creates a data directory and starts a server on free ports. Panics,
    /// including err.log, if the server is not ready within 20 s.
    pub fn start(opts: MariaDbOptions) -> MariaDb {
        let template = template_datadir();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir()
            .expect("create MariaDB temp dir");
        let socket = dir.path().join("sock");
        // sun_path is 108 bytes; a long TMPDIR would otherwise fail obscurely.
        assert!(
            socket.as_os_str().len() < 100,
            "socket path {} is too long for a unix socket; set TMPDIR to a shorter directory",
            socket.display()
        );
        copy_dir(template, &dir.path().join("data")).expect("copy template data dir");
        fs::create_dir(dir.path().join("tmp")).expect("create MariaDB tmpdir");

        let mut db = MariaDb {
            process: ServerProcess::new(dir.path(), SHUTDOWN),
            dir,
            port: 0,
            extra_port: None,
            socket,
            opts,
        };
        let started = server_process::launch_with_retries(Duration::ZERO, || {
            db.port = free_port();
            db.extra_port = db.opts.extra_port.then(free_port);
            db.launch(false)
        });
        match started {
            Ok(()) => db,
            Err(LaunchError::AddressInUse) => panic!(
                "MariaDB: ports kept being taken after {START_ATTEMPTS} attempts\n{}",
                db.err_log()
            ),
            Err(LaunchError::Failed(msg)) => panic!("{msg}"),
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn extra_port(&self) -> Option<u16> {
        self.extra_port
    }

    pub fn host(&self) -> &'static str {
        HOST
    }

    /// The directory holding `data/`, `sock`, `err.log`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    pub fn options(&self) -> &MariaDbOptions {
        &self.opts
    }

    /// Pid of the running `mariadbd`, `None` once stopped.
    pub fn server_pid(&self) -> Option<u32> {
        self.process.server_pid()
    }

    /// Runs `sql` as root over the unix socket with the `mariadb` client in
    /// batch mode without column names, returning stdout minus trailing
    /// newlines (rows separated by `\n`, columns by `\t`). Panics on failure.
    pub fn sql(&self, sql: &str) -> String {
        let out = self.client(&["-N", "-B", "-e", sql]);
        if !out.status.success() {
            panic!(
                "mariadb client failed ({}) running {sql:?}:\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        String::from_utf8_lossy(&out.stdout)
            .trim_end_matches('\n')
            .to_owned()
    }

    /// `SHOW SLAVE STATUS` as column name -> value, `None` if this server is
    /// not a replica.
    pub fn slave_status(&self) -> Option<HashMap<String, String>> {
        let out = self.client(&["-B", "-e", "SHOW SLAVE STATUS"]);
        if !out.status.success() {
            panic!(
                "SHOW SLAVE STATUS failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let mut lines = text.lines();
        let names = lines.next()?;
        let values = lines.next()?;
        Some(
            names
                .split('\t')
                .zip(values.split('\t'))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// Stops the server cleanly and starts it again on the same port(s) and
    /// data directory.
    pub fn restart(&mut self) {
        self.stop();
        match server_process::launch_with_retries(Duration::from_millis(500), || self.launch(true))
        {
            Ok(()) => {}
            Err(LaunchError::AddressInUse) => panic!(
                "MariaDB restart: port {} stayed in use\n{}",
                self.port,
                self.err_log()
            ),
            Err(LaunchError::Failed(msg)) => panic!("{msg}"),
        }
    }

    /// Shuts the server down (SIGTERM, then SIGKILL after 10 s) and waits for
    /// it to exit. The data directory is kept, so `restart` can follow.
    pub fn stop(&mut self) {
        self.process.stop();
    }

    /// Contents of the server's error log (empty if there is none yet).
    pub fn err_log(&self) -> String {
        fs::read_to_string(self.dir.path().join("err.log")).unwrap_or_default()
    }

    /// Connects over TCP to 127.0.0.1; panics on failure or after 10 s.
    pub async fn connect(&self, user: &str, password: &str) -> mysql_async::Conn {
        self.try_connect(user, password, None)
            .await
            .unwrap_or_else(|e| {
                panic!(
                    "connect as {user:?} to MariaDB on port {} failed: {e}",
                    self.port
                )
            })
    }

    /// Connects over TCP to 127.0.0.1, optionally selecting `db`. Errors are
    /// returned (e.g. to assert access denied); a 10 s timeout panics.
    pub async fn try_connect(
        &self,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        connect_port(self.port, self.opts.tls.is_some(), user, password, db).await
    }

    /// Like `try_connect`, but to the `--extra-port`. Panics if the server
    /// was started without one.
    pub async fn try_connect_extra(
        &self,
        user: &str,
        password: &str,
        db: Option<&str>,
    ) -> Result<mysql_async::Conn, mysql_async::Error> {
        let port = self
            .extra_port
            .expect("server was started without extra_port");
        connect_port(port, self.opts.tls.is_some(), user, password, db).await
    }

    /// Connection ids of `user`'s sessions, ascending.
    pub fn processlist_ids(&self, user: &str) -> Vec<u64> {
        let out = self.sql(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{}' ORDER BY ID",
            escape(user)
        ));
        out.lines()
            .map(|l| l.parse().expect("numeric processlist id"))
            .collect()
    }

    /// Whether connection `id` is still in the processlist.
    pub fn alive(&self, id: u64) -> bool {
        self.sql(&format!(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = {id}"
        )) != "0"
    }

    fn client(&self, args: &[&str]) -> Output {
        Command::new(&tools().client)
            .arg("--no-defaults")
            .arg("-S")
            .arg(&self.socket)
            .arg("-uroot")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run mariadb client")
    }

    fn server_args(&self, restarting: bool) -> Vec<String> {
        let d = self.dir.path().display();
        let mut args = vec![
            // mariadbd only honours --no-defaults as the very first argument.
            "--no-defaults".to_owned(),
            format!("--datadir={d}/data"),
            format!("--socket={}", self.socket.display()),
            format!("--port={}", self.port),
            format!("--bind-address={HOST}"),
            format!("--pid-file={d}/mariadbd.pid"),
            format!("--log-error={d}/err.log"),
            // mariadbd deletes every `#sql*` file in its tmpdir at startup, so
            // servers sharing /tmp (including the system one) would delete
            // each other's temporary tables.
            format!("--tmpdir={d}/tmp"),
            "--innodb-buffer-pool-size=32M".to_owned(),
            // Matches install(); the 96M default makes each data dir ~114 MB.
            "--innodb-log-file-size=8M".to_owned(),
            // Durability is pointless for a throwaway server; this keeps DDL fast.
            "--innodb-flush-log-at-trx-commit=2".to_owned(),
            format!("--max-connections={}", self.opts.max_connections),
            format!("--server-id={}", self.opts.server_id),
            format!(
                "--event-scheduler={}",
                if self.opts.event_scheduler {
                    "ON"
                } else {
                    "OFF"
                }
            ),
        ];
        if running_as_root() {
            // mariadbd refuses to run as root unless told to explicitly.
            args.push("--user=root".to_owned());
        }
        args.push(if self.opts.log_bin {
            "--log-bin=mariadb-bin".to_owned()
        } else {
            "--skip-log-bin".to_owned()
        });
        if let Some(extra) = self.extra_port {
            args.push(format!("--extra-port={extra}"));
            args.push("--extra-max-connections=2".to_owned());
        }
        if restarting {
            // On restart the port must stay the same; let the server wait for
            // it rather than fail if a client socket still holds it.
            args.push("--port-open-timeout=10".to_owned());
        }
        if let Some(tls) = &self.opts.tls {
            args.push(format!("--ssl-ca={}", tls.ca.display()));
            args.push(format!("--ssl-cert={}", tls.cert.display()));
            args.push(format!("--ssl-key={}", tls.key.display()));
            if tls.require_secure_transport {
                args.push("--require-secure-transport=ON".to_owned());
            }
        }
        args.extend(self.opts.extra_args.iter().cloned());
        args
    }

    /// Spawns the wrapper and waits until the server answers over TCP.
    fn launch(&mut self, restarting: bool) -> Result<(), LaunchError> {
        let dir = self.dir.path().to_owned();
        let err_log = dir.join("err.log");
        // Only the part of err.log written by this attempt matters.
        let log_offset = fs::metadata(&err_log).map(|m| m.len()).unwrap_or(0) as usize;
        let wrapper_log = fs::File::create(dir.join("wrapper.log")).expect("create wrapper.log");
        let child = self
            .process
            .command()
            .arg(&tools().server)
            .args(self.server_args(restarting))
            .stdout(wrapper_log.try_clone().expect("dup wrapper.log"))
            .stderr(wrapper_log)
            .spawn()
            .expect("spawn sh wrapper for mariadbd");

        match server_process::await_start(child, || self.socket.exists() && self.answers_over_tcp())
        {
            Startup::Ready(child) => {
                self.process.set(child);
                Ok(())
            }
            Startup::Exited(status) => {
                let log = fs::read_to_string(&err_log).unwrap_or_default();
                if server_process::lost_port_race(&log, log_offset) {
                    return Err(LaunchError::AddressInUse);
                }
                Err(LaunchError::Failed(format!(
                    "mariadbd exited ({status}) during startup on port {}.\nwrapper: {}\nerr.log:\n{}",
                    self.port,
                    fs::read_to_string(dir.join("wrapper.log")).unwrap_or_default(),
                    log.get(log_offset..).unwrap_or(&log)
                )))
            }
            Startup::TimedOut(child) => {
                self.process.set(child);
                self.stop();
                Err(LaunchError::Failed(format!(
                    "mariadbd on port {} was not ready within {START_TIMEOUT:?}.\nerr.log:\n{}",
                    self.port,
                    self.err_log()
                )))
            }
        }
    }

    /// A full login over TCP, which is what tests rely on; a bare TCP connect
    /// could succeed while the server is still initialising.
    fn answers_over_tcp(&self) -> bool {
        // `--ssl` alone encrypts without checking the certificate.
        let tls: &[&str] = if self.opts.tls.is_some() {
            &["--ssl"]
        } else {
            &[]
        };
        Command::new(&tools().client)
            .arg("--no-defaults")
            .args(tls)
            .args([
                "--protocol=TCP",
                "-h",
                HOST,
                "-uroot",
                "--connect-timeout=2",
            ])
            .arg(format!("-P{}", self.port))
            .args(["-N", "-B", "-e", "SELECT 1"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The one server shared by all tests of this test binary (event scheduler
/// off, 500 connections). Tests must isolate themselves with `unique_name`.
/// It is never dropped; the wrapper stops it when the process exits.
pub fn shared() -> &'static MariaDb {
    static SHARED: OnceLock<Result<MariaDb, String>> = OnceLock::new();
    let started = SHARED.get_or_init(|| {
        // Remember a failure so that every other test fails fast with the
        // same message instead of retrying a 20 s start.
        std::panic::catch_unwind(|| {
            MariaDb::start(MariaDbOptions {
                max_connections: 500,
                event_scheduler: false,
                ..MariaDbOptions::default()
            })
        })
        .map_err(panic_message)
    });
    match started {
        Ok(db) => db,
        Err(msg) => panic!("shared MariaDB server failed to start: {msg}"),
    }
}

/// Starts a primary (binlog, server id 1, event scheduler ON) and a replica
/// (server id 2) replicating from it with GTID as [`REPL_USER`], and waits
/// until both replica threads run.
pub fn replica_pair() -> (MariaDb, MariaDb) {
    let (primary, replica) = thread::scope(|s| {
        let primary = s.spawn(|| {
            MariaDb::start(MariaDbOptions {
                log_bin: true,
                server_id: 1,
                event_scheduler: true,
                ..MariaDbOptions::default()
            })
        });
        let replica = s.spawn(|| {
            MariaDb::start(MariaDbOptions {
                server_id: 2,
                ..MariaDbOptions::default()
            })
        });
        (
            primary
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            replica
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e)),
        )
    });
    primary.sql(&format!(
        "CREATE USER {REPL_USER}@'%' IDENTIFIED BY '{REPL_PASSWORD}';
         GRANT REPLICATION SLAVE ON *.* TO {REPL_USER}@'%'"
    ));
    // A 1 s retry lets replication recover quickly when a test kills the
    // primary's Binlog Dump thread or restarts the primary.
    replica.sql(&format!(
        "CHANGE MASTER TO MASTER_HOST='{HOST}', MASTER_PORT={}, MASTER_USER='{REPL_USER}',
             MASTER_PASSWORD='{REPL_PASSWORD}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=1;
         START SLAVE",
        primary.port()
    ));
    let deadline = Instant::now() + REPLICATION_TIMEOUT;
    loop {
        let status = replica.slave_status().unwrap_or_default();
        let running = |k: &str| status.get(k).map(String::as_str) == Some("Yes");
        if running("Slave_IO_Running") && running("Slave_SQL_Running") {
            return (primary, replica);
        }
        if Instant::now() > deadline {
            panic!(
                "replication did not start within {REPLICATION_TIMEOUT:?}: {status:?}\n\
                 replica err.log:\n{}\nprimary err.log:\n{}",
                replica.err_log(),
                primary.err_log()
            );
        }
        thread::sleep(Duration::from_millis(100));
    }
}

/// `prefix` plus a short random suffix and a process-wide counter, e.g.
/// `app_kq3z0_7`: distinct across concurrent tests, and usable unquoted as a
/// user or database name (characters outside `[a-z0-9_]` in `prefix` are
/// lowercased or replaced by `_`).
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // RandomState is seeded randomly per process, so names also differ
    // between test binaries that might share a server.
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(n);
    let mut r = hasher.finish();
    let prefix: String = prefix
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    // A leading letter keeps the suffix from being all digits.
    let mut suffix = String::with_capacity(5);
    suffix.push(char::from(ALPHABET[(r % 26) as usize]));
    r /= 26;
    for _ in 0..4 {
        suffix.push(char::from(ALPHABET[(r % 36) as usize]));
        r /= 36;
    }
    format!("{prefix}_{suffix}_{n}")
}

async fn connect_port(
    port: u16,
    tls: bool,
    user: &str,
    password: &str,
    db: Option<&str>,
) -> Result<mysql_async::Conn, mysql_async::Error> {
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(HOST)
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        // Otherwise mysql_async would switch to the server's unix socket.
        .prefer_socket(false)
        .ssl_opts(
            tls.then(|| mysql_async::SslOpts::default().with_danger_accept_invalid_certs(true)),
        );
    tokio::time::timeout(CONNECT_TIMEOUT, mysql_async::Conn::new(opts))
        .await
        .unwrap_or_else(|_| panic!("connecting as {user:?} to port {port} timed out"))
}

struct Tools {
    server: PathBuf,
    install_db: PathBuf,
    client: PathBuf,
}

fn tools() -> &'static Tools {
    static TOOLS: OnceLock<Tools> = OnceLock::new();
    TOOLS.get_or_init(|| {
        let find = |name: &str| {
            find_program(name).unwrap_or_else(|| {
                panic!("`{name}` not found in PATH or /usr/sbin. {INSTALL_HINT}")
            })
        };
        Tools {
            server: find("mariadbd"),
            install_db: find("mariadb-install-db"),
            client: find("mariadb"),
        }
    })
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = env::var_os("PATH").unwrap_or_default();
    // mariadbd lives in /usr/sbin, which is not on a normal user's PATH.
    env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// A data directory installed once per test process and copied for every
/// server: `mariadb-install-db` takes about a second, a copy a few ms.
fn template_datadir() -> &'static Path {
    static TEMPLATE: OnceLock<Result<(PathBuf, Child), String>> = OnceLock::new();
    let template = TEMPLATE.get_or_init(|| {
        server_process::kept_dir(DIR_PREFIX, |dir| install(tools(), dir))
            .map(|(path, guardian)| (path.join("data"), guardian))
    });
    match template {
        Ok((data, _guardian)) => data,
        Err(msg) => panic!("installing the MariaDB template data dir failed earlier: {msg}"),
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    fs::create_dir(to)?;
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

fn install(tools: &Tools, dir: &Path) {
    fs::create_dir(dir.join("tmp")).expect("create MariaDB tmpdir");
    let mut cmd = Command::new(&tools.install_db);
    cmd.arg("--no-defaults")
        .arg(format!("--datadir={}/data", dir.display()))
        // `normal` gives root@localhost an empty password instead of
        // unix_socket auth, so the harness can log in as root over TCP.
        .arg("--auth-root-authentication-method=normal")
        .arg("--skip-test-db")
        .arg("--skip-name-resolve")
        .arg("--innodb-log-file-size=8M")
        .arg("--innodb-buffer-pool-size=32M")
        // Same reason as in server_args: a private tmpdir.
        .arg(format!("--tmpdir={}/tmp", dir.display()))
        .stdin(Stdio::null());
    if running_as_root() {
        cmd.arg("--user=root");
    }
    let out = cmd.output().expect("run mariadb-install-db");
    if !out.status.success() {
        panic!(
            "mariadb-install-db failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Escapes a value for a single-quoted SQL string literal.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}
