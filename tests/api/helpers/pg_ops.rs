//! DAS's two PostgreSQL operations on one instance, whatever its engine: the session list with
//! statistics (`pg/query-process-list`) and CancelInstanceProcess (`kill-process`), called with
//! a token; and reading an answer's rows.

use reqwest::Method;
use serde_json::{Value, json};

use super::app::{Resp, TestApp};

pub struct PgOps<'a> {
    app: &'a TestApp,
    base: String,
}

impl<'a> PgOps<'a> {
    pub fn new(app: &'a TestApp, project: &str, instance: &str) -> Self {
        Self {
            app,
            base: format!("/v3/{project}/instances/{instance}"),
        }
    }

    /// The list with `query` (may be empty) as `token`; whatever it answers.
    pub async fn list_as(&self, token: &str, query: &str) -> Resp {
        let path = format!("{}/pg/query-process-list?{query}", self.base);
        self.app.call(Method::GET, &path, token, None).await
    }

    /// The list with `query` as the admin; expects 200.
    pub async fn list(&self, query: &str) -> Value {
        let r = self.list_as(&self.app.admin_token, query).await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        r.body
    }

    /// `kill-process` with `body` as `token`; whatever it answers.
    pub async fn kill_as(&self, token: &str, body: Value) -> Resp {
        let path = format!("{}/kill-process", self.base);
        self.app.call(Method::POST, &path, token, Some(body)).await
    }

    /// `kill-process` of `pairs` (id, user) with `engine_type` as the admin; expects 200 and
    /// returns the whole answer.
    pub async fn kill(&self, engine_type: &str, pairs: &[(u64, &str)]) -> Resp {
        let r = self
            .kill_as(&self.app.admin_token, kill_body(engine_type, pairs))
            .await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        r
    }
}

/// `{"engine_type", "processes": [{"id", "user"}]}`.
pub fn kill_body(engine_type: &str, pairs: &[(u64, &str)]) -> Value {
    let processes: Vec<Value> = pairs
        .iter()
        .map(|(id, user)| json!({"id": id, "user": user}))
        .collect();
    json!({"engine_type": engine_type, "processes": processes})
}

/// The ids of an answer's rows, in the answer's order.
pub fn row_ids(list: &Value) -> Vec<u64> {
    list["process_info_list"]
        .as_array()
        .unwrap_or_else(|| panic!("no rows: {list}"))
        .iter()
        .map(|r| r["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// The answer's row of session `id`.
pub fn row(list: &Value, id: u64) -> &Value {
    let id = id.to_string();
    list["process_info_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == id.as_str())
        .unwrap_or_else(|| panic!("no row {id}: {list}"))
}

/// A row's `time`: seconds in its state.
pub fn time_of(row: &Value) -> u64 {
    row["time"].as_str().unwrap().parse().unwrap()
}

/// The `session_exec_time` statistics of active sessions that have been these `seconds` in
/// their state.
pub fn exec_time_buckets(seconds: &[u64]) -> Value {
    let mut buckets = json!({"<1s": 0, "1-3s": 0, "3-10s": 0, ">10s": 0});
    for &t in seconds {
        let bucket = match t {
            0 => "<1s",
            1..=2 => "1-3s",
            3..=10 => "3-10s",
            _ => ">10s",
        };
        buckets[bucket] = json!(buckets[bucket].as_u64().unwrap() + 1);
    }
    buckets
}
