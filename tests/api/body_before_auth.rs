//! Credentials are checked before a body is read: a flood of large bodies under a made-up
//! signature costs the real `dbkill serve` no memory, a caller without credentials may send only
//! what a login needs, and an authenticated caller still gets the size error for a large body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::helpers::app::{ADMIN_PASSWORD, spawn_app};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::serve::ServeProcess;
use crate::helpers::signed::{ToSign, access_key, sdk_date, sign};
use crate::support::mariadb::unique_name;

const MIB: usize = 1024 * 1024;

/// `VmRSS` and `VmHWM` (peak) of `pid`, in MiB.
fn memory_mib(pid: u32) -> (usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> usize {
        let line = status.lines().find(|l| l.starts_with(name)).unwrap();
        let kib: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// One request with a made-up `SDK-HMAC-SHA256` signature and a `body` of 8 MiB; returns the
/// status line, or "no answer (…)" with what went wrong (the server may close the connection
/// before the body is sent: it is refused unread).
async fn forged_signed_upload(
    addr: String,
    access: String,
    date: String,
    body: Arc<Vec<u8>>,
) -> String {
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "DELETE /v3/0123456789abcdef0123456789abcdef/instances/{}in01/process HTTP/1.1\r\n\
         Host: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         X-Sdk-Date: {date}\r\n\
         Authorization: SDK-HMAC-SHA256 Access={access}, SignedHeaders=host;x-sdk-date, Signature={}\r\n\r\n",
        "0".repeat(32),
        body.len(),
        "ab".repeat(32)
    );
    if let Err(e) = stream.write_all(head.as_bytes()).await {
        return format!("no answer (head: {e})");
    }
    let sent = stream.write_all(&body).await;
    let mut answer = vec![0u8; 64];
    match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer)).await {
        Ok(Ok(n)) if n > 0 => String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_owned(),
        other => format!("no answer ({other:?}, body sent: {sent:?})"),
    }
}

/// `n` concurrent uploads of `size` bytes under `access` with a wrong signature, against the
/// child `dbkill serve`; returns its memory (idle, peak) in MiB and checks that each upload was
/// refused and that memory went back to within 30 MiB of idle.
async fn flood(dbkill: &ServeProcess, access: &str, n: usize, size: usize) -> (usize, usize) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let pid = dbkill.pid();
    let (idle, _) = memory_mib(pid);
    let addr = dbkill.base.trim_start_matches("http://").to_owned();
    let body = Arc::new(vec![b'x'; size]);
    let mut uploads = JoinSet::new();
    for _ in 0..n {
        uploads.spawn(forged_signed_upload(
            addr.clone(),
            access.to_owned(),
            sdk_date(0),
            body.clone(),
        ));
    }
    let answers = uploads.join_all().await;
    let (_, peak) = memory_mib(pid);
    // Each is refused: a 401 or 429, or the connection closed on a body nobody reads (never a
    // hang).
    assert!(
        answers.iter().all(|a| a.starts_with("HTTP/1.1 401")
            || a.starts_with("HTTP/1.1 429")
            || (a.starts_with("no answer") && !a.contains("Elapsed"))),
        "{answers:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (now, _) = memory_mib(pid);
        if now <= idle + 30 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "after the flood: {now} MiB, idle {idle} MiB"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (idle, peak)
}

#[tokio::test]
async fn a_flood_of_forged_signed_uploads_holds_no_memory() {
    let dir = tempfile::tempdir().unwrap();
    let dbkill = ServeProcess::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    dbkill.login().await;
    let (idle, peak) = flood(&dbkill, "AKFORGED0000000000", 100, 8 * MIB).await;
    assert!(
        peak <= idle + 150,
        "100 forged 8 MiB uploads: peak {peak} MiB, idle {idle} MiB"
    );
    // It still serves.
    dbkill.login().await;
}

/// An access key's id is no secret: large bodies under a real one are read only a few at a time
/// until their signature is proven.
#[tokio::test]
async fn a_flood_of_large_uploads_under_a_real_key_id_holds_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let dbkill = ServeProcess::start(&dir.path().join("data"), &dir.path().join("log"), &[]).await;
    let token = dbkill.login().await;
    // A login answers the user's id too (the token sent with it is ignored).
    let admin = dbkill
        .expect(
            &token,
            Method::POST,
            "/v3/auth/tokens",
            Some(json!({"auth": {"identity": {"methods": ["password"],
                "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}})),
            201,
        )
        .await;
    let user_id = admin["token"]["user"]["id"].as_str().unwrap();
    let key = dbkill
        .expect(
            &token,
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials",
            Some(json!({"credential": {"user_id": user_id}})),
            201,
        )
        .await;
    let access = key["credential"]["access"].as_str().unwrap();
    let (idle, peak) = flood(&dbkill, access, 100, MIB).await;
    assert!(
        peak <= idle + 64,
        "100 wrongly signed 1 MiB uploads under a real key: peak {peak} MiB, idle {idle} MiB"
    );
}

#[tokio::test]
async fn a_caller_without_credentials_may_send_only_what_a_login_needs() {
    let app = spawn_app().await;
    let padding = "x".repeat(100 * 1024);
    let login = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": "admin", "password": ADMIN_PASSWORD}}}}, "padding": padding});
    let body = serde_json::to_vec(&login).unwrap();
    let r = app
        .raw_request(
            Method::POST,
            "/v3/auth/tokens",
            None,
            &[],
            Some(body.clone()),
        )
        .await;
    assert_das_error_says(&r, 400, "DAS.200100", "64 KiB");
    // The same size is fine for a caller with a token (an unknown field is ignored).
    let named = json!({"project": {"name": unique_name("big")}, "padding": padding});
    let r = app
        .call(Method::POST, "/v3/projects", &app.admin_token, Some(named))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Without a token, a protected route answers 401 and never reads the body.
    let r = app
        .raw_request(Method::POST, "/v3/projects", None, &[], Some(body))
        .await;
    assert_das_error(&r, 401, "APIGW.0301");
}

#[tokio::test]
async fn an_authenticated_signed_upload_over_the_limit_gets_the_size_error() {
    let app = spawn_app().await;
    let admin = app.try_login("admin", ADMIN_PASSWORD, None).await;
    let admin_id = admin.body["token"]["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = access_key(&app, &app.admin_token, &admin_id).await;
    let project = app.create_project(&unique_name("large")).await;
    let path = format!("/v3/{project}/instances");
    let big = json!({"name": "x", "padding": "y".repeat(2 * MIB)});
    let call = sign(
        &app,
        &key,
        ToSign::new(
            Method::POST,
            &path,
            &project,
            serde_json::to_vec(&big).unwrap(),
        ),
    );
    assert_das_error_says(&call.send(&app).await, 400, "DAS.200100", "1 MiB");
    // A wrong signature on the same body is a 401, not a size error.
    let mut forged = call.clone();
    forged.body[10] = b'z';
    assert_das_error(&forged.send(&app).await, 401, "APIGW.0301");
}
