//! PostgreSQL reuses pids: a session is (pid, `backend_start`). A pid whose session ended is
//! `not_found`, and a signal goes only to the session dbkill listed, never to a newer one
//! given its pid. Through the API (a listing taken before the session ended), and on the
//! driver with a `KillOrder` whose start is not the live session's — including a real reused
//! pid, forced by setting the kernel's last pid before the postmaster forks.

use std::collections::HashMap;
use std::time::Duration;

use dbkill::domain::{DatastoreType, KillFilter, KillType, SessionId};
use dbkill::engine::postgres::PgDriver;
use dbkill::engine::{
    KillOrder, KillResult, OwnConnections, SessionDriver, Target, TargetTls, Timeouts,
};
use dbkill::planner::{KillStrategy, MAX_BATCH};
use secrecy::SecretString;
use serde_json::json;
use tokio::time::Instant;

use crate::helpers::app::spawn_app;
use crate::helpers::pg::{
    Backend, ROLE_PASSWORD, SEES_AND_SIGNALS, history_rows, new_database, new_role, pg_ctx,
    pg_idle, process_ids, wait_until,
};
use crate::support::postgres::{Postgres, shared, unique_name};

/// The kernel's next pid is one above this (root only).
const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";
/// Tries at giving a new backend a chosen pid (other processes on the machine fork too), and
/// fresh pids to try them on (another process may keep the one chosen).
const REUSE_ATTEMPTS: usize = 20;
const REUSE_ROUNDS: usize = 20;

#[tokio::test]
async fn a_pid_that_ended_after_its_listing_is_not_found_and_the_new_session_lives() {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    let user = new_role(pg, "ended", "");
    let db = new_database(pg, "ended");
    let old = Backend::idle(pg, &user, &db).await;
    let listed = ctx.list(&app, &format!("user={user}")).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["processes"][0]["id"], old.pid.to_string());
    let old_pid = old.pid;
    old.close(pg).await;
    let mut new = Backend::sleeping(pg, &user, &db).await;
    assert_ne!(new.pid, old_pid, "pids are handed out in turn");

    for body in [
        json!({"process_ids": process_ids(&[old_pid])}),
        json!({"process_ids": process_ids(&[old_pid]), "user": user, "database": db}),
    ] {
        let report = ctx.kill(&app, body.clone()).await;
        assert_eq!(
            report["not_found"],
            json!([old_pid.to_string()]),
            "{body}: {report}"
        );
        assert_eq!(report["killed"], json!([]), "{report}");
        assert_eq!(report["skipped"], json!([]), "{report}");
        assert_eq!(report["failed"], json!([]), "{report}");
        let rows = history_rows(&app, &ctx, report["request_id"].as_str().unwrap()).await;
        assert!(rows.is_empty(), "{rows:?}");
    }
    assert!(new.alive(pg).await, "the new session is untouched");
}

fn driver(pg: &Postgres, user: &str) -> PgDriver {
    let target = Target {
        datastore: DatastoreType::Postgresql,
        host: pg.host().into(),
        port: pg.port(),
        username: user.into(),
        password: SecretString::from(ROLE_PASSWORD.to_owned()),
        tls: TargetTls::default(),
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        statement: Duration::from_secs(10),
    };
    PgDriver::new(target, timeouts, OwnConnections::default())
}

fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Terminates `pid` if its start is `started` (as the driver lists it), in one order.
async fn terminate(d: &PgDriver, pid: i32, started: Option<i64>) -> KillResult {
    let ids = [SessionId(pid as u64)];
    let starts: HashMap<SessionId, i64> = started.map(|s| (ids[0], s)).into_iter().collect();
    let order = KillOrder {
        ids: &ids,
        started: &starts,
        kill_type: KillType::Connection,
        strategy: KillStrategy::Sequential { batch: MAX_BATCH },
        stop_sending: later(),
        give_up: later(),
    };
    let mut results = d.execute(&order).await;
    assert_eq!(results.len(), 1, "{results:?}");
    let (id, result) = results.pop().unwrap();
    assert_eq!(id, ids[0]);
    result
}

/// `backend_start` (Unix µs) of each of `user`'s backends, as the driver lists them.
async fn starts(d: &PgDriver, user: &str) -> HashMap<i32, i64> {
    let filter = KillFilter {
        user: Some(user.to_owned()),
        ..KillFilter::default()
    };
    d.list(&filter, later())
        .await
        .unwrap()
        .sessions
        .into_iter()
        .filter(|s| s.user == user)
        .map(|s| (s.id.0 as i32, s.started.expect("a visible start")))
        .collect()
}

fn killer(pg: &Postgres) -> String {
    let name = unique_name("pgdrv");
    pg.create_role(&name, ROLE_PASSWORD, SEES_AND_SIGNALS);
    name
}

#[tokio::test]
async fn a_signal_goes_only_to_the_session_with_the_listed_start() {
    let pg = shared();
    let user = new_role(pg, "start", "");
    let db = new_database(pg, "start");
    let d = driver(pg, &killer(pg));
    let mut victim = Backend::sleeping(pg, &user, &db).await;
    let listed = starts(&d, &user).await;
    let start = listed[&victim.pid];

    // A start one µs off, or none at all, is another session: not found, not signalled.
    for wrong in [Some(start + 1), Some(start - 1), None] {
        let r = terminate(&d, victim.pid, wrong).await;
        assert!(matches!(r, KillResult::NotFound), "{wrong:?}: {r:?}");
        assert!(
            victim.alive(pg).await,
            "{wrong:?} signalled the live session"
        );
    }
    // The listed start is the session: signalled, and it ends.
    let r = terminate(&d, victim.pid, Some(start)).await;
    assert!(matches!(r, KillResult::Accepted(_)), "{r:?}");
    assert!(victim.dead(pg).await);
    // Gone now: not found, even with its own start.
    let r = terminate(&d, victim.pid, Some(start)).await;
    assert!(matches!(r, KillResult::NotFound), "{r:?}");
}

/// Whether some process has `pid` now.
fn taken(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// A session of `user` that ended, and a newer idle one whose backend got its pid: the kernel's
/// last pid is set just below the old pid before each connect, so the postmaster's next fork
/// takes it. Another process on the machine may fork first, and keep the pid: then this starts
/// over with a new old session. Returns (pid, the old session's start as the driver listed
/// it, the newer session); `None` when the kernel does not let this process set its last pid.
async fn reused_pid(
    pg: &Postgres,
    d: &PgDriver,
    user: &str,
    db: &str,
) -> Option<(i32, i64, Backend)> {
    for _ in 0..REUSE_ROUNDS {
        let old = Backend::idle(pg, user, db).await;
        let (pid, old_start) = (old.pid, starts(d, user).await[&old.pid]);
        old.close(pg).await;
        // The old backend's process must be reaped before its pid is free.
        wait_until(&format!("process {pid} to be reaped"), || !taken(pid)).await;
        for _ in 0..REUSE_ATTEMPTS {
            if taken(pid) {
                break;
            }
            if std::fs::write(NS_LAST_PID, (pid - 1).to_string()).is_err() {
                return None;
            }
            let (conn, got) = pg_idle(pg, user, db).await;
            if got == pid {
                return Some((
                    pid,
                    old_start,
                    Backend::idle_on(pg, conn, pid, user, db).await,
                ));
            }
            drop(conn);
        }
    }
    panic!("no new backend got its predecessor's pid in {REUSE_ROUNDS} rounds");
}

#[tokio::test]
async fn a_reused_pid_is_not_found_and_its_new_session_lives() {
    let pg = shared();
    let user = new_role(pg, "reuse", "");
    let db = new_database(pg, "reuse");
    let d = driver(pg, &killer(pg));
    let Some((pid, old_start, mut new)) = reused_pid(pg, &d, &user, &db).await else {
        eprintln!("{NS_LAST_PID} is not writable here: the reused pid is not forced");
        return;
    };
    let new_start = starts(&d, &user).await[&pid];
    assert_ne!(new_start, old_start, "the same pid, a newer session");

    let r = terminate(&d, pid, Some(old_start)).await;
    assert!(matches!(r, KillResult::NotFound), "{r:?}");
    assert!(
        new.alive(pg).await,
        "the newer session with the old pid was signalled"
    );
    // Verification tells them apart too: the pid is listed, with another start.
    let present = d.presence(&[SessionId(pid as u64)], later()).await.unwrap();
    assert_eq!(present.len(), 1, "{present:?}");
    assert_eq!(present[0].started, Some(new_start));
    new.close(pg).await;
}
