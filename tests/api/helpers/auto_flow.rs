//! Kill rules through the DAS auto-flow API as the admin of a [`TestApp`]: the switch, adding a
//! rule, listing rules, the rule-kill history, the runner's counters in `/metrics`, and waiting
//! for a session to leave the server.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::app::TestApp;
use super::fixtures::KillCtx;
use super::metrics::{scrape, sum};
use crate::support::mariadb::MariaDb;

/// `…/instances/{instance}/auto-flow/{op}` of `ctx`'s instance.
pub fn auto_flow_path(ctx: &KillCtx, op: &str) -> String {
    format!(
        "/v3/{}/instances/{}/auto-flow/{op}",
        ctx.project, ctx.instance
    )
}

/// Turns the instance's rule switch on or off.
pub async fn set_switch(app: &TestApp, ctx: &KillCtx, on: bool) {
    let status = if on { "ON" } else { "OFF" };
    let b = app
        .expect(
            Method::POST,
            &auto_flow_path(ctx, "set-kill-process-task-switch"),
            Some(json!({ "status": status })),
            200,
        )
        .await;
    assert_eq!(b, json!({"success": true}));
}

/// The switch as the API shows it: `"ON"` or `"OFF"`.
pub async fn switch_status(app: &TestApp, ctx: &KillCtx) -> String {
    let b = app
        .expect(
            Method::GET,
            &auto_flow_path(ctx, "get-kill-process-task-switch"),
            None,
            200,
        )
        .await;
    b["status"].as_str().unwrap().to_owned()
}

/// Adds the rule `body`; its `task_id`.
pub async fn add_rule(app: &TestApp, ctx: &KillCtx, body: Value) -> i64 {
    let b = app
        .expect(
            Method::PUT,
            &auto_flow_path(ctx, "add-kill-process-task"),
            Some(body),
            200,
        )
        .await;
    assert_eq!(b["success"], json!(true), "{b}");
    b["task_id"].as_i64().unwrap()
}

/// A rule killing every session of `user` idle or busy for at least a second, until stopped.
pub fn rule_for_user(user: &str) -> Value {
    json!({"user": user, "time": 1, "task_duration": -1, "task_type": "auto"})
}

/// The instance's rules as `query-kill-process-task` lists them.
pub async fn rules(app: &TestApp, ctx: &KillCtx) -> Vec<Value> {
    let b = app
        .expect(
            Method::GET,
            &auto_flow_path(ctx, "query-kill-process-task"),
            None,
            200,
        )
        .await;
    b["sql_killing_task_resp_list"].as_array().unwrap().clone()
}

/// The rule `task_id` as listed; panics if it is not.
pub async fn rule(app: &TestApp, ctx: &KillCtx, task_id: i64) -> Value {
    let all = rules(app, ctx).await;
    all.iter()
        .find(|r| r["task_id"] == json!(task_id))
        .unwrap_or_else(|| panic!("rule {task_id} is not listed: {all:?}"))
        .clone()
}

/// The history rows (newest first, up to 100) of sessions killed by rule `task_id`.
pub async fn rule_kills(app: &TestApp, ctx: &KillCtx, task_id: i64) -> Vec<Value> {
    let history = ctx.history(app, "page_size=100").await;
    history["killed_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|row| row["task_id"] == json!(task_id))
        .cloned()
        .collect()
}

/// `dbkill_rule_ticks_total` and the sum of `dbkill_rule_tick_failures_total` over every reason,
/// for `instance`.
pub async fn tick_counts(app: &TestApp, instance: &str) -> (f64, f64) {
    let text = scrape(app).await;
    let labels = [("instance_id", instance)];
    (
        sum(&text, "dbkill_rule_ticks_total", &labels),
        sum(&text, "dbkill_rule_tick_failures_total", &labels),
    )
}

/// Waits up to `within` for `id` to leave the server's processlist: how long it took, `None` if
/// it is still there.
pub async fn gone_within(db: &MariaDb, id: u64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while db.alive(id) {
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Some(start.elapsed())
}
