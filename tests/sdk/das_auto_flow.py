"""Drives dbkill's kill rules with the unmodified official Huawei Cloud DAS SDK (AK/SK signing):
all seven auto-flow operations, and the kill history the rule leaves.

Called by the Rust integration test `rules_sdk::the_official_python_sdk_drives_the_seven_auto_flow_operations`,
which sets the environment, registers the db user, opens the sessions (the rule's victims, other
sessions for kill-all, a protected one) and afterwards checks on the server which are gone.
Exits non-zero, naming the step, on any mismatch; prints OK at the end.
"""

import os
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdas.v3 import (
    ChangeKillTaskSwitchRequest,
    ChangeKillTaskSwitchRequestBody,
    CreateKillTaskRequest,
    CreateKillTaskRequestBody,
    DasClient,
    DeleteAllSessionsRequest,
    ListKillProcessHistoryRequest,
    PreviewSessionForKillProcessTaskNewRequest,
    PreviewSessionForKillProcessTaskNewRequestBody,
    ShowKillProcessTaskRequest,
    ShowKillProcessTaskSwitchRequest,
    StopKillTaskRequest,
    StopKillTaskRequestBody,
)

env = os.environ
# The rule must have killed its victims within this long after it was created.
RULE_KILL_WITHIN_S = 10


def fail(step, detail):
    print(f"FAILED at {step}: {detail}", file=sys.stderr)
    sys.exit(1)


def ids(name):
    return {int(i) for i in env[name].split(",") if i}


credentials = BasicCredentials(env["DBKILL_AK"], env["DBKILL_SK"], env["DBKILL_PROJECT"])
client = (
    DasClient.new_builder()
    .with_credentials(credentials)
    .with_endpoints([env["DBKILL_ENDPOINT"]])
    .build()
)
instance = env["DBKILL_INSTANCE"]
victim_user = env["DBKILL_VICTIM_USER"]
victim_ids = ids("DBKILL_VICTIM_IDS")
other_ids = ids("DBKILL_OTHER_IDS")


def switch_status():
    return client.show_kill_process_task_switch(ShowKillProcessTaskSwitchRequest(instance_id=instance)).status


def history():
    return client.list_kill_process_history(
        ListKillProcessHistoryRequest(instance_id=instance, page_size=100)
    ).killed_sessions or []


def tasks():
    return client.show_kill_process_task(ShowKillProcessTaskRequest(instance_id=instance)).sql_killing_task_resp_list or []


# The switch is OFF until set, and kill-all is refused while it is.
if switch_status() != "OFF":
    fail("show_kill_process_task_switch (new instance)", switch_status())
refused_kill_all_at = time.monotonic()
try:
    client.delete_all_sessions(DeleteAllSessionsRequest(instance_id=instance))
    fail("delete_all_sessions with the switch OFF", "no exception")
except ClientRequestException as e:
    if e.status_code != 400 or e.error_code != "DAS.200100":
        fail("delete_all_sessions with the switch OFF", f"{e.status_code} {e.error_code} {e.error_msg}")

changed = client.change_kill_task_switch(
    ChangeKillTaskSwitchRequest(instance_id=instance, body=ChangeKillTaskSwitchRequestBody(status="ON"))
)
if changed.success is not True:
    fail("change_kill_task_switch", changed)
if switch_status() != "ON":
    fail("show_kill_process_task_switch (after ON)", switch_status())

# The victims have been idle for more than a second: the preview lists exactly them.
conditions = dict(user=victim_user, time=1, task_duration=-1, task_type="auto")
preview = client.preview_session_for_kill_process_task_new(
    PreviewSessionForKillProcessTaskNewRequest(
        instance_id=instance, body=PreviewSessionForKillProcessTaskNewRequestBody(**conditions)
    )
)
previewed = {p.id for p in preview.processes or []}
if previewed != victim_ids or preview.total_count != len(victim_ids):
    fail("preview_session_for_kill_process_task_new", f"expected {sorted(victim_ids)}: {preview}")
if any(p.user != victim_user or p.command != "Sleep" or p.state_duration < 1 for p in preview.processes):
    fail("preview_session_for_kill_process_task_new rows", preview)
if not preview.data_sync_time or abs(preview.data_sync_time - time.time() * 1000) > 60_000:
    fail("preview_session_for_kill_process_task_new data_sync_time", preview.data_sync_time)

created = client.create_kill_task(
    CreateKillTaskRequest(instance_id=instance, body=CreateKillTaskRequestBody(**conditions))
)
if created.success is not True:
    fail("create_kill_task", created)

listed = [t for t in tasks() if t.user == victim_user]
if len(listed) != 1:
    fail("show_kill_process_task", tasks())
task = listed[0]
if (task.task_state, task.task_type, task.task_duration, task.end_time, task.time) != (1, "auto", -1, 0, 1):
    fail("show_kill_process_task fields", task)
if not isinstance(task.task_id, int) or task.task_id <= 0:
    fail("show_kill_process_task task_id", task)

# The rule kills the victims; the history names it.
deadline = time.monotonic() + RULE_KILL_WITHIN_S
while True:
    by_rule = [row for row in history() if row.task_id == task.task_id]
    if {row.session_id for row in by_rule} == victim_ids:
        break
    if time.monotonic() > deadline:
        fail("list_kill_process_history (rule kills)", f"after {RULE_KILL_WITHIN_S} s: {by_rule}")
    time.sleep(0.2)
for row in by_rule:
    if row.killed_source != f"rule:{task.task_id}" or row.user != victim_user or row.instance_id != instance:
        fail("list_kill_process_history row", row)

stopped = client.stop_kill_task(
    StopKillTaskRequest(instance_id=instance, body=StopKillTaskRequestBody(task_id=str(task.task_id)))
)
if stopped.success is not True:
    fail("stop_kill_task", stopped)
after = [t for t in tasks() if t.task_id == task.task_id]
if len(after) != 1 or after[0].task_state != 2:
    fail("show_kill_process_task after stop_kill_task", after)

# Kill-all kills every other unprotected session, as one KillSession (task_id 0). It is the same
# request as the refused one above: dbkill takes a signature once, and X-Sdk-Date counts whole
# seconds, so a second must pass between them or it is refused as a replay (APIGW.0301).
time.sleep(max(0.0, refused_kill_all_at + 1.1 - time.monotonic()))
killed_all = client.delete_all_sessions(DeleteAllSessionsRequest(instance_id=instance))
if killed_all.success is not True:
    fail("delete_all_sessions", killed_all)
by_kill_all = {row.session_id: row for row in history() if row.task_id == 0}
if not other_ids <= set(by_kill_all):
    fail("list_kill_process_history (kill-all)", f"expected {sorted(other_ids)} among {by_kill_all}")
for session in other_ids:
    if by_kill_all[session].killed_source != "api:admin":
        fail("list_kill_process_history kill-all row", by_kill_all[session])

print("OK")
