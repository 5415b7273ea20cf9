//! The kill-rule API (spec "Kill rules", the DAS auto-flow operations) as the benchmark calls
//! it: switch an instance's rules on or off, add a rule, stop it, read its counters.

use std::time::Instant;

use anyhow::{Context, Result};
use reqwest::Method;
use serde_json::{Value, json};

use crate::service::Dbkill;

/// One instance registered in dbkill, and the db user its rules act as.
#[derive(Clone)]
pub struct Instance {
    pub id: String,
    pub db_user: String,
}

impl Instance {
    /// The instance dbkill registered at start.
    pub fn first(dbkill: &Dbkill) -> Instance {
        Instance {
            id: dbkill.instance.clone(),
            db_user: dbkill.db_user.clone(),
        }
    }

    fn path(&self, dbkill: &Dbkill, op: &str) -> String {
        format!(
            "/v3/{}/instances/{}/auto-flow/{op}",
            dbkill.project, self.id
        )
    }

    /// Sets the switch; returns when its answer arrived.
    pub async fn switch(&self, dbkill: &Dbkill, on: bool) -> Result<Instant> {
        let status = if on { "ON" } else { "OFF" };
        let path = self.path(dbkill, "set-kill-process-task-switch");
        dbkill
            .call(Method::POST, &path, Some(&json!({ "status": status })))
            .await?;
        Ok(Instant::now())
    }

    /// Adds a rule running until stopped, acting as this instance's db user, with `conditions`
    /// (the DAS body fields `user`, `command`, `time`, …); returns its task id.
    pub async fn add_rule(&self, dbkill: &Dbkill, name: &str, conditions: Value) -> Result<i64> {
        let mut body = json!({"task_duration": -1, "task_type": "auto", "name": name,
            "db_user_id": self.db_user});
        let fields = conditions
            .as_object()
            .context("rule conditions must be a JSON object")?;
        for (k, v) in fields {
            body[k] = v.clone();
        }
        let path = self.path(dbkill, "add-kill-process-task");
        let answer = dbkill.call(Method::PUT, &path, Some(&body)).await?;
        answer["task_id"]
            .as_i64()
            .with_context(|| format!("add-kill-process-task: no task_id in {answer}"))
    }

    /// The instance's rules as `query-kill-process-task` lists them.
    pub async fn rules(&self, dbkill: &Dbkill) -> Result<Vec<Value>> {
        let path = self.path(dbkill, "query-kill-process-task");
        let answer = dbkill.call(Method::GET, &path, None).await?;
        answer["sql_killing_task_resp_list"]
            .as_array()
            .cloned()
            .with_context(|| format!("query-kill-process-task: no list in {answer}"))
    }

    /// `killed_total` and `matched_total` of rule `task_id`.
    pub async fn counters(&self, dbkill: &Dbkill, task_id: i64) -> Result<Counters> {
        let rules = self.rules(dbkill).await?;
        let rule = rules
            .iter()
            .find(|r| r["task_id"].as_i64() == Some(task_id))
            .with_context(|| format!("rule {task_id} not listed"))?;
        let field = |name: &str| {
            rule[name]
                .as_u64()
                .with_context(|| format!("rule {task_id}: no {name} in {rule}"))
        };
        Ok(Counters {
            killed: field("killed_total")?,
            matched: field("matched_total")?,
        })
    }

    /// Stops every running or paused rule of the instance and turns its switch off, so that a
    /// scene starts from none (also after an earlier scene failed half-way).
    pub async fn clear(&self, dbkill: &Dbkill) -> Result<()> {
        self.switch(dbkill, false).await?;
        let path = self.path(dbkill, "terminate-kill-process-task");
        for rule in self.rules(dbkill).await? {
            // task_state 1 running, 4 paused: the ones that count against the limit.
            if matches!(rule["task_state"].as_i64(), Some(1 | 4)) {
                let body = json!({ "task_id": rule["task_id"] });
                dbkill.call(Method::POST, &path, Some(&body)).await?;
            }
        }
        Ok(())
    }
}

/// A rule's counters.
#[derive(Clone, Copy, Default)]
pub struct Counters {
    pub killed: u64,
    pub matched: u64,
}
