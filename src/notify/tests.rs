//! The notifier against real local HTTP listeners (hyper on 127.0.0.1): what arrives, retries,
//! redirects, the full queue, and the URL check.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::*;

/// One request as the listener saw it.
struct Received {
    path: String,
    content_type: String,
    body: Value,
}

/// A webhook on 127.0.0.1 that answers its n-th request (from 0) with `answer(n)`.
struct Webhook {
    url: String,
    requests: mpsc::UnboundedReceiver<Received>,
}

async fn webhook(answer: fn(usize) -> Response<Full<Bytes>>) -> Webhook {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks/secret-path", tcp.local_addr().unwrap());
    let (tx, requests) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        loop {
            let (stream, _) = tcp.accept().await.unwrap();
            let (tx, seen) = (tx.clone(), seen.clone());
            let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                let (tx, n) = (tx.clone(), seen.fetch_add(1, Ordering::SeqCst));
                async move {
                    let path = req.uri().path().to_owned();
                    let content_type = req
                        .headers()
                        .get("content-type")
                        .map(|v| v.to_str().unwrap().to_owned())
                        .unwrap_or_default();
                    let bytes = req.into_body().collect().await?.to_bytes();
                    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let _ = tx.send(Received {
                        path,
                        content_type,
                        body,
                    });
                    Ok::<_, hyper::Error>(answer(n))
                }
            });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service),
            );
        }
    });
    Webhook { url, requests }
}

fn status(code: u16) -> Response<Full<Bytes>> {
    Response::builder()
        .status(StatusCode::from_u16(code).unwrap())
        .body(Full::new(Bytes::from_static(b"ok")))
        .unwrap()
}

/// The production schedule's five retries, 10 ms apart, so a test waits milliseconds.
fn fast() -> Delivery {
    Delivery {
        retry_delays: vec![Duration::from_millis(10); 5],
        attempt_timeout: Duration::from_secs(5),
        connect_timeout: Duration::from_secs(2),
    }
}

fn event(task_id: i64) -> RuleEvent {
    RuleEvent {
        kind: RuleEventKind::Killed,
        project_id: "p1".into(),
        instance_id: "i1".into(),
        instance_name: "prod-db".into(),
        task_id,
        rule_name: "long reports".into(),
        killed: vec![
            KilledSession {
                id: 123,
                user: "app".into(),
                host: "10.0.0.5".into(),
                db: "reports".into(),
                command: "Query".into(),
                time: 12,
            },
            KilledSession {
                id: 124,
                user: "app".into(),
                host: "10.0.0.6".into(),
                db: "reports".into(),
                command: "Sleep".into(),
                time: 300,
            },
        ],
        would_kill: 0,
        time_ms: 1_700_000_000_000,
    }
}

async fn next(hook: &mut Webhook) -> Received {
    tokio::time::timeout(Duration::from_secs(10), hook.requests.recv())
        .await
        .expect("the webhook got no request within 10 s")
        .expect("the listener is running")
}

/// Waits until `stats()` satisfies `done` (the counters move after the answer is read).
async fn stats_until(notifier: &Notifier, done: impl Fn(NotifyStats) -> bool) -> NotifyStats {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let stats = notifier.stats();
        if done(stats) {
            return stats;
        }
        assert!(Instant::now() < deadline, "stats stuck at {stats:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_event_reaches_the_webhook_as_the_contracts_json() {
    let mut hook = webhook(|_| status(200)).await;
    let notifier = Notifier::start(Some(hook.url.clone()), 10).unwrap();
    notifier.send(event(5));

    let got = next(&mut hook).await;
    assert_eq!(got.path, "/hooks/secret-path");
    assert_eq!(got.content_type, "application/json");
    assert_eq!(
        got.body,
        json!({
            "event": "rule_kill",
            "project_id": "p1",
            "instance_id": "i1",
            "instance_name": "prod-db",
            "task_id": 5,
            "rule_name": "long reports",
            "killed": [
                {"id": "123", "user": "app", "host": "10.0.0.5", "db": "reports",
                 "command": "Query", "time": 12},
                {"id": "124", "user": "app", "host": "10.0.0.6", "db": "reports",
                 "command": "Sleep", "time": 300},
            ],
            "time": 1_700_000_000_000_i64,
            "text": "dbkill: rule \"long reports\" (task 5) killed 2 sessions on prod-db: \
                     123 (app@10.0.0.5, 12 s), 124 (app@10.0.0.6, 300 s)",
        })
    );
    let stats = stats_until(&notifier, |s| s.delivered == 1).await;
    assert_eq!(
        stats,
        NotifyStats {
            delivered: 1,
            failed: 0,
            dropped: 0
        }
    );
}

#[tokio::test]
async fn events_are_delivered_in_the_order_sent() {
    let mut hook = webhook(|_| status(204)).await;
    let notifier = Notifier::start_with(Some(hook.url.clone()), 10, fast()).unwrap();
    for task in 1..=3 {
        notifier.send(event(task));
    }
    for task in 1..=3 {
        assert_eq!(next(&mut hook).await.body["task_id"], task);
    }
    stats_until(&notifier, |s| s.delivered == 3).await;
}

#[tokio::test]
async fn two_500s_then_a_200_deliver_on_the_third_attempt() {
    let mut hook = webhook(|n| status(if n < 2 { 500 } else { 200 })).await;
    let notifier = Notifier::start_with(Some(hook.url.clone()), 10, fast()).unwrap();
    notifier.send(event(7));

    for _ in 0..3 {
        assert_eq!(next(&mut hook).await.body["task_id"], 7);
    }
    let stats = stats_until(&notifier, |s| s.delivered == 1).await;
    assert_eq!(
        stats,
        NotifyStats {
            delivered: 1,
            failed: 0,
            dropped: 0
        }
    );
    // Delivered means no further attempt.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(hook.requests.try_recv().is_err());
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_given_up_after_the_retries() {
    let mut hook = webhook(|_| status(503)).await;
    let notifier = Notifier::start_with(Some(hook.url.clone()), 10, fast()).unwrap();
    notifier.send(event(8));

    let stats = stats_until(&notifier, |s| s.failed == 1).await;
    assert_eq!(
        stats,
        NotifyStats {
            delivered: 0,
            failed: 1,
            dropped: 0
        }
    );
    let mut attempts = 0;
    while hook.requests.try_recv().is_ok() {
        attempts += 1;
    }
    assert_eq!(attempts, 6, "one attempt and five retries");
}

#[tokio::test]
async fn a_redirect_is_a_failure_and_is_not_followed() {
    let mut hook = webhook(|_| {
        Response::builder()
            .status(StatusCode::FOUND)
            .header("location", "/elsewhere")
            .body(Full::new(Bytes::new()))
            .unwrap()
    })
    .await;
    let notifier = Notifier::start_with(Some(hook.url.clone()), 10, fast()).unwrap();
    notifier.send(event(9));

    stats_until(&notifier, |s| s.failed == 1).await;
    while let Ok(got) = hook.requests.try_recv() {
        assert_eq!(got.path, "/hooks/secret-path");
    }
}

#[tokio::test]
async fn an_unreachable_webhook_is_given_up_too() {
    // A port that was just free: nothing listens, so each attempt is refused at once.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let notifier =
        Notifier::start_with(Some(format!("http://127.0.0.1:{port}/h")), 10, fast()).unwrap();
    notifier.send(event(10));
    stats_until(&notifier, |s| s.failed == 1).await;
}

#[tokio::test]
async fn a_full_queue_drops_and_send_never_waits() {
    // Accepts connections (the kernel's backlog) but never answers: the first event hangs in
    // its attempt and the queue behind it fills.
    let silent = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/h", silent.local_addr().unwrap());
    let notifier = Notifier::start(Some(url), 2).unwrap();

    let started = Instant::now();
    for task in 0..10 {
        notifier.send(event(task));
    }
    let took = started.elapsed();
    assert!(took < Duration::from_millis(50), "10 sends took {took:?}");
    // The test's current-thread runtime has not run the delivery task yet (nothing awaited),
    // so the queue of 2 took the first two events and dropped the other eight.
    assert_eq!(
        notifier.stats(),
        NotifyStats {
            delivered: 0,
            failed: 0,
            dropped: 8
        }
    );
    drop(silent);
}

#[tokio::test]
async fn a_disabled_notifier_drops_without_counting() {
    for notifier in [Notifier::disabled(), Notifier::start(None, 10).unwrap()] {
        notifier.send(event(1));
        assert_eq!(notifier.stats(), NotifyStats::default());
    }
}

#[tokio::test]
async fn a_url_that_is_not_http_is_refused_without_showing_it() {
    for url in [
        "ftp://hooks.example.com/services/T000/B000/XXXXsecret",
        "hooks.example.com/services/T000/B000/XXXXsecret",
        "file:///services/T000/B000/XXXXsecret",
        "http://:80/services/T000/B000/XXXXsecret",
        "XXXXsecret",
    ] {
        let err = Notifier::start(Some(url.into()), 10).unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, NotifyError::BadUrl), "{url}: {err:?}");
        assert!(!text.contains("XXXXsecret"), "{url}: {text}");
        assert!(!text.contains("hooks.example.com"), "{url}: {text}");
    }
}

#[tokio::test]
async fn an_empty_queue_is_refused() {
    let err = Notifier::start(Some("https://hooks.example.com/x".into()), 0).unwrap_err();
    assert!(matches!(err, NotifyError::EmptyQueue), "{err:?}");
}

#[test]
fn starting_outside_a_runtime_is_an_error_not_a_panic() {
    let err = Notifier::start(Some("https://hooks.example.com/x".into()), 10).unwrap_err();
    assert!(matches!(err, NotifyError::NoRuntime), "{err:?}");
}
