"""Drives a running dbkill with the unmodified official Huawei Cloud DAS SDK (AK/SK signing).

Called by the Rust integration test `sdk::the_official_python_sdk_drives_dbkill`, which sets the
environment, opens the victim sessions and afterwards checks on the server that they are gone.
Exits non-zero, naming the step, on any mismatch.
"""

import os
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ClientRequestException
from huaweicloudsdkdas.v3 import (
    DasClient,
    DeleteProcessReqBody,
    DeleteProcessRequest,
    ListDbUsersRequest,
    ListProcessesRequest,
    RegisterDbUserRequest,
    RegisterDbUserRequestBody,
)

env = os.environ


def fail(step, detail):
    print(f"FAILED at {step}: {detail}", file=sys.stderr)
    sys.exit(1)


credentials = BasicCredentials(env["DBKILL_AK"], env["DBKILL_SK"], env["DBKILL_PROJECT"])
client = (
    DasClient.new_builder()
    .with_credentials(credentials)
    .with_endpoints([env["DBKILL_ENDPOINT"]])
    .build()
)
instance = env["DBKILL_INSTANCE"]

# Register the killer account as a db user.
registered = client.register_db_user(
    RegisterDbUserRequest(
        instance_id=instance,
        body=RegisterDbUserRequestBody(
            db_username=env["DBKILL_DB_USER"],
            db_user_password=env["DBKILL_DB_PASSWORD"],
            datastore_type="MySQL",
        ),
    )
)
db_user_id = registered.db_user_id
if not db_user_id or len(db_user_id) != 36:
    fail("register_db_user", registered)

listed = client.list_db_users(ListDbUsersRequest(instance_id=instance))
if listed.total != 1 or listed.db_users[0].db_user_id != db_user_id:
    fail("list_db_users", listed)

by_user = env["DBKILL_VICTIM_USER"]
processes = client.list_processes(
    ListProcessesRequest(instance_id=instance, db_user_id=db_user_id, user=by_user, limit=100)
)
expected = int(env["DBKILL_VICTIM_COUNT"])
if processes.count != expected or len(processes.processes) != expected:
    fail("list_processes", processes)
if any(p.user != by_user or not p.id.isdigit() for p in processes.processes):
    fail("list_processes rows", processes)

client.delete_process(
    DeleteProcessRequest(instance_id=instance, body=DeleteProcessReqBody(db_user_id=db_user_id, user=by_user))
)

ids = env["DBKILL_VICTIM_IDS"].split(",")
client.delete_process(
    DeleteProcessRequest(
        instance_id=instance, body=DeleteProcessReqBody(db_user_id=db_user_id, process_ids=ids)
    )
)

try:
    client.delete_process(
        DeleteProcessRequest(
            instance_id=instance,
            body=DeleteProcessReqBody(db_user_id="2c250598-1e3c-4d31-bc19-be1d866247e6", user=by_user),
        )
    )
    fail("unknown db_user_id", "no exception")
except ClientRequestException as e:
    if e.status_code != 400 or e.error_code != "DAS.200112":
        fail("unknown db_user_id", f"{e.status_code} {e.error_code} {e.error_msg}")

print("OK")
