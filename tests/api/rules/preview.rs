//! The preview lists what the rule kills at its next tick: previewed with the switch OFF, then
//! added and switched ON, the rule kills exactly the previewed sessions still there, and
//! nothing else.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::fixtures::{history_ids, killer_ctx, new_database, new_victim};
use crate::helpers::rules::{KILL_WITHIN, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, end_all, idle_victim, ids, sleeping_victim, wait_gone};
use crate::support::mariadb::shared;

use super::KILLER_GRANTS;

#[tokio::test]
async fn the_next_tick_kills_exactly_what_the_preview_listed() {
    // The rule names the test's own user, so the shared server is safe.
    let db = shared();
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let (user, other_user) = (new_victim(db, "prev"), new_victim(db, "prev_other"));
    let (database, other_db) = (new_database(db, "prevdb"), new_database(db, "prevother"));

    let mut matching = vec![
        sleeping_victim(db, &user, Some(&database), Via::Tcp, "match 1").await,
        sleeping_victim(db, &user, Some(&database), Via::Tcp, "match 2").await,
        sleeping_victim(db, &user, Some(&database), Via::Tcp, "match 3").await,
    ];
    let mut others = vec![
        idle_victim(db, &user, Some(&database), Via::Tcp, "idle").await,
        sleeping_victim(db, &user, Some(&other_db), Via::Tcp, "other database").await,
        sleeping_victim(db, &other_user, Some(&database), Via::Tcp, "other user").await,
    ];
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let body = rule(json!({"user": user, "db": database, "command": "Query"}));
    assert_eq!(rules.switch().await, "OFF");
    let previewed = rules.preview_ids(body.clone()).await;
    assert_eq!(previewed, ids(&matching), "the preview");

    // One previewed session ends before the rule exists: it is no kill of the rule's.
    let gone_before = matching.pop().unwrap();
    db.sql(&format!("KILL {}", gone_before.id));
    let still_there: BTreeSet<u64> = ids(&matching);

    let task = rules.add(body).await;
    rules.switch_on().await;
    let left = wait_gone(db, &still_there, Instant::now() + KILL_WITHIN).await;
    assert!(left.is_empty(), "previewed but not killed: {left:?}");
    tokio::time::sleep(TICK * 4).await;
    for v in &mut matching {
        assert!(v.died(db).await, "{}'s client did not see its end", v.label);
    }
    for v in &mut others {
        assert!(v.still_works(db).await, "{} was killed", v.label);
    }

    let h = ctx.history_of(&app, still_there.len()).await;
    let rows = h["killed_sessions"].as_array().unwrap();
    let killed = history_ids(&h);
    assert_eq!(killed, still_there, "{h}");
    for r in rows {
        assert_eq!(r["task_id"], json!(task), "{r}");
        assert_eq!(r["killed_source"], format!("rule:{task}"), "{r}");
        assert_eq!(r["user"], user.as_str(), "{r}");
        assert_eq!(r["db"], database.as_str(), "{r}");
        assert_eq!(r["command"], "Query", "{r}");
        assert!(r["time"].as_i64().unwrap() >= 1, "{r}");
        assert!(
            r["info"].as_str().unwrap().starts_with("SELECT SLEEP(60)"),
            "{r}"
        );
    }
    end_all(db, &others).await;
}
