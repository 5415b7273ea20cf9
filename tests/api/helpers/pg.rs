//! PostgreSQL set-ups on a throwaway cluster (`support/postgres.rs`): an `in03` instance with a
//! killer role registered as its db user (`pg_ctx`, a [`KillCtx`] like MariaDB's), fresh roles
//! and databases, and victim backends — idle, in an open transaction, or running a statement —
//! over TCP or the unix socket, with checks on the server of whether each still lives;
//! [`Backend`]s in each state a kill meets (idle, `pg_sleep`, in a transaction holding a lock,
//! waiting on it) that know their `backend_start`; a cluster's every slot filled; the history
//! rows of one kill.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};
use sqlx::postgres::PgConnectOptions;
use sqlx::{AssertSqlSafe, ConnectOptions, Connection, Executor, PgConnection};

use super::app::TestApp;
use super::fixtures::KillCtx;
use crate::support::postgres::{Postgres, quote_ident, quote_literal, unique_name};

/// The password of every role these helpers create.
pub const ROLE_PASSWORD: &str = "role-pw";

/// Registers a fresh killer role created with `attributes` (e.g. `"SUPERUSER"`, `"IN ROLE
/// pg_read_all_stats, pg_signal_backend"`, `""`) as the db user of a new PostgreSQL instance on
/// `pg` whose `protected_users` are `protected`.
pub async fn pg_ctx(app: &TestApp, pg: &Postgres, attributes: &str, protected: &[&str]) -> KillCtx {
    let (project, instance) = pg_instance(app, pg, pg.port(), protected).await;
    let (db_user_id, killer) = register_pg_role(app, pg, &project, &instance, attributes).await;
    KillCtx {
        project,
        instance,
        db_user_id,
        killer,
    }
}

/// A project with an `in03` instance pointing at `pg` through `port` (its own, or a closed or
/// silent one), whose `protected_users` are `protected`.
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

/// Waits up to 5 s until `user` has exactly one backend, its lifeline, and returns its pid.
/// The registration's login check is a `dbkill` connection too, and leaves a moment after the
/// registration answered, possibly before the lifeline opens; it never runs a statement, the
/// lifeline always has (it learns its pid and the server's identity first).
pub async fn lifeline_of(pg: &Postgres, user: &str) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(5);
    let backends = format!(
        "SELECT pid, application_name, query <> '' FROM pg_stat_activity \
         WHERE backend_type = 'client backend' AND usename = {}",
        quote_literal(user)
    );
    loop {
        let rows = pg.sql(&backends);
        if let [(pid, "dbkill", "t")] = rows
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '|');
                Some((f.next()?, f.next()?, f.next()?))
            })
            .collect::<Vec<_>>()[..]
        {
            return pid.parse().unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{user} has no lifeline alone: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// Registers a fresh role with `attributes` as a db user of `instance`: its db user id and name.
pub async fn register_pg_role(
    app: &TestApp,
    pg: &Postgres,
    project: &str,
    instance: &str,
    attributes: &str,
) -> (String, String) {
    let role = new_role(pg, "dbuser", attributes);
    let reg = app
        .expect(
            Method::POST,
            &db_users_path(project, instance),
            Some(
                json!({"db_username": role, "db_user_password": ROLE_PASSWORD,
                        "datastore_type": "PostgreSQL"}),
            ),
            200,
        )
        .await;
    (reg["db_user_id"].as_str().unwrap().to_owned(), role)
}

/// For what acts as an instance's default db user (DAS's PostgreSQL operations, kill rules):
/// [`pg_ctx`] with a role without attributes (the oldest db user, so the default until one is
/// named), then a role with `attributes` registered and named the instance's
/// `default_db_user_id`. An operation that ignored the default would act as the powerless one,
/// which sees no other role's backend state and may signal none. The context's db user and
/// killer are the second.
pub async fn pg_default_ctx(
    app: &TestApp,
    pg: &Postgres,
    attributes: &str,
    protected: &[&str],
) -> KillCtx {
    let mut ctx = pg_ctx(app, pg, "", protected).await;
    let (db_user_id, killer) =
        register_pg_role(app, pg, &ctx.project, &ctx.instance, attributes).await;
    let instance_path = format!("/v3/{}/instances/{}", ctx.project, ctx.instance);
    let body = json!({"default_db_user_id": db_user_id});
    app.expect(Method::PUT, &instance_path, Some(body), 200)
        .await;
    let shown = app.expect(Method::GET, &instance_path, None, 200).await;
    assert_eq!(
        shown["instance"]["default_db_user_id"],
        db_user_id.as_str(),
        "{shown}"
    );
    ctx.db_user_id = db_user_id;
    ctx.killer = killer;
    ctx
}

impl PgVictim {
    /// The pid as dbkill's session id.
    pub fn id(&self) -> u64 {
        u64::try_from(self.pid).unwrap()
    }

    /// A backend of `user` in `database` idle in a transaction that a failed statement
    /// (`SELECT 1 / 0, '<label>'`) aborted. Its connection answers nothing but ROLLBACK, so
    /// [`PgVictim::alive`] tells whether it lives, not [`PgVictim::still_works`].
    pub async fn in_aborted_transaction(
        pg: &Postgres,
        user: &str,
        database: &str,
        via: Via,
        label: &str,
    ) -> Self {
        let mut conn = connect_as(pg, user, database, via, "victim").await;
        let pid = pid_of(&mut conn).await;
        conn.execute("BEGIN").await.expect("BEGIN");
        let fail = format!("SELECT 1 / 0, {}", quote_literal(label));
        let failed = conn.execute(AssertSqlSafe(fail)).await;
        assert!(failed.is_err(), "{label}: 1 / 0 succeeded");
        PgVictim {
            pid,
            label: label.to_owned(),
            conn: Some(conn),
            running: None,
        }
    }

    /// Runs `sql` on an idle victim's connection; once it answered, the server shows the
    /// backend waiting for its client again, in `state` (`idle`, `idle in transaction`, …).
    pub async fn run(&mut self, pg: &Postgres, sql: &str, state: &str) {
        let conn = self.conn.as_mut().expect("an idle victim");
        conn.execute(AssertSqlSafe(sql))
            .await
            .unwrap_or_else(|e| panic!("{}: {sql}: {e}", self.label));
        let now = pg.sql(&format!(
            "SELECT state FROM pg_stat_activity WHERE pid = {}",
            self.pid
        ));
        assert_eq!(now, state, "{}", self.label);
    }
}

/// Pids of the backends that are no client (`backend_type` other than `client backend`).
pub fn background_pids(pg: &Postgres) -> Vec<i32> {
    pg.sql(
        "SELECT pid FROM pg_stat_activity \
         WHERE backend_type IS DISTINCT FROM 'client backend' ORDER BY pid",
    )
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

/// Polls `done` every 20 ms for up to 10 s; panics naming `what` if it never holds.
pub async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
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

/// A victim backend in a chosen [`Kind`] of state: its pid, who and where it is, its
/// `backend_start` (with the pid, its identity: pids are reused), and its client, idle or
/// running a statement in a task of its own.
pub struct Backend {
    pub pid: i32,
    pub user: String,
    pub db: String,
    pub kind: Kind,
    /// `backend_start` as the harness reads it: with the pid, the identity of the session.
    pub started: String,
    conn: Option<PgConnection>,
    running: Option<Running>,
}

impl Backend {
    async fn new(pg: &Postgres, user: &str, db: &str, kind: Kind) -> (Backend, PgConnection) {
        let (conn, pid) = pg_idle(pg, user, db).await;
        (Backend::of(pg, pid, user, db, kind), conn)
    }

    fn of(pg: &Postgres, pid: i32, user: &str, db: &str, kind: Kind) -> Backend {
        Backend {
            pid,
            user: user.to_owned(),
            db: db.to_owned(),
            kind,
            started: pg.backend_start(pid).expect("a victim is listed"),
            conn: None,
            running: None,
        }
    }

    /// An idle session.
    pub async fn idle(pg: &Postgres, user: &str, db: &str) -> Backend {
        let (conn, pid) = pg_idle(pg, user, db).await;
        Backend::idle_on(pg, conn, pid, user, db).await
    }

    /// An idle session over `conn` (of `user` in `db`), whose backend is `pid`.
    pub async fn idle_on(
        pg: &Postgres,
        conn: PgConnection,
        pid: i32,
        user: &str,
        db: &str,
    ) -> Backend {
        let mut v = Backend::of(pg, pid, user, db, Kind::Idle);
        v.conn = Some(conn);
        v.wait_for(pg, "state = 'idle'").await;
        v
    }

    /// A session running `SELECT pg_sleep(600)`, asleep once this returns.
    pub async fn sleeping(pg: &Postgres, user: &str, db: &str) -> Backend {
        let (mut v, conn) = Self::new(pg, user, db, Kind::Sleeping).await;
        v.run(conn, "SELECT pg_sleep(600)");
        v.wait_for(pg, "state = 'active' AND wait_event = 'PgSleep'")
            .await;
        v
    }

    /// A session idle in a transaction that holds the advisory lock `key`.
    pub async fn in_transaction(pg: &Postgres, user: &str, db: &str, key: i64) -> Backend {
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
    pub async fn waiting(pg: &Postgres, user: &str, db: &str, key: i64) -> Backend {
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

    /// The victim's idle connection (after [`Backend::statement_result`] for a running one).
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
