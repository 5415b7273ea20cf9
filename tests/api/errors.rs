//! The error envelope on every path: codes, both languages, request ids, body limits, unknown
//! routes, and the open operational endpoints.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::app::{TestApp, spawn_app, spawn_app_with, uuid_hex};
use crate::helpers::errors::{assert_das_error, assert_envelope};

/// Calls `path` once per language and checks the code and that the messages differ by language.
async fn both_languages(
    app: &TestApp,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&[u8]>,
    status: u16,
    code: &str,
) {
    let mut msgs = vec![];
    for lang in ["en-us", "ZH-cn"] {
        let r = app
            .raw_request(
                method.clone(),
                path,
                token,
                &[("X-Language", lang)],
                body.map(<[u8]>::to_vec),
            )
            .await;
        assert_envelope(&r, status, code);
        msgs.push(r.msg().to_owned());
    }
    assert!(msgs[0].is_ascii(), "English message: {}", msgs[0]);
    assert!(!msgs[1].is_ascii(), "Chinese message: {}", msgs[1]);
}

#[tokio::test]
async fn every_identity_and_catalog_error_in_both_languages() {
    let app = spawn_app().await;
    let t = app.admin_token.clone();
    let p = app.create_project("errs").await;
    let inst = app
        .create_instance(
            &p,
            json!({"name": "db", "datastore_type": "mysql", "host": "127.0.0.1", "port": 1}),
        )
        .await;
    let viewer = app.user_with_role(&p, "viewer").await;
    let db_users = format!("/v3/{p}/instances/{inst}/db-users");

    both_languages(
        &app,
        Method::POST,
        &format!("/v3/{p}/instances"),
        Some(&t),
        Some(b"{nope"),
        400,
        "DAS.200100",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        &format!("/v3/{p}/instances?offset=-1"),
        Some(&t),
        None,
        400,
        "DAS.200103",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        &format!("/v3/{p}/instances?limit=0"),
        Some(&t),
        None,
        400,
        "DAS.200104",
    )
    .await;
    both_languages(
        &app,
        Method::POST,
        &format!("/v3/{p}/instances"),
        Some(&t),
        Some(br#"{"name":"x","datastore_type":"oracle","host":"h","port":1}"#),
        400,
        "DAS.200107",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        &format!("{db_users}/not-a-uuid"),
        Some(&t),
        None,
        400,
        "DAS.200112",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        "/v3/bad_id/instances",
        Some(&t),
        None,
        400,
        "DAS.200113",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        &format!("/v3/{p}/instances/{}in01", uuid_hex()),
        Some(&t),
        None,
        400,
        "DAS.200114",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        "/v3/projects",
        None,
        None,
        401,
        "APIGW.0301",
    )
    .await;
    both_languages(
        &app,
        Method::POST,
        &format!("/v3/{p}/instances"),
        Some(&viewer),
        Some(b"{}"),
        403,
        "APIGW.0302",
    )
    .await;
    both_languages(
        &app,
        Method::GET,
        "/no/such/route",
        Some(&t),
        None,
        404,
        "APIGW.0101",
    )
    .await;
    both_languages(
        &app,
        Method::POST,
        "/v3/projects",
        Some(&t),
        Some(br#"{"project":{"name":"errs"}}"#),
        409,
        "IAM.0409",
    )
    .await;
    // Nothing listens on port 1: the login check cannot reach the instance.
    both_languages(
        &app,
        Method::POST,
        &db_users,
        Some(&t),
        Some(br#"{"db_username":"u","db_user_password":"p","datastore_type":"MySQL"}"#),
        500,
        "DAS.210001",
    )
    .await;
}

#[tokio::test]
async fn request_ids_are_fresh_or_echoed_on_every_response() {
    let app = spawn_app().await;
    let ok = app
        .raw_request(Method::GET, "/healthz", None, &[], None)
        .await;
    let err = app
        .raw_request(Method::GET, "/nowhere", None, &[], None)
        .await;
    for r in [&ok, &err] {
        let id = r.headers["x-request-id"].to_str().unwrap();
        assert_eq!(id.len(), 36, "{id}");
    }
    let echoed = app
        .raw_request(
            Method::GET,
            "/v3/projects",
            None,
            &[("X-Request-Id", "my-own-id-42")],
            None,
        )
        .await;
    assert_eq!(echoed.headers["x-request-id"], "my-own-id-42");
}

#[tokio::test]
async fn oversized_bodies_get_a_400_not_a_reset() {
    let app = spawn_app().await;
    let p = app.create_project("big").await;
    let mut big = br#"{"name":""#.to_vec();
    big.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    big.extend(br#"","datastore_type":"mysql","host":"h","port":1}"#);
    let r = app
        .raw_request(
            Method::POST,
            &format!("/v3/{p}/instances"),
            Some(&app.admin_token),
            &[],
            Some(big),
        )
        .await;
    assert_envelope(&r, 400, "DAS.200100");
    assert!(r.msg().contains("1 MiB"), "{}", r.msg());
    let listed = app
        .expect(Method::GET, &format!("/v3/{p}/instances"), None, 200)
        .await;
    assert_eq!(listed["total"], 0, "nothing was stored");
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json_404() {
    let app = spawn_app().await;
    let r = app.raw_request(Method::GET, "/", None, &[], None).await;
    assert_envelope(&r, 404, "APIGW.0101");
    let r = app
        .raw_request(Method::PATCH, "/v3/projects", None, &[], None)
        .await;
    assert_envelope(&r, 404, "APIGW.0101");
}

#[tokio::test]
async fn hostile_inputs_never_cause_a_500() {
    let app = spawn_app().await;
    let t = app.admin_token.clone();
    let p = app.create_project("fuzz").await;
    let bodies: Vec<&[u8]> = vec![
        b"",
        b"null",
        b"[]",
        b"\"s\"",
        b"123",
        b"{\"name\":null}",
        b"{\"port\":\"80\"}",
        b"{\"protected_users\":\"root\"}",
        b"{\"protected_users\":[1]}",
        b"\xff\xfe",
        b"{\"name\":\"\\u0000\",\"datastore_type\":\"mysql\",\"host\":\"h\",\"port\":1}",
        b"{\"name\":\"n\",\"datastore_type\":\"mysql\",\"host\":\"h\",\"port\":70000}",
        b"{\"name\":\"n\",\"datastore_type\":\"mysql\",\"host\":\"h\",\"port\":1,\"typo\":1}",
    ];
    for body in bodies {
        let r = app
            .raw_request(
                Method::POST,
                &format!("/v3/{p}/instances"),
                Some(&t),
                &[],
                Some(body.to_vec()),
            )
            .await;
        assert_das_error(&r, 400, "DAS.200100");
    }
    for path in [
        "/v3/%FF/instances",
        "/v3/a%2Fb/instances",
        "/v3/projects/x/users/y/roles/z",
        "/v3//instances",
    ] {
        let r = app
            .raw_request(Method::GET, path, Some(&t), &[], None)
            .await;
        assert!(r.status.is_client_error(), "{path}: {}", r.text);
        assert!(!r.code().is_empty(), "{path}: {}", r.text);
    }
    let listed = app
        .expect(Method::GET, &format!("/v3/{p}/instances"), None, 200)
        .await;
    assert_eq!(listed["total"], 0);
}

#[tokio::test]
async fn health_metrics_and_openapi_need_no_credentials() {
    let app = spawn_app().await;
    let r = app
        .raw_request(Method::GET, "/healthz", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    app.raw_request(Method::GET, "/v3/projects", None, &[], None)
        .await;
    let r = app
        .raw_request(Method::GET, "/metrics", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.text.contains("dbkill_http_requests_total"), "{}", r.text);
    assert!(r.text.contains("route=\"/v3/projects\""), "{}", r.text);
    assert!(r.text.contains("status=\"401\""), "{}", r.text);
    assert!(
        r.text
            .contains("dbkill_http_request_duration_seconds_bucket"),
        "{}",
        r.text
    );

    let r = app
        .raw_request(Method::GET, "/openapi.json", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let paths = r.body["paths"].as_object().unwrap();
    let expected = [
        ("/v3/auth/tokens", vec!["post", "delete"]),
        ("/v3/projects", vec!["post", "get"]),
        ("/v3/users", vec!["post"]),
        ("/v3.0/OS-CREDENTIAL/credentials", vec!["post", "get"]),
        ("/v3.0/OS-CREDENTIAL/credentials/{access}", vec!["delete"]),
        (
            "/v3/projects/{project_id}/users/{user_id}/roles/{role}",
            vec!["put", "delete"],
        ),
        ("/v3/{project_id}/instances", vec!["post", "get"]),
        (
            "/v3/{project_id}/instances/{instance_id}",
            vec!["get", "delete"],
        ),
        (
            "/v3/{project_id}/instances/{instance_id}/db-users",
            vec!["post", "get"],
        ),
        (
            "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}",
            vec!["get", "put", "delete"],
        ),
        (
            "/v3/{project_id}/instances/{instance_id}/processes",
            vec!["get"],
        ),
        (
            "/v3/{project_id}/instances/{instance_id}/process",
            vec!["delete"],
        ),
        (
            "/v3/{project_id}/instances/{instance_id}/auto-flow/query-kill-process-history",
            vec!["get"],
        ),
        ("/healthz", vec!["get"]),
        ("/metrics", vec!["get"]),
        ("/openapi.json", vec!["get"]),
    ];
    for (path, methods) in expected {
        for m in methods {
            assert!(
                paths.get(path).and_then(|p| p.get(m)).is_some(),
                "openapi lacks {m} {path}"
            );
        }
    }
}

#[tokio::test]
async fn callers_over_their_rate_get_429_in_both_languages() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 3;
    })
    .await;
    // spawn_app's own login used one request of the anonymous caller; a token is its own caller.
    let token = app.admin_token.clone();
    for _ in 0..3 {
        let r = app.call(Method::GET, "/v3/projects", &token, None).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    both_languages(
        &app,
        Method::GET,
        "/v3/projects",
        Some(&token),
        None,
        429,
        "APIGW.0308",
    )
    .await;
    // Another caller is not affected.
    let r = app
        .raw_request(Method::GET, "/healthz", None, &[], None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
}
