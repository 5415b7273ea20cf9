//! PostgreSQL set-ups for DAS's two operations on a throwaway cluster: an `in03` instance whose
//! default db user is a killer role while an older, powerless db user is registered too
//! ([`pg_instance`]: an operation that ignored the default would act as that one and see or
//! kill nothing), fresh roles and databases, and client backends — idle, idle in a transaction
//! (open or aborted), or running `pg_sleep` — over TCP or the unix socket, each checked on the
//! server (`pg_stat_activity`) without touching its connection.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};

use crate::helpers::app::TestApp;
use crate::helpers::fixtures::KillCtx;
use crate::support::postgres::{Postgres, quote_ident, quote_literal, unique_name};

/// The password of every role made here.
pub const ROLE_PASSWORD: &str = "pgops-pw";
/// What a db user needs to see every backend and signal every non-superuser one.
pub const SEES_AND_SIGNALS: &str = "IN ROLE pg_read_all_stats, pg_signal_backend";

/// A new project with an `in03` instance on `pg` (`protected_users`: `protected`) and two db
/// users: first a role without any privilege (the oldest, so the default until one is named),
/// then a role with `attributes`, which is then named the instance's `default_db_user_id`.
/// The context's db user and killer are the second.
pub async fn pg_instance(
    app: &TestApp,
    pg: &Postgres,
    attributes: &str,
    protected: &[&str],
) -> KillCtx {
    let project = app.create_project(&unique_name("p")).await;
    let instance = app
        .create_instance(
            &project,
            json!({"name": "pg", "datastore_type": "postgresql", "host": pg.host(),
                   "port": pg.port(), "protected_users": protected}),
        )
        .await;
    assert!(instance.ends_with("in03"), "{instance}");
    let register = |role: String| {
        let path = format!("/v3/{project}/instances/{instance}/db-users");
        async move {
            let body = json!({"db_username": role, "db_user_password": ROLE_PASSWORD,
                              "datastore_type": "PostgreSQL"});
            let reg = app.expect(Method::POST, &path, Some(body), 200).await;
            reg["db_user_id"].as_str().unwrap().to_owned()
        }
    };
    register(new_role(pg, "pgweak", "")).await;
    let killer = new_role(pg, "pgkiller", attributes);
    let db_user_id = register(killer.clone()).await;
    let instance_path = format!("/v3/{project}/instances/{instance}");
    let body = json!({"default_db_user_id": db_user_id});
    app.expect(Method::PUT, &instance_path, Some(body), 200)
        .await;
    let shown = app.expect(Method::GET, &instance_path, None, 200).await;
    assert_eq!(
        shown["instance"]["default_db_user_id"],
        db_user_id.as_str(),
        "{shown}"
    );
    KillCtx {
        project,
        instance,
        db_user_id,
        killer,
    }
}

/// A fresh login role named after `prefix` with [`ROLE_PASSWORD`] and `attributes`.
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

/// How a backend's client reaches the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// 127.0.0.1: listed as `127.0.0.1:<client port>`.
    Tcp,
    /// The unix socket: listed as `local`.
    Socket,
}

type Running = tokio::task::JoinHandle<Result<(), sqlx::Error>>;

/// One client backend; `label` names it in assertion messages.
pub struct Backend {
    pub pid: i32,
    pub label: String,
    conn: Option<PgConnection>,
    running: Option<Running>,
}

/// A connection of `role` (with [`ROLE_PASSWORD`], or the bootstrap superuser's) to `database`.
pub async fn connect(pg: &Postgres, role: &str, database: &str, via: Via) -> PgConnection {
    let password = if role == crate::support::postgres::SUPERUSER {
        crate::support::postgres::SUPERUSER_PASSWORD
    } else {
        ROLE_PASSWORD
    };
    let opts = pg.connect_options(role, password, database);
    let opts = match via {
        Via::Tcp => opts,
        Via::Socket => opts.socket(pg.socket_dir()),
    };
    tokio::time::timeout(Duration::from_secs(10), PgConnection::connect_with(&opts))
        .await
        .unwrap_or_else(|_| panic!("{role} connecting {via:?} timed out"))
        .unwrap_or_else(|e| panic!("{role} connects {via:?}: {e}"))
}

async fn pid_of(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .expect("pg_backend_pid()")
}

/// `state|wait_event_type:wait_event` of backend `pid` on the server (empty once it is gone).
fn server_state(pg: &Postgres, pid: i32) -> String {
    pg.sql(&format!(
        "SELECT state || '|' || coalesce(wait_event_type || ':' || wait_event, '') \
         FROM pg_stat_activity WHERE pid = {pid}"
    ))
}

/// Waits until the server shows `pid` in `state` (`idle`, `active|Timeout:PgSleep`, …: the
/// text before the `|` alone when `expected` has none).
async fn wait_for_state(pg: &Postgres, pid: i32, expected: &str, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let now = server_state(pg, pid);
        let shown = if expected.contains('|') {
            now.as_str()
        } else {
            now.split('|').next().unwrap_or_default()
        };
        if shown == expected {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{label} (pid {pid}) never reached {expected:?}: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A backend that ran `statements` and now waits for its client in `state`.
async fn waiting_after(
    pg: &Postgres,
    role: &str,
    database: &str,
    via: Via,
    statements: &[&str],
    state: &str,
    label: &str,
) -> Backend {
    let mut conn = connect(pg, role, database, via).await;
    let pid = pid_of(&mut conn).await;
    for sql in statements {
        // An aborted transaction is what some of them are for.
        let _ = conn.execute(AssertSqlSafe(*sql)).await;
    }
    wait_for_state(pg, pid, state, label).await;
    Backend {
        pid,
        label: label.to_owned(),
        conn: Some(conn),
        running: None,
    }
}

/// An idle backend (state `idle`).
pub async fn idle(pg: &Postgres, role: &str, database: &str, via: Via, label: &str) -> Backend {
    waiting_after(pg, role, database, via, &[], "idle", label).await
}

/// A backend idle in an open transaction whose last statement is `SELECT '<label>'`.
pub async fn in_transaction(
    pg: &Postgres,
    role: &str,
    database: &str,
    via: Via,
    label: &str,
) -> Backend {
    let select = format!("SELECT {}", quote_literal(label));
    let state = "idle in transaction";
    waiting_after(pg, role, database, via, &["BEGIN", &select], state, label).await
}

/// A backend idle in a transaction that a failed statement aborted.
pub async fn in_aborted_transaction(
    pg: &Postgres,
    role: &str,
    database: &str,
    via: Via,
    label: &str,
) -> Backend {
    let fail = format!("SELECT 1 / 0, {}", quote_literal(label));
    let state = "idle in transaction (aborted)";
    waiting_after(pg, role, database, via, &["BEGIN", &fail], state, label).await
}

/// The statement a [`sleeping`] backend runs.
pub fn sleep_sql(label: &str) -> String {
    format!("SELECT pg_sleep(60), {}", quote_literal(label))
}

/// A backend running [`sleep_sql`]; returns once the server shows it sleeping.
pub async fn sleeping(pg: &Postgres, role: &str, database: &str, via: Via, label: &str) -> Backend {
    let mut conn = connect(pg, role, database, via).await;
    let pid = pid_of(&mut conn).await;
    let sql = sleep_sql(label);
    let running = tokio::spawn(async move {
        conn.execute(AssertSqlSafe(sql)).await?;
        Ok(())
    });
    wait_for_state(pg, pid, "active|Timeout:PgSleep", label).await;
    Backend {
        pid,
        label: label.to_owned(),
        conn: None,
        running: Some(running),
    }
}

impl Backend {
    pub fn id(&self) -> u64 {
        u64::try_from(self.pid).unwrap()
    }

    /// On the server, and a running statement still runs. Does not touch the connection.
    pub fn alive(&self, pg: &Postgres) -> bool {
        pg.alive(self.pid) && self.running.as_ref().is_none_or(|r| !r.is_finished())
    }

    /// Runs `sql` on a waiting backend's connection and waits until it waits again in `state`.
    pub async fn run(&mut self, pg: &Postgres, sql: &str, state: &str) {
        let conn = self.conn.as_mut().expect("a waiting backend");
        conn.execute(AssertSqlSafe(sql))
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.label));
        wait_for_state(pg, self.pid, state, &self.label).await;
    }

    /// [`Backend::alive`], and a waiting connection still answers.
    pub async fn still_works(&mut self, pg: &Postgres) -> bool {
        if !self.alive(pg) {
            return false;
        }
        match &mut self.conn {
            Some(conn) => usable(conn).await,
            None => true,
        }
    }

    /// Left the server (waiting up to 5 s), and its client saw the connection end: a running
    /// statement failed, a waiting connection no longer answers.
    pub async fn died(&mut self, pg: &Postgres) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        while pg.alive(self.pid) {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if let Some(conn) = &mut self.conn {
            return !usable(conn).await;
        }
        let running = self.running.take().expect("a backend waits or runs");
        let result = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("a terminated statement ends")
            .unwrap();
        result.is_err()
    }
}

async fn usable(conn: &mut PgConnection) -> bool {
    let ping = tokio::time::timeout(Duration::from_secs(5), conn.ping()).await;
    matches!(ping, Ok(Ok(())))
}

/// Terminates what is left of `backends` (as the bootstrap superuser).
pub fn end_all<'a>(pg: &Postgres, backends: impl IntoIterator<Item = &'a Backend>) {
    let pids: Vec<String> = backends.into_iter().map(|b| b.pid.to_string()).collect();
    if !pids.is_empty() {
        pg.sql(&format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE pid IN ({})",
            pids.join(",")
        ));
    }
}

/// Pids of the backends that are not clients (`backend_type` other than `client backend`).
pub fn background_pids(pg: &Postgres) -> Vec<i32> {
    pg.sql(
        "SELECT pid FROM pg_stat_activity \
         WHERE backend_type IS DISTINCT FROM 'client backend' ORDER BY pid",
    )
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

/// `backend_type` of `pid`, `None` once it is gone.
pub fn backend_type(pg: &Postgres, pid: i32) -> Option<String> {
    let out = pg.sql(&format!(
        "SELECT backend_type FROM pg_stat_activity WHERE pid = {pid}"
    ));
    (!out.is_empty()).then_some(out)
}
