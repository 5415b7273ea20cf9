"""Drives DAS's two PostgreSQL operations with the unmodified official Huawei Cloud DAS SDK (AK/SK
signing): `list_postgres_processes` (filters, paging, order, statistics) and
`cancel_instance_process` (only the pairs whose id and user both match are killed).

Engine-neutral: called by the Rust integration test `pg_ops::sdk`, once per kind of instance,
which sets the environment (the engine's `engine_type` and idle command, the victim account and
the ids of its idle and running sessions, another account's session), and afterwards checks on
the server which sessions are gone. The running sessions' SQL contains DBKILL_KEYWORD.
Exits non-zero, naming the step, on any mismatch; prints OK at the end.
"""

import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdas.v3 import (
    CancelInstanceProcessInfo,
    CancelInstanceProcessRequest,
    CancelInstanceProcessRequestBody,
    DasClient,
    ListPostgresProcessesRequest,
)

env = os.environ


def fail(step, detail):
    print(f"FAILED at {step}: {detail}", file=sys.stderr)
    sys.exit(1)


def ids(name):
    return sorted(int(i) for i in env[name].split(",") if i)


credentials = BasicCredentials(env["DBKILL_AK"], env["DBKILL_SK"], env["DBKILL_PROJECT"])
client = (
    DasClient.new_builder()
    .with_credentials(credentials)
    .with_endpoints([env["DBKILL_ENDPOINT"]])
    .build()
)
instance = env["DBKILL_INSTANCE"]
engine_type = env["DBKILL_ENGINE_TYPE"]
wrong_engine = env["DBKILL_WRONG_ENGINE_TYPE"]
idle_command = env["DBKILL_IDLE_COMMAND"]
victim = env["DBKILL_VICTIM_USER"]
idle_ids = ids("DBKILL_IDLE_IDS")
running_ids = ids("DBKILL_RUNNING_IDS")
other_user = env["DBKILL_OTHER_USER"]
other_ids = ids("DBKILL_OTHER_IDS")
keyword = env["DBKILL_KEYWORD"]
every_id = sorted(idle_ids + running_ids)


def listing(**query):
    return client.list_postgres_processes(ListPostgresProcessesRequest(instance_id=instance, **query))


def row_ids(answer):
    return [int(p.id) for p in answer.process_info_list or []]


# The default: the victim's running sessions as rows; its idle ones only in the statistics.
l = listing(user=victim)
if row_ids(l) != running_ids or l.total != len(running_ids):
    fail("list_postgres_processes (default)", f"expected {running_ids}: {l}")
if (l.idle_session, l.active_session) != (len(idle_ids), len(running_ids)):
    fail("list_postgres_processes idle/active", l)
if l.user_info_list != [victim]:
    fail("list_postgres_processes user_info_list", l.user_info_list)
if idle_command not in (l.command_info_list or []):
    fail("list_postgres_processes command_info_list", l.command_info_list)
stats = [(s.key, s.value, s.active_count, s.total_count) for s in l.user_stats or []]
if stats != [(victim, victim, len(running_ids), len(every_id))]:
    fail("list_postgres_processes user_stats", l.user_stats)
summary = {s.key: s.value for s in l.summary or []}
if summary.get(idle_command) != len(idle_ids) or sum(summary.values()) != len(every_id):
    fail("list_postgres_processes summary", l.summary)
exec_time = l.session_exec_time
if sorted(exec_time) != sorted(["<1s", "1-3s", "3-10s", ">10s"]) or sum(exec_time.values()) != len(running_ids):
    fail("list_postgres_processes session_exec_time", exec_time)
if l.show_version_support_message is not False or l.show_warn_message is not False:
    fail("list_postgres_processes messages", l)
for p in l.process_info_list:
    if p.user != victim or keyword not in p.info or not p.time.isdigit() or not p.trx_duration.isdigit():
        fail("list_postgres_processes row", p)

# show_all, a page of one, newest first.
for page, expected in enumerate(reversed(every_id), start=1):
    l = listing(user=victim, show_all=True, per_page="1", cur_page=str(page), order_by="id", order="desc")
    if row_ids(l) != [expected] or l.total != len(every_id):
        fail(f"list_postgres_processes page {page}", f"expected {expected}: {l}")
l = listing(user=victim, show_all=True, per_page="1", cur_page=str(len(every_id) + 1))
if row_ids(l) != [] or l.total != len(every_id):
    fail("list_postgres_processes past the last page", l)

# Filters: the SQL text ignoring case, the command, and two at once.
l = listing(keywords=keyword.upper(), show_all=True, hide_sys=False, per_page="100")
if row_ids(l) != running_ids:
    fail("list_postgres_processes keywords", f"expected {running_ids}: {l}")
l = listing(user=victim, command=idle_command, show_all=True)
if row_ids(l) != idle_ids:
    fail("list_postgres_processes command", f"expected {idle_ids}: {l}")
l = listing(user=other_user, command=idle_command, show_all=True)
if row_ids(l) != other_ids:
    fail("list_postgres_processes other user", f"expected {other_ids}: {l}")

# Out of range: DAS's paging codes.
for query, code in [(dict(per_page="101"), "DAS.200104"), (dict(cur_page="0"), "DAS.200103")]:
    try:
        listing(**query)
        fail(f"list_postgres_processes {query}", "no exception")
    except ClientRequestException as e:
        if e.status_code != 400 or e.error_code != code:
            fail(f"list_postgres_processes {query}", f"{e.status_code} {e.error_code} {e.error_msg}")


def cancel(engine, pairs):
    body = CancelInstanceProcessRequestBody(
        engine_type=engine,
        processes=[CancelInstanceProcessInfo(id=i, user=u) for i, u in pairs],
    )
    return client.cancel_instance_process(CancelInstanceProcessRequest(instance_id=instance, body=body))


# Kill one idle and one running session of the victim; the other account's session is named
# with the victim's user, so it does not match.
pairs = [(idle_ids[0], victim), (running_ids[0], victim), (other_ids[0], victim)]
try:
    cancel(wrong_engine, pairs)
    fail("cancel_instance_process with the wrong engine_type", "no exception")
except ClientRequestException as e:
    if e.status_code != 400 or e.error_code != "DAS.200107":
        fail("cancel_instance_process with the wrong engine_type", f"{e.status_code} {e.error_code} {e.error_msg}")
killed = cancel(engine_type, pairs)
if killed.count != 2:
    fail("cancel_instance_process", killed)
left = sorted(set(every_id) - {idle_ids[0], running_ids[0]})
l = listing(user=victim, show_all=True)
if row_ids(l) != left:
    fail("list_postgres_processes after cancel_instance_process", f"expected {left}: {l}")

print("OK")
