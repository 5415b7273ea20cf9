//! PostgreSQL set-ups for the tests under `pg/`: an `in03` instance on a throwaway cluster with
//! a killer role registered as its db user (`pg_ctx`), victim roles and databases, victim
//! sessions in every state a kill meets (idle, running `pg_sleep`, idle in a transaction,
//! waiting on a lock), and what the server says about them. Assertions read `pg_stat_activity`
//! through the harness (`support/postgres.rs`), never only dbkill's answer.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection};
use tokio::task::JoinHandle;

use super::app::TestApp;
use super::fixtures::KillCtx;
use crate::support::postgres::{Postgres, quote_ident, unique_name};

/// The password of every victim role.
pub const VICTIM_PASSWORD: &str = "victim-pw";
/// The password of every killer role (the db users dbkill logs in as).
pub const KILLER_PASSWORD: &str = "killer-pw";
/// What a killer needs to see and signal every non-superuser session.
pub const SIGNAL_AND_READ: &str = "IN ROLE pg_signal_backend, pg_read_all_stats";

/// A project with an `in03` instance pointing at `pg` (through `port`, its own or a proxy's).
pub async fn pg_instance(
    app: &TestApp,
    pg: &Postgres,
    port: u16,
    protected: &[&str],
) -> (String, String) {
    let project = app.create_project(&unique_name("p")).await;
    let instance = app
        .create_instance(
            &project,
            json!({"name": "pg", "datastore_type": "postgresql", "host": pg.host(),
                   "port": port, "protected_users": protected}),
        )
        .await;
    assert!(instance.ends_with("in03"), "{instance}");
    (project, instance)
}

/// `/v3/{project}/instances/{instance}/db-users`.
pub fn db_users_path(project: &str, instance: &str) -> String {
    format!("/v3/{project}/instances/{instance}/db-users")
}

/// Creates a fresh role with `attributes` (e.g. [`SIGNAL_AND_READ`], `"SUPERUSER"`) and
/// registers it as a db user of `instance`; returns its db user id and role name.
pub async fn register_pg_killer(
    app: &TestApp,
    pg: &Postgres,
    project: &str,
    instance: &str,
    attributes: &str,
) -> (String, String) {
    let killer = unique_name("killer");
    pg.create_role(&killer, KILLER_PASSWORD, attributes);
    let reg = app
        .expect(
            Method::POST,
            &db_users_path(project, instance),
            Some(
                json!({"db_username": killer, "db_user_password": KILLER_PASSWORD,
                        "datastore_type": "postgresql"}),
            ),
            200,
        )
        .await;
    (reg["db_user_id"].as_str().unwrap().to_owned(), killer)
}

/// A new `in03` instance on `pg` with a fresh killer role (`attributes`) as its db user.
pub async fn pg_ctx(app: &TestApp, pg: &Postgres, attributes: &str, protected: &[&str]) -> KillCtx {
    let (project, instance) = pg_instance(app, pg, pg.port(), protected).await;
    let (db_user_id, killer) = register_pg_killer(app, pg, &project, &instance, attributes).await;
    KillCtx {
        project,
        instance,
        db_user_id,
        killer,
    }
}

/// A fresh login role named after `prefix`, password [`VICTIM_PASSWORD`].
pub fn new_role(pg: &Postgres, prefix: &str) -> String {
    let role = unique_name(prefix);
    pg.create_role(&role, VICTIM_PASSWORD, "");
    role
}

/// A fresh database named after `prefix` (every role may connect to it).
pub fn new_database(pg: &Postgres, prefix: &str) -> String {
    let name = unique_name(prefix);
    pg.sql(&format!("CREATE DATABASE {}", quote_ident(&name)));
    name
}

/// Polls `done` every 20 ms for up to 10 s; panics naming `what` if it never holds.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `user` has exactly one backend, dbkill's lifeline (registration opens it; the
/// login check's own connection leaves), and returns its pid.
pub async fn wait_for_lifeline(pg: &Postgres, user: &str) -> i32 {
    let mut pid = 0;
    wait_until(&format!("{user}'s lifeline alone"), || {
        match pg.pids(user)[..] {
            [only] => {
                pid = only;
                true
            }
            _ => false,
        }
    })
    .await;
    assert_eq!(
        pg.sql(&format!(
            "SELECT application_name FROM pg_stat_activity WHERE pid = {pid}"
        )),
        "dbkill"
    );
    pid
}

/// `SELECT <columns> FROM pg_stat_activity WHERE pid = <pid>`, as psql prints it.
pub fn activity(pg: &Postgres, pid: i32, columns: &str) -> String {
    pg.sql(&format!(
        "SELECT {columns} FROM pg_stat_activity WHERE pid = {pid}"
    ))
}

/// The state a victim is in, which KillSession reports as its `command`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Idle,
    /// Running `SELECT pg_sleep(600)`.
    Sleeping,
    /// In an open transaction, holding a transaction-level advisory lock.
    InTransaction,
    /// Waiting for the advisory lock an [`Kind::InTransaction`] victim holds.
    WaitingOnLock,
}

impl Kind {
    /// `command` as dbkill reports it (the backend's `state`).
    pub fn command(self) -> &'static str {
        match self {
            Kind::Idle => "idle",
            Kind::Sleeping | Kind::WaitingOnLock => "active",
            Kind::InTransaction => "idle in transaction",
        }
    }
}

type Running = JoinHandle<(PgConnection, Result<(), sqlx::Error>)>;

/// One victim session: its pid, who and where it is, and its client, idle or running a
/// statement in a task of its own.
pub struct PgVictim {
    pub pid: i32,
    pub user: String,
    pub db: String,
    pub kind: Kind,
    /// `backend_start` as the harness reads it: with the pid, the identity of the session.
    pub started: String,
    conn: Option<PgConnection>,
    running: Option<Running>,
}

/// Connects as `user` to `db` and returns the connection with its pid.
pub async fn victim_conn(pg: &Postgres, user: &str, db: &str) -> (PgConnection, i32) {
    let mut conn = pg.connect(user, VICTIM_PASSWORD, db).await;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    (conn, pid)
}

impl PgVictim {
    async fn new(pg: &Postgres, user: &str, db: &str, kind: Kind) -> (PgVictim, PgConnection) {
        let (conn, pid) = victim_conn(pg, user, db).await;
        let started = pg.backend_start(pid).expect("a victim is listed");
        let victim = PgVictim {
            pid,
            user: user.to_owned(),
            db: db.to_owned(),
            kind,
            started,
            conn: None,
            running: None,
        };
        (victim, conn)
    }

    /// An idle session.
    pub async fn idle(pg: &Postgres, user: &str, db: &str) -> PgVictim {
        let (mut v, conn) = Self::new(pg, user, db, Kind::Idle).await;
        v.conn = Some(conn);
        v.wait_for(pg, "state = 'idle'").await;
        v
    }

    /// A session running `SELECT pg_sleep(600)`, asleep once this returns.
    pub async fn sleeping(pg: &Postgres, user: &str, db: &str) -> PgVictim {
        let (mut v, conn) = Self::new(pg, user, db, Kind::Sleeping).await;
        v.run(conn, "SELECT pg_sleep(600)");
        v.wait_for(pg, "state = 'active' AND wait_event = 'PgSleep'")
            .await;
        v
    }

    /// A session idle in a transaction that holds the advisory lock `key`.
    pub async fn in_transaction(pg: &Postgres, user: &str, db: &str, key: i64) -> PgVictim {
        let (mut v, mut conn) = Self::new(pg, user, db, Kind::InTransaction).await;
        conn.execute("BEGIN").await.unwrap();
        conn.execute(AssertSqlSafe(format!(
            "SELECT pg_advisory_xact_lock({key})"
        )))
        .await
        .unwrap();
        v.conn = Some(conn);
        v.wait_for(pg, "state = 'idle in transaction'").await;
        v
    }

    /// A session waiting for the advisory lock `key` (held by an in-transaction victim of the
    /// same database).
    pub async fn waiting(pg: &Postgres, user: &str, db: &str, key: i64) -> PgVictim {
        let (mut v, conn) = Self::new(pg, user, db, Kind::WaitingOnLock).await;
        v.run(conn, &format!("SELECT pg_advisory_lock({key})"));
        v.wait_for(pg, "state = 'active' AND wait_event_type = 'Lock'")
            .await;
        v
    }

    fn run(&mut self, mut conn: PgConnection, sql: &str) {
        let sql = sql.to_owned();
        self.running = Some(tokio::spawn(async move {
            let r = conn.execute(AssertSqlSafe(sql)).await.map(|_| ());
            (conn, r)
        }));
    }

    async fn wait_for(&self, pg: &Postgres, condition: &str) {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {} AND {condition}",
            self.pid
        );
        wait_until(&format!("{} to be {:?}", self.pid, self.kind), || {
            pg.sql(&sql) == "1"
        })
        .await;
    }

    /// Still listed by the server as the same session (pid and `backend_start`).
    pub fn on_server(&self, pg: &Postgres) -> bool {
        pg.backend_start(self.pid).as_deref() == Some(self.started.as_str())
    }

    /// Listed by the server as the same session, and its client still works: an idle one
    /// answers a query, a running one is still running (or, waiting on a lock whose holder
    /// was killed, got the lock and answers a query).
    pub async fn alive(&mut self, pg: &Postgres) -> bool {
        if !self.on_server(pg) {
            return false;
        }
        if self.running.as_ref().is_some_and(|t| !t.is_finished()) {
            return true;
        }
        if let Some(task) = self.running.take() {
            let (conn, r) = task.await.unwrap();
            if r.is_err() {
                return false;
            }
            self.conn = Some(conn);
        }
        usable(self.conn.as_mut().unwrap()).await
    }

    /// Gone from the server, and its client saw its connection end.
    pub async fn dead(&mut self, pg: &Postgres) -> bool {
        if self.on_server(pg) {
            return false;
        }
        if let Some(task) = self.running.take() {
            let (conn, r) = tokio::time::timeout(Duration::from_secs(5), task)
                .await
                .expect("a killed victim's statement ends")
                .unwrap();
            if r.is_err() {
                return true;
            }
            // A waiter whose lock holder died in the same statement may get its lock (and
            // answer) before its own signal ends it: its next statement fails.
            self.conn = Some(conn);
        }
        !usable(self.conn.as_mut().unwrap()).await
    }

    /// The statement a [`Kind::Sleeping`] victim runs: its result once it ends (within 5 s),
    /// and the connection back as the victim's client.
    pub async fn statement_result(&mut self) -> Result<(), sqlx::Error> {
        let task = self.running.take().expect("a running victim");
        let (conn, r) = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("the statement ends")
            .unwrap();
        self.conn = Some(conn);
        r
    }

    /// The victim's idle connection (after [`PgVictim::statement_result`] for a running one).
    pub fn conn(&mut self) -> &mut PgConnection {
        self.conn.as_mut().expect("an idle victim")
    }

    /// Ends the session from the client side and waits until the server no longer lists it.
    pub async fn close(mut self, pg: &Postgres) {
        if let Some(task) = self.running.take() {
            task.abort();
            let _ = task.await;
        }
        if let Some(conn) = self.conn.take() {
            let _ = conn.close().await;
        }
        let pid = self.pid;
        wait_until(&format!("{pid} to leave"), || !pg.alive(pid)).await;
    }
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

/// Opens sessions of `user` until the cluster refuses one with 53300; returns them.
pub async fn fill_every_slot(pg: &Postgres, user: &str, password: &str) -> Vec<PgConnection> {
    let mut conns = vec![];
    loop {
        match pg.try_connect(user, password, "postgres").await {
            Ok(c) => conns.push(c),
            Err(e) => {
                assert_eq!(sqlstate(&e).as_deref(), Some("53300"), "{e}");
                return conns;
            }
        }
        assert!(conns.len() <= 100, "max_connections did not hold");
    }
}

/// The SQLSTATE of a database error.
pub fn sqlstate(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()?.code().map(|c| c.into_owned())
}

/// Pids as KillSession's `process_ids` takes them: decimal strings.
pub fn pid_list<'a>(pids: impl IntoIterator<Item = &'a i32>) -> Value {
    json!(pids.into_iter().map(i32::to_string).collect::<Vec<_>>())
}

/// Every session the history lists as killed by the request `request_id` (all pages).
pub async fn history_rows(app: &TestApp, ctx: &KillCtx, request_id: &str) -> Vec<Value> {
    let mut out = vec![];
    for page in 1.. {
        let h = ctx
            .history(
                app,
                &format!("request_id={request_id}&page_size=100&page_num={page}"),
            )
            .await;
        let rows = h["killed_sessions"].as_array().unwrap();
        out.extend(rows.iter().cloned());
        if rows.len() < 100 {
            return out;
        }
    }
    unreachable!()
}
