//! An instance on a MariaDB server registered through one replica (a new project, the server as
//! its instance, a fresh killer account as its db user), and what the tests do with it through
//! any replica: kill rules, KillSession by user, ListProcesses and the kill history.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::node::Node;
use crate::helpers::rules::rule;
use crate::support::mariadb::{MariaDb, unique_name};

/// What a db user needs to list and kill other accounts' sessions.
const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

pub struct Target {
    pub project: String,
    pub instance: String,
    pub db_user_id: String,
}

impl Target {
    /// Creates a killer account on `db` and registers project, instance and db user through
    /// `node` as `token` (a global admin's).
    pub async fn register(node: &Node, token: &str, db: &MariaDb) -> Target {
        let killer = unique_name("killer");
        db.sql(&format!(
            "CREATE USER '{killer}'@'%' IDENTIFIED BY 'killer-pw'; \
             GRANT {KILLER_GRANTS} ON *.* TO '{killer}'@'%'"
        ));
        let project = node
            .expect(
                token,
                Method::POST,
                "/v3/projects",
                Some(json!({"project": {"name": unique_name("replicas")}})),
                201,
            )
            .await["project"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let instance = node
            .expect(
                token,
                Method::POST,
                &format!("/v3/{project}/instances"),
                Some(json!({"name": "maria", "datastore_type": "mariadb",
                            "host": db.host(), "port": db.port()})),
                200,
            )
            .await["instance_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let db_user_id = node
            .expect(
                token,
                Method::POST,
                &format!("/v3/{project}/instances/{instance}/db-users"),
                Some(
                    json!({"db_username": killer, "db_user_password": "killer-pw",
                            "datastore_type": "MySQL"}),
                ),
                200,
            )
            .await["db_user_id"]
            .as_str()
            .unwrap()
            .to_owned();
        Target {
            project,
            instance,
            db_user_id,
        }
    }

    /// `/v3/{project}/instances/{instance}`.
    pub fn path(&self) -> String {
        format!("/v3/{}/instances/{}", self.project, self.instance)
    }

    pub fn db_user_path(&self) -> String {
        format!("{}/db-users/{}", self.path(), self.db_user_id)
    }

    /// ListProcesses of `user`'s sessions (up to 1,000).
    pub fn processes_path(&self, user: &str) -> String {
        format!(
            "{}/processes?db_user_id={}&user={user}&limit=1000",
            self.path(),
            self.db_user_id
        )
    }

    /// The session ids ListProcesses shows for `user` through `node`.
    pub async fn listed(&self, node: &Node, token: &str, user: &str) -> Vec<u64> {
        let b = node
            .expect(token, Method::GET, &self.processes_path(user), None, 200)
            .await;
        b["processes"]
            .as_array()
            .unwrap_or_else(|| panic!("no processes: {b}"))
            .iter()
            .map(|p| p["id"].as_str().unwrap().parse().unwrap())
            .collect()
    }

    /// KillSession of every session of `user` through `node`, whatever it answers.
    pub async fn kill_user(
        &self,
        node: &Node,
        token: &str,
        user: &str,
    ) -> crate::helpers::app::Resp {
        node.call(
            Some(token),
            Method::DELETE,
            &format!("{}/process", self.path()),
            &[],
            Some(json!({"db_user_id": self.db_user_id, "user": user})),
        )
        .await
    }

    /// Adds a running rule on `user` (sessions older than 1 s) through `node` and turns the
    /// instance's switch on; the rule's task id.
    pub async fn rule_on(&self, node: &Node, token: &str, user: &str) -> i64 {
        let flow = |op: &str| format!("{}/auto-flow/{op}", self.path());
        let added = node
            .expect(
                token,
                Method::PUT,
                &flow("add-kill-process-task"),
                Some(rule(json!({"user": user, "db_user_id": self.db_user_id}))),
                200,
            )
            .await;
        let task = added["task_id"]
            .as_i64()
            .unwrap_or_else(|| panic!("no task_id: {added}"));
        node.expect(
            token,
            Method::POST,
            &flow("set-kill-process-task-switch"),
            Some(json!({"status": "ON"})),
            200,
        )
        .await;
        task
    }

    /// Every kill-history row of the instance through `node` (newest first), all pages.
    pub async fn history(&self, node: &Node, token: &str) -> Vec<Value> {
        let mut rows = Vec::new();
        for page in 1.. {
            let h = node
                .expect(
                    token,
                    Method::GET,
                    &format!(
                        "{}/auto-flow/query-kill-process-history?page_size=100&page_num={page}",
                        self.path()
                    ),
                    None,
                    200,
                )
                .await;
            let got = h["killed_sessions"]
                .as_array()
                .unwrap_or_else(|| panic!("no killed_sessions: {h}"))
                .clone();
            let total = h["total_count"].as_u64().unwrap_or(0) as usize;
            let empty = got.is_empty();
            rows.extend(got);
            if empty || rows.len() >= total {
                return rows;
            }
        }
        unreachable!()
    }

    /// The history rows of `session`, once there are some or after `within`.
    pub async fn rows_of(
        &self,
        node: &Node,
        token: &str,
        session: u64,
        within: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + within;
        loop {
            let rows: Vec<Value> = self
                .history(node, token)
                .await
                .into_iter()
                .filter(|r| r["session_id"] == json!(session))
                .collect();
            if !rows.is_empty() || Instant::now() > deadline {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The `replica` (*ext*) of a history row; panics if it has none.
pub fn replica_of(row: &Value) -> &str {
    row["replica"]
        .as_str()
        .unwrap_or_else(|| panic!("a history row without `replica`: {row}"))
}

/// How many rows each replica recorded.
pub fn rows_per_replica(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for row in rows {
        *out.entry(replica_of(row).to_owned()).or_default() += 1;
    }
    out
}
