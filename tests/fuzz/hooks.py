"""schemathesis hooks for `run.py`.

- Every fuzzed request stays on the throwaway server. An instance is where dbkill connects and
  kills: whatever host and ports the fuzzer draws for a request body, a string host becomes the
  throwaway server's address and a numeric port its port, just before the request is sent, in
  every phase. Values of other types are left alone, so their refusal is still fuzzed. `run.py`
  checks afterwards that every stored instance points at the throwaway server.
- The instance and db user the other operations use stay as they were set up: a PUT of the
  instance or a DELETE of either (their ids come from dictionaries, or from earlier answers in
  the stateful phase) goes to its spare twin instead, which exists for this. Otherwise one early DELETE would leave
  the rest of the run to unknown ids, and a fuzzed `tls_mode` the throwaway server cannot speak
  would turn every later call into a (correct) 500.
- Refusals that no schema can foresee are not counted as schema mismatches, nor the 500 of an
  instance the fuzzer made unreachable (`filter_failure`).
- A CPython bug is kept from failing the run (see `_describe_lambdas_despite_cpython_106905`).
"""

import json
import os

import hypothesis.internal.lambda_sources as lambda_sources
import schemathesis

TARGET_HOST = os.environ["DBKILL_FUZZ_TARGET_HOST"]
TARGET_PORT = int(os.environ["DBKILL_FUZZ_TARGET_PORT"])
# {"instance_id": {main: spare}, "db_user_id": {main: spare}}
SPARES = json.loads(os.environ["DBKILL_FUZZ_SPARES"])


@schemathesis.hook
def before_call(context, case, kwargs):
    spare_the_fixtures(case)
    keep_on_the_throwaway_server(case.body)


# What changes a fixture: (method, the path parameter that ends the path). A PUT of the db user
# is not here: it keeps the db user unless the new password logs in.
SPARED = {("PUT", "instance_id"), ("DELETE", "instance_id"), ("DELETE", "db_user_id")}


def spare_the_fixtures(case):
    """A PUT or DELETE of a fixture itself goes to its spare."""
    for name, spares in SPARES.items():
        value = (case.path_parameters or {}).get(name)
        addressed = case.operation.path.endswith("/{" + name + "}")
        if addressed and (case.method.upper(), name) in SPARED and value in spares:
            case.path_parameters[name] = spares[value]


def keep_on_the_throwaway_server(body):
    if not isinstance(body, dict):
        return
    if isinstance(body.get("host"), str):
        body["host"] = TARGET_HOST
    for key in ("port", "admin_port"):
        value = body.get(key)
        # A float counts: the server takes 3306.0 as 3306, as JSON Schema does.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            body[key] = TARGET_PORT


# Refusals of schema-valid requests that no schema can foresee: whether ids exist, whether the
# instance takes the db user's password, whether a db user name is taken, whether the datastore
# fits the instance, whether a tls_ca parses as a CA certificate and fits the tls_mode, whether a
# kill names any filter, whether the switch is on, a task id exists or the rule limit is
# reached. Any other 400 for valid data means the document allows what the server
# refuses: it fails the run.
UNFORESEEABLE_CODES = {"DAS.200112", "DAS.200113", "DAS.200114", "DAS.210002", "DAS.200107"}
UNFORESEEABLE_MESSAGES = (
    "(no such user)",
    "(no such access key)",
    "(registered already as another db user)",
    "give at least one of process_ids",
    "tls_ca is invalid",
    "only tls_mode verify_ca and verify_identity use a CA",
    "postgresql instances support disabled and preferred only",
    # Kill rules: the instance's switch, which rules exist, how many run.
    "kill task switch is OFF",
    "no kill task with this task_id",
    "kill tasks running or paused",
)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    try:
        error = json.loads(response.content)
    except ValueError:
        return True
    if failure.code == "ST101":
        return not unreachable_by_construction(case, error)
    if failure.code != "ST202":
        return True
    if error.get("error_code") in UNFORESEEABLE_CODES:
        return False
    return not any(m in error.get("error_msg", "") for m in UNFORESEEABLE_MESSAGES)


def unreachable_by_construction(case, error):
    """The contract's 500 DAS.210001 for an instance dbkill cannot reach, which the fuzzer made:
    every instance points at the MariaDB throwaway server, so a PostgreSQL one (id ending in03)
    cannot be spoken to, nor one whose tls_mode needs TLS, which the throwaway does not offer."""
    if error.get("error_code") != "DAS.210001":
        return False
    instance = str((case.path_parameters or {}).get("instance_id", ""))
    return instance.endswith("in03") or "TLS" in error.get("error_msg", "")


def _describe_lambdas_despite_cpython_106905():
    """Python before 3.11.8 (Debian 12 has 3.11.2) may raise a spurious `SystemError: AST
    constructor recursion depth mismatch` when `ast.parse` runs in a thread (CPython gh-106905).
    Hypothesis parses source only to name the lambdas of its strategies in messages; when that
    fails, the lambda is described as unknown instead of failing the test case."""
    describe = lambda_sources.lambda_description

    def lambda_description(f):
        try:
            return describe(f)
        except SystemError:
            return "lambda: <unknown>"

    lambda_sources.lambda_description = lambda_description


_describe_lambdas_despite_cpython_106905()
