//! DB users against a real throwaway mariadbd: the login check, sealing, replacement, scoping.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::{spawn_app, spawn_app_with};
use crate::helpers::errors::{assert_das_error, assert_das_error_says, assert_within};
use crate::helpers::fixtures::DbUserSetup;
use crate::support::mariadb::shared;

#[tokio::test]
async fn db_user_life_cycle_on_a_real_server() {
    let app = spawn_app().await;
    let s = DbUserSetup::new(&app).await;
    let (user, password) = (&s.username, &s.password);
    let base = s.db_users_path();
    let mut with_node = s.registration();
    with_node["node_id"] = json!("ignored");
    let reg = app.expect(Method::POST, &base, Some(with_node), 200).await;
    let id = reg["db_user_id"].as_str().unwrap().to_owned();
    assert_eq!(id.len(), 36);

    let list = app.expect(Method::GET, &base, None, 200).await;
    assert_eq!(
        list,
        json!({"db_users": [{"db_user_id": id, "db_username": user}], "total": 1})
    );
    let filtered = app
        .expect(
            Method::GET,
            &format!("{base}?db_username=nobody"),
            None,
            200,
        )
        .await;
    assert_eq!(filtered["total"], 0);
    let by_id = app
        .expect(Method::GET, &format!("{base}?db_user_id={id}"), None, 200)
        .await;
    assert_eq!(by_id["total"], 1);
    let one = app
        .expect(Method::GET, &format!("{base}/{id}"), None, 200)
        .await;
    assert_eq!(
        one,
        json!({"db_user": {"db_user_id": id, "db_username": user}})
    );

    // Re-registering the same name replaces the password and keeps the id.
    let new_password = format!("{password}-2");
    shared().sql(&format!(
        "ALTER USER '{user}'@'%' IDENTIFIED BY '{new_password}'"
    ));
    let again = app
        .expect(Method::POST, &base,
            Some(json!({"db_username": user, "db_user_password": new_password, "datastore_type": "mariadb"})), 200)
        .await;
    assert_eq!(again["db_user_id"], id.as_str());
    assert_eq!(app.expect(Method::GET, &base, None, 200).await["total"], 1);

    // Update checks the login too.
    let r = app
        .admin_call(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"db_username": user, "db_user_password": "stale"})),
        )
        .await;
    assert_das_error(&r, 400, "DAS.210002");
    let ok = app
        .expect(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"db_username": user, "db_user_password": new_password})),
            200,
        )
        .await;
    assert_eq!(ok, json!({"result": "OK"}));

    let del = app
        .expect(Method::DELETE, &format!("{base}/{id}"), None, 200)
        .await;
    assert_eq!(del, json!({"result": "OK"}));
    let r = app
        .admin_call(Method::GET, &format!("{base}/{id}"), None)
        .await;
    assert_das_error(&r, 400, "DAS.200112");
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let s = DbUserSetup::new(&app).await;
    let base = s.db_users_path();
    let mut wrong = s.registration();
    wrong["db_user_password"] = json!("wrong");
    for lang in ["en-us", "zh-cn"] {
        let body = serde_json::to_vec(&wrong).unwrap();
        let r = app
            .raw_request(
                Method::POST,
                &base,
                Some(&app.admin_token),
                &[("X-Language", lang)],
                Some(body),
            )
            .await;
        assert_das_error(&r, 400, "DAS.210002");
    }
    assert_eq!(app.expect(Method::GET, &base, None, 200).await["total"], 0);
}

#[tokio::test]
async fn an_unreachable_instance_fails_within_the_connect_timeout() {
    let app = spawn_app_with(|s| s.connect_timeout_ms = 1_000).await;
    let p = app.create_project("unreach").await;
    // A listener that accepts but never speaks: the handshake never arrives.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    let i = app
        .create_instance(
            &p,
            json!({"name": "x", "datastore_type": "mysql", "host": "127.0.0.1", "port": port}),
        )
        .await;
    let started = Instant::now();
    let r = app
        .admin_call(
            Method::POST,
            &format!("/v3/{p}/instances/{i}/db-users"),
            Some(json!({"db_username": "u", "db_user_password": "p", "datastore_type": "MySQL"})),
        )
        .await;
    assert_das_error(&r, 500, "DAS.210001");
    assert_within(started, Duration::from_secs(3));
    assert_eq!(
        app.expect(
            Method::GET,
            &format!("/v3/{p}/instances/{i}/db-users"),
            None,
            200
        )
        .await["total"],
        0
    );
    drop(silent);
}

#[tokio::test]
async fn datastore_types_must_fit_the_instance() {
    let app = spawn_app().await;
    let s = DbUserSetup::new(&app).await;
    let base = s.db_users_path();
    for ds in ["postgresql", "oracle", "MySQL8"] {
        let mut body = s.registration();
        body["datastore_type"] = json!(ds);
        let r = app.admin_call(Method::POST, &base, Some(body)).await;
        assert_das_error(&r, 400, "DAS.200107");
    }
    let mut no_password = s.registration();
    no_password
        .as_object_mut()
        .unwrap()
        .remove("db_user_password");
    let r = app.admin_call(Method::POST, &base, Some(no_password)).await;
    assert_das_error_says(&r, 400, "DAS.200100", "db_user_password");
}

#[tokio::test]
async fn a_db_user_of_another_instance_is_unknown_here() {
    let app = spawn_app().await;
    let s = DbUserSetup::new(&app).await;
    let p = &s.project;
    let other = app
        .create_instance(p, json!({"name": "other", "datastore_type": "mariadb", "host": "127.0.0.1", "port": shared().port()}))
        .await;
    let reg = app
        .expect(
            Method::POST,
            &s.db_users_path(),
            Some(s.registration()),
            200,
        )
        .await;
    let id = reg["db_user_id"].as_str().unwrap();
    for path in [
        format!("/v3/{p}/instances/{other}/db-users/{id}"),
        format!("{}?db_user_id=nope", s.db_users_path()),
    ] {
        let r = app.admin_call(Method::GET, &path, None).await;
        assert_das_error(&r, 400, "DAS.200112");
    }
}
