//! Kills on a PostgreSQL cluster that stops answering mid-kill. The signal statement is held
//! on the server by a lock on `pg_db_role_setting`, which the listing does not read and the
//! signal statement (through `pg_roles`) does; the test then stalls the whole cluster
//! (`pause`), or only the backend running the statement (SIGSTOP). The kill answers within its
//! deadline with the sessions `failed` "may still take effect"; once the server runs the
//! statement, the history lists exactly the victims that died — settled by reconciliation,
//! which waits while dbkill's signal statement still runs.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::{Executor, PgConnection};

use crate::helpers::app::{TestApp, spawn_app_with};
use crate::helpers::fixtures::KillCtx;
use crate::helpers::pg::{
    ROLE_PASSWORD, SEES_AND_SIGNALS, history_rows, lifeline_of, new_role, pg_ctx,
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
    let ctx = pg_ctx(&app, &pg, SEES_AND_SIGNALS, &[]).await;
    let lifeline = lifeline_of(&pg, &ctx.killer).await;
    // One kill first: the lifeline has prepared its signal statement, so the kill under test
    // sends it in one round trip, and the server runs it whenever it takes it up.
    let warm_up = new_role(&pg, "warmup", "");
    let first = pg.open_idle(&warm_up, ROLE_PASSWORD, "postgres", 1).await;
    let report = ctx.kill(&app, json!({"user": warm_up})).await;
    assert_eq!(report["killed"].as_array().unwrap().len(), 1, "{report}");
    drop(first);
    assert_eq!(pg.pids(&ctx.killer), vec![lifeline], "the same lifeline");
    let victim = new_role(&pg, "stalled", "");
    let victims = pg
        .open_idle(&victim, ROLE_PASSWORD, "postgres", VICTIMS)
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

/// (session id, outcome) of every session of the kill whose report had `request_id`, straight
/// from the store.
async fn outcomes(data_dir: &Path, request_id: &str) -> Vec<(i64, String)> {
    crate::helpers::store_backend::store_rows(
        data_dir,
        "SELECT CAST(s.session_id AS TEXT), s.outcome FROM kill_sessions s \
         JOIN kill_requests r ON r.id = s.request_id WHERE r.request_id = ?",
        &[request_id],
    )
    .await
    .into_iter()
    .map(|r| {
        (
            r[0].as_deref().unwrap().parse().unwrap(),
            r[1].clone().unwrap(),
        )
    })
    .collect()
}

fn signal(pid: i32, sig: &str) -> bool {
    std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .is_ok_and(|s| s.success())
}

/// A backend stopped (SIGSTOP) until this is dropped, also when an assertion fails: a stopped
/// backend would keep its cluster from shutting down.
struct Stopped(i32);

impl Stopped {
    fn new(pid: i32) -> Stopped {
        assert!(signal(pid, "-STOP"), "kill -STOP {pid}");
        Stopped(pid)
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        signal(self.0, "-CONT");
    }
}

#[tokio::test]
async fn a_signal_statement_still_held_on_the_server_holds_off_reconciliation() {
    let mut s = scene().await;
    let mut locker = lock_signals(&s.pg).await;

    // The lifeline stops with the signal statement in hand; the rest of the cluster (logins,
    // the listing a verification or a reconciliation makes) answers again.
    let (monitor, lifeline) = (&mut s.monitor, s.lifeline);
    let sent = Instant::now();
    let stop = async {
        until_waiting_on_lock(monitor, lifeline).await;
        let stopped = Stopped::new(lifeline);
        locker.execute("ROLLBACK").await.unwrap();
        stopped
    };
    let (report, stopped) = tokio::join!(
        s.ctx.kill(
            &s.app,
            json!({"user": s.victim, "deadline_ms": DEADLINE_MS})
        ),
        stop
    );
    let took = sent.elapsed();
    let request_id = report["request_id"].as_str().unwrap().to_owned();
    assert_unconfirmed(&s, &report, took).await;
    // Several reconciliation rounds pass while the statement is held: none may settle the
    // victims, which are still there, as not killed.
    let until = Instant::now() + Duration::from_millis(RECONCILE_MS * 5);
    while Instant::now() < until {
        let now = outcomes(&s.app.data_path(), &request_id).await;
        assert_eq!(now.len(), VICTIMS);
        assert!(
            now.iter().all(|(_, outcome)| outcome == "uncertain"),
            "settled while dbkill's signal statement still runs: {now:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alive(&mut s.monitor, &s.victim).await, s.pids);

    drop(stopped);
    assert_reconciled(&mut s, &report).await;
}
