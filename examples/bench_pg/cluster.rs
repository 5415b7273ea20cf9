//! A throwaway PostgreSQL cluster for the benchmark (tech.md §1.11's recipe): `initdb` as
//! `postgres` into a fresh temporary directory, then the postmaster itself as our child (run as
//! `postgres`, which it insists on) on a free port of 127.0.0.1, with password (SCRAM) logins over
//! TCP and trust over its private unix socket. A guardian `sh` stops the server and deletes the
//! directory if the benchmark dies without cleaning up; dropping a [`Cluster`] does both itself.

use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use tempfile::TempDir;

const DIR_PREFIX: &str = "dbkill-pgbench-";
const START_TIMEOUT: Duration = Duration::from_secs(30);
const START_ATTEMPTS: u32 = 5;
/// The bootstrap superuser; it logs in over the unix socket only (trust).
pub const SUPERUSER: &str = "postgres";

/// Stops `$1` (the postmaster) and deletes `$2` when its stdin reaches EOF without a line first,
/// i.e. when the benchmark died without cleaning up. SIGINT is PostgreSQL's fast shutdown
/// (backends terminated, no wait for clients); SIGQUIT, the immediate one, if that hangs.
const GUARDIAN: &str = r#"
IFS= read -r line && exit 0
kill -INT "$1" 2>/dev/null
i=0
while kill -0 "$1" 2>/dev/null && [ "$i" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
kill -QUIT "$1" 2>/dev/null
sleep 1
case $2 in
    */dbkill-pgbench-*) rm -rf -- "$2" ;;
esac
"#;

/// A running throwaway cluster. Dropping it shuts the server down and deletes its directory.
pub struct Cluster {
    postmaster: Child,
    guardian: Child,
    guardian_stdin: Option<ChildStdin>,
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    pub version: String,
}

impl Cluster {
    /// Creates and starts a cluster accepting `max_connections` connections.
    pub fn start(max_connections: u32) -> Result<Cluster> {
        let bin = bin_dir()?;
        let mut last = String::new();
        for _ in 0..START_ATTEMPTS {
            match Cluster::try_start(&bin, max_connections)? {
                Ok(cluster) => return Ok(cluster),
                // Another process took the port between choosing and binding it: start over.
                Err(log) if log.contains("already in use") => last = log,
                Err(log) => bail!("postgres did not start:\n{log}"),
            }
        }
        bail!("postgres: ports kept being taken:\n{last}")
    }

    /// One attempt on a free port: the cluster, or why it did not start (the server's log).
    fn try_start(bin: &Path, max_connections: u32) -> Result<Result<Cluster, String>> {
        let (uid, gid) = (id_of("-u")?, id_of("-g")?);
        let dir = tempfile::Builder::new().prefix(DIR_PREFIX).tempdir()?;
        std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
            .context("give the cluster directory to postgres")?;
        let data = dir.path().join("data");
        let out = as_postgres(&bin.join("initdb"), uid)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                SUPERUSER,
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
            ])
            .args(["--no-sync", "--encoding=UTF8", "--locale=C"])
            .output()
            .context("run initdb")?;
        if !out.status.success() {
            bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let version = command_output(&bin.join("postgres"), &["--version"])
            .unwrap_or_else(|| "unknown".into());
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let postmaster = Command::new(bin.join("postgres"))
            .uid(uid)
            .gid(gid)
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-k"])
            .arg(dir.path())
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off"])
            .args(["-c", "synchronous_commit=off", "-c", "full_page_writes=off"])
            .args(["-c", &format!("max_connections={max_connections}")])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            // Terminal signals go to the benchmark only; the guardian handles its death.
            .process_group(0)
            .spawn()
            .context("spawn postgres")?;
        let mut cluster = Cluster::guard(postmaster, dir, bin.to_owned(), port, version)?;
        Ok(match cluster.wait_ready() {
            Ok(()) => Ok(cluster),
            Err(e) => Err(format!("{e:#}\n{}", cluster.log_tail())),
        })
    }

    fn guard(
        postmaster: Child,
        dir: TempDir,
        bin: PathBuf,
        port: u16,
        version: String,
    ) -> Result<Cluster> {
        let guardian = Command::new("sh")
            .args(["-c", GUARDIAN, "sh", &postmaster.id().to_string()])
            .arg(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn();
        let mut guardian = match guardian {
            Ok(g) => g,
            Err(e) => {
                let mut postmaster = postmaster;
                let _ = postmaster.kill();
                let _ = postmaster.wait();
                return Err(e).context("spawn guardian for postgres");
            }
        };
        Ok(Cluster {
            guardian_stdin: guardian.stdin.take(),
            postmaster,
            guardian,
            dir,
            bin,
            port,
            version,
        })
    }

    fn wait_ready(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.postmaster.try_wait()? {
                bail!("postgres exited ({status}) during startup");
            }
            let ok = Command::new(self.bin.join("pg_isready"))
                .args(["-q", "-h"])
                .arg(self.dir.path())
                .args(["-p", &self.port.to_string(), "-U", SUPERUSER])
                .status();
            if ok.is_ok_and(|s| s.success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("postgres not ready within {START_TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `psql` of this cluster's version.
    pub fn psql(&self) -> PathBuf {
        self.bin.join("psql")
    }

    /// Runs `sql` (one statement per `-c`, each in its own transaction) as the superuser over
    /// the unix socket, stopping at the first error.
    pub fn sql(&self, statements: &[&str]) -> Result<String> {
        let mut cmd = Command::new(self.psql());
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                SUPERUSER,
                "-d",
                "postgres",
            ]);
        for s in statements {
            cmd.args(["-c", s]);
        }
        let out = cmd.output().context("run psql")?;
        if !out.status.success() {
            bail!("psql failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_owned())
    }

    /// A connection of the superuser over the unix socket.
    pub async fn connect_superuser(&self) -> Result<PgConnection> {
        let opts = PgConnectOptions::new()
            .socket(self.dir.path())
            .port(self.port)
            .username(SUPERUSER)
            .database("postgres")
            .ssl_mode(PgSslMode::Disable);
        PgConnection::connect_with(&opts)
            .await
            .context("connect as the superuser over the unix socket")
    }

    /// The last lines of the server's log, for error messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Fast shutdown, then immediate shutdown if the server is still up after 10 s.
    fn shut_down(&mut self) {
        // Once reaped, the pid may belong to another process: signal only a live child.
        if self.postmaster.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = self.postmaster.id().to_string();
        for (signal, wait) in [("-INT", 100), ("-QUIT", 50)] {
            let _ = Command::new("kill").args([signal, &pid]).status();
            for _ in 0..wait {
                if self.postmaster.try_wait().ok().flatten().is_some() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let _ = self.postmaster.kill();
        let _ = self.postmaster.wait();
    }

    fn release_guardian(&mut self) {
        if let Some(mut stdin) = self.guardian_stdin.take() {
            let _ = stdin.write_all(b"stop\n");
        }
        let _ = self.guardian.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shut_down();
        self.release_guardian();
    }
}

/// The newest `/usr/lib/postgresql/<major>/bin` holding `initdb` and `postgres` (Debian's
/// layout), or the directory of `initdb` on `PATH`; `BENCH_PG_BIN` overrides both.
fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("BENCH_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let has_server = |d: &Path| d.join("initdb").is_file() && d.join("postgres").is_file();
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((major, bin))
        })
        .max_by_key(|(major, _)| *major);
    if let Some((_, bin)) = newest {
        return Ok(bin);
    }
    let initdb = command_output(Path::new("sh"), &["-c", "command -v initdb"])
        .context("no PostgreSQL server found: install `postgresql` (scripts/bench --pg does)")?;
    let real = std::fs::canonicalize(&initdb)?;
    let bin = real.parent().context("initdb has no directory")?.to_owned();
    if !has_server(&bin) {
        bail!("{} has initdb but no postgres", bin.display());
    }
    Ok(bin)
}

/// `program` run as the `postgres` OS user (through `runuser` when we are root, as initdb
/// refuses root).
fn as_postgres(program: &Path, uid: u32) -> Command {
    let root = command_output(Path::new("id"), &["-u"]).is_some_and(|u| u == "0");
    if root && uid != 0 {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", SUPERUSER, "--"]).arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// `id <flag> postgres`: the uid (`-u`) or gid (`-g`) of the `postgres` OS user.
fn id_of(flag: &str) -> Result<u32> {
    command_output(Path::new("id"), &[flag, SUPERUSER])
        .context("no `postgres` OS user (installing the `postgresql` package creates it)")?
        .parse()
        .context("parse the id of postgres")
}

/// Trimmed stdout of a command that succeeded, else `None`.
fn command_output(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
