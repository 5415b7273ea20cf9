//! KillSession on a real PostgreSQL cluster: by ids, by user, by database and every combination
//! (AND) over backends in every state a kill meets; exactly the targets end on the server and
//! every other session lives; the report and the history name them. `kill_type: query` cancels
//! a running statement and its connection lives; a dry run touches nothing.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

use crate::helpers::app::{TestApp, spawn_app};
use crate::helpers::fixtures::KillCtx;
use crate::helpers::pg::{
    Backend, Kind, SEES_AND_SIGNALS, history_rows, new_database, new_role, pg_ctx, process_ids,
    sqlstate,
};
use crate::support::postgres::{Postgres, shared};

/// Pids no backend has: above any `pid_max` (2^22), and beyond a pid's 32 bits.
const UNKNOWN_PIDS: [&str; 2] = ["2147483646", "99999999999"];

/// An advisory lock key no other victim group uses.
fn lock_key() -> i64 {
    static NEXT: AtomicI64 = AtomicI64::new(0);
    i64::from(std::process::id()) << 20 | NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Users aaa/bbb × databases example/other × idle / sleeping / in a transaction holding a lock /
/// waiting on that lock: sixteen victims.
async fn victims(pg: &Postgres, aaa: &str, bbb: &str, example: &str, other: &str) -> Vec<Backend> {
    let mut out = vec![];
    for user in [aaa, bbb] {
        for db in [example, other] {
            let key = lock_key();
            out.push(Backend::in_transaction(pg, user, db, key).await);
            out.push(Backend::waiting(pg, user, db, key).await);
            out.push(Backend::idle(pg, user, db).await);
            out.push(Backend::sleeping(pg, user, db).await);
        }
    }
    out
}

fn ids_of(list: &Value) -> BTreeSet<i32> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

fn strings(list: &Value) -> BTreeSet<String> {
    list.as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_owned())
        .collect()
}

/// The report's entry for `pid` in `killed`.
fn entry(report: &Value, pid: i32) -> &Value {
    report["killed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"].as_str() == Some(pid.to_string().as_str()))
        .unwrap_or_else(|| panic!("{pid} not in {report}"))
}

/// The killed entry and the history row of `v` describe it as the server listed it.
fn assert_describes(v: &Backend, killed: &Value, row: &Value) {
    assert_eq!(killed["user"], v.user.as_str(), "{killed}");
    assert_eq!(killed["database"], v.db.as_str(), "{killed}");
    assert_eq!(killed["command"], v.kind.command(), "{killed}");
    assert!(
        killed["host"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{killed}"
    );
    assert_eq!(killed["gone"], true, "{killed}");
    match v.kind {
        Kind::Sleeping => {
            assert_eq!(killed["state"], "Timeout:PgSleep", "{killed}");
            assert_eq!(killed["sql"], "SELECT pg_sleep(600)", "{killed}");
        }
        Kind::WaitingOnLock => assert_eq!(killed["state"], "Lock:advisory", "{killed}"),
        Kind::Idle => assert_eq!(killed["sql"], "", "{killed}"),
        Kind::InTransaction => {
            let sql = killed["sql"].as_str().unwrap();
            assert!(sql.starts_with("SELECT pg_advisory_xact_lock("), "{killed}");
        }
    }
    assert_eq!(row["session_id"], v.pid, "{row}");
    assert_eq!(row["user"], v.user.as_str(), "{row}");
    assert_eq!(row["db"], v.db.as_str(), "{row}");
    assert_eq!(row["host"], killed["host"], "{row}");
    assert_eq!(row["command"], v.kind.command(), "{row}");
    assert_eq!(row["killed_source"], "api:admin", "{row}");
    assert_eq!(row["task_id"], 0, "{row}");
    assert_eq!(row["interrupted"], false, "{row}");
}

async fn setup() -> (TestApp, &'static Postgres, KillCtx) {
    let app = spawn_app().await;
    let pg = shared();
    let ctx = pg_ctx(&app, pg, SEES_AND_SIGNALS, &[]).await;
    (app, pg, ctx)
}

#[tokio::test]
async fn every_filter_combination_kills_exactly_its_backends() {
    let (app, pg, ctx) = setup().await;
    let (aaa, bbb) = (new_role(pg, "aaa", ""), new_role(pg, "bbb", ""));
    let (example, other) = (new_database(pg, "example"), new_database(pg, "other"));

    // (by user aaa, by database example, by the ids of the victims it picks).
    type Pick = fn(&Backend, &str) -> bool;
    let cases: Vec<(bool, bool, Option<Pick>)> = vec![
        (true, false, None),
        (false, true, None),
        (
            false,
            false,
            Some(|v, _| matches!(v.kind, Kind::Sleeping | Kind::WaitingOnLock)),
        ),
        (true, true, None),
        (
            true,
            false,
            Some(|v, _| matches!(v.kind, Kind::Idle | Kind::InTransaction)),
        ),
        (false, true, Some(|v, aaa| v.user == aaa)),
        (
            true,
            true,
            Some(|v, _| matches!(v.kind, Kind::Idle | Kind::WaitingOnLock)),
        ),
    ];
    for (case, (by_user, by_db, by_ids)) in cases.into_iter().enumerate() {
        let mut vs = victims(pg, &aaa, &bbb, &example, &other).await;
        let mut body = json!({});
        if by_user {
            body["user"] = json!(aaa);
        }
        if by_db {
            body["database"] = json!(example);
        }
        let listed: Option<BTreeSet<i32>> =
            by_ids.map(|pick| vs.iter().filter(|v| pick(v, &aaa)).map(|v| v.pid).collect());
        if let Some(ids) = &listed {
            let mut ids = process_ids(&ids.iter().copied().collect::<Vec<_>>());
            ids.as_array_mut()
                .unwrap()
                .extend(UNKNOWN_PIDS.iter().map(|p| json!(p)));
            body["process_ids"] = ids;
        }
        let expected: BTreeSet<i32> = vs
            .iter()
            .filter(|v| !by_user || v.user == aaa)
            .filter(|v| !by_db || v.db == example)
            .filter(|v| listed.as_ref().is_none_or(|l| l.contains(&v.pid)))
            .map(|v| v.pid)
            .collect();
        assert!(!expected.is_empty(), "case {case} must kill something");

        let report = ctx.kill(&app, body.clone()).await;
        assert_eq!(
            ids_of(&report["killed"]),
            expected,
            "case {case}: {body} → {report}"
        );
        assert_eq!(report["failed"], json!([]), "case {case}: {report}");
        assert_eq!(report["dry_run"], false);
        assert_eq!(report["kill_type"], "connection");
        match &listed {
            Some(listed) => {
                let unknown: BTreeSet<String> =
                    UNKNOWN_PIDS.iter().map(|p| p.to_string()).collect();
                assert_eq!(strings(&report["not_found"]), unknown, "case {case}");
                // Listed pids that fail user/database are reported, not killed.
                let not_matched: BTreeSet<i32> = listed.difference(&expected).copied().collect();
                assert_eq!(
                    ids_of(&report["skipped"]),
                    not_matched,
                    "case {case}: {report}"
                );
                assert!(
                    report["skipped"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .all(|s| s["reason"] == "not_matched"),
                    "{report}"
                );
            }
            None => {
                assert_eq!(report["not_found"], json!([]), "case {case}: {report}");
                assert_eq!(report["skipped"], json!([]), "case {case}: {report}");
            }
        }

        let rows = history_rows(&app, &ctx, report["request_id"].as_str().unwrap()).await;
        let in_history: BTreeSet<i32> = rows
            .iter()
            .map(|r| r["session_id"].as_i64().unwrap() as i32)
            .collect();
        assert_eq!(in_history, expected, "case {case}: history {rows:?}");
        assert_eq!(rows.len(), expected.len(), "each session once");

        for v in vs.iter_mut() {
            if expected.contains(&v.pid) {
                let row = rows.iter().find(|r| r["session_id"] == v.pid).unwrap();
                assert_describes(v, entry(&report, v.pid), row);
                assert!(
                    v.dead(pg).await,
                    "case {case}: {} {:?} should be dead",
                    v.pid,
                    v.kind
                );
            } else {
                assert!(
                    v.alive(pg).await,
                    "case {case}: {} {:?} should live",
                    v.pid,
                    v.kind
                );
            }
        }
        // Leave no victims behind for the next case.
        let rest: Vec<i32> = vs
            .iter()
            .filter(|v| !expected.contains(&v.pid))
            .map(|v| v.pid)
            .collect();
        let cleanup = ctx
            .kill(&app, json!({"process_ids": process_ids(&rest)}))
            .await;
        assert_eq!(ids_of(&cleanup["killed"]).len(), rest.len(), "{cleanup}");
    }
}

#[tokio::test]
async fn a_query_kill_cancels_the_statement_and_the_connection_lives() {
    let (app, pg, ctx) = setup().await;
    let user = new_role(pg, "cancel", "");
    let db = new_database(pg, "cancel");
    let mut sleeper = Backend::sleeping(pg, &user, &db).await;
    let mut idle = Backend::idle(pg, &user, &db).await;
    let mut bystander = Backend::sleeping(pg, &new_role(pg, "by", ""), &db).await;

    let report = ctx
        .kill(&app, json!({"user": user, "kill_type": "query"}))
        .await;
    assert_eq!(report["kill_type"], "query");
    assert_eq!(report["failed"], json!([]), "{report}");
    let killed = ids_of(&report["killed"]);
    assert!(killed.contains(&sleeper.pid), "{report}");
    assert!(!killed.contains(&bystander.pid), "{report}");
    assert_eq!(entry(&report, sleeper.pid)["gone"], true, "{report}");

    // The statement was cancelled (57014), and the same connection runs the next one.
    let err = sleeper.statement_result().await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("57014"), "{err}");
    assert!(sleeper.on_server(pg), "the session lives on");
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(sleeper.conn())
        .await
        .unwrap();
    assert_eq!(pid, sleeper.pid);
    assert_eq!(
        crate::helpers::pg::activity(pg, sleeper.pid, "state"),
        "idle"
    );
    assert!(
        idle.alive(pg).await,
        "an idle session has nothing to cancel"
    );
    assert!(bystander.alive(pg).await);

    let rows = history_rows(&app, &ctx, report["request_id"].as_str().unwrap()).await;
    let row = rows
        .iter()
        .find(|r| r["session_id"] == sleeper.pid)
        .unwrap_or_else(|| panic!("{rows:?}"));
    assert_eq!(row["info"], "SELECT pg_sleep(600)", "{row}");
    assert_eq!(row["command"], "active", "{row}");
}

#[tokio::test]
async fn a_dry_run_touches_nothing_and_reports_what_would_be_killed() {
    let (app, pg, ctx) = setup().await;
    let user = new_role(pg, "dry", "");
    let db = new_database(pg, "dry");
    let key = lock_key();
    let mut vs = [
        Backend::in_transaction(pg, &user, &db, key).await,
        Backend::waiting(pg, &user, &db, key).await,
        Backend::idle(pg, &user, &db).await,
        Backend::sleeping(pg, &user, &db).await,
    ];
    let mut bystander = Backend::idle(pg, &new_role(pg, "by", ""), &db).await;
    let mut ids: Vec<i32> = vs.iter().map(|v| v.pid).collect();
    ids.push(bystander.pid);

    let report = ctx
        .kill(
            &app,
            json!({"user": user, "process_ids": process_ids(&ids), "dry_run": true}),
        )
        .await;
    assert_eq!(report["dry_run"], true);
    let would: BTreeSet<i32> = vs.iter().map(|v| v.pid).collect();
    assert_eq!(ids_of(&report["killed"]), would, "{report}");
    for k in report["killed"].as_array().unwrap() {
        assert!(k.get("gone").is_none_or(Value::is_null), "{k}");
    }
    assert_eq!(ids_of(&report["skipped"]), BTreeSet::from([bystander.pid]));
    assert_eq!(report["failed"], json!([]));

    for v in vs.iter_mut() {
        assert!(v.alive(pg).await, "{} {:?} was touched", v.pid, v.kind);
        assert_eq!(
            crate::helpers::pg::activity(pg, v.pid, "state"),
            v.kind.command(),
            "{:?} still in its state",
            v.kind
        );
    }
    assert!(bystander.alive(pg).await);
    assert_eq!(ctx.history(&app, "").await["total_count"], 0);

    // The same request for real kills exactly what the dry run named.
    let real = ctx
        .kill(
            &app,
            json!({"user": user, "process_ids": process_ids(&ids)}),
        )
        .await;
    assert_eq!(ids_of(&real["killed"]), would, "{real}");
    for v in vs.iter_mut() {
        assert!(v.dead(pg).await, "{} {:?}", v.pid, v.kind);
    }
    assert!(bystander.alive(pg).await);
}
