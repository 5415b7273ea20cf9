//! Rate limits that cannot be dodged: requests without valid credentials count against the
//! client's address, valid ones against the user (not the token), failed logins against both the
//! name and the address with growing delays, and every 429 says when to come back.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;
use tokio::task::JoinSet;

use crate::helpers::app::{Resp, TestApp, spawn_app, spawn_app_with, uuid_hex};
use crate::helpers::errors::assert_das_error;
use crate::support::mariadb::unique_name;

/// The `Retry-After` of a 429, in seconds.
#[track_caller]
fn retry_after(r: &Resp) -> u64 {
    assert_das_error(r, 429, "APIGW.0308");
    let value = r.headers.get("retry-after").expect("a 429 has Retry-After");
    value
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After is seconds")
}

#[tokio::test]
async fn a_random_token_flood_gets_429_and_valid_callers_keep_their_budget() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 20;
    })
    .await;
    let mut statuses = vec![];
    let mut waits = vec![];
    for _ in 0..200 {
        let r = app
            .call(Method::GET, "/v3/projects", &uuid_hex(), None)
            .await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            waits.push(retry_after(&r));
        }
        statuses.push(r.status.as_u16());
    }
    let unauthorized = statuses.iter().filter(|s| **s == 401).count();
    assert!(
        unauthorized <= 21,
        "a random token is not a caller of its own: {unauthorized} answered 401"
    );
    assert_eq!(unauthorized + waits.len(), 200, "{statuses:?}");
    assert!(waits.iter().all(|w| (1..=2).contains(w)), "{waits:?}");
    // Another address is not affected…
    let elsewhere = reqwest::Client::builder()
        .local_address("127.0.0.9".parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let r = elsewhere
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // …and a valid token from the spent address acts on its user's budget.
    let r = app
        .call(Method::GET, "/v3/projects", &app.admin_token, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let metrics = app
        .raw_request(Method::GET, "/metrics", Some(&app.admin_token), &[], None)
        .await;
    assert!(
        metrics
            .text
            .contains(r#"dbkill_rate_limited_total{kind="address"}"#),
        "{}",
        metrics.text
    );
}

#[tokio::test]
async fn logins_of_one_user_share_one_budget() {
    let app = spawn_app_with(|s| {
        s.rate_limit_per_second = 1;
        s.rate_limit_burst = 10;
    })
    .await;
    let name = unique_name("twice");
    app.create_user(&name, "password-123").await;
    let tokens = [
        app.login(&name, "password-123", None).await,
        app.login(&name, "password-123", None).await,
    ];
    assert_ne!(tokens[0], tokens[1]);
    let mut ok = 0;
    let mut limited = vec![];
    for i in 0..30 {
        let r = app
            .call(Method::GET, "/v3/projects", &tokens[i % 2], None)
            .await;
        match r.status {
            StatusCode::OK => ok += 1,
            _ => limited.push(retry_after(&r)),
        }
    }
    assert!(
        (10..=12).contains(&ok),
        "two tokens of one user had {ok} requests, not one burst of 10"
    );
    // Another user is not affected.
    let r = app
        .call(Method::GET, "/v3/projects", &app.admin_token, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// A login from `from` (a loopback address: Linux routes all of 127/8 to the host).
async fn login_from(app: &TestApp, from: &str, name: &str, password: &str) -> (Resp, Duration) {
    login_at(&app.base, from, name, password).await
}

async fn login_at(base: &str, from: &str, name: &str, password: &str) -> (Resp, Duration) {
    let client = reqwest::Client::builder()
        .local_address(from.parse::<IpAddr>().unwrap())
        .build()
        .unwrap();
    let body = json!({"auth": {"identity": {"methods": ["password"],
        "password": {"user": {"name": name, "password": password}}}}});
    let started = Instant::now();
    let resp = client
        .post(format!("{base}/v3/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap();
    let r = Resp {
        request: format!("login {name} from {from}"),
        status,
        headers,
        body: serde_json::from_str(&text).unwrap_or_default(),
        text,
    };
    (r, started.elapsed())
}

/// Free attempts before failed logins slow down (per name and per address).
const FREE_FAILURES: usize = 5;

#[tokio::test]
async fn failed_logins_slow_down_by_name_and_by_address() {
    let app = spawn_app().await;
    let name = unique_name("guessed");
    app.create_user(&name, "password-123").await;
    let mut last_started = Instant::now();
    for i in 0..FREE_FAILURES {
        last_started = Instant::now();
        let (r, took) = login_from(&app, "127.0.0.2", &name, &format!("guess-{i}")).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
        assert!(
            took < Duration::from_millis(900),
            "attempt {i} took {took:?}"
        );
    }
    // Right away, at once: the name is slowed down from anywhere, even with the right
    // password, and the address for any name. A turn comes 1 s after the previous attempt
    // started.
    let started = Instant::now();
    let (by_name, by_address) = tokio::join!(
        login_from(&app, "127.0.0.3", &name, "password-123"),
        login_from(&app, "127.0.0.2", "admin", "not-the-password"),
    );
    for (what, (r, took)) in [("name", by_name), ("address", by_address)] {
        let after_previous = started.duration_since(last_started) + took;
        assert!(
            after_previous >= Duration::from_secs(1) || r.status == StatusCode::TOO_MANY_REQUESTS,
            "the next attempt on the {what} was not slowed: answered {after_previous:?} after \
             the previous one started: {}",
            r.text
        );
    }
    // Another name from another address is not.
    let (r, took) = login_from(&app, "127.0.0.4", "admin", "not-the-password").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
    assert!(took < Duration::from_millis(900), "{took:?}");
}

#[tokio::test]
async fn early_logins_are_refused_with_retry_after_instead_of_piling_up() {
    let app = spawn_app().await;
    let name = unique_name("piled");
    app.create_user(&name, "password-123").await;
    for i in 0..FREE_FAILURES {
        login_from(&app, "127.0.0.5", &name, &format!("guess-{i}")).await;
    }
    // 30 attempts at once: a few wait their turn, the rest are told when to come back.
    let started = Instant::now();
    let mut attempts = JoinSet::new();
    for i in 0..30 {
        let (base, name) = (app.base.clone(), name.clone());
        attempts.spawn(async move {
            login_at(&base, "127.0.0.5", &name, &format!("again-{i}"))
                .await
                .0
        });
    }
    let answers = attempts.join_all().await;
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "{:?}",
        started.elapsed()
    );
    let refused: Vec<u64> = answers
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .map(retry_after)
        .collect();
    assert!(refused.len() >= 20, "{} refused", refused.len());
    assert!(refused.iter().all(|w| (1..=60).contains(w)), "{refused:?}");
    let metrics = app
        .raw_request(Method::GET, "/metrics", None, &[], None)
        .await;
    for kind in ["login_delayed", "login_refused"] {
        assert!(
            metrics
                .text
                .contains(&format!(r#"dbkill_rate_limited_total{{kind="{kind}"}}"#)),
            "{kind}: {}",
            metrics.text
        );
    }
}
