//! Signed requests cannot be used twice: a captured signed kill sent again is refused and kills
//! nothing, a body left out of the signature (`UNSIGNED-PAYLOAD`) cannot be swapped, and the
//! replay cache refuses rather than forgets when it is full.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::app::{ADMIN_PASSWORD, TestApp, spawn_app_with};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{KillSetup, idle, killer_ctx, new_victim, usable};
use crate::helpers::signed::{AccessKey, ToSign, access_key, sign};
use crate::support::mariadb::{shared, unique_name};

async fn admin_key(app: &TestApp) -> AccessKey {
    let r = app.try_login("admin", ADMIN_PASSWORD, None).await;
    let admin_id = r.body["token"]["user"]["id"].as_str().unwrap().to_owned();
    access_key(app, &app.admin_token, &admin_id).await
}

#[tokio::test]
async fn a_replayed_signed_kill_is_refused_and_kills_nothing() {
    let s = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let key = admin_key(&s.app).await;
    let victim = new_victim(s.db, "replayed");
    let (_first, first_id) = idle(s.db, &victim, None).await;
    let path = s.ctx.process_path();
    let body =
        serde_json::to_vec(&json!({"db_user_id": s.ctx.db_user_id, "user": victim})).unwrap();
    let kill = sign(
        &s.app,
        &key,
        ToSign::new(Method::DELETE, &path, &s.ctx.project, body),
    );

    let r = kill.send(&s.app).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        r.body["killed"][0]["id"],
        first_id.to_string(),
        "{}",
        r.text
    );
    // New sessions of the same user, then the captured request again, byte for byte.
    let mut fresh = vec![
        idle(s.db, &victim, None).await,
        idle(s.db, &victim, None).await,
    ];
    let replayed = kill.send(&s.app).await;
    assert_das_error_says(&replayed, 401, "APIGW.0301", "already used");
    for (conn, id) in &mut fresh {
        assert!(s.db.alive(*id), "{id} was killed by the replay");
        assert!(usable(conn).await);
    }
    let history = s.ctx.history(&s.app, "").await;
    assert_eq!(history["total_count"], 1, "only the first kill: {history}");
}

#[tokio::test]
async fn an_unsigned_payload_cannot_carry_a_body() {
    let s = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let key = admin_key(&s.app).await;
    let victim = new_victim(s.db, "swapped");
    let mut sessions = vec![
        idle(s.db, &victim, None).await,
        idle(s.db, &victim, None).await,
    ];
    let path = s.ctx.process_path();
    let dry_run = json!({"db_user_id": s.ctx.db_user_id, "user": victim, "dry_run": true});
    let mut call = sign(
        &s.app,
        &key,
        ToSign {
            unsigned_payload: true,
            ..ToSign::new(
                Method::DELETE,
                &path,
                &s.ctx.project,
                serde_json::to_vec(&dry_run).unwrap(),
            )
        },
    );
    // What was signed (a dry run) is refused, and so is the swap to a real kill.
    let r = call.send(&s.app).await;
    assert_das_error_says(&r, 401, "APIGW.0301", "UNSIGNED-PAYLOAD");
    call.body =
        serde_json::to_vec(&json!({"db_user_id": s.ctx.db_user_id, "user": victim})).unwrap();
    let r = call.send(&s.app).await;
    assert_das_error_says(&r, 401, "APIGW.0301", "UNSIGNED-PAYLOAD");
    for (conn, id) in &mut sessions {
        assert!(usable(conn).await, "{id} was killed");
    }
    // Without a body there is nothing to swap: accepted unless refused by the setting.
    let list = format!("{}?db_user_id={}", s.ctx.processes_path(), s.ctx.db_user_id);
    let (list_path, query) = list.split_once('?').unwrap();
    let get = ToSign {
        query,
        unsigned_payload: true,
        ..ToSign::new(Method::GET, list_path, &s.ctx.project, vec![])
    };
    let r = sign(&s.app, &key, get).send(&s.app).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn unsigned_payloads_can_be_refused_entirely() {
    let app = spawn_app_with(|s| s.signature_unsigned_payload = false).await;
    let key = admin_key(&app).await;
    let project = app.create_project(&unique_name("strict")).await;
    let path = format!("/v3/{project}/instances");
    let get = ToSign {
        unsigned_payload: true,
        ..ToSign::new(Method::GET, &path, &project, vec![])
    };
    let r = sign(&app, &key, get).send(&app).await;
    assert_das_error_says(&r, 401, "APIGW.0301", "UNSIGNED-PAYLOAD");
    let r = sign(
        &app,
        &key,
        ToSign::new(Method::GET, &path, &project, vec![]),
    )
    .send(&app)
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

/// Reads may repeat within the window by default (the SDK's date has a one-second resolution and
/// it sends no nonce, so a poll repeated within a second is signed identically); the setting makes
/// them single-use too.
#[tokio::test]
async fn signed_reads_repeat_unless_single_use_is_set() {
    for single_use in [false, true] {
        let app = spawn_app_with(|s| s.signature_single_use_reads = single_use).await;
        let key = admin_key(&app).await;
        let project = app.create_project(&unique_name("reads")).await;
        let path = format!("/v3/{project}/instances");
        let get = sign(
            &app,
            &key,
            ToSign::new(Method::GET, &path, &project, vec![]),
        );
        assert_eq!(get.send(&app).await.status, StatusCode::OK);
        let again = get.send(&app).await;
        if single_use {
            assert_das_error_says(&again, 401, "APIGW.0301", "already used");
        } else {
            assert_eq!(again.status, StatusCode::OK, "{}", again.text);
        }
    }
}

#[tokio::test]
async fn a_full_replay_cache_refuses_new_signatures_and_still_refuses_replays() {
    let app = spawn_app_with(|s| s.signature_replay_cache_entries = 3).await;
    let key = admin_key(&app).await;
    let db = shared();
    let ctx = killer_ctx(&app, db, "PROCESS, CONNECTION ADMIN", &[]).await;
    let path = ctx.process_path();
    let victim = new_victim(db, "cachefull");
    let mut kills = vec![];
    for n in 0..4 {
        // Distinct requests: each names another (absent) session.
        let body =
            json!({"db_user_id": ctx.db_user_id, "process_ids": [format!("{}", 900_000_000 + n)]});
        kills.push(sign(
            &app,
            &key,
            ToSign::new(
                Method::DELETE,
                &path,
                &ctx.project,
                serde_json::to_vec(&body).unwrap(),
            ),
        ));
    }
    for call in &kills[..3] {
        let r = call.send(&app).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let full = kills[3].send(&app).await;
    assert_das_error(&full, 429, "APIGW.0308");
    let wait: u64 = full.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=600).contains(&wait), "Retry-After {wait}");
    // The remembered signatures stay refused; a token still works.
    for call in &kills[..3] {
        assert_das_error_says(&call.send(&app).await, 401, "APIGW.0301", "already used");
    }
    let (mut conn, id) = idle(db, &victim, None).await;
    let r = ctx
        .kill_as(
            &app,
            &app.admin_token,
            json!({"process_ids": [id.to_string()]}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(!usable(&mut conn).await);
}
