//! Registering a db user on a PostgreSQL instance logs in once: a refused login (wrong
//! password, unknown role, a role without LOGIN) is 400 DAS.210002, an unreachable instance
//! (a closed port) or a cluster at max_connections (53300) is 500 DAS.210001, and none of them
//! stores anything or replaces a stored password.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::errors::{assert_das_error, assert_within};
use crate::helpers::pg::{
    ROLE_PASSWORD, SEES_AND_SIGNALS, db_users_path, fill_every_slot, lifeline_of, new_role,
    pg_instance, register_pg_role, wait_until,
};
use crate::support::postgres::{Postgres, PostgresOptions, shared, unique_name};

fn registration(name: &str, password: &str) -> Value {
    json!({"db_username": name, "db_user_password": password, "datastore_type": "postgresql"})
}

async fn db_users(app: &TestApp, path: &str) -> Value {
    app.expect(Method::GET, path, None, 200).await
}

#[tokio::test]
async fn refused_logins_are_400_and_store_nothing() {
    let app = spawn_app_with(|s| s.connect_timeout_ms = 2_000).await;
    let pg = shared();
    let (project, instance) = pg_instance(&app, pg, pg.port(), &[]).await;
    let path = db_users_path(&project, &instance);
    let (good_id, good) = register_pg_role(&app, pg, &project, &instance, SEES_AND_SIGNALS).await;
    let before = db_users(&app, &path).await;
    assert_eq!(
        before,
        json!({"db_users": [{"db_user_id": good_id, "db_username": good}], "total": 1})
    );

    let other = unique_name("other");
    pg.create_role(&other, "right-pw", "");
    let no_login = unique_name("nologin");
    pg.sql(&format!(
        "CREATE ROLE {no_login} NOLOGIN PASSWORD 'right-pw'"
    ));
    let nobody = unique_name("nobody");
    for (name, password) in [
        // 28P01.
        (other.as_str(), "wrong-pw"),
        // No such role: 28P01 as well.
        (nobody.as_str(), "right-pw"),
        // 28000: not permitted to log in.
        (no_login.as_str(), "right-pw"),
        // A stored db user's name: its stored password stays.
        (good.as_str(), "wrong-pw"),
    ] {
        let r = app
            .admin_call(Method::POST, &path, Some(registration(name, password)))
            .await;
        assert_das_error(&r, 400, "DAS.210002");
        assert!(!r.text.contains(password), "{}", r.text);
    }
    // Updating the stored db user to a wrong password is refused the same way.
    let r = app
        .admin_call(
            Method::PUT,
            &format!("{path}/{good_id}"),
            Some(json!({"db_username": good, "db_user_password": "wrong-pw"})),
        )
        .await;
    assert_das_error(&r, 400, "DAS.210002");
    assert_eq!(db_users(&app, &path).await, before);

    // The stored password is still the right one: dbkill lists through it.
    let listed = app
        .expect(
            Method::GET,
            &format!(
                "/v3/{project}/instances/{instance}/processes?db_user_id={good_id}&user={good}"
            ),
            None,
            200,
        )
        .await;
    assert_eq!(listed["count"], 1, "its lifeline: {listed}");
}

#[tokio::test]
async fn an_unreachable_instance_is_500_within_the_connect_timeout_and_stores_nothing() {
    let app = spawn_app_with(|s| s.connect_timeout_ms = 1_000).await;
    let pg = shared();
    // A port nobody listens on: bound, then let go.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (project, instance) = pg_instance(&app, pg, closed, &[]).await;
    let path = db_users_path(&project, &instance);
    let killer = new_role(pg, "unreach", "");
    let started = Instant::now();
    let r = app
        .admin_call(
            Method::POST,
            &path,
            Some(registration(&killer, ROLE_PASSWORD)),
        )
        .await;
    assert_das_error(&r, 500, "DAS.210001");
    assert_within(started, Duration::from_secs(3));
    assert_eq!(db_users(&app, &path).await["total"], 0);

    // A listener that accepts and never speaks: the connect timeout ends the wait.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let (project, instance) = pg_instance(&app, pg, silent.local_addr().unwrap().port(), &[]).await;
    let path = db_users_path(&project, &instance);
    let started = Instant::now();
    let r = app
        .admin_call(
            Method::POST,
            &path,
            Some(registration(&killer, ROLE_PASSWORD)),
        )
        .await;
    assert_das_error(&r, 500, "DAS.210001");
    assert_within(started, Duration::from_secs(3));
    assert_eq!(db_users(&app, &path).await["total"], 0);
}

#[tokio::test]
async fn a_cluster_at_max_connections_is_500_at_registration_and_stores_nothing() {
    let pg = Postgres::start(PostgresOptions {
        max_connections: 10,
        superuser_reserved_connections: 3,
        ..PostgresOptions::default()
    });
    let app = spawn_app_with(|s| s.connect_timeout_ms = 2_000).await;
    let (project, instance) = pg_instance(&app, &pg, pg.port(), &[]).await;
    let path = db_users_path(&project, &instance);
    let victim = new_role(&pg, "full", "");
    let killer = unique_name("late");
    pg.create_role(&killer, ROLE_PASSWORD, SEES_AND_SIGNALS);
    let victims = fill_every_slot(&pg, &victim, ROLE_PASSWORD).await;
    assert_eq!(victims.len(), 7, "10 slots less 3 reserved");

    let r = app
        .admin_call(
            Method::POST,
            &path,
            Some(registration(&killer, ROLE_PASSWORD)),
        )
        .await;
    assert_das_error(&r, 500, "DAS.210001");
    assert_eq!(db_users(&app, &path).await["total"], 0);
    assert!(pg.pids(&killer).is_empty(), "no lifeline was left open");

    // With a slot free again the same registration works and opens its lifeline.
    drop(victims);
    wait_until("the victims to leave", || pg.pids(&victim).is_empty()).await;
    app.expect(
        Method::POST,
        &path,
        Some(registration(&killer, ROLE_PASSWORD)),
        200,
    )
    .await;
    lifeline_of(&pg, &killer).await;
}
