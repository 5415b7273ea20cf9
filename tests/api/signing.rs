//! AK/SK signing end to end: access keys, signed requests accepted, and every tampering refused;
//! then the unmodified official Python SDK driving dbkill against a real server.

use std::path::PathBuf;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use time::macros::format_description;

use crate::helpers::app::{ADMIN_PASSWORD, Resp, TestApp, spawn_app};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{idle, new_victim, usable};
use crate::support::mariadb::{shared, unique_name};

fn sdk_date(offset_secs: i64) -> String {
    let t = OffsetDateTime::now_utc() + time::Duration::seconds(offset_secs);
    t.format(format_description!(
        "[year][month][day]T[hour][minute][second]Z"
    ))
    .unwrap()
}

/// Creates an access key for `user_id` with `token`; returns (access, secret).
async fn access_key(app: &TestApp, token: &str, user_id: &str) -> (String, String) {
    let r = app
        .call(
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials",
            token,
            Some(json!({"credential": {"user_id": user_id, "description": "sdk"}})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let c = &r.body["credential"];
    assert_eq!(c["status"], "active");
    assert_eq!(c["user_id"], user_id);
    (
        c["access"].as_str().unwrap().into(),
        c["secret"].as_str().unwrap().into(),
    )
}

struct Signed<'a> {
    method: Method,
    path: &'a str,
    query: &'a str,
    body: Vec<u8>,
    project_header: Option<&'a str>,
    date: String,
}

/// Signs as the SDK does (content-type, host, x-project-id, x-sdk-date) with `secret`, then
/// lets `tamper` change the request before it is sent.
async fn send_signed(
    app: &TestApp,
    ak: &str,
    secret: &str,
    req: Signed<'_>,
    tamper: impl FnOnce(&mut Vec<u8>),
) -> Resp {
    let host = app.base.trim_start_matches("http://").to_owned();
    let mut names = vec!["content-type", "host", "x-sdk-date"];
    if req.project_header.is_some() {
        names.push("x-project-id");
    }
    names.sort_unstable();
    let values = |name: &str| -> Option<String> {
        match name {
            "content-type" => Some("application/json".into()),
            "host" => Some(host.clone()),
            "x-sdk-date" => Some(req.date.clone()),
            "x-project-id" => req.project_header.map(str::to_owned),
            _ => None,
        }
    };
    let signed_names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    let to_sign = dbkill::signing::SignedRequest {
        method: req.method.as_str(),
        path: req.path,
        query: req.query,
        header: &values,
        body: &req.body,
    };
    let sts = dbkill::signing::string_to_sign(
        &req.date,
        &dbkill::signing::canonical_request(&to_sign, &signed_names),
    );
    let signature = dbkill::signing::sign(secret, &sts);
    let auth = format!(
        "SDK-HMAC-SHA256 Access={ak}, SignedHeaders={}, Signature={signature}",
        signed_names.join(";")
    );
    let mut body = req.body.clone();
    tamper(&mut body);
    let url = if req.query.is_empty() {
        req.path.to_owned()
    } else {
        format!("{}?{}", req.path, req.query)
    };
    let mut headers = vec![
        ("Authorization", auth.as_str()),
        ("X-Sdk-Date", req.date.as_str()),
    ];
    if let Some(p) = req.project_header {
        headers.push(("X-Project-Id", p));
    }
    app.raw_request(req.method, &url, None, &headers, Some(body))
        .await
}

#[tokio::test]
async fn signed_requests_act_as_the_key_user_and_tampering_is_refused() {
    let app = spawn_app().await;
    let project = app.create_project(&unique_name("signed")).await;
    let other = app.create_project(&unique_name("other")).await;
    let user_id = app.create_user(&unique_name("sdk"), "password-123").await;
    app.bind(&project, &user_id, "admin").await;
    let (ak, sk) = access_key(&app, &app.admin_token, &user_id).await;
    let path = format!("/v3/{project}/instances");
    let body = serde_json::to_vec(
        &json!({"name": "via-sdk", "datastore_type": "mysql", "host": "h", "port": 3306}),
    )
    .unwrap();
    let good = || Signed {
        method: Method::POST,
        path: &path,
        query: "",
        body: body.clone(),
        project_header: Some(&project),
        date: sdk_date(0),
    };

    let r = send_signed(&app, &ak, &sk, good(), |_| {}).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["instance_id"].as_str().unwrap().ends_with("in01"));
    // A signed GET with a query string.
    let list = Signed {
        method: Method::GET,
        path: &path,
        query: "offset=0&limit=10",
        body: vec![],
        ..good()
    };
    let r = send_signed(&app, &ak, &sk, list, |_| {}).await;
    assert_eq!(
        (r.status, r.body["total"].clone()),
        (StatusCode::OK, json!(1)),
        "{}",
        r.text
    );

    let refused: Vec<(&str, Resp, &str)> = vec![
        (
            "tampered body",
            send_signed(&app, &ak, &sk, good(), |b| b.extend(b" ")).await,
            "does not match",
        ),
        (
            "wrong secret",
            send_signed(&app, &ak, "not-the-secret", good(), |_| {}).await,
            "does not match",
        ),
        (
            "stale date",
            send_signed(
                &app,
                &ak,
                &sk,
                Signed {
                    date: sdk_date(-16 * 60),
                    ..good()
                },
                |_| {},
            )
            .await,
            "15 minutes",
        ),
        (
            "future date",
            send_signed(
                &app,
                &ak,
                &sk,
                Signed {
                    date: sdk_date(16 * 60),
                    ..good()
                },
                |_| {},
            )
            .await,
            "15 minutes",
        ),
        (
            "unknown key",
            send_signed(&app, "AKUNKNOWN00000000000", &sk, good(), |_| {}).await,
            "unknown",
        ),
        (
            "other project's id",
            send_signed(
                &app,
                &ak,
                &sk,
                Signed {
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
        assert!(!r.text.contains(&sk), "{what}: the secret leaked");
    }
    // Signed, but the key's user has no role on the other project: 403 as with a token.
    let other_path = format!("/v3/{other}/instances");
    let r = send_signed(
        &app,
        &ak,
        &sk,
        Signed {
            path: &other_path,
            project_header: Some(&other),
            ..good()
        },
        |_| {},
    )
    .await;
    assert_das_error(&r, 403, "APIGW.0302");
    let listed = app.expect(Method::GET, &path, None, 200).await;
    assert_eq!(listed["total"], 1, "the refused requests created nothing");
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
    let (access, _) = access_key(&app, &alice_token, &alice).await;
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

fn sdk_python() -> PathBuf {
    let path = std::env::var_os("DBKILL_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python")
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which creates the Python venv with huaweicloudsdkdas",
        path.display()
    );
    path
}

#[tokio::test]
async fn the_official_python_sdk_drives_dbkill() {
    let python = sdk_python();
    let app = spawn_app().await;
    let db = shared();
    let project = app.create_project(&unique_name("sdk")).await;
    let instance = app
        .create_instance(&project, json!({"name": "maria", "datastore_type": "mariadb", "host": db.host(), "port": db.port()}))
        .await;
    let admin_id = admin_user_id(&app).await;
    let (ak, sk) = access_key(&app, &app.admin_token, &admin_id).await;
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

    let out = tokio::task::spawn_blocking({
        let base = app.base.clone();
        move || {
            Command::new(python)
                .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/das_e2e.py"))
                .env("DBKILL_ENDPOINT", base)
                .env("DBKILL_AK", ak)
                .env("DBKILL_SK", sk)
                .env("DBKILL_PROJECT", project)
                .env("DBKILL_INSTANCE", instance)
                .env("DBKILL_DB_USER", killer)
                .env("DBKILL_DB_PASSWORD", "pw")
                .env("DBKILL_VICTIM_USER", by_user)
                .env("DBKILL_VICTIM_COUNT", "3")
                .env("DBKILL_VICTIM_IDS", ids.join(","))
                .output()
                .unwrap()
        }
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "SDK script failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
    for (conn, id) in victims.iter_mut().chain(listed.iter_mut()) {
        assert!(!db.alive(*id), "{id} survived");
        assert!(!usable(conn).await);
    }
    assert!(
        usable(&mut bystander.0).await,
        "a session not named was killed"
    );
}

async fn admin_user_id(app: &TestApp) -> String {
    let r = app.try_login("admin", ADMIN_PASSWORD, None).await;
    r.body["token"]["user"]["id"].as_str().unwrap().to_owned()
}
