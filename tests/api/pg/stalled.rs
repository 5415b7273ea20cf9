//! Kills on a PostgreSQL cluster that stops answering mid-kill. The signal statement is held
//! on the server by a lock on `pg_db_role_setting`, which the listing does not read and the
//! signal statement (through `pg_roles`) does; the test then stalls the whole cluster
//! (`pause`). The kill answers within its deadline with the sessions `failed` "may still take
//! effect"; once the server runs the statement, the history lists exactly the victims that
//! died — settled by reconciliation.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Executor, PgConnection};

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::fixtures::KillCtx;
use crate::helpers::pg::{
    SIGNAL_AND_READ, VICTIM_PASSWORD, history_rows, new_role, pg_ctx, wait_for_lifeline,
};
use crate::support::postgres::{Postgres, PostgresOptions, SUPERUSER, SUPERUSER_PASSWORD};

const VICTIMS: usize = 20;
const DEADLINE_MS: u64 = 2_000;
const RECONCILE_MS: u64 = 300;

struct Scene {
    pg: Postgres,
    app: TestApp,
    ctx: KillCtx,
    victim: String,
    pids: BTreeSet<i32>,
    _victims: Vec<PgConnection>,
    lifeline: i32,
    /// A superuser connection opened before the lock: logins wait while it is held.
    monitor: PgConnection,
}

async fn scene() -> Scene {
    let pg = Postgres::start(PostgresOptions::default());
    let app = spawn_app_with(|s| {
        s.reconcile_interval_ms = RECONCILE_MS;
        // Far beyond the test's stall: a held signal statement still runs when let go.
        s.statement_timeout_ms = 30_000;
    })
    .await;
    let ctx = pg_ctx(&app, &pg, SIGNAL_AND_READ, &[]).await;
    let lifeline = wait_for_lifeline(&pg, &ctx.killer).await;
    // One kill first: the lifeline has prepared its signal statement, so the kill under test
    // sends it in one round trip, and the server runs it whenever it takes it up.
    let warm_up = new_role(&pg, "warmup");
    let first = pg.open_idle(&warm_up, VICTIM_PASSWORD, "postgres", 1).await;
    let report = ctx.kill(&app, json!({"user": warm_up})).await;
    assert_eq!(report["killed"].as_array().unwrap().len(), 1, "{report}");
    drop(first);
    assert_eq!(pg.pids(&ctx.killer), vec![lifeline], "the same lifeline");
    let victim = new_role(&pg, "stalled");
    let victims = pg
        .open_idle(&victim, VICTIM_PASSWORD, "postgres", VICTIMS)
        .await;
    let pids: BTreeSet<i32> = pg.pids(&victim).into_iter().collect();
    assert_eq!(pids.len(), VICTIMS);
    let monitor = pg.connect(SUPERUSER, SUPERUSER_PASSWORD, "postgres").await;
    Scene {
        pg,
        app,
        ctx,
        victim,
        pids,
        _victims: victims,
        lifeline,
        monitor,
    }
}

/// A superuser transaction holding `pg_db_role_setting` exclusively: the signal statement
/// (and every new login) waits for it.
async fn lock_signals(pg: &Postgres) -> PgConnection {
    let mut locker = pg.connect(SUPERUSER, SUPERUSER_PASSWORD, "postgres").await;
    locker.execute("BEGIN").await.unwrap();
    locker
        .execute("LOCK TABLE pg_catalog.pg_db_role_setting IN ACCESS EXCLUSIVE MODE")
        .await
        .unwrap();
    locker
}

/// Waits (on the monitor connection) until `pid` waits for a lock.
async fn until_waiting_on_lock(monitor: &mut PgConnection, pid: i32) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND wait_event_type = 'Lock'",
        )
        .bind(pid)
        .fetch_one(&mut *monitor)
        .await
        .unwrap();
        if waiting == 1 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the signal statement never waited"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The victims the monitor still sees.
async fn alive(monitor: &mut PgConnection, victim: &str) -> BTreeSet<i32> {
    sqlx::query_scalar::<_, i32>("SELECT pid FROM pg_stat_activity WHERE usename = $1")
        .bind(victim)
        .fetch_all(monitor)
        .await
        .unwrap()
        .into_iter()
        .collect()
}

/// The kill answered within its deadline, every victim `failed` as a KILL that may still take
/// effect, and nothing in the history yet.
async fn assert_unconfirmed(s: &Scene, report: &Value, took: Duration) {
    assert!(
        took <= Duration::from_millis(DEADLINE_MS + 1_000),
        "answered after {took:?}"
    );
    assert_eq!(report["killed"], json!([]), "{report}");
    let failed: BTreeSet<i32> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["error_code"], "DAS.210004", "{f}");
            assert!(
                f["error_msg"]
                    .as_str()
                    .unwrap()
                    .contains("may still take effect"),
                "{f}"
            );
            f["id"].as_str().unwrap().parse().unwrap()
        })
        .collect();
    assert_eq!(failed, s.pids, "{report}");
    let rows = history_rows(&s.app, &s.ctx, report["request_id"].as_str().unwrap()).await;
    assert!(rows.is_empty(), "nothing is known killed yet: {rows:?}");
}

/// Within 30 s the history of the kill lists exactly the victims that are gone (all of them),
/// each settled by reconciliation.
async fn assert_reconciled(s: &mut Scene, report: &Value) {
    let request_id = report["request_id"].as_str().unwrap();
    let since = Instant::now();
    loop {
        let dead: BTreeSet<i32> = s
            .pids
            .difference(&alive(&mut s.monitor, &s.victim).await)
            .copied()
            .collect();
        let rows = history_rows(&s.app, &s.ctx, request_id).await;
        let listed: BTreeSet<i32> = rows
            .iter()
            .map(|r| r["session_id"].as_i64().unwrap() as i32)
            .collect();
        if listed == s.pids && dead == s.pids {
            for row in &rows {
                assert_eq!(row["interrupted"], true, "{row}");
                assert_eq!(row["user"], s.victim.as_str(), "{row}");
                assert_eq!(row["killed_source"], "api:admin", "{row}");
            }
            return;
        }
        assert!(
            listed.is_subset(&dead),
            "the history lists a victim that lives: {listed:?} vs dead {dead:?}"
        );
        assert!(
            since.elapsed() < Duration::from_secs(30),
            "history {} ≠ dead {} of {} after 30 s; report: {report}",
            listed.len(),
            dead.len(),
            s.pids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_cluster_paused_mid_kill_answers_in_time_and_reconciliation_settles_the_history() {
    let mut s = scene().await;
    let mut locker = lock_signals(&s.pg).await;

    let (pg, monitor, lifeline) = (&s.pg, &mut s.monitor, s.lifeline);
    let sent = Instant::now();
    let pause = async {
        until_waiting_on_lock(monitor, lifeline).await;
        pg.pause();
    };
    let (report, ()) = tokio::join!(
        s.ctx.kill(
            &s.app,
            json!({"user": s.victim, "deadline_ms": DEADLINE_MS})
        ),
        pause
    );
    let took = sent.elapsed();
    s.pg.resume();
    assert_unconfirmed(&s, &report, took).await;

    // The statement the cluster took before it stalled runs once the lock is free.
    locker.execute("ROLLBACK").await.unwrap();
    assert_reconciled(&mut s, &report).await;
}
