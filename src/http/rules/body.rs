//! The bodies of the auto-flow operations as parsed: a rule's conditions and settings (add and
//! preview share them), the switch and a task id. DAS bodies: unknown fields (the SDKs send
//! `node_id`) are ignored, `""` and `null` count as absent.

use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{DbUserId, KillType, RuleConditions, RuleMode, RuleSpec, RuleSwitch};
use crate::error::{DasError, DasResult, Problem};
use crate::http::extract::{JsonObject, check_len, db_user_id};
use crate::http::openapi::shapes;

const MAX_SECONDS: i64 = i32::MAX as i64;
const MAX_COUNT: i64 = 1_000_000;

/// A kill task (rule): DAS's fields, then dbkill's extensions.
#[derive(ToSchema, Debug)]
#[allow(dead_code)] // Documents the body; it is parsed field by field.
pub struct KillRuleIn {
    /// Account name, equal.
    #[schema(schema_with = shapes::rule_text)]
    user: Option<String>,
    /// Client address without its port, as SQL LIKE (`100.%`).
    #[schema(schema_with = shapes::rule_text)]
    host: Option<String>,
    #[schema(schema_with = shapes::rule_text)]
    db: Option<String>,
    /// `Query`, `Sleep`, …, ignoring case.
    #[schema(schema_with = shapes::rule_text)]
    command: Option<String>,
    /// A substring of the SQL text, ignoring case.
    #[schema(schema_with = shapes::rule_text)]
    info: Option<String>,
    /// Seconds the session has been in its state, at least.
    #[schema(minimum = 1, maximum = 2147483647)]
    time: i64,
    /// Seconds the rule runs, or -1 until stopped (not 0).
    #[schema(schema_with = shapes::task_duration)]
    task_duration: i64,
    /// Stored and echoed (`auto` in DAS's examples).
    #[schema(schema_with = shapes::task_type)]
    task_type: String,
    /// ext: the db user the rule acts as (default: the instance's default db user).
    #[schema(schema_with = shapes::db_user_id_change)]
    db_user_id: Option<String>,
    /// ext.
    #[schema(schema_with = shapes::rule_name)]
    name: Option<String>,
    /// ext: `connection` (default) or `query`.
    #[schema(schema_with = shapes::kill_type)]
    kill_type: Option<String>,
    /// ext: `enforce` (default) or `observe` (counts, never kills).
    #[schema(schema_with = shapes::rule_mode)]
    mode: Option<String>,
    /// ext: a substring of the session's state, ignoring case.
    #[schema(schema_with = shapes::rule_text)]
    state: Option<String>,
    /// ext: seconds of the session's open transaction, at least.
    #[schema(minimum = 0, maximum = 2147483647)]
    min_trx_time: Option<i64>,
    /// ext: 0 = no limit.
    #[schema(minimum = 0, maximum = 1000000)]
    max_kills_per_minute: Option<i64>,
    /// ext: a tick matching more sessions than this kills none and pauses the rule; 0 = off.
    #[schema(minimum = 0, maximum = 1000000)]
    pause_above: Option<i64>,
}

fn text(body: &JsonObject, key: &str) -> DasResult<Option<String>> {
    let value = body.str_opt(key)?;
    if let Some(v) = &value {
        check_len(key, v, 1, 1024)?;
    }
    Ok(value)
}

/// An integer, or (as DAS's SDK sends a task id) a string of decimal digits.
fn int_or_digits(body: &JsonObject, key: &str, min: i64, max: i64) -> DasResult<Option<i64>> {
    match body.0.get(key) {
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => match s.parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Ok(_) => Err(DasError::bad(key, Problem::Range { min, max })),
            Err(_) => Err(DasError::bad(key, Problem::NotA("integer"))),
        },
        _ => body.int_opt(key, min, max),
    }
}

/// The conditions (and the db user) of a body.
fn conditions(body: &JsonObject) -> DasResult<(Option<DbUserId>, RuleConditions)> {
    let db_user = body
        .str_opt("db_user_id")?
        .map(|id| db_user_id(&id))
        .transpose()?;
    let conditions = RuleConditions {
        user: text(body, "user")?,
        host: text(body, "host")?,
        db: text(body, "db")?,
        command: text(body, "command")?,
        info: text(body, "info")?,
        state: text(body, "state")?,
        time: body
            .int_opt("time", 1, MAX_SECONDS)?
            .ok_or_else(|| DasError::bad("time", Problem::Missing))?,
        min_trx_time: body.int_opt("min_trx_time", 0, MAX_SECONDS)?,
    };
    Ok((db_user, conditions))
}

/// The whole body, checked the same way for add and preview (DAS's preview takes the add body).
pub fn new_rule(body: &JsonObject) -> DasResult<RuleSpec> {
    let (db_user_id, conditions) = conditions(body)?;
    let task_duration = body
        .int_opt("task_duration", -1, MAX_SECONDS)?
        .ok_or_else(|| DasError::bad("task_duration", Problem::Missing))?;
    if task_duration == 0 {
        return Err(DasError::bad(
            "task_duration",
            Problem::Invalid("must be at least 1 second, or -1 to run until stopped".into()),
        ));
    }
    let task_type = body.str_req("task_type")?;
    check_len("task_type", &task_type, 1, 32)?;
    let name = body.str_opt("name")?.unwrap_or_default();
    check_len("name", &name, 0, 64)?;
    let kill_type = match body.str_opt("kill_type")? {
        None => KillType::Connection,
        Some(k) => KillType::parse(&k)
            .ok_or_else(|| DasError::bad("kill_type", Problem::OneOf(&["connection", "query"])))?,
    };
    let mode = match body.str_opt("mode")? {
        None => RuleMode::Enforce,
        Some(m) => RuleMode::parse(&m)
            .ok_or_else(|| DasError::bad("mode", Problem::OneOf(&["enforce", "observe"])))?,
    };
    let count =
        |key| -> DasResult<u32> { Ok(int_or_digits(body, key, 0, MAX_COUNT)?.unwrap_or(0) as u32) };
    Ok(RuleSpec {
        db_user_id,
        name,
        task_type,
        conditions,
        kill_type,
        mode,
        max_kills_per_minute: count("max_kills_per_minute")?,
        pause_above: count("pause_above")?,
        task_duration,
    })
}

/// The body of set-kill-process-task-switch.
#[derive(ToSchema, Debug)]
#[allow(dead_code)] // Documents the body; it is parsed field by field.
pub struct SwitchIn {
    /// `ON` or `OFF`, any case.
    #[schema(schema_with = shapes::switch_status)]
    status: String,
}

pub fn switch(body: &JsonObject) -> DasResult<RuleSwitch> {
    let status = body.str_req("status")?;
    RuleSwitch::parse(&status)
        .ok_or_else(|| DasError::bad("status", Problem::OneOf(&["ON", "OFF"])))
}

/// The body of terminate-kill-process-task.
#[derive(ToSchema, Debug)]
#[allow(dead_code)] // Documents the body; it is parsed field by field.
pub struct TaskIdIn {
    /// The rule's task id, a string or an integer.
    #[schema(schema_with = shapes::task_id)]
    task_id: String,
}

pub fn task_id(body: &JsonObject) -> DasResult<i64> {
    int_or_digits(body, "task_id", 1, i64::MAX)?
        .ok_or_else(|| DasError::bad("task_id", Problem::Missing))
}
