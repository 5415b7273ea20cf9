"""What the fuzzed requests name, created through the API before the run: a project, a user
with a role, instances of the throwaway server, db users, an access key and one real kill."""

import json
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from servers import HOST

# The db accounts the fuzzed dbkill uses; the spare one backs the db user the fuzzer may delete.
KILLER = ("dbkill_fuzz", "fuzz-killer-pw")
SPARE_KILLER = ("dbkill_spare", "fuzz-spare-pw")
VICTIM = ("app", "app-pw")
VICTIM_SESSIONS = 3
ACCOUNTS_SQL = f"""
    CREATE USER '{KILLER[0]}'@'%' IDENTIFIED BY '{KILLER[1]}';
    GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{KILLER[0]}'@'%';
    CREATE USER '{SPARE_KILLER[0]}'@'%' IDENTIFIED BY '{SPARE_KILLER[1]}';
    GRANT PROCESS ON *.* TO '{SPARE_KILLER[0]}'@'%';
    CREATE DATABASE shop;
    CREATE USER '{VICTIM[0]}'@'%' IDENTIFIED BY '{VICTIM[1]}';
    GRANT ALL ON shop.* TO '{VICTIM[0]}'@'%';"""


class Api:
    """A minimal JSON client for the setup; any unexpected status stops the run."""

    def __init__(self, url):
        self.url = url
        self.token = None

    def call(self, method, path, body=None, expect=200):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("X-Auth-Token", self.token)
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                status, headers, raw = resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            status, headers, raw = e.code, e.headers, e.read()
        if status != expect:
            sys.exit(f"fuzz: setup {method} {path} answered {status}, not {expect}: {raw[:500]!r}")
        return headers, (json.loads(raw) if raw else None)


@dataclass
class Ids:
    """Real ids the fuzzer draws from. The spare ones take the PUTs and DELETEs aimed at the
    others (hooks.py); the access key may be deleted."""

    project: str
    instance: str
    spare_instance: str
    db_user: str
    spare_db_user: str
    users: list
    logins: list
    access_key: str
    request_id: str


def login(api, name, password):
    user = {"name": name, "password": password}
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}}}
    headers, answer = api.call("POST", "/v3/auth/tokens", body, expect=201)
    return headers["X-Subject-Token"], answer["token"]["user"]["id"]


def register(api, db, admin_password):
    """Creates, through the API, everything the fuzzed requests name."""
    api.token, admin_id = login(api, "admin", admin_password)
    project = api.call("POST", "/v3/projects", {"project": {"name": "fuzz"}}, expect=201)[1]
    project = project["project"]["id"]
    viewer_password = secrets.token_urlsafe(12)
    viewer = {"name": "fuzz-viewer", "password": viewer_password}
    viewer = api.call("POST", "/v3/users", {"user": viewer}, expect=201)[1]["user"]["id"]
    api.call("PUT", f"/v3/projects/{project}/users/{viewer}/roles/viewer", expect=204)

    def instance(name):
        body = {"name": name, "datastore_type": "mariadb", "host": HOST, "port": db.port,
                "protected_users": ["root"]}
        return api.call("POST", f"/v3/{project}/instances", body)[1]["instance_id"]

    def db_user(instance_id, account):
        body = {"db_username": account[0], "db_user_password": account[1],
                "datastore_type": "MySQL"}
        path = f"/v3/{project}/instances/{instance_id}/db-users"
        return api.call("POST", path, body)[1]["db_user_id"]

    main, spare = instance("fuzz-main"), instance("fuzz-spare")
    killer = db_user(main, KILLER)
    spare_killer = db_user(main, SPARE_KILLER)
    db_user(spare, KILLER)
    key = {"credential": {"user_id": admin_id, "description": "fuzz"}}
    key = api.call("POST", "/v3.0/OS-CREDENTIAL/credentials", key, expect=201)[1]
    report = kill_one_victim(api, project, main, killer)
    return Ids(
        project=project,
        instance=main,
        spare_instance=spare,
        db_user=killer,
        spare_db_user=spare_killer,
        users=[admin_id, viewer],
        logins=[("admin", admin_password), ("fuzz-viewer", viewer_password)],
        access_key=key["credential"]["access"],
        request_id=report["request_id"],
    )


def kill_one_victim(api, project, instance, db_user):
    """One real kill, so the history the fuzzer reads has a row."""
    instance_path = f"/v3/{project}/instances/{instance}"
    listing = f"{instance_path}/processes?db_user_id={db_user}&user={VICTIM[0]}"
    deadline = time.monotonic() + 20
    while True:
        sessions = api.call("GET", listing)[1]["processes"]
        if len(sessions) >= VICTIM_SESSIONS or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if not sessions:
        sys.exit("fuzz: the victim sessions never showed up")
    body = {"db_user_id": db_user, "user": VICTIM[0], "process_ids": [sessions[0]["id"]]}
    report = api.call("DELETE", f"{instance_path}/process", body)[1]
    if len(report["killed"]) != 1:
        sys.exit(f"fuzz: the setup kill did not kill one session: {report}")
    return report
