//! AK/SK signing end to end: access keys, signed requests accepted, and every tampering refused;
//! then the unmodified official Python SDK driving dbkill against a real server.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::app::{Resp, TestApp, spawn_app};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{idle, new_victim, usable};
use crate::helpers::sdk::{admin_access_key, run_sdk_script};
use crate::helpers::signed::{AccessKey, ToSign, access_key, sdk_date, sign};
use crate::support::mariadb::{shared, unique_name};

/// Signs `req` with `key`, lets `tamper` change the body, and sends it.
async fn send_signed(
    app: &TestApp,
    key: &AccessKey,
    req: ToSign<'_>,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> Resp {
    let mut call = sign(app, key, req);
    tamper(&mut call.body);
    call.send(app).await
}

#[tokio::test]
async fn signed_requests_act_as_the_key_user_and_tampering_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project(&unique_name("signed")).await;
    let other = app.create_project(&unique_name("other")).await;
    let user_id = app.create_user(&unique_name("sdk"), "password-123").await;
    app.bind(&project, &user_id, "admin").await;
    let key = access_key(&app, &app.admin_token, &user_id).await;
    let path = format!("/v3/{project}/instances");
    let body = serde_json::to_vec(
        &json!({"name": "via-sdk", "datastore_type": "mysql", "host": "h", "port": 3306}),
    )
    .unwrap();
    let good = || ToSign::new(Method::POST, &path, &project, body.clone());
    let wrong_secret = AccessKey {
        access: key.access.clone(),
        secret: "not-the-secret".into(),
    };
    let unknown_key = AccessKey {
        access: "AKUNKNOWN00000000000".into(),
        secret: key.secret.clone(),
    };

    let r = send_signed(&app, &key, good(), |_| {}).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["instance_id"].as_str().unwrap().ends_with("in01"));
    // A signed GET with a query string.
    let list = ToSign {
        query: "offset=0&limit=10",
        ..ToSign::new(Method::GET, &path, &project, vec![])
    };
    let r = send_signed(&app, &key, list, |_| {}).await;
    assert_eq!(
        (r.status, r.body["total"].clone()),
        (StatusCode::OK, json!(1)),
        "{}",
        r.text
    );

    let refused: Vec<(&str, Resp, &str)> = vec![
        (
            "tampered body",
            send_signed(&app, &key, good(), |b| b.extend(b" ")).await,
            "does not match",
        ),
        (
            "wrong secret",
            send_signed(&app, &wrong_secret, good(), |_| {}).await,
            "does not match",
        ),
        // The clock window is 5 minutes either way (`signature_max_skew_secs`).
        (
            "stale date",
            send_signed(
                &app,
                &key,
                ToSign {
                    date: sdk_date(-6 * 60),
                    ..good()
                },
                |_| {},
            )
            .await,
            "too far from the server's time",
        ),
        (
            "future date",
            send_signed(
                &app,
                &key,
                ToSign {
                    date: sdk_date(6 * 60),
                    ..good()
                },
                |_| {},
            )
            .await,
            "too far from the server's time",
        ),
        (
            "unknown key",
            send_signed(&app, &unknown_key, good(), |_| {}).await,
            "unknown",
        ),
        (
            "other project's id",
            send_signed(
                &app,
                &key,
                ToSign {
                    project_header: Some(&other),
                    ..good()
                },
                |_| {},
            )
            .await,
            "X-Project-Id",
        ),
    ];
    for (what, mut r, says) in refused {
        // The cases differ only in how they are signed: name the case in a failure.
        r.request = format!("{what}: {}", r.request);
        assert_das_error_says(&r, 401, "APIGW.0301", says);
        assert!(!r.text.contains(&key.secret), "{what}: the secret leaked");
    }
    // A date inside the window is accepted (another instance: a repeat of the first would be
    // refused as a replay).
    let second = serde_json::to_vec(
        &json!({"name": "via-sdk-2", "datastore_type": "mysql", "host": "h", "port": 3306}),
    )
    .unwrap();
    let r = send_signed(
        &app,
        &key,
        ToSign {
            date: sdk_date(-4 * 60),
            ..ToSign::new(Method::POST, &path, &project, second)
        },
        |_| {},
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "4 minutes old: {}", r.text);
    // Signed, but the key's user has no role on the other project: 403 as with a token.
    let other_path = format!("/v3/{other}/instances");
    let r = send_signed(
        &app,
        &key,
        ToSign::new(Method::POST, &other_path, &other, body.clone()),
        |_| {},
    )
    .await;
    assert_das_error(&r, 403, "APIGW.0302");
    let listed = app.expect(Method::GET, &path, None, 200).await;
    assert_eq!(listed["total"], 2, "the refused requests created nothing");
}

/// A new user and their token.
async fn user_and_token(app: &TestApp, prefix: &str) -> (String, String) {
    let name = unique_name(prefix);
    let id = app.create_user(&name, "password-123").await;
    (id, app.login(&name, "password-123", None).await)
}

#[tokio::test]
async fn access_keys_are_managed_by_their_user_or_the_global_admin() {
    let app = spawn_app().await;
    let (alice, alice_token) = user_and_token(&app, "alice").await;
    let (_, bob_token) = user_and_token(&app, "bob").await;
    let access = access_key(&app, &alice_token, &alice).await.access;
    // Alice's own keys, listed with her token.
    let her_keys = || {
        app.call(
            Method::GET,
            "/v3.0/OS-CREDENTIAL/credentials",
            &alice_token,
            None,
        )
    };
    let mine = her_keys().await;
    let creds = mine.body["credentials"].as_array().unwrap();
    assert_eq!(creds.len(), 1, "{}", mine.text);
    assert_eq!(creds[0]["access"], access.as_str());
    assert!(
        creds[0].get("secret").is_none(),
        "secrets are shown only at creation: {}",
        mine.text
    );

    for (method, path, body) in [
        (
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials".to_owned(),
            Some(json!({"credential": {"user_id": alice}})),
        ),
        (
            Method::GET,
            format!("/v3.0/OS-CREDENTIAL/credentials?user_id={alice}"),
            None,
        ),
        (
            Method::DELETE,
            format!("/v3.0/OS-CREDENTIAL/credentials/{access}"),
            None,
        ),
    ] {
        let r = app.call(method.clone(), &path, &bob_token, body).await;
        assert_das_error(&r, 403, "APIGW.0302");
    }
    let r = app
        .admin_call(
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials",
            Some(json!({"credential": {"user_id": "NOT-HEX"}})),
        )
        .await;
    assert_das_error(&r, 400, "DAS.200100");
    let r = app
        .admin_call(
            Method::DELETE,
            "/v3.0/OS-CREDENTIAL/credentials/bad-key!",
            None,
        )
        .await;
    assert_das_error(&r, 400, "DAS.200100");
    // The global admin manages anyone's keys.
    let all = app
        .expect(
            Method::GET,
            &format!("/v3.0/OS-CREDENTIAL/credentials?user_id={alice}"),
            None,
            200,
        )
        .await;
    assert_eq!(all["credentials"].as_array().unwrap().len(), 1);
    let r = app
        .admin_call(
            Method::DELETE,
            &format!("/v3.0/OS-CREDENTIAL/credentials/{access}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let mine = her_keys().await;
    assert_eq!(mine.body["credentials"], json!([]));
}

#[tokio::test]
async fn the_official_python_sdk_drives_dbkill() {
    let app = spawn_app().await;
    let db = shared();
    let project = app.create_project(&unique_name("sdk")).await;
    let instance = app
        .create_instance(&project, json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(), "port": db.port()}))
        .await;
    let key = admin_access_key(&app).await;
    let killer = unique_name("sdkkiller");
    db.sql(&format!("CREATE USER '{killer}'@'%' IDENTIFIED BY 'pw'; GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%'"));
    let by_user = new_victim(db, "sdkvictim");
    let by_ids = new_victim(db, "sdkids");
    let mut victims = vec![];
    for _ in 0..3 {
        victims.push(idle(db, &by_user, None).await);
    }
    let mut listed = vec![];
    for _ in 0..2 {
        listed.push(idle(db, &by_ids, None).await);
    }
    let mut bystander = idle(db, &by_ids, None).await;
    let ids: Vec<String> = listed.iter().map(|(_, id)| id.to_string()).collect();

    run_sdk_script(
        "das_e2e.py",
        vec![
            ("DBKILL_ENDPOINT", app.base.clone()),
            ("DBKILL_AK", key.access),
            ("DBKILL_SK", key.secret),
            ("DBKILL_PROJECT", project),
            ("DBKILL_INSTANCE", instance),
            ("DBKILL_DB_USER", killer),
            ("DBKILL_DB_PASSWORD", "pw".into()),
            ("DBKILL_VICTIM_USER", by_user),
            ("DBKILL_VICTIM_COUNT", "3".into()),
            ("DBKILL_VICTIM_IDS", ids.join(",")),
        ],
    )
    .await;
    for (conn, id) in victims.iter_mut().chain(listed.iter_mut()) {
        assert!(!db.alive(*id), "{id} survived");
        assert!(!usable(conn).await);
    }
    assert!(
        usable(&mut bystander.0).await,
        "a session not named was killed"
    );
}
