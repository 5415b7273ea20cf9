"""The processes a fuzz run starts: a throwaway `mariadbd` and the dbkill under test, each on a
free port of 127.0.0.1 in the run's temp dir. Children get SIGTERM when the runner dies, however
it dies (PR_SET_PDEATHSIG), and are otherwise stopped by pid, never by name."""

import ctypes
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request

HOST = "127.0.0.1"
PR_SET_PDEATHSIG = 1


def die_with_parent():
    """Runs in each child before exec: SIGTERM when this process goes away, however it dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def spawn(args, **kwargs):
    return subprocess.Popen(args, preexec_fn=die_with_parent, **kwargs)


def stop(proc, timeout=15):
    """SIGTERM, then SIGKILL after `timeout` seconds: only this one process, by its pid."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def tool(name):
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if not found:
        sys.exit(f"fuzz: {name} not found: apt-get install mariadb-server-core mariadb-client-core")
    return found


class MariaDb:
    """A throwaway mariadbd (the recipe of ../shared/reference/tech.md §1.10)."""

    def __init__(self, work):
        self.dir = work / "mariadb"
        self.socket = self.dir / "sock"
        self.port = 0
        self.proc = None
        self.as_root = ["--user=root"] if os.geteuid() == 0 else []

    def start(self):
        (self.dir / "tmp").mkdir(parents=True)
        install = [
            tool("mariadb-install-db"),
            "--no-defaults",
            f"--datadir={self.dir}/data",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            "--skip-name-resolve",
            f"--tmpdir={self.dir}/tmp",
            *self.as_root,
        ]
        done = subprocess.run(install, capture_output=True, text=True)
        if done.returncode != 0:
            sys.exit(f"fuzz: mariadb-install-db failed:\n{done.stdout}{done.stderr}")
        for _ in range(5):
            self.port = free_port()
            if self._launch():
                return
        sys.exit(f"fuzz: mariadbd did not start:\n{self._err_log()}")

    def _launch(self):
        server = [
            tool("mariadbd"),
            "--no-defaults",
            f"--datadir={self.dir}/data",
            f"--socket={self.socket}",
            f"--port={self.port}",
            f"--bind-address={HOST}",
            f"--pid-file={self.dir}/mariadbd.pid",
            f"--log-error={self.dir}/err.log",
            f"--tmpdir={self.dir}/tmp",
            "--skip-log-bin",
            "--innodb-buffer-pool-size=32M",
            "--max-connections=200",
            # Fuzzed db-user registrations fail logins by the thousand; never block the host.
            "--max-connect-errors=1000000",
            *self.as_root,
        ]
        self.proc = spawn(server, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False  # most likely lost the port race; err.log says
            if self._try_sql("SELECT 1").returncode == 0:
                return True
            time.sleep(0.2)
        stop(self.proc)
        return False

    def _err_log(self):
        log = self.dir / "err.log"
        return log.read_text(errors="replace")[-4000:] if log.exists() else ""

    def _try_sql(self, statements):
        client = [tool("mariadb"), "--no-defaults", f"--socket={self.socket}", "-uroot"]
        return subprocess.run([*client, "-e", statements], capture_output=True, text=True)

    def sql(self, statements):
        done = self._try_sql(statements)
        if done.returncode != 0:
            sys.exit(f"fuzz: SQL failed: {done.stderr}")

    def open_session(self, account, statement):
        user, password = account
        client = [tool("mariadb"), "--no-defaults", "--protocol=TCP", f"-h{HOST}", f"-P{self.port}"]
        return spawn(
            [*client, f"-u{user}", f"-p{password}", "shop", "-e", statement],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self):
        stop(self.proc, timeout=30)


class Dbkill:
    """The binary under test, with a fresh store, on a free port."""

    def __init__(self, binary, work):
        self.binary = binary
        self.work = work
        self.admin_password = secrets.token_urlsafe(18)
        self.proc = None
        self.url = ""

    def start(self):
        for _ in range(5):
            port = free_port()
            self.url = f"http://{HOST}:{port}"
            # Only the settings given here: none from the caller's DBKILL_* or a dbkill.toml.
            env = {k: v for k, v in os.environ.items() if not k.startswith("DBKILL_")}
            env |= {
                "DBKILL_LISTEN": f"{HOST}:{port}",
                "DBKILL_DATA_DIR": str(self.work / "dbkill-data"),
                "DBKILL_ADMIN_PASSWORD": self.admin_password,
                # The limiter has its own tests; here it would only turn fuzzed cases into 429s.
                "DBKILL_RATE_LIMIT_PER_SECOND": "0",
                "DBKILL_LOG": os.environ.get("DBKILL_LOG", "info"),
            }
            with open(self.log_path(), "ab") as log:
                serve = [str(self.binary), "serve"]
                self.proc = spawn(serve, cwd=self.work, env=env, stdout=log, stderr=log)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as resp:
                        if resp.status == 200:
                            return
                except OSError:
                    time.sleep(0.2)
            stop(self.proc)
        log = self.log_path().read_text(errors="replace")
        sys.exit(f"fuzz: dbkill did not start:\n{log[-4000:]}")

    def log_path(self):
        return self.work / "dbkill.log"

    def stop(self):
        stop(self.proc)
