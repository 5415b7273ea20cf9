//! What no rule ever kills, even one with `time=1` and nothing else: sessions of the instance's
//! protected users, the server's own threads (the event scheduler, a client that has not logged
//! in yet) and dbkill's own connections, including those of a db user no rule acts as. Every
//! other session older than a second dies.

use std::time::{Duration, Instant};

use serde_json::json;

use super::{KILLER_GRANTS, private_server};
use crate::helpers::fixtures::{
    history_ids, killer_ctx, new_victim, register_killer, wait_until_only_the_lifeline,
};
use crate::helpers::rules::{KILL_WITHIN, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, idle_victim, ids, sleeping_victim, wait_gone};
use crate::support::mariadb::MariaDb;

/// The ids of the server's sessions of `user`.
fn sessions_of(db: &MariaDb, user: &str) -> Vec<u64> {
    db.processlist_ids(user)
}

#[tokio::test]
async fn a_time_only_rule_kills_every_client_but_no_protected_system_or_own_session() {
    // Its own server: this rule would kill every other test's sessions.
    let db = private_server(false);
    let app = spawn_rules_app().await;
    let (keep, victim) = (new_victim(&db, "keep"), new_victim(&db, "victim"));
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[&keep]).await;
    let rules = Rules::of(&app, &ctx);
    // A second db user of the instance: no rule acts as it, its lifeline is dbkill's all the same.
    let (_, second) = register_killer(&app, &db, &ctx.project, &ctx.instance, KILLER_GRANTS).await;
    let lifelines = [
        wait_until_only_the_lifeline(&db, &ctx.killer).await,
        wait_until_only_the_lifeline(&db, &second).await,
    ];
    let scheduler = sessions_of(&db, "event_scheduler");
    assert_eq!(scheduler.len(), 1, "the event scheduler runs");

    let mut protected = vec![
        idle_victim(&db, &keep, None, Via::Tcp, "protected idle").await,
        sleeping_victim(&db, &keep, None, Via::Tcp, "protected running").await,
    ];
    let mut victims = vec![
        idle_victim(&db, &victim, None, Via::Tcp, "idle").await,
        idle_victim(&db, &victim, None, Via::Socket, "idle over the socket").await,
        sleeping_victim(&db, &victim, None, Via::Tcp, "running").await,
    ];
    // A client that has not logged in: listed as `unauthenticated user` until connect_timeout
    // (10 s) ends it.
    let _half_open = std::net::TcpStream::connect((db.host(), db.port())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let unauthenticated = loop {
        if let [id] = sessions_of(&db, "unauthenticated user")[..] {
            break id;
        }
        assert!(Instant::now() < deadline, "no unauthenticated session");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // With the switch still OFF: the preview lists exactly the unprotected sessions.
    let only_time = rule(json!({"time": 1}));
    assert_eq!(rules.preview_ids(only_time.clone()).await, ids(&victims));

    let task = rules.add(only_time).await;
    rules.switch_on().await;
    let left = wait_gone(&db, &ids(&victims), Instant::now() + KILL_WITHIN).await;
    assert!(left.is_empty(), "not killed: {left:?}");
    for v in &mut victims {
        assert!(
            v.died(&db).await,
            "{}'s client did not see its end",
            v.label
        );
    }

    // Eight more ticks, then everything else is still there.
    tokio::time::sleep(TICK * 8).await;
    for v in &mut protected {
        assert!(v.still_works(&db).await, "{} was killed", v.label);
    }
    assert!(db.alive(scheduler[0]), "the event scheduler was killed");
    assert!(
        db.alive(unauthenticated),
        "the unauthenticated session was killed"
    );
    for id in lifelines {
        assert!(db.alive(id), "dbkill's lifeline {id} was killed");
    }

    // The history holds the victims only, as the rule's kills: none of dbkill's own sessions
    // (lifelines or any other) is there.
    let h = ctx.history_of(&app, victims.len()).await;
    let rows = h["killed_sessions"].as_array().unwrap();
    let killed = history_ids(&h);
    assert_eq!(killed, ids(&victims), "{h}");
    for r in rows {
        assert_eq!(r["user"], victim.as_str(), "{r}");
        assert_eq!(r["task_id"], json!(task), "{r}");
    }

    // The rule still runs: a new session dies once it is a second old.
    let fresh = idle_victim(&db, &victim, None, Via::Tcp, "fresh").await;
    let deadline = Instant::now() + Duration::from_secs(1) + KILL_WITHIN;
    assert!(
        wait_gone(&db, &ids([&fresh]), deadline).await.is_empty(),
        "a new session outlived the rule"
    );
    // And dbkill still lists through its db user.
    let listed = ctx.list(&app, &format!("user={keep}")).await;
    assert_eq!(listed["count"], 2, "{listed}");
}
