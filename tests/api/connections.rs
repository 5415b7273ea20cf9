//! Connection hygiene on real sockets: a flood of silent connections over the cap while
//! `/healthz` must keep answering; a head or a body sent byte by byte; a kept-alive connection
//! left idle; one address holding more requests than its share; a graceful stop with a request
//! in flight. Each timeout is lowered by its setting so the tests take seconds.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::raw_http::{Ending, connect, read_answer, trickle, wait_for_close};

const FLOOD: usize = 2_000;
const CAP: u64 = 100;

/// One `/healthz` on a fresh connection; how long it took.
async fn healthz_latency(app: &TestApp) -> Duration {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let started = Instant::now();
    let r = client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .expect("/healthz answers during the flood");
    assert_eq!(r.status(), StatusCode::OK);
    started.elapsed()
}

/// Whether the server has closed `s` (EOF or reset), without waiting.
fn is_closed(s: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    match s.try_read(&mut byte) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
    }
}

#[tokio::test]
async fn a_flood_of_silent_connections_cannot_keep_healthz_out() {
    let app = spawn_app_with(|s| s.max_connections = CAP).await;
    let addr = crate::helpers::raw_http::addr_of(&app.base);
    let flood = tokio::spawn(async move {
        let mut sockets = Vec::with_capacity(FLOOD);
        for _ in 0..FLOOD {
            sockets.push(TcpStream::connect(&addr).await.expect("the flood connects"));
        }
        sockets
    });
    // Past the cap several times over before the first probe.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut latencies = vec![];
    for _ in 0..5 {
        latencies.push(healthz_latency(&app).await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let sockets = flood.await.unwrap();
    latencies.push(healthz_latency(&app).await);
    let slowest = latencies.iter().max().unwrap();
    assert!(*slowest < Duration::from_secs(1), "{latencies:?}");

    // All but the last `CAP` or so of the flood are closed: the server holds no more than its cap.
    let deadline = Instant::now() + Duration::from_secs(5);
    let closed = loop {
        let closed = sockets.iter().filter(|s| is_closed(s)).count();
        if closed >= FLOOD - CAP as usize - 10 || Instant::now() > deadline {
            break closed;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        closed >= FLOOD - CAP as usize - 10,
        "only {closed} of {FLOOD} flood connections were closed"
    );
    let metrics = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(r#"dbkill_http_connections_closed_total{reason="evicted"}"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_head_sent_byte_by_byte_is_cut_off_at_the_header_timeout() {
    let app = spawn_app_with(|s| s.header_read_timeout_ms = 1_000).await;

    let (mut read, mut write) = connect(&app.base).await.into_split();
    let slowloris = tokio::spawn(async move {
        let head = format!(
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: {}",
            "a".repeat(100)
        );
        trickle(&mut write, head.as_bytes(), Duration::from_millis(100)).await
    });
    let ending = wait_for_close(&mut read, Duration::from_secs(4)).await;
    assert!(
        matches!(ending, Ending::Closed(d) if d >= Duration::from_millis(900) && d < Duration::from_millis(2_500)),
        "{ending:?}"
    );
    slowloris.abort();

    let mut silent = connect(&app.base).await;
    let ending = wait_for_close(&mut silent, Duration::from_secs(4)).await;
    assert!(
        matches!(ending, Ending::Closed(d) if d < Duration::from_millis(2_500)),
        "a connection that never speaks: {ending:?}"
    );
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not() {
    let app = spawn_app_with(|s| s.keep_alive_timeout_ms = 1_000).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";

    let mut steady = connect(&app.base).await;
    for _ in 0..4 {
        steady.write_all(request).await.unwrap();
        let answer = read_answer(&mut steady, Duration::from_secs(2)).await;
        assert_eq!(
            answer.map(|a| a.status),
            Some(200),
            "a request every 600 ms keeps it open"
        );
        tokio::time::sleep(Duration::from_millis(600)).await;
    }

    let mut idle = connect(&app.base).await;
    idle.write_all(request).await.unwrap();
    let answer = read_answer(&mut idle, Duration::from_secs(2))
        .await
        .unwrap();
    assert_eq!(answer.status, 200);
    let ending = wait_for_close(&mut idle, Duration::from_secs(4)).await;
    assert!(
        matches!(ending, Ending::Closed(d) if d >= Duration::from_millis(900) && d < Duration::from_millis(2_500)),
        "{ending:?}"
    );
}

#[tokio::test]
async fn a_body_sent_byte_by_byte_gets_408_at_the_body_timeout() {
    let app = spawn_app_with(|s| s.body_read_timeout_ms = 1_000).await;
    let (mut read, mut write) = connect(&app.base).await.into_split();
    let started = Instant::now();
    let slow = tokio::spawn(async move {
        write
            .write_all(
                b"POST /v3/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 200\r\n\r\n{\"auth\":",
            )
            .await
            .unwrap();
        trickle(&mut write, &[b' '; 192], Duration::from_millis(100)).await
    });
    let answer = read_answer(&mut read, Duration::from_secs(4))
        .await
        .expect("an answer before the body is complete");
    let took = started.elapsed();
    assert_eq!(answer.status, 408, "{}", answer.head);
    assert_eq!(answer.body["error_code"], "APIGW.0201", "{}", answer.body);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_millis(2_500),
        "{took:?}"
    );
    assert!(
        matches!(
            wait_for_close(&mut read, Duration::from_secs(2)).await,
            Ending::Closed(_)
        ),
        "the connection is not reused after an unread body"
    );
    slow.abort();
}

#[tokio::test]
async fn one_address_cannot_hold_more_than_its_share_of_requests() {
    let app = spawn_app_with(|s| s.max_requests_per_client = 2).await;
    let head = b"POST /v3/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 100\r\n\r\n{";
    let mut holding = vec![];
    for _ in 0..2 {
        let mut s = connect(&app.base).await;
        s.write_all(head).await.unwrap();
        holding.push(s);
    }
    // Both requests are in their handlers, waiting for the rest of their bodies.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "1");
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_code"], "APIGW.0308", "{body}");

    drop(holding);
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let r = app
            .client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the share is given back when requests end"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_graceful_stop_closes_waiting_connections_and_answers_the_request_in_flight() {
    let mut app = spawn_app_with(|s| s.connect_timeout_ms = 1_500).await;
    // A "server" that accepts and never greets: registering a db user waits its connect timeout.
    let silent_target = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = silent_target.local_addr().unwrap().port();
    let held = tokio::spawn(async move {
        let mut held = vec![];
        while let Ok((s, _)) = silent_target.accept().await {
            held.push(s);
        }
    });
    let p = app.create_project("stopping").await;
    let instance = app
        .create_instance(
            &p,
            serde_json::json!({"name": "silent", "datastore_type": "mysql",
                               "host": "127.0.0.1", "port": port}),
        )
        .await;
    let in_flight = tokio::spawn({
        let (client, base, token) = (
            app.client.clone(),
            app.base.clone(),
            app.admin_token.clone(),
        );
        async move {
            client
                .post(format!("{base}/v3/{p}/instances/{instance}/db-users"))
                .header("X-Auth-Token", token)
                .json(
                    &serde_json::json!({"db_username": "u", "db_user_password": "p",
                                          "datastore_type": "MySQL"}),
                )
                .send()
                .await
        }
    });
    let mut waiting = connect(&app.base).await;
    waiting
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert_eq!(
        read_answer(&mut waiting, Duration::from_secs(2))
            .await
            .map(|a| a.status),
        Some(200)
    );
    tokio::time::sleep(Duration::from_millis(300)).await;

    let stopped = app.begin_stop();
    assert!(
        matches!(
            wait_for_close(&mut waiting, Duration::from_secs(1)).await,
            Ending::Closed(_)
        ),
        "a waiting connection is closed at once"
    );
    let answer = in_flight
        .await
        .unwrap()
        .expect("the request in flight is answered, not cut");
    assert_eq!(answer.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(
        body["error_code"], "DAS.210001",
        "the target's timeout, {body}"
    );
    tokio::time::timeout(Duration::from_secs(5), stopped)
        .await
        .expect("the server stops once the request is answered")
        .unwrap();
    assert!(
        TcpStream::connect(crate::helpers::raw_http::addr_of(&app.base))
            .await
            .is_err()
    );
    held.abort();
}
