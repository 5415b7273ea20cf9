//! Manual kills need no lease: the same user's 30 sessions killed through all three replicas at
//! the same moment all end, each is reported `killed` by at least one replica, and no replica
//! reports `killed` (or `failed`) for a session that did not end.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use super::harness::Replicas;
use super::node::KILL_STATEMENTS;
use super::target::Target;
use crate::helpers::fixtures::{ids_of, new_victim, sleepers};
use crate::helpers::sessions::listed;
use crate::support::mariadb::shared;

const SESSIONS: usize = 30;
/// The kill's own deadline (15 s by default) and MariaDB's up to 2 s to end a session in SLEEP().
const GONE_WITHIN: Duration = Duration::from_secs(20);

#[tokio::test]
async fn concurrent_kills_of_one_user_through_three_replicas_end_every_session_and_claim_no_survivor()
 {
    let replicas = Replicas::start(&[]).await;
    let [r1, r2, r3] = replicas.trio();
    let db = shared();
    let admin = r1.admin_token().await;
    let target = Target::register(r1, &admin, db).await;
    let user = new_victim(db, "concurrent");
    let victims = sleepers(db, &user, SESSIONS).await;
    let all: BTreeSet<u64> = victims.iter().map(|(_, id)| *id).collect();
    // Every replica has listed them (and opened its lifeline) before the kills start together.
    for node in [r1, r2, r3] {
        let listed_by = target.listed(node, &admin, &user).await;
        assert_eq!(
            listed_by.into_iter().collect::<BTreeSet<_>>(),
            all,
            "{}",
            node.name
        );
    }

    let (a, b, c) = tokio::join!(
        target.kill_user(r1, &admin, &user),
        target.kill_user(r2, &admin, &user),
        target.kill_user(r3, &admin, &user),
    );
    let reports = [("r1", a), ("r2", b), ("r3", c)];
    let deadline = Instant::now() + GONE_WITHIN;
    let mut left = listed(db, &all);
    while !left.is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = listed(db, &all);
    }
    assert!(left.is_empty(), "sessions still on the server: {left:?}");
    for (task, id) in victims {
        let result = tokio::time::timeout(Duration::from_secs(5), task)
            .await
            .expect("a killed statement ends")
            .unwrap();
        assert!(
            result.is_err(),
            "session {id}'s SLEEP() was not interrupted"
        );
    }

    let mut claimed: BTreeSet<u64> = BTreeSet::new();
    for (name, r) in &reports {
        assert_eq!(r.status.as_u16(), 200, "{name}: {}", r.text);
        let killed: BTreeSet<u64> = ids_of(&r.body["killed"]).into_iter().collect();
        assert!(
            killed.is_subset(&all),
            "{name} claims sessions that are not the user's: {:?}",
            killed.difference(&all).collect::<Vec<_>>()
        );
        let failed = &r.body["failed"];
        assert_eq!(
            failed.as_array().map(Vec::len),
            Some(0),
            "{name} reports failures for sessions that ended: {failed}"
        );
        println!(
            "{name}: killed {}, not_found {}, skipped {}",
            killed.len(),
            r.body["not_found"].as_array().map_or(0, Vec::len),
            r.body["skipped"].as_array().map_or(0, Vec::len)
        );
        claimed.extend(killed);
    }
    assert_eq!(
        claimed,
        all,
        "sessions no replica reported killed: {:?}",
        all.difference(&claimed).collect::<Vec<_>>()
    );
    let mut statements = 0.0;
    for node in [r1, r2, r3] {
        statements += node.metric(KILL_STATEMENTS).await;
    }
    assert!(
        statements >= SESSIONS as f64,
        "{statements} KILL statements for {SESSIONS} sessions"
    );
}
