"""schemathesis hooks for `run.py`.

- Every fuzzed request stays on the throwaway server. An instance is where dbkill connects and
  kills: whatever host and ports the fuzzer draws for a request body, a string host becomes the
  throwaway server's address and a numeric port its port, just before the request is sent, in
  every phase. Values of other types are left alone, so their refusal is still fuzzed. `run.py`
  checks afterwards that every stored instance points at the throwaway server.
- Refusals that no schema can foresee are not counted as schema mismatches (`filter_failure`).
- A CPython bug is kept from failing the run (see `_describe_lambdas_despite_cpython_106905`).
"""

import json
import os

import hypothesis.internal.lambda_sources as lambda_sources
import schemathesis

TARGET_HOST = os.environ["DBKILL_FUZZ_TARGET_HOST"]
TARGET_PORT = int(os.environ["DBKILL_FUZZ_TARGET_PORT"])


@schemathesis.hook
def before_call(context, case, kwargs):
    body = case.body
    if not isinstance(body, dict):
        return
    if isinstance(body.get("host"), str):
        body["host"] = TARGET_HOST
    for key in ("port", "admin_port"):
        value = body.get(key)
        # A float counts: the server takes 3306.0 as 3306, as JSON Schema does.
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            body[key] = TARGET_PORT


# Refusals of schema-valid requests that no schema can foresee: the ids exist or not, the
# instance takes the db user's password or not, the datastore fits the instance or not, a kill
# names some filter or not. Any other 400 for valid data means the document allows what the
# server refuses, and fails the run.
EXISTENCE_CODES = {"DAS.200112", "DAS.200113", "DAS.200114", "DAS.210002", "DAS.200107"}
EXISTENCE_MESSAGES = ("(no such user)", "(no such access key)", "give at least one of process_ids")


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if failure.code != "ST202":
        return True
    try:
        error = json.loads(response.content)
    except ValueError:
        return True
    if error.get("error_code") in EXISTENCE_CODES:
        return False
    return not any(m in error.get("error_msg", "") for m in EXISTENCE_MESSAGES)


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
