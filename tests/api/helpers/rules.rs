//! The kill-rule endpoints of one instance (DAS "auto-flow") as typed calls: the switch, adding,
//! previewing, listing and terminating rules, kill-all-session and the history of one rule's
//! kills; the runner's tick counters in `/metrics`; a rule body with DAS's required fields
//! filled in; and an app whose rules tick as often as the settings allow.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::app::{Resp, TestApp, spawn_app_with};
use super::fixtures::KillCtx;
use super::metrics::{scrape, sum};

/// The tick the rule tests run with: the least `rule_interval_ms` allows, to keep them fast.
pub const TICK: Duration = Duration::from_millis(250);

/// How long a test that is not about speed gives a session that a running rule matches to
/// leave the server: a tick to be seen, and 3 s for the kill, its verification and the server's
/// own delay in ending a session (MariaDB may take up to 2 s to end one in `SLEEP()`), with room
/// for a loaded machine.
pub const KILL_WITHIN: Duration = Duration::from_millis(3_250);

/// A fresh service whose rules tick every [`TICK`].
pub async fn spawn_rules_app() -> TestApp {
    spawn_app_with(|raw| raw.rule_interval_ms = TICK.as_millis() as u64).await
}

/// A rule body: `fields` over `time` 1, `task_duration` -1 (until stopped) and `task_type`
/// "auto" (DAS's required fields).
pub fn rule(fields: Value) -> Value {
    let mut body = json!({"time": 1, "task_duration": -1, "task_type": "auto"});
    body.as_object_mut().unwrap().extend(
        fields
            .as_object()
            .expect("rule fields are an object")
            .clone(),
    );
    body
}

/// The rule with task id `id` in a listing (as [`Rules::list`] returns it).
pub fn listed_rule(rules: &[Value], id: i64) -> &Value {
    rules
        .iter()
        .find(|r| r["task_id"] == json!(id))
        .unwrap_or_else(|| panic!("rule {id} is not listed: {rules:?}"))
}

/// DAS `task_state` values.
pub const RUNNING: i64 = 1;
pub const STOPPED: i64 = 2;
pub const FINISHED: i64 = 3;
pub const PAUSED: i64 = 4;

/// The auto-flow endpoints of one instance, called as the admin unless a token is given.
pub struct Rules<'a> {
    app: &'a TestApp,
    base: String,
    /// The instance id, as the runner's metrics label it.
    instance: String,
}

impl<'a> Rules<'a> {
    pub fn of(app: &'a TestApp, ctx: &KillCtx) -> Self {
        Rules {
            app,
            base: format!("/v3/{}/instances/{}/auto-flow", ctx.project, ctx.instance),
            instance: ctx.instance.clone(),
        }
    }

    /// `…/auto-flow/{op}`.
    pub fn path(&self, op: &str) -> String {
        format!("{}/{op}", self.base)
    }

    /// `op` as `token`, whatever it answers.
    pub async fn call_as(
        &self,
        token: &str,
        method: Method,
        op: &str,
        body: Option<Value>,
    ) -> Resp {
        self.app.call(method, &self.path(op), token, body).await
    }

    async fn admin_ok(&self, method: Method, op: &str, body: Option<Value>) -> Value {
        self.app.expect(method, &self.path(op), body, 200).await
    }

    /// The switch as GET answers it: `ON` or `OFF`.
    pub async fn switch(&self) -> String {
        let b = self
            .admin_ok(Method::GET, "get-kill-process-task-switch", None)
            .await;
        b["status"]
            .as_str()
            .unwrap_or_else(|| panic!("{b}"))
            .to_owned()
    }

    /// Sets the switch to `status` (sent as given: any case is accepted).
    pub async fn set_switch(&self, status: &str) {
        let b = self
            .admin_ok(
                Method::POST,
                "set-kill-process-task-switch",
                Some(json!({ "status": status })),
            )
            .await;
        assert_eq!(b, json!({"success": true}));
    }

    pub async fn switch_on(&self) {
        self.set_switch("ON").await;
    }

    pub async fn switch_off(&self) {
        self.set_switch("OFF").await;
    }

    /// Adds a rule as the admin, whatever it answers.
    pub async fn try_add(&self, body: Value) -> Resp {
        self.app
            .admin_call(Method::PUT, &self.path("add-kill-process-task"), Some(body))
            .await
    }

    /// Adds a rule; returns its task id.
    pub async fn add(&self, body: Value) -> i64 {
        let r = self.try_add(body).await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        assert_eq!(r.body["success"], true, "{}", r.text);
        r.body["task_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no integer task_id: {}", r.text))
    }

    /// What a rule with `body` would kill now (the whole answer).
    pub async fn preview(&self, body: Value) -> Value {
        self.admin_ok(
            Method::POST,
            "preview-session-for-kill-process-task",
            Some(body),
        )
        .await
    }

    /// The session ids a rule with `body` would kill now; checks that `total_count` agrees.
    pub async fn preview_ids(&self, body: Value) -> BTreeSet<u64> {
        let p = self.preview(body).await;
        let ids: BTreeSet<u64> = p["processes"]
            .as_array()
            .unwrap_or_else(|| panic!("no processes: {p}"))
            .iter()
            .map(|s| {
                s["id"]
                    .as_u64()
                    .unwrap_or_else(|| panic!("integer id: {s}"))
            })
            .collect();
        assert_eq!(p["total_count"], json!(ids.len()), "{p}");
        ids
    }

    /// Every rule of the instance, newest first.
    pub async fn list(&self) -> Vec<Value> {
        let b = self
            .admin_ok(Method::GET, "query-kill-process-task", None)
            .await;
        b["sql_killing_task_resp_list"]
            .as_array()
            .unwrap_or_else(|| panic!("no sql_killing_task_resp_list: {b}"))
            .clone()
    }

    /// The listed rule with task id `id`.
    pub async fn get(&self, id: i64) -> Value {
        listed_rule(&self.list().await, id).clone()
    }

    /// The rule once `done` holds of it, or as it is after 2 s: a tick writes its counters just
    /// after its kills' outcomes, so they may trail the history by a store round trip.
    pub async fn get_when(&self, id: i64, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
        loop {
            let rule = self.get(id).await;
            if done(&rule) || std::time::Instant::now() > deadline {
                return rule;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// Terminates a rule, the id sent as DAS's examples send it (a string), whatever it answers.
    pub async fn try_terminate(&self, task_id: Value) -> Resp {
        self.app
            .admin_call(
                Method::POST,
                &self.path("terminate-kill-process-task"),
                Some(json!({ "task_id": task_id })),
            )
            .await
    }

    pub async fn terminate(&self, id: i64) {
        let r = self.try_terminate(json!(id.to_string())).await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        assert_eq!(r.body, json!({"success": true}), "{}", r.text);
    }

    /// kill-all-session as the admin, whatever it answers.
    pub async fn kill_all(&self) -> Resp {
        self.app
            .admin_call(Method::POST, &self.path("kill-all-session"), None)
            .await
    }

    /// The history rows (newest first, up to 100) of sessions killed by rule `id`.
    pub async fn kills(&self, id: i64) -> Vec<Value> {
        let h = self
            .admin_ok(
                Method::GET,
                "query-kill-process-history?page_size=100",
                None,
            )
            .await;
        h["killed_sessions"]
            .as_array()
            .unwrap_or_else(|| panic!("no killed_sessions: {h}"))
            .iter()
            .filter(|row| row["task_id"] == json!(id))
            .cloned()
            .collect()
    }

    /// `dbkill_rule_ticks_total` and the sum of `dbkill_rule_tick_failures_total` over every
    /// reason, for this instance.
    pub async fn tick_counts(&self) -> (f64, f64) {
        let text = scrape(self.app).await;
        let labels = [("instance_id", self.instance.as_str())];
        (
            sum(&text, "dbkill_rule_ticks_total", &labels),
            sum(&text, "dbkill_rule_tick_failures_total", &labels),
        )
    }

    /// The switch and every rule with its counters, for an assertion message.
    pub async fn describe(&self) -> String {
        format!(
            "switch {}, rules {}",
            self.switch().await,
            Value::from(self.list().await)
        )
    }

    /// Waits up to `within` until rule `id` is in `task_state` `state`; returns it then.
    pub async fn wait_for_state(&self, id: i64, state: i64, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let r = self.get(id).await;
            if r["task_state"] == json!(state) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "rule {id} not in task_state {state} within {within:?}: {r}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
