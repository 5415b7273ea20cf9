//! Kill history and its reconciliation on both backends: intent, outcomes, the listing, and
//! settling requests whose outcomes never came or were uncertain.

use std::time::Duration;

use dbkill::domain::InstanceId;
use dbkill::store::{
    HistoryQuery, KilledSessionRecord, Outcome, SessionCheck, SessionOutcome, SessionSnapshot,
    Store,
};

use super::replicas::rule_intent;
use super::{Backend, both};

both!(
    intent_outcomes_and_listing,
    a_kill_without_outcomes_is_settled_from_its_plan,
    uncertain_sessions_are_settled_keeping_their_kill_time,
    concurrent_reconciliations_settle_once,
    requests_of_another_live_replica_are_left_to_it,
);

fn snapshot(id: u64, info: &'static str) -> SessionSnapshot<'static> {
    SessionSnapshot {
        session_id: id,
        user: "app",
        host: "h:1",
        db: "shop",
        command: if info.is_empty() { "Sleep" } else { "Query" },
        time: 3,
        state: "",
        info,
        started: Some(1_700_000_000_000_000 + id as i64),
    }
}

fn outcome(id: u64, outcome: Outcome, kill_time: Option<i64>) -> SessionOutcome {
    SessionOutcome {
        session_id: id,
        outcome,
        error_code: (outcome == Outcome::Failed).then(|| "DAS.210003".into()),
        kill_time,
    }
}

fn check(session_id: u64, alive: bool) -> SessionCheck {
    SessionCheck { session_id, alive }
}

async fn history(
    s: &dyn Store,
    instance: &InstanceId,
    request_id: Option<&str>,
) -> (Vec<KilledSessionRecord>, i64) {
    let q = HistoryQuery {
        start_time: 0,
        end_time: i64::MAX,
        offset: 0,
        limit: 100,
        request_id: request_id.map(str::to_owned),
    };
    s.list_kill_history(instance, &q).await.unwrap()
}

async fn record(
    s: &dyn Store,
    id: &str,
    i: &InstanceId,
    replica: &str,
    plan: &[SessionSnapshot<'_>],
) {
    s.record_kill_plans(&[rule_intent(id, i, replica, plan)], None)
        .await
        .unwrap();
}

async fn intent_outcomes_and_listing(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let plan = [
        snapshot(7, "SELECT SLEEP(9)"),
        snapshot(9, ""),
        snapshot(11, ""),
    ];
    record(s.as_ref(), "r1", &i, "node-a", &plan).await;
    assert_eq!(
        history(s.as_ref(), &i, None).await.1,
        0,
        "nothing killed yet"
    );
    let outcomes = [
        outcome(7, Outcome::Killed, Some(100)),
        outcome(9, Outcome::Failed, None),
        outcome(11, Outcome::Killed, Some(300)),
    ];
    s.record_kill_outcomes("r1", &plan, &outcomes)
        .await
        .unwrap();
    assert!(s.unreconciled(&[], "").await.unwrap().is_empty());
    let (rows, total) = history(s.as_ref(), &i, None).await;
    assert_eq!(total, 2);
    let first = &rows[0];
    assert_eq!(
        (first.session_id, first.kill_time),
        (11, 300),
        "newest first"
    );
    let second = &rows[1];
    assert_eq!(
        (
            second.session_id,
            second.user.as_str(),
            second.db.as_str(),
            second.info.as_str(),
            second.command.as_str(),
            second.time,
        ),
        (7, "app", "shop", "SELECT SLEEP(9)", "Query", 3)
    );
    assert_eq!(
        (
            second.killed_source.as_str(),
            second.task_id,
            second.request_id.as_str(),
            second.replica.as_str(),
            second.interrupted,
            second.instance_id.as_str(),
        ),
        ("rule:1", 1, "report-r1", "node-a", false, i.as_str())
    );

    // A second request, found by its report's request id; paging and the time window.
    let plan2 = [snapshot(20, ""), snapshot(21, "")];
    record(s.as_ref(), "r2", &i, "", &plan2).await;
    let killed2 = [
        outcome(20, Outcome::Killed, Some(500)),
        outcome(21, Outcome::Killed, Some(600)),
    ];
    s.record_kill_outcomes("r2", &plan2, &killed2)
        .await
        .unwrap();
    let (rows, total) = history(s.as_ref(), &i, Some("report-r2")).await;
    assert_eq!(total, 2);
    assert_eq!(
        rows.iter().map(|r| r.session_id).collect::<Vec<_>>(),
        [21, 20]
    );
    assert!(rows.iter().all(|r| r.replica.is_empty()));
    assert_eq!(
        history(s.as_ref(), &i, Some("r2")).await.1,
        0,
        "not the row key"
    );
    let q = HistoryQuery {
        start_time: 250,
        end_time: 550,
        offset: 1,
        limit: 1,
        request_id: None,
    };
    let (page, total) = s.list_kill_history(&i, &q).await.unwrap();
    assert_eq!((total, page[0].session_id), (2, 11));
    let elsewhere = InstanceId::new_random("in01");
    assert_eq!(history(s.as_ref(), &elsewhere, None).await.1, 0);
}

async fn a_kill_without_outcomes_is_settled_from_its_plan(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let plan = [
        snapshot(7, ""),
        snapshot(8, "SELECT SLEEP(100)"),
        snapshot(9, ""),
    ];
    let mut intent = rule_intent("crashed", &i, "", &plan);
    intent.created_at = 1_000;
    s.record_kill_plans(&[intent], None).await.unwrap();

    assert!(
        s.unreconciled(&["crashed".into()], "")
            .await
            .unwrap()
            .is_empty(),
        "busy"
    );
    let found = s.unreconciled(&[], "").await.unwrap();
    let [request] = &found[..] else {
        panic!("{found:?}")
    };
    assert!(request.crashed);
    assert_eq!(
        (
            request.history_id.as_str(),
            request.request_id.as_str(),
            request.created_at
        ),
        ("crashed", "report-crashed", 1_000)
    );
    assert_eq!(
        (request.kill_type.as_str(), &request.instance_id),
        ("connection", &i)
    );
    assert_eq!(request.sessions.len(), 3);
    let second = &request.sessions[1];
    assert_eq!(
        (second.session_id, second.info.as_str(), second.started),
        (8, "SELECT SLEEP(100)", Some(1_700_000_000_000_008))
    );

    let checks = [check(7, false), check(8, true), check(9, false)];
    assert_eq!(
        s.record_reconciliation("crashed", &checks).await.unwrap(),
        3
    );
    assert!(s.unreconciled(&[], "").await.unwrap().is_empty());
    assert_eq!(
        s.record_reconciliation("crashed", &checks).await.unwrap(),
        0,
        "settled once"
    );
    let (rows, total) = history(s.as_ref(), &i, None).await;
    assert_eq!(total, 2);
    for (row, id) in rows.iter().zip([9, 7]) {
        assert_eq!(
            (row.session_id, row.kill_time, row.interrupted),
            (id, 1_000, true)
        );
    }
    assert_eq!(
        s.record_reconciliation("no-such", &checks).await.unwrap(),
        0
    );
}

async fn uncertain_sessions_are_settled_keeping_their_kill_time(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let plan = [snapshot(7, ""), snapshot(8, ""), snapshot(9, "")];
    record(s.as_ref(), "stalled", &i, "", &plan).await;
    let outcomes = [
        outcome(7, Outcome::Killed, Some(100)),
        outcome(8, Outcome::Uncertain, Some(200)),
        outcome(9, Outcome::Uncertain, Some(300)),
    ];
    s.record_kill_outcomes("stalled", &plan, &outcomes)
        .await
        .unwrap();
    let found = s.unreconciled(&[], "").await.unwrap();
    let [request] = &found[..] else {
        panic!("{found:?}")
    };
    assert!(!request.crashed);
    let uncertain: Vec<(u64, Option<i64>)> = request
        .sessions
        .iter()
        .map(|s| (s.session_id, s.kill_time))
        .collect();
    assert_eq!(uncertain, [(8, Some(200)), (9, Some(300))]);
    let settled = s
        .record_reconciliation("stalled", &[check(8, false), check(9, true)])
        .await
        .unwrap();
    assert_eq!(settled, 2);
    assert!(s.unreconciled(&[], "").await.unwrap().is_empty());
    let (rows, _) = history(s.as_ref(), &i, None).await;
    let shown: Vec<(i64, i64, bool)> = rows
        .iter()
        .map(|r| (r.session_id, r.kill_time, r.interrupted))
        .collect();
    assert_eq!(shown, [(8, 200, true), (7, 100, false)]);
}

/// Two reconciliations of one request at once (two replicas, or two rounds): the sessions are
/// settled once, and one of them reports 0.
async fn concurrent_reconciliations_settle_once(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let plan: Vec<SessionSnapshot> = (1..=200).map(|id| snapshot(id, "")).collect();
    for round in 0..5 {
        let crashed = format!("crashed-{round}");
        record(s.as_ref(), &crashed, &i, "", &plan).await;
        let stalled = format!("stalled-{round}");
        record(s.as_ref(), &stalled, &i, "", &plan).await;
        let uncertain: Vec<SessionOutcome> = plan
            .iter()
            .map(|p| outcome(p.session_id, Outcome::Uncertain, Some(50)))
            .collect();
        s.record_kill_outcomes(&stalled, &plan, &uncertain)
            .await
            .unwrap();
        for id in [crashed, stalled] {
            // The two disagree on which sessions are alive: whichever settles first decides.
            let checks_a: Vec<SessionCheck> = plan
                .iter()
                .map(|p| check(p.session_id, p.session_id % 2 == 0))
                .collect();
            let checks_b: Vec<SessionCheck> = plan
                .iter()
                .map(|p| check(p.session_id, p.session_id % 3 == 0))
                .collect();
            let (a, b) = tokio::join!(
                tokio::spawn({
                    let (s, id) = (s.clone(), id.clone());
                    async move { s.record_reconciliation(&id, &checks_a).await }
                }),
                tokio::spawn({
                    let (s, id) = (s.clone(), id.clone());
                    async move { s.record_reconciliation(&id, &checks_b).await }
                }),
            );
            let mut settled = [a.unwrap().unwrap(), b.unwrap().unwrap()];
            settled.sort();
            assert_eq!(settled, [0, 200], "{id}");
        }
    }
    assert!(s.unreconciled(&[], "").await.unwrap().is_empty());
}

/// On a shared store a live replica settles its own requests; those of a replica whose
/// heartbeat stopped, or that retired, are anyone's. An embedded store has one process, so
/// every request is its own.
async fn requests_of_another_live_replica_are_left_to_it(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let plan = [snapshot(1, "")];
    s.heartbeat("b", Duration::from_secs(60)).await.unwrap();
    s.heartbeat("c", Duration::from_millis(100)).await.unwrap();
    s.heartbeat("d", Duration::from_secs(60)).await.unwrap();
    for (id, replica) in [
        ("of-a", "a"),
        ("of-b", "b"),
        ("of-c", "c"),
        ("of-d", "d"),
        ("of-none", ""),
    ] {
        record(s.as_ref(), id, &i, replica, &plan).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.retire_replica("d").await.unwrap();
    let mut seen: Vec<String> = s
        .unreconciled(&[], "a")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.history_id)
        .collect();
    seen.sort();
    if b.is_postgres() {
        // b is live; c's heartbeat expired; d retired; a is the caller; '' is no replica's.
        assert_eq!(seen, ["of-a", "of-c", "of-d", "of-none"]);
    } else {
        assert_eq!(seen, ["of-a", "of-b", "of-c", "of-d", "of-none"]);
    }
}
