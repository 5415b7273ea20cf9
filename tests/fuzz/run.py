"""Fuzzes a live dbkill with schemathesis, driven by dbkill's own /openapi.json.

Started by `scripts/fuzz`, which provides the venv and the binary. Everything this starts is its
own and lives in one fresh temp dir: a throwaway `mariadbd` on a free port of 127.0.0.1 and a
dbkill with an empty store on another. It registers real ids on them (a project, instances, db
users, a user, an access key, a kill in the history) and gives them to schemathesis as
dictionaries, so most fuzzed requests get past the path checks and reach the handlers.

Fuzzed requests can only ever reach the throwaway server: `hooks.py` points every instance a
request would create at it, and after the run every stored instance is checked to point there.
The children get SIGTERM if this process dies (PR_SET_PDEATHSIG) and are stopped by pid at the
end; the temp dir is removed unless `--keep` is given.

Exit status: schemathesis's (non-zero on any 5xx, undocumented status, content type, header or
schema violation), or 1 when the setup or the final check fails.
"""

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from config import write_config
from fixtures import ACCOUNTS_SQL, VICTIM, VICTIM_SESSIONS, Api, register
from servers import HOST, Dbkill, MariaDb, spawn, stop


def summarize_answers(url):
    """What dbkill answered, from its own /metrics: how many cases reached each handler (2xx),
    and its 5xx (each one also a schemathesis failure, unless hooks.py forgave it)."""
    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    by_class, succeeded = {}, {}
    for line in text.splitlines():
        m = re.fullmatch(r"dbkill_http_requests_total\{(.*)\} (\d+)", line)
        if not m:
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        operation, status = f'{labels["method"]} {labels["route"]}', labels["status"]
        count = int(m.group(2))
        by_class[status[0] + "xx"] = by_class.get(status[0] + "xx", 0) + count
        if status.startswith("2"):
            succeeded[operation] = succeeded.get(operation, 0) + count
        if status.startswith("5"):
            print(f"fuzz: {count} × {status} on {operation}")
    total = sum(by_class.values())
    classes = ", ".join(f"{k} {v}" for k, v in sorted(by_class.items()))
    print(f"fuzz: dbkill answered {total} requests ({classes}); operations answered 2xx:")
    for operation, count in sorted(succeeded.items()):
        print(f"fuzz:   {count:6d}  {operation}")


def check_targets(api, port):
    """Every instance any fuzzed request stored must point at the throwaway server."""
    projects = api.call("GET", "/v3/projects")[1]["projects"]
    stray = []
    for project in projects:
        offset = 0
        while True:
            page = api.call("GET", f"/v3/{project['id']}/instances?offset={offset}&limit=100")[1]
            stray += [
                i
                for i in page["instances"]
                if (i["host"], i["port"]) != (HOST, port) or i.get("admin_port") not in (None, port)
            ]
            offset += 100
            if offset >= page["total"]:
                break
    if stray:
        sys.exit(f"fuzz: instances that point elsewhere than the throwaway server: {stray}")
    print(f"fuzz: all instances of {len(projects)} projects point at the throwaway server")


def fuzz(args, work):
    db = MariaDb(work)
    app = Dbkill(args.binary, work)
    victims = []
    try:
        db.start()
        db.sql(ACCOUNTS_SQL)
        victims = [db.open_session(VICTIM, "SELECT SLEEP(3600)") for _ in range(VICTIM_SESSIONS)]
        app.start()
        api = Api(app.url)
        ids = register(api, db, app.admin_password)
        config = write_config(work, ids, api.token, args)
        print(f"fuzz: dbkill at {app.url}, mariadbd at {HOST}:{db.port}, in {work}", flush=True)
        spares = {
            "instance_id": {ids.instance: ids.spare_instance},
            "db_user_id": {ids.db_user: ids.spare_db_user},
        }
        env = {
            **os.environ,
            "DBKILL_FUZZ_TARGET_HOST": HOST,
            "DBKILL_FUZZ_TARGET_PORT": str(db.port),
            "DBKILL_FUZZ_SPARES": json.dumps(spares),
        }
        command = [str(args.schemathesis), "--config-file", str(config), "run"]
        started = time.monotonic()
        fuzzer = spawn([*command, f"{app.url}/openapi.json", *args.schemathesis_args], cwd=work, env=env)
        try:
            status = fuzzer.wait()
        finally:
            stop(fuzzer)
        took = time.monotonic() - started
        print(f"fuzz: schemathesis took {took:.0f} s and exited with {status}", flush=True)
        summarize_answers(app.url)
        check_targets(api, db.port)
        if status != 0:
            print(tail(app.log_path()), flush=True)
        return status
    finally:
        app.stop()
        for victim in victims:
            stop(victim)
        db.stop()


def tail(path, lines=40):
    text = path.read_text(errors="replace").splitlines() if path.exists() else []
    return "fuzz: the server's last log lines:\n" + "\n".join(text[-lines:])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    arg = parser.add_argument
    arg("--binary", type=Path, required=True, help="the dbkill binary to fuzz")
    arg("--schemathesis", type=Path, required=True, help="the schemathesis executable")
    arg("--max-time", type=int, default=150, help="seconds schemathesis may spend (150)")
    arg("--max-examples", type=int, default=100, help="cases per operation and phase (100)")
    arg("--workers", type=int, default=2, help="concurrent schemathesis workers (2)")
    arg("--keep", action="store_true", help="keep the work dir: logs, config, store")
    arg("schemathesis_args", nargs="*", help="passed on to `schemathesis run`, after --")
    args = parser.parse_args()
    args.binary, args.schemathesis = args.binary.absolute(), args.schemathesis.absolute()
    # A TERM (CI cancelling) unwinds like Ctrl-C, so the servers are stopped and the dir removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="dbkill-fuzz-"))
    try:
        return fuzz(args, work)
    finally:
        if args.keep:
            print(f"fuzz: kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
