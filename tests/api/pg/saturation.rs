//! A PostgreSQL cluster whose every slot a non-superuser may use is taken by victims: new
//! logins get 53300, and a kill by user still lists, signals and verifies through the
//! lifeline the db user's registration opened while the cluster was healthy.

use std::collections::BTreeSet;

use serde_json::{Value, json};
use sqlx::{Executor, PgConnection};

use crate::helpers::app::spawn_app;
use crate::helpers::pg::{
    ROLE_PASSWORD, SEES_AND_SIGNALS, fill_every_slot, history_rows, lifeline_of, new_role, pg_ctx,
    sqlstate, usable,
};
use crate::support::postgres::{Postgres, PostgresOptions};

const MAX_CONNECTIONS: u32 = 20;
const RESERVED: u32 = 3;

fn ids_of(list: &Value) -> BTreeSet<i32> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

async fn pid_of(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_kill_by_user_ends_every_victim_of_a_full_cluster_through_the_lifeline() {
    let pg = Postgres::start(PostgresOptions {
        max_connections: MAX_CONNECTIONS,
        superuser_reserved_connections: RESERVED,
        ..PostgresOptions::default()
    });
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, &pg, SEES_AND_SIGNALS, &[]).await;
    let lifeline = lifeline_of(&pg, &ctx.killer).await;
    let victim = new_role(&pg, "storm", "");

    // Every slot but the superusers' reserved ones and the lifeline's.
    let mut conns = fill_every_slot(&pg, &victim, ROLE_PASSWORD).await;
    assert_eq!(conns.len(), (MAX_CONNECTIONS - RESERVED - 1) as usize);
    let mut pids = BTreeSet::new();
    for c in conns.iter_mut() {
        pids.insert(pid_of(c).await);
    }
    // Half of them busy, half idle.
    let mut busy = vec![];
    for mut c in conns.split_off(conns.len() / 2) {
        busy.push(tokio::spawn(async move {
            c.execute("SELECT pg_sleep(600)").await.map(|_| ())
        }));
    }
    crate::helpers::pg::wait_until("the sleepers to sleep", || {
        pg.sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = '{victim}' AND wait_event = 'PgSleep'"
        )) == busy.len().to_string()
    })
    .await;
    // The db user itself cannot get in any more.
    let refused = pg
        .try_connect(&ctx.killer, ROLE_PASSWORD, "postgres")
        .await
        .unwrap_err();
    assert_eq!(sqlstate(&refused).as_deref(), Some("53300"), "{refused}");

    let listed = ctx.list(&app, &format!("user={victim}&limit=100")).await;
    assert_eq!(listed["count"], pids.len(), "{listed}");
    let report = ctx.kill(&app, json!({"user": victim})).await;
    assert_eq!(ids_of(&report["killed"]), pids, "{report}");
    assert!(
        report["killed"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["gone"] == true),
        "{report}"
    );
    assert_eq!(report["failed"], json!([]), "{report}");

    // On the server: every victim gone, the lifeline the same backend as before.
    assert!(pg.pids(&victim).is_empty(), "{:?}", pg.pids(&victim));
    assert_eq!(pg.pids(&ctx.killer), vec![lifeline]);
    for c in conns.iter_mut() {
        assert!(!usable(c).await);
    }
    for task in busy {
        let err = task.await.unwrap().unwrap_err();
        assert_eq!(sqlstate(&err).as_deref(), Some("57P01"), "{err}");
    }
    let rows = history_rows(&app, &ctx, report["request_id"].as_str().unwrap()).await;
    let in_history: BTreeSet<i32> = rows
        .iter()
        .map(|r| r["session_id"].as_i64().unwrap() as i32)
        .collect();
    assert_eq!(in_history, pids);
}
