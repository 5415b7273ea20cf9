//! PostgreSQL set-ups on a throwaway cluster (`support/postgres.rs`): an `in03` instance with a
//! killer role registered as its db user (`pg_ctx`, a [`KillCtx`] like MariaDB's), fresh roles
//! and databases, and victim backends — idle, in an open transaction, or running a statement —
//! over TCP or the unix socket, with checks on the server of whether each still lives.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Executor, PgConnection};

use super::app::TestApp;
use super::fixtures::KillCtx;
use crate::support::postgres::{Postgres, quote_ident, quote_literal, unique_name};

/// The password of every role these helpers create.
pub const ROLE_PASSWORD: &str = "role-pw";

/// Registers a fresh killer role created with `attributes` (e.g. `"SUPERUSER"`, `"IN ROLE
/// pg_read_all_stats, pg_signal_backend"`, `""`) as the db user of a new PostgreSQL instance on
/// `pg` whose `protected_users` are `protected`.
pub async fn pg_ctx(app: &TestApp, pg: &Postgres, attributes: &str, protected: &[&str]) -> KillCtx {
    let project = app.create_project(&unique_name("p")).await;
    let instance = app
        .create_instance(
            &project,
            json!({"name": "pg", "datastore_type": "postgresql", "host": pg.host(),
                   "port": pg.port(), "protected_users": protected}),
        )
        .await;
    assert!(instance.ends_with("in03"), "{instance}");
    let killer = new_role(pg, "killer", attributes);
    let reg = app
        .expect(
            Method::POST,
            &format!("/v3/{project}/instances/{instance}/db-users"),
            Some(
                json!({"db_username": killer, "db_user_password": ROLE_PASSWORD,
                        "datastore_type": "postgresql"}),
            ),
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

/// A fresh login role named after `prefix`, with password [`ROLE_PASSWORD`].
pub fn new_role(pg: &Postgres, prefix: &str, attributes: &str) -> String {
    let name = unique_name(prefix);
    pg.create_role(&name, ROLE_PASSWORD, attributes);
    name
}

/// A fresh database named after `prefix`.
pub fn new_database(pg: &Postgres, prefix: &str) -> String {
    let name = unique_name(prefix);
    pg.sql(&format!("CREATE DATABASE {}", quote_ident(&name)));
    name
}

/// Waits up to 5 s until `user` has exactly one backend, its lifeline (the registration's
/// login check leaves a moment after it answered), and returns its pid.
pub async fn lifeline_of(pg: &Postgres, user: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let [lifeline] = pg.pids(user)[..] {
            assert_eq!(
                application_name(pg, lifeline).as_deref(),
                Some("dbkill"),
                "{user}'s only backend is not dbkill's"
            );
            return lifeline;
        }
        assert!(
            Instant::now() < deadline,
            "{user} keeps backends: {:?}",
            pg.pids(user)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn application_name(pg: &Postgres, pid: i32) -> Option<String> {
    let out = pg.sql(&format!(
        "SELECT application_name FROM pg_stat_activity WHERE pid = {pid}"
    ));
    (!out.is_empty()).then_some(out)
}

/// `backend_type` of backend `pid` (of any type), `None` once it is gone.
pub fn backend_type(pg: &Postgres, pid: i32) -> Option<String> {
    let out = pg.sql(&format!(
        "SELECT backend_type FROM pg_stat_activity WHERE pid = {pid}"
    ));
    (!out.is_empty()).then_some(out)
}

/// Pids of the backends of `backend_type`, ascending.
pub fn pids_of_type(pg: &Postgres, backend_type: &str) -> Vec<i32> {
    pg.sql(&format!(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = {} ORDER BY pid",
        quote_literal(backend_type)
    ))
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

/// Waits up to 5 s for backend `pid` (of any type) to leave the server; true if it did.
pub async fn left_server(pg: &Postgres, pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while backend_type(pg, pid).is_some() {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}

/// How a victim reaches the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// 127.0.0.1 over TCP: listed as `127.0.0.1:<port>`.
    Tcp,
    /// The unix socket: listed as `local`.
    Socket,
}

/// A connection of `user` (password [`ROLE_PASSWORD`]) to `database` with `application_name`.
pub async fn connect_as(
    pg: &Postgres,
    user: &str,
    database: &str,
    via: Via,
    application_name: &str,
) -> PgConnection {
    connect_with_password(pg, user, ROLE_PASSWORD, database, via, application_name).await
}

/// [`connect_as`] with another password (the bootstrap superuser's, say).
pub async fn connect_with_password(
    pg: &Postgres,
    user: &str,
    password: &str,
    database: &str,
    via: Via,
    application_name: &str,
) -> PgConnection {
    let opts = pg
        .connect_options(user, password, database)
        .application_name(application_name);
    let opts: PgConnectOptions = match via {
        Via::Tcp => opts,
        Via::Socket => opts.socket(pg.socket_dir()),
    };
    tokio::time::timeout(Duration::from_secs(10), opts.connect())
        .await
        .unwrap_or_else(|_| panic!("{user} connecting {via:?} timed out"))
        .unwrap_or_else(|e| panic!("{user} connects {via:?} to {database}: {e}"))
}

type Running = tokio::task::JoinHandle<(PgConnection, Result<(), sqlx::Error>)>;

/// One victim backend; `label` names it in assertion messages.
pub struct PgVictim {
    pub pid: i32,
    pub label: String,
    conn: Option<PgConnection>,
    running: Option<Running>,
}

/// The pid of `conn`'s backend.
pub async fn pid_of(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .expect("pg_backend_pid()")
}

impl PgVictim {
    /// A victim over an open connection: runs `statements`, then stays idle on it.
    pub async fn idle_after(mut conn: PgConnection, statements: &[&str], label: &str) -> PgVictim {
        for sql in statements {
            conn.execute(AssertSqlSafe(*sql))
                .await
                .unwrap_or_else(|e| panic!("{label}: {sql}: {e}"));
        }
        PgVictim {
            pid: pid_of(&mut conn).await,
            label: label.to_owned(),
            conn: Some(conn),
            running: None,
        }
    }

    /// A victim over an open connection, running `sql`; returns once the server shows it
    /// active with wait event `wait_event` (e.g. `PgSleep`).
    pub async fn running(
        pg: &Postgres,
        mut conn: PgConnection,
        sql: &str,
        wait_event: &str,
        label: &str,
    ) -> PgVictim {
        let pid = pid_of(&mut conn).await;
        let statement = sql.to_owned();
        let running = tokio::spawn(async move {
            let r = conn.execute(AssertSqlSafe(statement)).await.map(|_| ());
            (conn, r)
        });
        let query = format!(
            "SELECT state || ':' || coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = {pid}"
        );
        let want = format!("active:{wait_event}");
        let deadline = Instant::now() + Duration::from_secs(10);
        while pg.sql(&query) != want {
            assert!(
                Instant::now() < deadline,
                "{label}: `{sql}` did not reach {want:?}: {:?}",
                pg.sql(&query)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        PgVictim {
            pid,
            label: label.to_owned(),
            conn: None,
            running: Some(running),
        }
    }

    /// An idle backend of `user` in `database`.
    pub async fn idle(pg: &Postgres, user: &str, database: &str, via: Via, label: &str) -> Self {
        let conn = connect_as(pg, user, database, via, "victim").await;
        PgVictim::idle_after(conn, &[], label).await
    }

    /// A backend of `user` in `database` idle in an open transaction.
    pub async fn in_transaction(pg: &Postgres, user: &str, database: &str, label: &str) -> Self {
        let conn = connect_as(pg, user, database, Via::Tcp, "victim").await;
        PgVictim::idle_after(conn, &["BEGIN", "SELECT txid_current()"], label).await
    }

    /// A backend of `user` in `database` running `SELECT pg_sleep(600)` (its text names it).
    pub async fn sleeping(
        pg: &Postgres,
        user: &str,
        database: &str,
        via: Via,
        label: &str,
    ) -> Self {
        let conn = connect_as(pg, user, database, via, "victim").await;
        PgVictim::running(pg, conn, &sleep_sql(label), "PgSleep", label).await
    }

    /// A client backend with this pid is on the server, and a running statement still runs.
    /// Does not touch the connection.
    pub fn alive(&self, pg: &Postgres) -> bool {
        pg.alive(self.pid) && self.running.as_ref().is_none_or(|r| !r.is_finished())
    }

    /// [`PgVictim::alive`], and an idle connection still answers.
    pub async fn still_works(&mut self, pg: &Postgres) -> bool {
        if !self.alive(pg) {
            return false;
        }
        match &mut self.conn {
            Some(c) => usable(c).await,
            None => true,
        }
    }

    /// Left the server (waiting up to 5 s), and its client saw the connection end: a running
    /// statement failed, an idle connection no longer answers.
    pub async fn died(&mut self, pg: &Postgres) -> bool {
        if !left_server(pg, self.pid).await {
            return false;
        }
        if let Some(c) = &mut self.conn {
            return !usable(c).await;
        }
        let running = self.running.take().expect("a victim is idle or running");
        let (_, result) = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("a terminated statement ends")
            .unwrap();
        result.is_err()
    }
}

/// The statement [`PgVictim::sleeping`] runs.
pub fn sleep_sql(label: &str) -> String {
    format!("SELECT pg_sleep(600), {}", quote_literal(label))
}

/// Whether a connection still works: a terminated one fails its next statement.
pub async fn usable(conn: &mut PgConnection) -> bool {
    matches!(
        tokio::time::timeout(
            Duration::from_secs(5),
            sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(conn)
        )
        .await,
        Ok(Ok(1))
    )
}

/// The pids of `victims`, as the kill reports' ids.
pub fn pids<'a>(victims: impl IntoIterator<Item = &'a PgVictim>) -> BTreeSet<u64> {
    victims.into_iter().map(|v| v.pid as u64).collect()
}

/// Pids as KillSession's `process_ids` takes them: decimal strings.
pub fn process_ids(pids: &[i32]) -> Value {
    json!(pids.iter().map(i32::to_string).collect::<Vec<_>>())
}

/// Which of `pids` the server lists now, of any backend type (one query).
pub fn listed(pg: &Postgres, pids: &BTreeSet<u64>) -> BTreeSet<u64> {
    if pids.is_empty() {
        return BTreeSet::new();
    }
    let list: Vec<String> = pids.iter().map(u64::to_string).collect();
    pg.sql(&format!(
        "SELECT pid FROM pg_stat_activity WHERE pid IN ({})",
        list.join(",")
    ))
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

/// Waits until the server lists none of `pids`, at most until `deadline`; returns those still
/// listed then (empty: all gone in time).
pub async fn wait_gone(pg: &Postgres, pids: &BTreeSet<u64>, deadline: Instant) -> BTreeSet<u64> {
    loop {
        let left = listed(pg, pids);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Terminates whatever of `victims` is still on the server (as the bootstrap superuser), so
/// no statement outlives its test on a shared cluster.
pub fn end_all<'a>(pg: &Postgres, victims: impl IntoIterator<Item = &'a PgVictim>) {
    let left = listed(pg, &pids(victims));
    if left.is_empty() {
        return;
    }
    let list: Vec<String> = left.iter().map(u64::to_string).collect();
    pg.sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN ({})",
        list.join(",")
    ));
}

/// `skipped` as id → reason.
pub fn skipped(report: &Value) -> BTreeMap<u64, String> {
    report["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("no skipped list: {report}"))
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().parse().unwrap(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// `pids`, each skipped for `reason`.
pub fn all_skipped(pids: impl IntoIterator<Item = u64>, reason: &str) -> BTreeMap<u64, String> {
    pids.into_iter().map(|p| (p, reason.to_owned())).collect()
}

/// The role attributes of a db user that sees and may signal every non-superuser backend.
pub const SEES_AND_SIGNALS: &str = "IN ROLE pg_read_all_stats, pg_signal_backend";

/// A fresh login role without attributes, password [`ROLE_PASSWORD`].
pub fn new_pg_victim(pg: &Postgres, prefix: &str) -> String {
    new_role(pg, prefix, "")
}

/// An idle backend of `user` (password [`ROLE_PASSWORD`]) in `database`: its connection and pid.
pub async fn pg_idle(pg: &Postgres, user: &str, database: &str) -> (PgConnection, i32) {
    let mut conn = pg.connect(user, ROLE_PASSWORD, database).await;
    let pid = pid_of(&mut conn).await;
    (conn, pid)
}

/// The task of a victim running `SELECT pg_sleep(600)`: it ends with the statement's result.
pub type PgSleeper = tokio::task::JoinHandle<(PgConnection, Result<(), sqlx::Error>)>;

/// A backend of `user` in `database` running `SELECT pg_sleep(600)`, which the server shows
/// `active` and waiting on `Timeout:PgSleep` once this returns.
pub async fn pg_sleeping(pg: &Postgres, user: &str, database: &str) -> (PgSleeper, i32) {
    let (mut conn, pid) = pg_idle(pg, user, database).await;
    let task = tokio::spawn(async move {
        let r = sqlx::query("SELECT pg_sleep(600)")
            .execute(&mut conn)
            .await
            .map(drop);
        (conn, r)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let state = format!(
        "SELECT state || ':' || coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = {pid}"
    );
    while pg.sql(&state) != "active:PgSleep" {
        assert!(
            Instant::now() < deadline,
            "backend {pid} did not start pg_sleep"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (task, pid)
}
