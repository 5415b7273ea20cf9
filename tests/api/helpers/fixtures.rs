//! Set-ups on a real server: a project with an instance and a fresh account (`DbUserSetup`), a
//! killer account registered as a db user (`KillCtx`, with a fresh app: `KillSetup`), victim
//! sessions of named users on named databases, and checks that a connection really died.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{Value, json};

use super::app::{Resp, TestApp, spawn_app};
use crate::support::mariadb::{MariaDb, shared, unique_name};

/// A project with a MariaDB instance pointing at the shared test server, and a fresh account on
/// that server that is not registered yet.
pub struct DbUserSetup {
    pub project: String,
    pub instance: String,
    pub username: String,
    pub password: String,
}

impl DbUserSetup {
    pub async fn new(app: &TestApp) -> DbUserSetup {
        let db = shared();
        let username = unique_name("reg");
        let password = format!("pw-{}", unique_name("s"));
        db.sql(&format!(
            "CREATE USER '{username}'@'%' IDENTIFIED BY '{password}'"
        ));
        let project = app.create_project(&unique_name("p")).await;
        let instance = app
            .create_instance(
                &project,
                json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(), "port": db.port()}),
            )
            .await;
        DbUserSetup {
            project,
            instance,
            username,
            password,
        }
    }

    /// `/v3/{project}/instances/{instance}/db-users`.
    pub fn db_users_path(&self) -> String {
        format!("/v3/{}/instances/{}/db-users", self.project, self.instance)
    }

    /// The body that registers the account with its right password.
    pub fn registration(&self) -> Value {
        json!({"db_username": self.username, "db_user_password": self.password, "datastore_type": "MySQL"})
    }
}

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

    /// KillSession as `token`, with `extra` merged into `{"db_user_id": …}`; whatever it answers.
    pub async fn kill_as(&self, app: &TestApp, token: &str, extra: Value) -> Resp {
        let mut body = json!({"db_user_id": self.db_user_id});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        app.call(Method::DELETE, &self.process_path(), token, Some(body))
            .await
    }

    /// KillSession as the admin with `extra` merged into `{"db_user_id": …}`; expects 200.
    pub async fn kill(&self, app: &TestApp, extra: Value) -> Value {
        let r = self.kill_as(app, &app.admin_token, extra).await;
        assert_eq!(r.status.as_u16(), 200, "{}: {}", r.request, r.text);
        r.body
    }

    /// The kill history of this instance as the admin, with `query` (may be empty); expects 200.
    pub async fn history(&self, app: &TestApp, query: &str) -> Value {
        let mut path = self.history_path();
        if !query.is_empty() {
            path = format!("{path}?{query}");
        }
        app.expect(Method::GET, &path, None, 200).await
    }

    /// The history (as [`KillCtx::history`]) once it holds `count` kills, or after 2 s: the
    /// outcome of a kill nobody waits for (a rule's) is recorded a moment after the session
    /// has left the server.
    pub async fn history_of(&self, app: &TestApp, count: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(2);
        loop {
            let h = self.history(app, "").await;
            if h["total_count"] == json!(count) || Instant::now() > deadline {
                return h;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `kill_time` (Unix ms) of every session the history shows killed on this instance.
    pub async fn kill_times(&self, app: &TestApp) -> Vec<i64> {
        let history = self.history(app, "").await;
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
    killer_ctx_via(app, db, db.port(), grants, protected).await
}

/// [`killer_ctx`] with an instance that dbkill reaches on `port` of the same host (a proxy in
/// front of `db`, say).
pub async fn killer_ctx_via(
    app: &TestApp,
    db: &MariaDb,
    port: u16,
    grants: &str,
    protected: &[&str],
) -> KillCtx {
    let project = app.create_project(&unique_name("p")).await;
    let instance = app
        .create_instance(
            &project,
            json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(),
                   "port": port, "protected_users": protected}),
        )
        .await;
    let (db_user_id, killer) = register_killer(app, db, &project, &instance, grants).await;
    KillCtx {
        project,
        instance,
        db_user_id,
        killer,
    }
}

/// Creates a fresh account with `grants` on `db` and registers it as a db user of `instance`;
/// returns its db user id and account name.
pub async fn register_killer(
    app: &TestApp,
    db: &MariaDb,
    project: &str,
    instance: &str,
    grants: &str,
) -> (String, String) {
    let killer = unique_name("killer");
    db.sql(&format!(
        "CREATE USER '{killer}'@'%' IDENTIFIED BY 'killer-pw'; GRANT {grants} ON *.* TO '{killer}'@'%'"
    ));
    let reg = app
        .expect(
            Method::POST,
            &format!("/v3/{project}/instances/{instance}/db-users"),
            Some(json!({"db_username": killer, "db_user_password": "killer-pw", "datastore_type": "MySQL"})),
            200,
        )
        .await;
    (reg["db_user_id"].as_str().unwrap().to_owned(), killer)
}

/// Waits up to 5 s until `user` has exactly one session on the server, its lifeline
/// (registration opens it; the login check's own connection leaves), and returns its id.
pub async fn wait_until_only_the_lifeline(db: &MariaDb, user: &str) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let [lifeline] = db.processlist_ids(user)[..] {
            return lifeline;
        }
        assert!(
            Instant::now() < deadline,
            "{user} keeps sessions: {:?}",
            db.processlist_ids(user)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The set-up of most kill tests: a fresh service, and a killer with `grants` registered as a db
/// user of an instance on the shared server.
pub struct KillSetup {
    pub app: TestApp,
    pub db: &'static MariaDb,
    pub ctx: KillCtx,
}

impl KillSetup {
    pub async fn new(grants: &str) -> KillSetup {
        let app = spawn_app().await;
        let db = shared();
        let ctx = killer_ctx(&app, db, grants, &[]).await;
        KillSetup { app, db, ctx }
    }
}

/// A fresh victim account named after `prefix` (see [`create_victim_user`]).
pub fn new_victim(db: &MariaDb, prefix: &str) -> String {
    let user = unique_name(prefix);
    create_victim_user(db, &user);
    user
}

/// A user that may use every database (so victims can sit in any schema).
pub fn create_victim_user(db: &MariaDb, user: &str) {
    db.sql(&format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY '{VICTIM_PASSWORD}'; GRANT SELECT ON *.* TO '{user}'@'%'"
    ));
}

/// A fresh database named after `prefix`.
pub fn new_database(db: &MariaDb, prefix: &str) -> String {
    let name = unique_name(prefix);
    db.sql(&format!("CREATE DATABASE `{name}`"));
    name
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
    // Wait until the server shows the statement sleeping (before that it is `Executing`).
    for _ in 0..200 {
        let state = db.sql(&format!(
            "SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = {id}"
        ));
        if state == "User sleep" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (task, id)
}

/// Whether a connection still works: a killed one fails its next statement.
pub async fn usable(conn: &mut Conn) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(5),
            conn.query_first::<i64, _>("SELECT 1")
        )
        .await,
        Ok(Ok(Some(1)))
    )
}

/// Waits up to 5 s for the server to stop listing `id`; true if it did.
pub async fn left_server(db: &MariaDb, id: u64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while db.alive(id) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// The session ids of every row of a kill-history answer.
pub fn history_ids(history: &Value) -> BTreeSet<u64> {
    history["killed_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["session_id"].as_u64().unwrap())
        .collect()
}

/// Session ids as KillSession's `process_ids` takes them: decimal strings.
pub fn process_ids<'a>(ids: impl IntoIterator<Item = &'a u64>) -> Value {
    json!(ids.into_iter().map(u64::to_string).collect::<Vec<_>>())
}

/// The ids of a list of sessions (`processes`, `killed`, `skipped`, `failed`), ascending.
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

/// A victim's `SELECT SLEEP(3600)` running in a task of its own, and its connection id.
pub type Sleeper = (tokio::task::JoinHandle<Result<(), mysql_async::Error>>, u64);

/// `n` victims of `user`, each in `SELECT SLEEP(3600)` (state `User sleep`) once this returns.
pub async fn sleepers(db: &MariaDb, user: &str, n: usize) -> Vec<Sleeper> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (mut conn, id) = idle(db, user, None).await;
        let task = tokio::spawn(async move { conn.query_drop("SELECT SLEEP(3600)").await });
        out.push((task, id));
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let count = format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{user}' AND STATE = 'User sleep'"
    );
    while db.sql(&count) != n.to_string() {
        assert!(Instant::now() < deadline, "{n} sleepers did not start");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    out
}
