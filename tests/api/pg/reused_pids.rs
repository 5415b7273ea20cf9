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
    KILLER_PASSWORD, PgVictim, SIGNAL_AND_READ, history_rows, new_database, new_role, pg_ctx,
    pid_list, wait_until,
};
use crate::support::postgres::{Postgres, shared, unique_name};

/// The kernel's next pid is one above this (root only).
const NS_LAST_PID: &str = "/proc/sys/kernel/ns_last_pid";
/// Tries at giving a new backend a chosen pid: other processes on the machine fork too.
const REUSE_ATTEMPTS: usize = 100;

#[tokio::test]
async fn a_pid_that_ended_after_its_listing_is_not_found_and_the_new_session_lives() {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SIGNAL_AND_READ, &[]).await;
    let user = new_role(pg, "ended");
    let db = new_database(pg, "ended");
    let old = PgVictim::idle(pg, &user, &db).await;
    let listed = ctx.list(&app, &format!("user={user}")).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_eq!(listed["processes"][0]["id"], old.pid.to_string());
    let old_pid = old.pid;
    old.close(pg).await;
    let mut new = PgVictim::sleeping(pg, &user, &db).await;
    assert_ne!(new.pid, old_pid, "pids are handed out in turn");

    for body in [
        json!({"process_ids": pid_list(&[old_pid])}),
        json!({"process_ids": pid_list(&[old_pid]), "user": user, "database": db}),
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
        password: SecretString::from(KILLER_PASSWORD.to_owned()),
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
    pg.create_role(&name, KILLER_PASSWORD, SIGNAL_AND_READ);
    name
}

#[tokio::test]
async fn a_signal_goes_only_to_the_session_with_the_listed_start() {
    let pg = shared();
    let user = new_role(pg, "start");
    let db = new_database(pg, "start");
    let d = driver(pg, &killer(pg));
    let mut victim = PgVictim::sleeping(pg, &user, &db).await;
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

/// A new idle session of `user` whose backend has `pid`: the kernel's last pid is set just
/// below it before each connect (the postmaster forks the backend at once). `None` when the
/// kernel does not let this process set it.
async fn session_with_pid(pg: &Postgres, user: &str, db: &str, pid: i32) -> Option<PgVictim> {
    // The old backend's process must be reaped before its pid is free.
    wait_until(&format!("process {pid} to be reaped"), || {
        !std::path::Path::new(&format!("/proc/{pid}")).exists()
    })
    .await;
    for _ in 0..REUSE_ATTEMPTS {
        if std::fs::write(NS_LAST_PID, (pid - 1).to_string()).is_err() {
            return None;
        }
        let v = PgVictim::idle(pg, user, db).await;
        if v.pid == pid {
            return Some(v);
        }
        v.close(pg).await;
    }
    panic!("no new backend got pid {pid} in {REUSE_ATTEMPTS} attempts");
}

#[tokio::test]
async fn a_reused_pid_is_not_found_and_its_new_session_lives() {
    let pg = shared();
    let user = new_role(pg, "reuse");
    let db = new_database(pg, "reuse");
    let d = driver(pg, &killer(pg));
    let old = PgVictim::idle(pg, &user, &db).await;
    let (pid, old_start) = (old.pid, starts(&d, &user).await[&old.pid]);
    old.close(pg).await;

    let Some(mut new) = session_with_pid(pg, &user, &db, pid).await else {
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
