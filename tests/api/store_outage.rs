//! The PostgreSQL store stops answering (its cluster SIGSTOPped) under a running dbkill:
//! `/healthz` says so within its probe time, a kill is refused before any KILL with the store's
//! error and no session dies, nothing hangs past the store's deadlines; once the cluster
//! answers again, health and kills come back without a restart. Runs in both suites: the store
//! here is always a PostgreSQL cluster of the test's own (the embedded store's fault, a full
//! disk, is `store_health`'s).

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::fixtures::{idle, killer_ctx, new_victim, usable};
use crate::support::mariadb::shared;
use crate::support::postgres::{Postgres, PostgresOptions};

/// What the killer account may do on the target.
const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

/// The longest a request may take while the store is stalled: the store's own deadline per call
/// (15 s) and the time to answer.
const STALLED_ANSWER: Duration = Duration::from_secs(20);

async fn health(app: &TestApp) -> u16 {
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    app.client
        .get(format!("{}/healthz", app.base))
        .timeout(STALLED_ANSWER)
        .send()
        .await
        .expect("/healthz answers while the store is stalled")
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_stalled_postgres_store_fails_health_and_refuses_kills_then_recovers() {
    let store = Postgres::start(PostgresOptions::default());
    store.create_role("outage_store", "outage-store-password", "");
    store.sql("CREATE DATABASE outage OWNER outage_store");
    let url = format!(
        "postgres://outage_store:outage-store-password@{}:{}/outage",
        store.host(),
        store.port()
    );
    let app = spawn_app_with(|raw| raw.store_url = Some(url)).await;
    let db = shared();
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let victim = new_victim(db, "outage");
    let (mut conn, id) = idle(db, &victim, None).await;
    assert_eq!(health(&app).await, 200);

    store.pause();
    let asked = Instant::now();
    let status = health(&app).await;
    assert_eq!(status, 503, "/healthz while the store is stalled");
    assert!(
        asked.elapsed() < Duration::from_secs(5),
        "{:?}",
        asked.elapsed()
    );

    let sent = Instant::now();
    let r = ctx
        .kill_as(&app, &app.admin_token, json!({"user": victim}))
        .await;
    let took = sent.elapsed();
    assert_eq!(r.status.as_u16(), 500, "{}", r.text);
    assert_eq!(r.code(), "DAS.209999", "{}", r.text);
    assert!(took < STALLED_ANSWER, "the refusal took {took:?}");
    assert!(
        db.alive(id) && usable(&mut conn).await,
        "nothing is killed without its intent on record"
    );
    eprintln!("store stalled: kill refused after {took:?}");

    store.resume();
    let deadline = Instant::now() + Duration::from_secs(20);
    while health(&app).await != 200 {
        assert!(Instant::now() < deadline, "health did not come back");
    }
    let report = ctx.kill(&app, json!({"user": victim})).await;
    assert_eq!(report["killed"][0]["id"], id.to_string(), "{report}");
    assert!(
        !usable(&mut conn).await,
        "the victim's connection still works"
    );
    let history = app
        .expect(Method::GET, &ctx.history_path(), None, 200)
        .await;
    assert_eq!(history["total_count"], 1, "{history}");
}
