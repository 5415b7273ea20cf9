//! Heartbeats, rule leases, the fence on a tick's intent and signature claims on both backends.

use std::time::Duration;

use dbkill::domain::{DbUserId, InstanceId, ProjectId};
use dbkill::store::{HistoryQuery, KillIntent, LeaseFence, SessionSnapshot, Store, StoreError};

use super::{Backend, both};

both!(
    leases_renew_take_over_and_release,
    racing_acquires_have_one_winner,
    retiring_releases_every_lease,
    live_replicas_are_those_with_an_unexpired_heartbeat,
    a_stale_fence_writes_nothing,
    signatures_are_claimed_once_until_they_expire,
);

const LONG: Duration = Duration::from_secs(60);
/// Long enough that three calls fit in it on a loaded machine, short enough to wait out.
const SHORT: Duration = Duration::from_millis(1_500);

async fn leases_renew_take_over_and_release(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let v1 = s.acquire_lease(&i, "a", SHORT).await.unwrap().unwrap();
    assert_eq!(
        s.acquire_lease(&i, "b", LONG).await.unwrap(),
        None,
        "a holds it"
    );
    // Renewing one's own live lease keeps its version.
    assert_eq!(s.acquire_lease(&i, "a", SHORT).await.unwrap(), Some(v1));
    let leases = s.list_leases().await.unwrap();
    assert_eq!(leases.len(), 1);
    assert_eq!((leases[0].owner.as_str(), leases[0].version), ("a", v1));
    assert!(leases[0].expires_in_ms > 0 && leases[0].expires_in_ms <= SHORT.as_millis() as i64);

    // Expired: another replica takes it, with a new version.
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    let v2 = s.acquire_lease(&i, "b", LONG).await.unwrap().unwrap();
    assert!(v2 > v1);
    assert_eq!(s.acquire_lease(&i, "a", LONG).await.unwrap(), None);

    // Released by someone else: nothing happens; by its owner: free at once, new version.
    s.release_lease(&i, "a").await.unwrap();
    assert_eq!(s.acquire_lease(&i, "a", LONG).await.unwrap(), None);
    s.release_lease(&i, "b").await.unwrap();
    let v3 = s.acquire_lease(&i, "a", LONG).await.unwrap().unwrap();
    assert!(v3 > v2);
    // The former owner taking it back after losing it is a take-over too.
    s.release_lease(&i, "a").await.unwrap();
    let v4 = s.acquire_lease(&i, "a", LONG).await.unwrap().unwrap();
    assert!(v4 > v3);
    let leases = s.list_leases().await.unwrap();
    assert_eq!((leases[0].owner.as_str(), leases[0].version), ("a", v4));
}

async fn racing_acquires_have_one_winner(b: Backend) {
    let s = b.store();
    for round in 0..10 {
        let i = InstanceId::new_random("in01");
        let racers = (0..4).map(|n| {
            let (s, i) = (s.clone(), i.clone());
            tokio::spawn(async move { s.acquire_lease(&i, &format!("r{n}"), LONG).await })
        });
        let mut winners = 0;
        for racer in racers.collect::<Vec<_>>() {
            if racer.await.unwrap().unwrap().is_some() {
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}");
    }
}

async fn retiring_releases_every_lease(b: Backend) {
    let s = b.store();
    let (i, j) = (
        InstanceId::new_random("in01"),
        InstanceId::new_random("in01"),
    );
    s.heartbeat("a", LONG).await.unwrap();
    s.acquire_lease(&i, "a", LONG).await.unwrap().unwrap();
    s.acquire_lease(&j, "a", LONG).await.unwrap().unwrap();
    assert_eq!(s.acquire_lease(&j, "b", LONG).await.unwrap(), None);
    s.retire_replica("a").await.unwrap();
    assert!(s.acquire_lease(&i, "b", LONG).await.unwrap().is_some());
    assert!(s.acquire_lease(&j, "b", LONG).await.unwrap().is_some());
    assert!(
        s.list_leases()
            .await
            .unwrap()
            .iter()
            .all(|l| l.owner == "b")
    );
}

async fn live_replicas_are_those_with_an_unexpired_heartbeat(b: Backend) {
    let s = b.store();
    assert!(s.live_replicas().await.unwrap().is_empty());
    s.heartbeat("b", LONG).await.unwrap();
    s.heartbeat("a", LONG).await.unwrap();
    s.heartbeat("brief", SHORT).await.unwrap();
    assert_eq!(s.live_replicas().await.unwrap(), ["a", "b", "brief"]);
    s.retire_replica("b").await.unwrap();
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    assert_eq!(s.live_replicas().await.unwrap(), ["a"], "retired, expired");
}

fn snapshot(id: u64) -> SessionSnapshot<'static> {
    SessionSnapshot {
        session_id: id,
        user: "app",
        host: "h:1",
        db: "shop",
        command: "Query",
        time: 3,
        state: "",
        info: "SELECT 1",
        started: None,
    }
}

/// A rule's intent on `instance`, recorded by `replica`.
pub fn rule_intent<'a>(
    history_id: &str,
    instance: &InstanceId,
    replica: &str,
    sessions: &'a [SessionSnapshot<'a>],
) -> KillIntent<'a> {
    KillIntent {
        history_id: history_id.into(),
        request_id: format!("report-{history_id}"),
        project_id: ProjectId::new_random(),
        instance_id: instance.clone(),
        db_user_id: DbUserId::new_random(),
        source: "rule:1".into(),
        task_id: 1,
        kill_type: "connection".into(),
        filter_json: "{}".into(),
        created_at: dbkill::clock::now_ms(),
        sessions,
        replica: replica.into(),
    }
}

async fn unfinished(s: &dyn Store) -> Vec<String> {
    let mut ids: Vec<String> = s
        .unreconciled(&[], "")
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.history_id)
        .collect();
    ids.sort();
    ids
}

async fn a_stale_fence_writes_nothing(b: Backend) {
    let s = b.store();
    let i = InstanceId::new_random("in01");
    let v1 = s.acquire_lease(&i, "a", SHORT).await.unwrap().unwrap();
    let fence = |replica: &str, version| LeaseFence {
        instance_id: i.clone(),
        replica: replica.into(),
        version,
    };
    let sessions = [snapshot(1), snapshot(2)];
    let plans = [
        rule_intent("t1-r1", &i, "a", &sessions),
        rule_intent("t1-r2", &i, "a", &sessions),
    ];
    s.record_kill_plans(&plans, Some(&fence("a", v1)))
        .await
        .unwrap();
    assert_eq!(unfinished(s.as_ref()).await, ["t1-r1", "t1-r2"]);

    // Another replica's fence, or a version that never was: refused.
    let other = [rule_intent("x", &i, "b", &sessions)];
    for wrong in [fence("b", v1), fence("a", v1 + 1)] {
        assert!(matches!(
            s.record_kill_plans(&other, Some(&wrong)).await,
            Err(StoreError::LeaseLost)
        ));
    }
    // Expired, then taken over: a's fence is stale, and all of its plans are refused.
    tokio::time::sleep(SHORT + Duration::from_millis(50)).await;
    let late = [
        rule_intent("t2-r1", &i, "a", &sessions),
        rule_intent("t2-r2", &i, "a", &sessions),
    ];
    assert!(matches!(
        s.record_kill_plans(&late, Some(&fence("a", v1))).await,
        Err(StoreError::LeaseLost)
    ));
    let v2 = s.acquire_lease(&i, "b", LONG).await.unwrap().unwrap();
    assert!(matches!(
        s.record_kill_plans(&late, Some(&fence("a", v1))).await,
        Err(StoreError::LeaseLost)
    ));
    assert_eq!(
        unfinished(s.as_ref()).await,
        ["t1-r1", "t1-r2"],
        "nothing written"
    );
    s.record_kill_plans(&other, Some(&fence("b", v2)))
        .await
        .unwrap();
    // Unfenced plans (manual kills) need no lease.
    s.record_kill_plans(&[rule_intent("manual", &i, "a", &sessions)], None)
        .await
        .unwrap();
    assert_eq!(
        unfinished(s.as_ref()).await,
        ["manual", "t1-r1", "t1-r2", "x"]
    );
    let q = HistoryQuery {
        start_time: 0,
        end_time: i64::MAX,
        offset: 0,
        limit: 10,
        request_id: None,
    };
    assert_eq!(
        s.list_kill_history(&i, &q).await.unwrap().1,
        0,
        "no outcomes yet"
    );
}

async fn signatures_are_claimed_once_until_they_expire(b: Backend) {
    let s = b.store();
    let now = dbkill::clock::now_ms();
    assert!(s.claim_signature("sig-a", now + 60_000).await.unwrap());
    assert!(!s.claim_signature("sig-a", now + 60_000).await.unwrap());
    assert!(s.claim_signature("sig-b", now + 150).await.unwrap());
    tokio::time::sleep(Duration::from_millis(250)).await;
    // Expired: claimable again; a heartbeat purges expired claims.
    assert!(
        s.claim_signature("sig-b", dbkill::clock::now_ms() + 100)
            .await
            .unwrap()
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.heartbeat("a", LONG).await.unwrap();
    assert!(
        s.claim_signature("sig-b", dbkill::clock::now_ms() + 60_000)
            .await
            .unwrap()
    );
    assert!(!s.claim_signature("sig-a", now + 60_000).await.unwrap());
}
