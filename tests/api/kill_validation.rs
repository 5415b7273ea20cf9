//! KillSession and ListProcesses input: every malformed request is a DAS error that changes
//! nothing; an unresponsive target is an error within its timeout, never a hang.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::{spawn_app, spawn_app_with, uuid_hex};
use crate::helpers::errors::{assert_das_error, assert_das_error_says, assert_within};
use crate::helpers::fixtures::{KillSetup, idle, killer_ctx, killer_ctx_via, new_victim, usable};
use crate::support::mariadb::shared;
use crate::support::proxy::StallProxy;

#[tokio::test]
async fn malformed_kill_requests_are_refused_and_kill_nothing() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let victim = new_victim(db, "val");
    let (mut conn, id) = idle(db, &victim, None).await;
    let other = killer_ctx(&app, db, "PROCESS", &[]).await;
    let uid = ctx.db_user_id.clone();
    let cases = vec![
        (json!({"db_user_id": uid}), "DAS.200100", "process_ids"),
        (
            json!({"db_user_id": uid, "user": "", "database": null, "process_ids": []}),
            "DAS.200100",
            "process_ids",
        ),
        (
            json!({"db_user_id": uid, "process_ids": ["12a"]}),
            "DAS.200100",
            "process_ids[0]",
        ),
        (
            json!({"db_user_id": uid, "process_ids": [id.to_string(), "-1"]}),
            "DAS.200100",
            "process_ids[1]",
        ),
        (
            json!({"db_user_id": uid, "process_ids": [id]}),
            "DAS.200100",
            "process_ids[0]",
        ),
        (
            json!({"db_user_id": uid, "process_ids": id.to_string()}),
            "DAS.200100",
            "process_ids",
        ),
        (json!({"db_user_id": uid, "user": 5}), "DAS.200100", "user"),
        (
            json!({"db_user_id": uid, "user": victim, "dry_run": "yes"}),
            "DAS.200100",
            "dry_run",
        ),
        (
            json!({"db_user_id": uid, "user": victim, "kill_type": "hard"}),
            "DAS.200100",
            "kill_type",
        ),
        (
            json!({"db_user_id": uid, "user": victim, "deadline_ms": 99}),
            "DAS.200100",
            "deadline_ms",
        ),
        (
            json!({"db_user_id": uid, "user": victim, "deadline_ms": 600_001}),
            "DAS.200100",
            "deadline_ms",
        ),
        (
            json!({"db_user_id": uid, "user": victim, "deadline_ms": "2000"}),
            "DAS.200100",
            "deadline_ms",
        ),
        (json!({"user": victim}), "DAS.200112", "db_user_id"),
        (
            json!({"db_user_id": "nope", "user": victim}),
            "DAS.200112",
            "db_user_id",
        ),
        (
            json!({"db_user_id": uuid_hex(), "user": victim}),
            "DAS.200112",
            "db_user_id",
        ),
        (
            json!({"db_user_id": "2c250598-1e3c-4d31-bc19-be1d866247e6", "user": victim}),
            "DAS.200112",
            "db_user_id",
        ),
        (
            json!({"db_user_id": other.db_user_id, "user": victim}),
            "DAS.200112",
            "db_user_id",
        ),
    ];
    for (body, code, field) in cases {
        let r = app
            .admin_call(Method::DELETE, &ctx.process_path(), Some(body))
            .await;
        assert_das_error_says(&r, 400, code, field);
    }
    for raw in [&b"{not json"[..], b"[1,2]", b"\"user\""] {
        let r = app
            .raw_request(
                Method::DELETE,
                &ctx.process_path(),
                Some(&app.admin_token),
                &[],
                Some(raw.to_vec()),
            )
            .await;
        assert_das_error(&r, 400, "DAS.200100");
    }
    assert!(db.alive(id));
    assert!(usable(&mut conn).await);
    let history = ctx.history(&app, "").await;
    assert_eq!(history["total_count"], 0);
}

#[tokio::test]
async fn list_processes_validates_its_query() {
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, shared(), "PROCESS", &[]).await;
    let base = ctx.processes_path();
    let uid = &ctx.db_user_id;
    for (query, code) in [
        (String::new(), "DAS.200112"),
        ("db_user_id=bad".into(), "DAS.200112"),
        (format!("db_user_id={uid}&offset=-1"), "DAS.200103"),
        (format!("db_user_id={uid}&offset=x"), "DAS.200103"),
        (format!("db_user_id={uid}&limit=0"), "DAS.200104"),
        (format!("db_user_id={uid}&limit=1001"), "DAS.200104"),
    ] {
        let r = app
            .admin_call(Method::GET, &format!("{base}?{query}"), None)
            .await;
        assert_das_error(&r, 400, code);
    }
    let ok = app
        .admin_call(
            Method::GET,
            &format!("{base}?db_user_id={uid}&limit=1000&node_id=whatever"),
            None,
        )
        .await;
    assert_eq!(ok.status.as_u16(), 200, "{}", ok.text);
}

#[tokio::test]
async fn a_silent_target_fails_within_the_timeouts_never_hangs() {
    let app = spawn_app_with(|s| {
        s.connect_timeout_ms = 800;
        s.statement_timeout_ms = 800;
    })
    .await;
    let db = shared();
    let proxy = StallProxy::start(db.port()).await;
    let ctx = killer_ctx_via(&app, db, proxy.port, "PROCESS, CONNECTION ADMIN", &[]).await;
    let list = format!("{}?db_user_id={}", ctx.processes_path(), ctx.db_user_id);

    // No lifeline yet: the connect itself gets no answer → DAS.210001 within the connect timeout.
    proxy.stall(true);
    let started = Instant::now();
    let r = app.admin_call(Method::GET, &list, None).await;
    assert_das_error(&r, 500, "DAS.210001");
    assert_within(started, Duration::from_secs(3));

    // With a lifeline open, a statement that gets no answer → DAS.210004 within its timeout.
    proxy.stall(false);
    let r = app.admin_call(Method::GET, &list, None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    proxy.stall(true);
    let started = Instant::now();
    let r = ctx
        .kill_as(&app, &app.admin_token, json!({"user": "nobody"}))
        .await;
    assert_das_error(&r, 500, "DAS.210004");
    assert_within(started, Duration::from_secs(3));

    // Once the target answers again, a new lifeline is opened and all works.
    proxy.stall(false);
    let r = app.admin_call(Method::GET, &list, None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
}
