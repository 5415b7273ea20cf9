//! A rule kills a matching session within one interval and a second of the moment it crosses
//! `time`, and not before; sessions that differ from it in one condition only (user, database,
//! host, command) live on however many ticks pass.

use std::time::{Duration, Instant};

use serde_json::json;

use dbkill::clock::now_ms;

use super::{KILLER_GRANTS, private_server};
use crate::helpers::fixtures::{killer_ctx, new_database, new_victim};
use crate::helpers::rules::{KILL_WITHIN, RUNNING, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, idle_victim, ids, sleeping_victim, wait_gone};

#[tokio::test]
async fn a_rule_kills_its_match_soon_after_it_crosses_time_and_spares_every_near_miss() {
    // Its own server: TCP clients listed as 127.0.0.1, socket clients as localhost.
    let db = private_server(true);
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let (user, other_user) = (new_victim(&db, "target"), new_victim(&db, "bystander"));
    let (database, other_db) = (new_database(&db, "targetdb"), new_database(&db, "otherdb"));
    let conditions = json!({"user": user, "db": database, "host": "127.0.0.%",
                            "command": "query", "time": 2});
    let task = rules.add(rule(conditions.clone())).await;
    rules.switch_on().await;

    // Each near miss fails exactly one condition, and is older than the target.
    let mut near_misses = vec![
        sleeping_victim(&db, &other_user, Some(&database), Via::Tcp, "other user").await,
        sleeping_victim(&db, &user, Some(&other_db), Via::Tcp, "other database").await,
        sleeping_victim(&db, &user, Some(&database), Via::Socket, "other host").await,
        idle_victim(&db, &user, Some(&database), Via::Tcp, "other command").await,
    ];
    let started = Instant::now();
    let started_ms = now_ms();
    let mut target = sleeping_victim(&db, &user, Some(&database), Via::Tcp, "target").await;

    // Not before it has run 2 s.
    tokio::time::sleep_until((started + Duration::from_millis(1_500)).into()).await;
    assert!(target.alive(&db), "killed before it ran 2 s");
    // Gone soon after; the server's own time to end a session in SLEEP() (up to 2 s) is
    // allowed for here, and the KILL's own time is checked in the history below.
    let left = wait_gone(
        &db,
        &ids([&target]),
        started + Duration::from_secs(2) + KILL_WITHIN,
    )
    .await;
    assert!(
        left.is_empty(),
        "the target still runs {:?} after it started; {}",
        started.elapsed(),
        rules.describe().await
    );
    assert!(
        target.died(&db).await,
        "the target's client did not see its end"
    );

    // Eight more ticks: every near miss still runs (or, idle, still answers).
    tokio::time::sleep(TICK * 8).await;
    for v in &mut near_misses {
        assert!(v.still_works(&db).await, "{} was killed", v.label);
    }
    assert_eq!(
        rules.preview_ids(rule(conditions)).await,
        Default::default(),
        "the preview matches a near miss"
    );

    // One kill, in the history as the rule's, and in its counters.
    let h = ctx.history_of(&app, 1).await;
    assert_eq!(h["total_count"], 1, "{h}");
    let row = &h["killed_sessions"][0];
    assert_eq!(row["session_id"], json!(target.id), "{h}");
    assert_eq!(row["task_id"], json!(task), "{h}");
    assert_eq!(row["killed_source"], format!("rule:{task}"), "{h}");
    assert_eq!(row["user"], user.as_str(), "{h}");
    assert_eq!(row["db"], database.as_str(), "{h}");
    assert_eq!(row["info"], "SELECT SLEEP(60), 'target'", "{h}");
    // The KILL went out once the statement had run 2 s (it started after `started_ms`), and
    // within one interval and a second of that.
    let kill_time = row["kill_time"].as_i64().unwrap();
    let after_start = kill_time - started_ms;
    let limit = 2_000 + TICK.as_millis() as i64 + 1_000;
    assert!(
        (2_000..=limit).contains(&after_start),
        "killed {after_start} ms after the statement started (allowed 2000..={limit}): {h}"
    );
    let listed = rules.get_when(task, |r| r["killed_total"] == 1).await;
    assert_eq!(listed["task_state"], RUNNING, "{listed}");
    assert_eq!(listed["killed_total"], 1, "{listed}");
    assert_eq!(listed["matched_total"], 1, "{listed}");
    let last_kill = listed["last_kill_time"]
        .as_i64()
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        (started_ms..=now_ms()).contains(&last_kill),
        "last_kill_time {last_kill}: {listed}"
    );
}
