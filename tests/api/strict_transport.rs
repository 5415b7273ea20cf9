//! Strict transport: only JSON bodies are read (a `text/plain` login from another site is
//! refused and nothing changes); every refusal of the HTTP layer itself — a request target too
//! long, too many headers, a broken request line — carries the DAS error envelope; revoking a
//! token that is not the caller's answers exactly like revoking one that does not exist.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::app::{ADMIN_PASSWORD, Resp, TestApp, spawn_app};
use crate::helpers::errors::{assert_das_error_says, assert_envelope};
use crate::helpers::raw_http::{RawAnswer, exchange};

/// A login body as a browser on another origin would send it: `text/plain`, no preflight.
fn login_body() -> Vec<u8> {
    serde_json::to_vec(&json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}}))
    .unwrap()
}

#[tokio::test]
async fn bodies_that_are_not_json_are_refused_and_change_nothing() {
    let app = spawn_app().await;
    for content_type in [
        Some("text/plain;charset=UTF-8"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut req = app
            .client
            .post(format!("{}/v3/auth/tokens", app.base))
            .body(login_body());
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{content_type:?}");
        assert!(
            resp.headers().get("x-subject-token").is_none(),
            "no token issued"
        );
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["error_code"], "DAS.200100", "{body}");
        assert!(
            body["error_msg"].as_str().unwrap().contains("Content-Type"),
            "{body}"
        );

        let created = app
            .client
            .post(format!("{}/v3/projects", app.base))
            .header("X-Auth-Token", &app.admin_token)
            .header("content-type", content_type.unwrap_or("text/plain"))
            .body(r#"{"project":{"name":"from-elsewhere"}}"#)
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), StatusCode::BAD_REQUEST);
    }
    let projects = app.expect(Method::GET, "/v3/projects", None, 200).await;
    assert_eq!(projects["projects"], json!([]), "nothing was created");

    let json_with_charset = app
        .client
        .post(format!("{}/v3/auth/tokens", app.base))
        .header("content-type", "application/json; charset=utf-8")
        .body(login_body())
        .send()
        .await
        .unwrap();
    assert_eq!(json_with_charset.status(), StatusCode::CREATED);
}

#[track_caller]
fn assert_raw_envelope(r: &RawAnswer, status: u16, says: &str) {
    assert_eq!(r.status, status, "{}\n{}", r.head, r.body);
    assert_eq!(r.body["error_code"], "APIGW.0201", "{}", r.body);
    let msg = r.body["error_msg"].as_str().unwrap_or("");
    assert!(msg.contains(says), "{msg}");
    assert_eq!(r.body.as_object().unwrap().len(), 2, "{}", r.body);
    assert_eq!(
        r.header("content-type"),
        Some("application/json"),
        "{}",
        r.head
    );
    assert_eq!(
        r.header("x-request-id").map(str::len),
        Some(36),
        "{}",
        r.head
    );
}

#[tokio::test]
async fn refusals_of_the_http_layer_carry_a_das_body() {
    let app = spawn_app().await;
    let long_path = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(100_000));
    assert_raw_envelope(&exchange(&app.base, long_path.as_bytes()).await, 414, "URI");

    let mut many_headers = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for i in 0..200 {
        many_headers.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    many_headers.push_str("\r\n");
    assert_raw_envelope(
        &exchange(&app.base, many_headers.as_bytes()).await,
        431,
        "headers",
    );

    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(600_000)
    );
    assert_raw_envelope(
        &exchange(&app.base, huge_header.as_bytes()).await,
        431,
        "headers",
    );

    for broken in [
        &b"NOT AN HTTP REQUEST\r\n\r\n"[..],
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /healthz HTTP/1.1\r\nBad Header Name: x\r\n\r\n",
    ] {
        assert_raw_envelope(&exchange(&app.base, broken).await, 400, "HTTP/1.1");
    }

    // An answer after a good request on the same connection is still the router's own.
    let pipelined = exchange(
        &app.base,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    )
    .await;
    assert_eq!(pipelined.status, 200, "{}", pipelined.head);
}

async fn revoke(app: &TestApp, caller: &str, subject: &str) -> Resp {
    app.raw_request(
        Method::DELETE,
        "/v3/auth/tokens",
        Some(caller),
        &[("X-Subject-Token", subject)],
        None,
    )
    .await
}

#[tokio::test]
async fn another_users_token_and_an_unknown_one_are_refused_alike() {
    let app = spawn_app().await;
    app.create_user("alice", "password-123").await;
    app.create_user("bob", "password-123").await;
    let alice = app.login("alice", "password-123", None).await;
    let bob = app.login("bob", "password-123", None).await;

    let someone_elses = revoke(&app, &bob, &alice).await;
    let unknown = revoke(&app, &bob, &format!("dbk_{}", "0".repeat(40))).await;
    assert_envelope(&someone_elses, 401, "APIGW.0301");
    assert_eq!(
        (someone_elses.status, &someone_elses.text),
        (unknown.status, &unknown.text),
        "the two answers must not tell the tokens apart"
    );
    assert_das_error_says(&unknown, 401, "APIGW.0301", "not the caller's");
    // Alice's token still works: nothing was revoked.
    let r = app.call(Method::GET, "/v3/projects", &alice, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}
