//! PostgreSQL set-ups on a throwaway cluster (`support/postgres.rs`): a project with an `in03`
//! instance and a killer role registered as its db user (`pg_ctx`, a [`KillCtx`] like the MySQL
//! tests'), victim roles and databases, victim backends idle or in `pg_sleep`, and checks that a
//! backend really ended.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;
use sqlx::PgConnection;

use super::app::TestApp;
use super::fixtures::{KillCtx, VICTIM_PASSWORD};
use crate::support::postgres::{Postgres, quote_ident, unique_name};

/// The password of every killer role `pg_ctx` creates.
pub const PG_KILLER_PASSWORD: &str = "killer-pw";

/// The role attributes of a db user that sees and may signal every non-superuser backend.
pub const SEES_AND_SIGNALS: &str = "IN ROLE pg_read_all_stats, pg_signal_backend";

/// A project with a `postgresql` instance named `pg` on `pg` (with `protected` users), and a
/// fresh killer role created with `attributes` (e.g. [`SEES_AND_SIGNALS`], `"SUPERUSER"`)
/// registered as its db user.
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
    let killer = unique_name("pgkiller");
    pg.create_role(&killer, PG_KILLER_PASSWORD, attributes);
    let reg = app
        .expect(
            Method::POST,
            &format!("/v3/{project}/instances/{instance}/db-users"),
            Some(
                json!({"db_username": killer, "db_user_password": PG_KILLER_PASSWORD,
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

/// A fresh login role named after `prefix`, password [`VICTIM_PASSWORD`].
pub fn new_pg_victim(pg: &Postgres, prefix: &str) -> String {
    let user = unique_name(prefix);
    pg.create_role(&user, VICTIM_PASSWORD, "");
    user
}

/// A fresh database named after `prefix` (every role may connect to it).
pub fn new_pg_database(pg: &Postgres, prefix: &str) -> String {
    let name = unique_name(prefix);
    pg.sql(&format!("CREATE DATABASE {}", quote_ident(&name)));
    name
}

/// An idle victim backend of `user` in `database`; returns its connection and pid.
pub async fn pg_idle(pg: &Postgres, user: &str, database: &str) -> (PgConnection, i32) {
    let mut conn = pg.connect(user, VICTIM_PASSWORD, database).await;
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .expect("pg_backend_pid");
    (conn, pid)
}

/// The task of a victim running `SELECT pg_sleep(600)`: it ends with the statement's result.
pub type PgSleeper = tokio::task::JoinHandle<(PgConnection, Result<(), sqlx::Error>)>;

/// A victim backend of `user` in `database` running `SELECT pg_sleep(600)`, which the server
/// shows `active` and waiting on `Timeout:PgSleep` once this returns.
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

/// Whether a victim's connection still works: a terminated backend fails its next statement.
pub async fn pg_usable(conn: &mut PgConnection) -> bool {
    let one = sqlx::query_scalar::<_, i32>("SELECT 1").fetch_one(conn);
    matches!(
        tokio::time::timeout(Duration::from_secs(5), one).await,
        Ok(Ok(1))
    )
}

/// Waits up to 5 s for the server to stop listing backend `pid`; true if it did.
pub async fn pg_left(pg: &Postgres, pid: i32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while pg.alive(pid) {
        if Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    true
}
