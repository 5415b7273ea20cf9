//! A rule's lease moves when its owner dies: SIGKILL the replica holding it and another replica
//! kills a new victim within 20 s (the lease's TTL, 15 s by default, has to run out); SIGTERM the
//! new owner and the last replica kills the next victim within 3 s (a stopping replica releases
//! its leases at once). The owner is the replica whose `dbkill_rule_leases_held` is 1.

use std::time::{Duration, Instant};

use super::harness::Replicas;
use super::node::{LEASES_HELD, Node};
use super::target::{Target, replica_of};
use crate::helpers::fixtures::new_victim;
use crate::helpers::sessions::{Via, gone_within, idle_victim};
use crate::support::mariadb::shared;

/// Issue #15's bounds, from the signal to the new victim leaving the server.
const AFTER_SIGKILL: Duration = Duration::from_secs(20);
const AFTER_SIGTERM: Duration = Duration::from_secs(3);
/// A new rule's first kill: some replica must first see the instance and take its lease.
const FIRST_KILL_WITHIN: Duration = Duration::from_secs(20);

/// The one running replica that holds the lease, waiting up to 5 s for exactly one to say so.
async fn owner(replicas: &Replicas) -> &Node {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut holders = Vec::new();
        for node in replicas.running() {
            if node.metric(LEASES_HELD).await >= 1.0 {
                holders.push(node);
            }
        }
        if let [one] = holders[..] {
            return one;
        }
        assert!(
            Instant::now() < deadline,
            "not exactly one lease holder: {:?}",
            holders.iter().map(|n| &n.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_rule_moves_to_another_replica_when_its_owner_is_killed_or_stopped() {
    let replicas = Replicas::start(&[]).await;
    let [r1, r2, _] = replicas.trio();
    let db = shared();
    let admin = r1.admin_token().await;
    let target = Target::register(r2, &admin, db).await;
    let user = new_victim(db, "failover");
    target.rule_on(r1, &admin, &user).await;

    let first = idle_victim(db, &user, None, Via::Tcp, "first").await;
    gone_within(db, first.id, FIRST_KILL_WITHIN)
        .await
        .expect("the rule kills its first victim");
    let killed = owner(&replicas).await;

    // SIGKILL: nothing is released; the lease must expire.
    killed.sigkill();
    let signalled = Instant::now();
    let second = idle_victim(db, &user, None, Via::Tcp, "after SIGKILL").await;
    let took = gone_within(db, second.id, AFTER_SIGKILL)
        .await
        .map(|_| signalled.elapsed())
        .unwrap_or_else(|| {
            panic!(
                "no replica killed a victim within {AFTER_SIGKILL:?} of SIGKILL to {}",
                killed.name
            )
        });
    println!(
        "{} SIGKILLed: a new victim killed after {took:?}",
        killed.name
    );
    let rows = target
        .rows_of(
            other_than(&replicas, killed),
            &admin,
            second.id,
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_ne!(replica_of(&rows[0]), killed.name, "{rows:?}");

    // SIGTERM: the leases are released at once.
    let stopped = owner(&replicas).await;
    assert_ne!(stopped.name, killed.name);
    stopped.sigterm();
    let signalled = Instant::now();
    let third = idle_victim(db, &user, None, Via::Tcp, "after SIGTERM").await;
    let took = gone_within(db, third.id, AFTER_SIGTERM)
        .await
        .map(|_| signalled.elapsed())
        .unwrap_or_else(|| {
            panic!(
                "no replica killed a victim within {AFTER_SIGTERM:?} of SIGTERM to {}",
                stopped.name
            )
        });
    println!(
        "{} SIGTERMed: a new victim killed after {took:?}",
        stopped.name
    );
    let last = replicas
        .nodes
        .iter()
        .find(|n| n.name != killed.name && n.name != stopped.name)
        .unwrap();
    let rows = target
        .rows_of(last, &admin, third.id, Duration::from_secs(5))
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(replica_of(&rows[0]), last.name, "{rows:?}");
}

/// A replica other than `dead` to read the history through.
fn other_than<'a>(replicas: &'a Replicas, dead: &Node) -> &'a Node {
    replicas.nodes.iter().find(|n| n.name != dead.name).unwrap()
}
