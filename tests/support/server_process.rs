//! The child-process machinery that the throwaway servers (`mariadb.rs`,
//! `postgres.rs`) share.
//!
//! A server is never a direct child of the test process: it runs under a
//! small `sh` wrapper ([`ServerProcess::command`]) whose stdin is a pipe held
//! by the test process. When that pipe closes (a controlled stop, or the test
//! process exiting or being killed without running destructors, which is
//! always how a static shared server ends) the wrapper shuts the server down,
//! and in the latter case also deletes its directory, so no server or data
//! directory outlives the tests. Also here: free ports, start retries and
//! timeouts, a guardian for a directory kept in a static, and /proc readings.

#![allow(dead_code)]

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// The address every throwaway server listens on.
pub const HOST: &str = "127.0.0.1";
/// How long a server may take to answer after its start.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a server may take to shut down before it is signalled harder.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a start may pick new ports (or a restart wait) after losing a port race.
pub const START_ATTEMPTS: u32 = 5;
/// How long each stronger signal of [`ServerProcess::stop`] gets.
const ESCALATION_WAIT: Duration = Duration::from_secs(5);

/// Runs as `sh -c WRAPPER sh <program> <args>...` with `DBKILL_SERVER_DIR`
/// (the server's directory, named `dbkill-*`), `DBKILL_STOP_SIGNAL` and maybe
/// `DBKILL_IGNORE_HUP` set, and stdin a pipe from the test process. The
/// wrapper exits with the server, so the test process can watch the server
/// through its own child (a `setpriv` before the program execs it, so `$!` is
/// the server's pid). The watcher reads stdin on a duplicate fd because POSIX
/// shells point the stdin of background jobs at /dev/null. A controlled stop
/// writes a line before closing the pipe; bare EOF means the test process went
/// away without cleaning up, so the directory goes too. Processes that a
/// pause stopped are listed in `paused` and continued first, or a stalled
/// server would never shut down. `DBKILL_IGNORE_HUP` ignores HUP from the
/// start (for servers that set their own handler): when the test process dies
/// while the server is stopped, the kernel sends HUP to the orphaned process
/// group, which would otherwise kill the watcher before it has continued the
/// paused processes. A server that dies on its own keeps its directory so
/// that its log can explain why.
const WRAPPER: &str = r#"
dir=$DBKILL_SERVER_DIR
[ -z "$DBKILL_IGNORE_HUP" ] || trap '' HUP
exec 3<&0 </dev/null
"$@" 3<&- &
server=$!
echo "$server" >"$dir/server.pid"
{
    msg=$(cat <&3)
    [ -n "$msg" ] || : >"$dir/orphaned"
    : >"$dir/stop-requested"
    kill -"$DBKILL_STOP_SIGNAL" "$server" 2>/dev/null
    [ -e "$dir/paused" ] && kill -CONT $(cat "$dir/paused") 2>/dev/null
    kill -CONT "$server" 2>/dev/null
} &
watcher=$!
exec 3<&-
trap '' HUP INT QUIT
wait "$server"
status=$?
if [ -e "$dir/stop-requested" ]; then
    rm -f "$dir/stop-requested"
    if [ -e "$dir/orphaned" ]; then
        case $dir in
            */dbkill-*) rm -rf -- "$dir" ;;
        esac
    fi
else
    kill "$watcher" 2>/dev/null
fi
exit "$status"
"#;

/// Removes the directory given as `$1` once stdin reaches EOF, i.e. when the
/// test process that holds the other end of the pipe exits.
const GUARDIAN: &str = r#"
cat >/dev/null
case $1 in
    */dbkill-*) rm -rf -- "$1" ;;
esac
"#;

/// How a kind of server is shut down.
#[derive(Debug, Clone, Copy)]
pub struct Shutdown {
    /// The signal that asks for a clean shutdown (`TERM`, `INT`, ...).
    pub signal: &'static str,
    /// Sent one after the other, [`ESCALATION_WAIT`] apart, when the server
    /// has not exited within [`STOP_TIMEOUT`].
    pub escalation: &'static [&'static str],
    /// Ignore HUP in the wrapper (and so in the server) from the start.
    pub ignore_hup: bool,
}

/// Why one launch attempt failed.
pub enum LaunchError {
    /// Another process took one of our ports between choosing and binding it.
    AddressInUse,
    Failed(String),
}

/// How a spawned wrapper's start ended.
pub enum Startup {
    Ready(Child),
    /// The server exited first.
    Exited(ExitStatus),
    /// Not ready within [`START_TIMEOUT`]; the child still runs.
    TimedOut(Child),
}

/// A server's wrapper, while it runs.
#[derive(Debug)]
pub struct ServerProcess {
    /// The `sh` wrapper; its stdin pipe keeps the server alive.
    child: Option<Child>,
    dir: PathBuf,
    shutdown: Shutdown,
}

impl ServerProcess {
    /// Nothing running yet for the server whose directory is `dir`.
    pub fn new(dir: &Path, shutdown: Shutdown) -> ServerProcess {
        ServerProcess {
            child: None,
            dir: dir.to_owned(),
            shutdown,
        }
    }

    /// `sh -c WRAPPER sh` with its environment, a stdin pipe and a process
    /// group of its own; the caller appends the program and its arguments,
    /// and sets stdout/stderr.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(WRAPPER)
            .arg("sh")
            .env("DBKILL_SERVER_DIR", &self.dir)
            .env("DBKILL_STOP_SIGNAL", self.shutdown.signal)
            .stdin(Stdio::piped())
            // Keep terminal signals (Ctrl-C) away from the server: the test
            // process dying closes the pipe, which stops it cleanly instead.
            .process_group(0);
        if self.shutdown.ignore_hup {
            cmd.env("DBKILL_IGNORE_HUP", "1");
        }
        cmd
    }

    /// Adopts the wrapper a [`Startup`] handed back.
    pub fn set(&mut self, child: Child) {
        self.child = Some(child);
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// Pid of the running server, `None` once stopped.
    pub fn server_pid(&self) -> Option<u32> {
        self.child.as_ref()?;
        fs::read_to_string(self.dir.join("server.pid"))
            .ok()?
            .trim()
            .parse()
            .ok()
    }

    /// Asks for a clean shutdown and waits for the server to exit, signalling
    /// harder as [`Shutdown::escalation`] says if it takes too long. The
    /// directory is kept, so a restart can follow.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let server_pid = fs::read_to_string(self.dir.join("server.pid")).ok();
        if let Some(mut stdin) = child.stdin.take() {
            // The line tells the wrapper this is a controlled stop (keep the
            // directory). It fails only if the wrapper is gone already.
            let _ = stdin.write_all(b"stop\n");
        }
        if wait_timeout(&mut child, STOP_TIMEOUT).is_some() {
            return;
        }
        // The wrapper has not reaped the server yet (it would have exited),
        // so its pid cannot have been reused.
        if let Some(pid) = server_pid {
            for sig in self.shutdown.escalation {
                signal(sig, pid.trim());
                if wait_timeout(&mut child, ESCALATION_WAIT).is_some() {
                    return;
                }
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Polls a freshly spawned wrapper until `ready`, its exit, or [`START_TIMEOUT`].
pub fn await_start(mut child: Child, mut ready: impl FnMut() -> bool) -> Startup {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Startup::Exited(status);
        }
        if ready() {
            return Startup::Ready(child);
        }
        if Instant::now() > deadline {
            return Startup::TimedOut(child);
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `launch` up to [`START_ATTEMPTS`] times while it loses port races,
/// sleeping `between` attempts; returns the last attempt's result.
pub fn launch_with_retries(
    between: Duration,
    mut launch: impl FnMut() -> Result<(), LaunchError>,
) -> Result<(), LaunchError> {
    let mut attempt = 1;
    loop {
        match launch() {
            Err(LaunchError::AddressInUse) if attempt < START_ATTEMPTS => {
                attempt += 1;
                thread::sleep(between);
            }
            result => return result,
        }
    }
}

/// Whether a server's log written since `log_offset` says its port was taken.
pub fn lost_port_race(log: &str, log_offset: usize) -> bool {
    log.get(log_offset..)
        .unwrap_or(log)
        .contains("Address already in use")
}

/// A port nobody listens on right now. Ports are never handed out twice per
/// process, so concurrently starting servers do not race each other; races
/// with other processes are caught by retrying on "Address already in use".
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind((HOST, 0))
            .and_then(|l| l.local_addr())
            .expect("bind 127.0.0.1:0")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// A `dbkill-*` temp dir that `init` fills, kept for the rest of the test
/// process (a static is never dropped, so a TempDir would leak): a guardian
/// process deletes it when this process exits. Returns the path and the
/// guardian, whose stdin pipe must be kept open as long as the directory is
/// used; a panic in `init` comes back as its message.
pub fn kept_dir(prefix: &str, init: impl FnOnce(&Path)) -> Result<(PathBuf, Child), String> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert!(
            prefix.starts_with("dbkill-"),
            "the scripts delete only dbkill-* dirs"
        );
        let dir = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("create template dir");
        init(dir.path());
        let path = dir.keep();
        let guardian = Command::new("sh")
            .arg("-c")
            .arg(GUARDIAN)
            .arg("sh")
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn guardian for template dir");
        (path, guardian)
    }))
    .map_err(panic_message)
}

/// Waits up to `timeout` for `child` to exit.
pub fn wait_timeout(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(e) => panic!("waiting for a server wrapper: {e}"),
        }
    }
}

/// `kill -<name> <pid>`, ignoring failure (the process may be gone).
pub fn signal(name: &str, pid: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid)
        .stderr(Stdio::null())
        .status();
}

/// Pids of the processes whose parent is `parent` (from /proc).
pub fn children_of(parent: u32) -> Vec<u32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // The command name may contain spaces and parentheses: the ppid
            // is the second field after the last ')'.
            fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1)?.parse::<u32>().ok())
                    == Some(parent)
            })
        })
        .collect()
}

/// The state letter of /proc/<pid>/stat (`R`, `S`, `T` stopped, ...), `None`
/// once the process is gone.
pub fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .next()?
        .chars()
        .next()
}

pub fn running_as_root() -> bool {
    // /proc/self is owned by the process's effective uid; avoids libc.
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The message of a caught panic.
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "unknown panic".to_owned())
}
