//! Kill rules on a PostgreSQL instance, on the shared cluster (every rule names the test's own
//! role): a rule on user, database, command `active` and age kills the backend sleeping there
//! and spares bystanders that differ in one condition; the preview lists what the next tick
//! kills; `host` is matched as SQL LIKE on the client address (`local` for the unix socket);
//! the history credits each kill to its rule.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::fixtures::history_ids;
use crate::helpers::pg::{PgVictim, Via, end_all, new_database, new_role, pg_ctx, pids, wait_gone};
use crate::helpers::rules::{KILL_WITHIN, Rules, TICK, rule, spawn_rules_app};
use crate::support::postgres::shared;

/// What a rule's db user needs to see and signal other roles' backends.
const KILLER: &str = "IN ROLE pg_read_all_stats, pg_signal_backend";

/// Long enough for a session made now to be older than a rule's `time` of 1 s.
const AGE: Duration = Duration::from_millis(1_100);

#[tokio::test]
async fn a_rule_kills_the_sleeping_backend_and_spares_each_bystander() {
    let pg = shared();
    let app = spawn_rules_app().await;
    let ctx = pg_ctx(&app, pg, KILLER, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let (user, other_user) = (new_role(pg, "rule", ""), new_role(pg, "rule_other", ""));
    let (database, other_db) = (new_database(pg, "ruledb"), new_database(pg, "ruleother"));

    let mut matching = vec![
        PgVictim::sleeping(pg, &user, &database, Via::Tcp, "match 1").await,
        PgVictim::sleeping(pg, &user, &database, Via::Tcp, "match 2").await,
        PgVictim::sleeping(pg, &user, &database, Via::Socket, "match 3").await,
    ];
    let mut bystanders = vec![
        PgVictim::idle(pg, &user, &database, Via::Tcp, "idle").await,
        PgVictim::sleeping(pg, &user, &other_db, Via::Tcp, "other database").await,
        PgVictim::sleeping(pg, &other_user, &database, Via::Tcp, "other user").await,
    ];
    tokio::time::sleep(AGE).await;

    let body = rule(json!({"user": user, "db": database, "command": "active"}));
    assert_eq!(rules.switch().await, "OFF");
    let preview = rules.preview(body.clone()).await;
    assert_eq!(
        rules.preview_ids(body.clone()).await,
        pids(&matching),
        "{preview}"
    );
    for p in preview["processes"].as_array().unwrap() {
        assert_eq!(p["user"], user.as_str(), "{p}");
        assert_eq!(p["db"], database.as_str(), "{p}");
        assert_eq!(p["command"], "active", "{p}");
        assert_eq!(p["state"], "Timeout:PgSleep", "{p}");
        assert!(p["state_duration"].as_i64().unwrap() >= 1, "{p}");
        let host = p["host"].as_str().unwrap();
        assert!(host == "local" || host.starts_with("127.0.0.1:"), "{p}");
        assert!(
            p["sql_info"]
                .as_str()
                .unwrap()
                .starts_with("SELECT pg_sleep(600)"),
            "{p}"
        );
    }
    // Each bystander differs in one condition only: the rule without it previews that one too.
    for (loosened, bystander) in [
        (json!({"user": user, "db": database}), &bystanders[0]),
        (json!({"user": user, "command": "active"}), &bystanders[1]),
        (json!({"db": database, "command": "active"}), &bystanders[2]),
    ] {
        let mut expect = pids(&matching);
        expect.insert(bystander.pid as u64);
        assert_eq!(
            rules.preview_ids(rule(loosened.clone())).await,
            expect,
            "{loosened} must add {}",
            bystander.label
        );
    }

    // One previewed backend ends before the rule exists: it is no kill of the rule's.
    let gone_before = matching.pop().unwrap();
    pg.sql(&format!("SELECT pg_terminate_backend({})", gone_before.pid));
    let still_there = pids(&matching);

    let task = rules.add(body).await;
    rules.switch_on().await;
    let left = wait_gone(pg, &still_there, Instant::now() + KILL_WITHIN).await;
    assert!(left.is_empty(), "previewed but not killed: {left:?}");
    tokio::time::sleep(TICK * 4).await;
    for v in &mut matching {
        assert!(v.died(pg).await, "{}'s client did not see its end", v.label);
    }
    for v in &mut bystanders {
        assert!(v.still_works(pg).await, "{} was killed", v.label);
    }

    let h = ctx.history_of(&app, still_there.len()).await;
    assert_eq!(history_ids(&h), still_there, "{h}");
    for r in h["killed_sessions"].as_array().unwrap() {
        assert_eq!(r["task_id"], json!(task), "{r}");
        assert_eq!(r["killed_source"], format!("rule:{task}"), "{r}");
        assert_eq!(r["user"], user.as_str(), "{r}");
        assert_eq!(r["db"], database.as_str(), "{r}");
        assert_eq!(r["command"], "active", "{r}");
        assert!(r["time"].as_i64().unwrap() >= 1, "{r}");
        assert!(
            r["info"]
                .as_str()
                .unwrap()
                .starts_with("SELECT pg_sleep(600)"),
            "{r}"
        );
    }
    assert_eq!(rules.kills(task).await.len(), still_there.len());
    let listed = rules.get(task).await;
    assert_eq!(listed["killed_total"], json!(still_there.len()), "{listed}");
    rules.terminate(task).await;
    end_all(pg, &bystanders);
}

#[tokio::test]
async fn a_host_pattern_matches_tcp_clients_by_address_and_the_socket_as_local() {
    let pg = shared();
    let app = spawn_rules_app().await;
    let ctx = pg_ctx(&app, pg, KILLER, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let user = new_role(pg, "hostrule", "");
    let database = new_database(pg, "hostdb");

    let mut tcp = PgVictim::sleeping(pg, &user, &database, Via::Tcp, "tcp").await;
    let mut socket = PgVictim::sleeping(pg, &user, &database, Via::Socket, "socket").await;
    tokio::time::sleep(AGE).await;

    let (tcp_id, socket_id) = (tcp.pid as u64, socket.pid as u64);
    for (host, expect) in [
        ("127.0.0.%", BTreeSet::from([tcp_id])),
        ("127.0.0.1", BTreeSet::from([tcp_id])),
        ("127.0.0._", BTreeSet::from([tcp_id])),
        ("local", BTreeSet::from([socket_id])),
        ("%", BTreeSet::from([tcp_id, socket_id])),
        ("10.%", BTreeSet::new()),
        ("127.0.0.1:%", BTreeSet::new()),
    ] {
        let body = rule(json!({"user": user, "host": host, "command": "active"}));
        assert_eq!(rules.preview_ids(body).await, expect, "host {host:?}");
    }

    let task = rules
        .add(rule(
            json!({"user": user, "host": "127.0.0.%", "command": "active"}),
        ))
        .await;
    rules.switch_on().await;
    let left = wait_gone(pg, &BTreeSet::from([tcp_id]), Instant::now() + KILL_WITHIN).await;
    assert!(left.is_empty(), "the TCP client was not killed");
    tokio::time::sleep(TICK * 4).await;
    assert!(tcp.died(pg).await, "the TCP client did not see its end");
    assert!(socket.still_works(pg).await, "the socket client was killed");

    let kills = rules.kills(task).await;
    assert_eq!(kills.len(), 1, "{kills:?}");
    assert_eq!(kills[0]["session_id"], json!(tcp_id), "{kills:?}");
    assert_eq!(kills[0]["killed_source"], format!("rule:{task}"));
    assert!(
        kills[0]["host"].as_str().unwrap().starts_with("127.0.0.1:"),
        "{kills:?}"
    );
    rules.terminate(task).await;
    end_all(pg, [&socket]);
}
