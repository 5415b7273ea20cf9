"""The schemathesis.toml of a run: the real ids as dictionaries, the budget, the checks."""

import json
from pathlib import Path

from fixtures import KILLER, VICTIM

HERE = Path(__file__).resolve().parent

# Every check schemathesis has, but these two: the contract answers a method a path does not
# take with 404 APIGW.0101 (spec/api.md), not 405 with `Allow`. `positive_data_acceptance` is
# on; hooks.py forgives it only the refusals no schema can foresee (unknown ids, a password the
# instance refuses).
CHECKS = """\
unsupported_method = { enabled = false }
allow_header_conformance = { enabled = false }
"""


def toml_str(value):
    # A JSON string is a valid TOML basic string for the values used here.
    return json.dumps(str(value))


def dictionary(name, values):
    return f"{name} = {{ values = [{', '.join(toml_str(v) for v in values)}] }}"


def bind(key, dictionary_name, probability=0.9):
    """Parameter `key` takes a value of the dictionary with `probability`, else a generated one."""
    return (
        f"{toml_str(key)} = "
        f"{{ dictionary = {toml_str(dictionary_name)}, probability = {probability} }}"
    )


def write_config(work, ids, token, args):
    text = f"""\
hooks = {toml_str(HERE / "hooks.py")}
workers = {args.workers}
max-time = {args.max_time}
request-timeout = 60
suppress-health-check = ["too_slow", "filter_too_much"]

[generation]
max-examples = {args.max_examples}
database = "none"

[checks]
{CHECKS}
[auth.openapi.token]
api_key = {toml_str(token)}

[dictionaries]
{dictionary("project", [ids.project])}
{dictionary("instance", [ids.instance])}
{dictionary("db_user", [ids.db_user])}
{dictionary("user", ids.users)}
{dictionary("access_key", [ids.access_key])}
{dictionary("request_id", [ids.request_id])}
{dictionary("victim", [VICTIM[0]])}
{dictionary("victim_database", ["shop"])}
{dictionary("login_name", [name for name, _ in ids.logins])}
{dictionary("login_password", [password for _, password in ids.logins])}
{dictionary("db_username", [KILLER[0]])}
{dictionary("db_password", [KILLER[1]])}

[parameters]
{bind("path.project_id", "project")}
{bind("path.instance_id", "instance")}
{bind("path.db_user_id", "db_user")}
{bind("query.db_user_id", "db_user")}
{bind("body.db_user_id", "db_user")}
{bind("path.user_id", "user")}
{bind("query.user_id", "user")}
{bind("body.credential.user_id", "user")}
{bind("path.access", "access_key")}
{bind("query.request_id", "request_id", 0.5)}
{bind("query.user", "victim", 0.5)}
{bind("body.user", "victim", 0.5)}
{bind("body.database", "victim_database", 0.5)}
{bind("body.auth.identity.password.user.name", "login_name", 0.5)}
{bind("body.auth.identity.password.user.password", "login_password", 0.5)}
{bind("body.auth.scope.project.id", "project", 0.5)}
{bind("body.db_username", "db_username", 0.5)}
{bind("body.db_user_password", "db_password", 0.5)}
"""
    path = work / "schemathesis.toml"
    path.write_text(text)
    return path
