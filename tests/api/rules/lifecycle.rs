//! When rules run: only while the instance's switch is ON (and again once it is back ON), never
//! again after terminate, and not past their duration.

use std::time::{Duration, Instant};

use serde_json::json;

use dbkill::clock::now_ms;

use crate::helpers::app::TestApp;
use crate::helpers::fixtures::{KillCtx, killer_ctx, new_victim};
use crate::helpers::rules::{
    FINISHED, KILL_WITHIN, RUNNING, Rules, STOPPED, TICK, rule, spawn_rules_app,
};
use crate::helpers::sessions::{
    Via, Victim, end_all, idle_victim, ids, sleeping_victim, wait_gone,
};
use crate::support::mariadb::{MariaDb, shared};

use super::KILLER_GRANTS;

/// How long a test watches a session it expects to live: `time` 1 crossed, and eight ticks.
const WATCH: Duration = Duration::from_millis(3_000);

/// Sessions of `user` (one running, one idle) that a `time` 1 rule matches once they are a
/// second old.
async fn two_of(db: &MariaDb, user: &str, what: &str) -> Vec<Victim> {
    vec![
        sleeping_victim(db, user, None, Via::Tcp, &format!("{what} running")).await,
        idle_victim(db, user, None, Via::Tcp, &format!("{what} idle")).await,
    ]
}

/// All of `victims` die within [`KILL_WITHIN`] after they turn a second old (made or last used
/// just now).
async fn all_die(db: &MariaDb, rules: &Rules<'_>, victims: &mut [Victim], why: &str) {
    let deadline = Instant::now() + Duration::from_secs(1) + KILL_WITHIN;
    let left = wait_gone(db, &ids(victims.iter()), deadline).await;
    assert!(
        left.is_empty(),
        "{why}: not killed: {left:?}; {}",
        rules.describe().await
    );
    for v in victims {
        assert!(v.died(db).await, "{why}: {}'s client saw no end", v.label);
    }
}

/// All of `victims` are still alive after [`WATCH`], and the idle ones still answer (which
/// makes them young again).
async fn all_live(db: &MariaDb, victims: &mut [Victim], why: &str) {
    tokio::time::sleep(WATCH).await;
    for v in victims {
        assert!(v.still_works(db).await, "{why}: {} was killed", v.label);
    }
}

/// A fresh service, a killer on the shared server, and a fresh victim account named after
/// `prefix` (the rules name it, so the shared server is safe).
async fn setup(prefix: &str) -> (TestApp, KillCtx, String) {
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, shared(), KILLER_GRANTS, &[]).await;
    (app, ctx, new_victim(shared(), prefix))
}

#[tokio::test]
async fn the_switch_off_stops_every_kill_and_on_resumes_them() {
    let db = shared();
    let (app, ctx, user) = setup("switch").await;
    let rules = Rules::of(&app, &ctx);
    assert_eq!(rules.switch().await, "OFF", "OFF until set");
    let task = rules.add(rule(json!({"user": user}))).await;
    let added = rules.get(task).await;

    let mut first = two_of(db, &user, "first").await;
    all_live(db, &mut first, "switch never set").await;

    rules.set_switch("on").await;
    assert_eq!(rules.switch().await, "ON");
    // (Checking the idle ones made them young again: they die once a second old.)
    all_die(db, &rules, &mut first, "switch ON").await;

    rules.set_switch("Off").await;
    assert_eq!(rules.switch().await, "OFF");
    // A tick that began before the switch went OFF may still end: let it.
    tokio::time::sleep(TICK * 2).await;
    let mut second = two_of(db, &user, "second").await;
    all_live(db, &mut second, "switch OFF again").await;

    // The rule kept its state and end time through all of it.
    let now = rules.get(task).await;
    assert_eq!(now["task_state"], RUNNING, "{now}");
    assert_eq!(now["end_time"], added["end_time"], "{now}");
    assert_eq!(now["start_time"], added["start_time"], "{now}");

    rules.switch_on().await;
    all_die(db, &rules, &mut second, "switch ON again").await;
    let h = ctx.history_of(&app, 4).await;
    assert_eq!(h["total_count"], 4, "{h}");
}

#[tokio::test]
async fn a_terminated_rule_never_kills_again() {
    let db = shared();
    let (app, ctx, user) = setup("term").await;
    let rules = Rules::of(&app, &ctx);
    let task = rules.add(rule(json!({"user": user}))).await;
    rules.switch_on().await;
    let mut before = two_of(db, &user, "before").await;
    all_die(db, &rules, &mut before, "running rule").await;

    rules.terminate(task).await;
    let stopped = rules.get(task).await;
    assert_eq!(stopped["task_state"], STOPPED, "{stopped}");
    let mut after = two_of(db, &user, "after").await;
    all_live(db, &mut after, "terminated rule").await;
    assert_eq!(rules.get(task).await["task_state"], STOPPED);
    assert_eq!(
        rules.get_when(task, |r| r["killed_total"] == 2).await["killed_total"],
        2
    );
    end_all(db, &after).await;
}

#[tokio::test]
async fn a_rule_finishes_when_its_duration_runs_out_and_kills_no_more() {
    let db = shared();
    let (app, ctx, user) = setup("dur").await;
    let rules = Rules::of(&app, &ctx);
    rules.switch_on().await;
    let mut before = two_of(db, &user, "before").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let added_at = now_ms();
    let task = rules
        .add(rule(json!({"user": user, "task_duration": 2})))
        .await;
    let listed = rules.get(task).await;
    let start = listed["start_time"].as_i64().unwrap();
    assert!((added_at..=now_ms()).contains(&start), "{listed}");
    assert_eq!(listed["end_time"], json!(start + 2_000), "{listed}");
    assert_eq!(listed["task_duration"], 2, "{listed}");
    let deadline = Instant::now() + KILL_WITHIN;
    assert!(
        wait_gone(db, &ids(&before), deadline).await.is_empty(),
        "the rule did not kill within its duration"
    );
    for v in &mut before {
        assert!(v.died(db).await);
    }

    let finished = rules
        .wait_for_state(task, FINISHED, Duration::from_secs(2) + TICK * 2)
        .await;
    assert!(
        now_ms() >= start + 2_000,
        "finished before its duration ran out: {finished}"
    );
    let mut after = two_of(db, &user, "after").await;
    all_live(db, &mut after, "finished rule").await;
    assert_eq!(rules.get(task).await["task_state"], FINISHED);
    end_all(db, &after).await;
}
