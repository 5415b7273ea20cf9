//! Shared set-up for the session tests: a killer account registered as a db user, victim
//! sessions of named users on named databases, and checks that a connection really died.

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{Value, json};

use crate::app::TestApp;
use crate::support::mariadb::{MariaDb, unique_name};

pub const VICTIM_PASSWORD: &str = "victim-pw";

pub struct KillCtx {
    pub project: String,
    pub instance: String,
    pub db_user_id: String,
    pub killer: String,
}

impl KillCtx {
    pub fn process_path(&self) -> String {
        format!("/v3/{}/instances/{}/process", self.project, self.instance)
    }
    pub fn processes_path(&self) -> String {
        format!("/v3/{}/instances/{}/processes", self.project, self.instance)
    }
    pub fn history_path(&self) -> String {
        format!(
            "/v3/{}/instances/{}/auto-flow/query-kill-process-history",
            self.project, self.instance
        )
    }

    /// KillSession as the admin with `extra` merged into `{"db_user_id": …}`; expects 200.
    pub async fn kill(&self, app: &TestApp, extra: Value) -> Value {
        let mut body = json!({"db_user_id": self.db_user_id});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.expect(Method::DELETE, &self.process_path(), Some(body), 200)
            .await
    }

    /// `kill_time` (Unix ms) of every session the history shows killed on this instance.
    pub async fn kill_times(&self, app: &TestApp) -> Vec<i64> {
        let history = app
            .expect(Method::GET, &self.history_path(), None, 200)
            .await;
        history["killed_sessions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["kill_time"].as_i64().unwrap())
            .collect()
    }

    pub async fn list(&self, app: &TestApp, query: &str) -> Value {
        let path = format!(
            "{}?db_user_id={}&{query}",
            self.processes_path(),
            self.db_user_id
        );
        app.expect(Method::GET, &path, None, 200).await
    }
}

/// Registers `grants` for a fresh killer account on `db` as a db user of a new instance.
pub async fn killer_ctx(app: &TestApp, db: &MariaDb, grants: &str, protected: &[&str]) -> KillCtx {
    let killer = unique_name("killer");
    db.sql(&format!(
        "CREATE USER '{killer}'@'%' IDENTIFIED BY 'killer-pw'; GRANT {grants} ON *.* TO '{killer}'@'%'"
    ));
    let project = app.create_project(&unique_name("p")).await;
    let instance = app
        .create_instance(
            &project,
            json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(),
                   "port": db.port(), "protected_users": protected}),
        )
        .await;
    let reg = app
        .expect(
            Method::POST,
            &format!("/v3/{project}/instances/{instance}/db-users"),
            Some(json!({"db_username": killer, "db_user_password": "killer-pw", "datastore_type": "MySQL"})),
            200,
        )
        .await;
    KillCtx {
        project,
        instance,
        db_user_id: reg["db_user_id"].as_str().unwrap().to_owned(),
        killer,
    }
}

/// A user that may use every database (so victims can sit in any schema).
pub fn create_victim_user(db: &MariaDb, user: &str) {
    db.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{VICTIM_PASSWORD}'; GRANT SELECT ON *.* TO '{user}'@'%'"
    ));
}

pub fn create_database(db: &MariaDb, name: &str) {
    db.sql(&format!("CREATE DATABASE `{name}`"));
}

/// An idle victim connection; returns it with its connection id.
pub async fn idle(db: &MariaDb, user: &str, database: Option<&str>) -> (Conn, u64) {
    let conn = db
        .try_connect(user, VICTIM_PASSWORD, database)
        .await
        .expect("victim connects");
    let id = u64::from(conn.id());
    (conn, id)
}

/// A victim running `SELECT SLEEP(100)`; the task ends with the statement's result.
pub async fn sleeping(
    db: &MariaDb,
    user: &str,
    database: Option<&str>,
) -> (
    tokio::task::JoinHandle<(Conn, Result<(), mysql_async::Error>)>,
    u64,
) {
    let (mut conn, id) = idle(db, user, database).await;
    let task = tokio::spawn(async move {
        let r = conn.query_drop("SELECT SLEEP(100)").await;
        (conn, r)
    });
    // Wait until the server shows the statement running.
    for _ in 0..200 {
        let state = db.sql(&format!(
            "SELECT COMMAND FROM information_schema.PROCESSLIST WHERE ID = {id}"
        ));
        if state == "Query" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    (task, id)
}

/// Whether a connection still works: a killed one fails its next statement.
pub async fn usable(conn: &mut Conn) -> bool {
    matches!(
        tokio::time::timeout(
            std::time::Duration::from_secs(5),
            conn.query_first::<i64, _>("SELECT 1")
        )
        .await,
        Ok(Ok(Some(1)))
    )
}

pub fn ids_of(list: &Value) -> Vec<u64> {
    let mut ids: Vec<u64> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect();
    ids.sort_unstable();
    ids
}
