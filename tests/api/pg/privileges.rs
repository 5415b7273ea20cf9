//! What the db user's privileges let KillSession do on PostgreSQL, checked on the server: a
//! superuser's backend needs a superuser (a per-session `failed` DAS.210003 otherwise), another
//! role's needs pg_signal_backend, its own role's needs nothing; and a db user without
//! pg_read_all_stats does not see what other roles' backends are, so it never kills them.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::app::{TestApp, spawn_app};
use crate::helpers::fixtures::{KillCtx, history_ids, ids_of};
use crate::helpers::pg::{
    PgVictim, Via, all_skipped, connect_as, end_all, new_database, new_role, pg_ctx, pids,
    process_ids, skipped,
};
use crate::support::postgres::{Postgres, shared};

/// `failed` as a set of ids, each checked to carry DAS.210003 and a message.
fn denied(report: &Value) -> BTreeSet<u64> {
    let failed = report["failed"]
        .as_array()
        .unwrap_or_else(|| panic!("no failed list: {report}"));
    for f in failed {
        assert_eq!(f["error_code"], "DAS.210003", "{report}");
        let msg = f["error_msg"].as_str().unwrap();
        assert!(msg.len() >= 2, "{report}");
    }
    ids_of(&report["failed"]).into_iter().collect()
}

/// The killer role's own second backend (not dbkill's: another application) in `database`.
async fn own_session(pg: &Postgres, ctx: &KillCtx, database: &str) -> PgVictim {
    let conn = connect_as(pg, &ctx.killer, database, Via::Tcp, "own work").await;
    PgVictim::idle_after(conn, &[], "the db user's own session").await
}

/// The ids of the history's rows.
async fn history_pids(app: &TestApp, ctx: &KillCtx) -> BTreeSet<u64> {
    let h = ctx.history(app, "").await;
    history_ids(&h)
}

#[tokio::test]
async fn without_pg_signal_backend_only_its_own_roles_session_dies() {
    let pg = shared();
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, pg, "IN ROLE pg_read_all_stats", &[]).await;
    let database = new_database(pg, "privdb");
    let superuser = new_role(pg, "super", "SUPERUSER");
    let other = new_role(pg, "other", "");
    let mut su = PgVictim::sleeping(pg, &superuser, &database, Via::Tcp, "superuser").await;
    let mut theirs = PgVictim::idle(pg, &other, &database, Via::Tcp, "another role").await;
    let mut own = own_session(pg, &ctx, &database).await;

    let r = ctx.kill(&app, json!({"database": database})).await;
    assert_eq!(ids_of(&r["killed"]), vec![own.pid as u64], "{r}");
    assert_eq!(r["killed"][0]["user"], ctx.killer.as_str(), "{r}");
    assert_eq!(denied(&r), pids([&su, &theirs]), "{r}");
    assert_eq!(r["skipped"], json!([]), "{r}");
    assert_eq!(r["not_found"], json!([]), "{r}");

    // The superuser's refusal is the same by pid, and for a query kill.
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[su.pid]), "kill_type": "query"}),
        )
        .await;
    assert_eq!(denied(&r), pids([&su]), "{r}");
    assert_eq!(r["killed"], json!([]), "{r}");

    assert!(own.died(pg).await, "its own role's session survived");
    assert!(
        su.still_works(pg).await,
        "the superuser's session was signalled"
    );
    assert!(theirs.still_works(pg).await, "another role's session died");
    assert_eq!(history_pids(&app, &ctx).await, pids([&own]));
    end_all(pg, [&su]);
}

#[tokio::test]
async fn with_pg_signal_backend_another_roles_session_dies_and_a_superusers_does_not() {
    let pg = shared();
    let app = spawn_app().await;
    let ctx = pg_ctx(
        &app,
        pg,
        "IN ROLE pg_read_all_stats, pg_signal_backend",
        &[],
    )
    .await;
    let database = new_database(pg, "sigdb");
    let superuser = new_role(pg, "super", "SUPERUSER");
    let other = new_role(pg, "other", "");
    let mut su = PgVictim::idle(pg, &superuser, &database, Via::Tcp, "superuser").await;
    let mut theirs = vec![
        PgVictim::idle(pg, &other, &database, Via::Tcp, "another role idle").await,
        PgVictim::sleeping(pg, &other, &database, Via::Socket, "another role sleeping").await,
    ];

    let r = ctx.kill(&app, json!({"database": database})).await;
    assert_eq!(
        ids_of(&r["killed"]).into_iter().collect::<BTreeSet<_>>(),
        pids(&theirs),
        "{r}"
    );
    assert_eq!(denied(&r), pids([&su]), "{r}");
    assert_eq!(r["skipped"], json!([]), "{r}");

    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[su.pid])}))
        .await;
    assert_eq!(denied(&r), pids([&su]), "{r}");
    assert_eq!(r["killed"], json!([]), "{r}");

    for v in &mut theirs {
        assert!(v.died(pg).await, "{} survived", v.label);
    }
    assert!(su.still_works(pg).await, "the superuser's session died");
    assert_eq!(history_pids(&app, &ctx).await, pids(&theirs));
}

#[tokio::test]
async fn without_pg_read_all_stats_other_roles_sessions_are_never_killed() {
    // pg_signal_backend would let it signal the other role: only what it cannot see protects.
    let pg = shared();
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, pg, "IN ROLE pg_signal_backend", &[]).await;
    let database = new_database(pg, "blinddb");
    let superuser = new_role(pg, "super", "SUPERUSER");
    let other = new_role(pg, "other", "");
    let mut hidden = vec![
        PgVictim::idle(pg, &other, &database, Via::Tcp, "another role idle").await,
        PgVictim::sleeping(pg, &other, &database, Via::Tcp, "another role sleeping").await,
        PgVictim::idle(pg, &superuser, &database, Via::Tcp, "superuser").await,
    ];
    let mut own = own_session(pg, &ctx, &database).await;

    // The db user sees the rows, but not what they are.
    let listed = ctx.list(&app, &format!("database={database}")).await;
    assert_eq!(listed["count"], json!(4), "{listed}");
    for p in listed["processes"].as_array().unwrap() {
        let pid: u64 = p["id"].as_str().unwrap().parse().unwrap();
        if pid == own.pid as u64 {
            assert_eq!(p["command"], "idle", "{p}");
        } else {
            assert_eq!(p["command"], "", "another role's state shows: {p}");
            assert_eq!(p["sql"], "", "another role's statement shows: {p}");
        }
    }

    let r = ctx.kill(&app, json!({"database": database})).await;
    assert_eq!(ids_of(&r["killed"]), vec![own.pid as u64], "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");
    assert_eq!(
        skipped(&r),
        all_skipped(pids(&hidden), "system_thread"),
        "{r}"
    );

    let r = ctx.kill(&app, json!({"user": other})).await;
    assert_eq!(
        skipped(&r),
        all_skipped(pids(&hidden[..2]), "system_thread"),
        "{r}"
    );
    assert_eq!(r["killed"], json!([]), "{r}");
    let by_pid: Vec<i32> = hidden.iter().map(|v| v.pid).collect();
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&by_pid), "kill_type": "query"}),
        )
        .await;
    assert_eq!(
        skipped(&r),
        all_skipped(pids(&hidden), "system_thread"),
        "{r}"
    );
    assert_eq!(r["killed"], json!([]), "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");

    assert!(own.died(pg).await, "its own session survived");
    for v in &mut hidden {
        assert!(v.still_works(pg).await, "{} was signalled", v.label);
    }
    assert_eq!(history_pids(&app, &ctx).await, pids([&own]));
    end_all(pg, &hidden);
}
