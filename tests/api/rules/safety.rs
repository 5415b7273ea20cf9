//! The safety catches of a rule: `observe` counts and kills nothing; `max_kills_per_minute`
//! caps its kills; `pause_above` pauses it instead of killing a crowd, and tells the webhook;
//! a normal kill batch is told to the webhook too.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::app::spawn_app_with;
use crate::helpers::fixtures::{history_ids, killer_ctx, new_victim};
use crate::helpers::rules::{KILL_WITHIN, PAUSED, RUNNING, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, Victim, end_all, ids, listed, sleeping_victim, wait_gone};
use crate::helpers::webhook::WebhookSink;
use crate::support::mariadb::{MariaDb, shared};

use super::KILLER_GRANTS;

/// `n` sessions of `user`, each in `SELECT SLEEP(60)`.
async fn sleepers(db: &MariaDb, user: &str, n: usize) -> Vec<Victim> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(sleeping_victim(db, user, None, Via::Tcp, &format!("{user} #{i}")).await);
    }
    out
}

#[tokio::test]
async fn an_observing_rule_kills_nothing_and_counts_each_match_once() {
    let db = shared();
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let user = new_victim(db, "observed");
    let task = rules
        .add(rule(json!({"user": user, "mode": "observe"})))
        .await;
    assert_eq!(rules.get(task).await["mode"], "observe");
    rules.switch_on().await;

    let mut first = sleepers(db, &user, 2).await;
    // Matched from their first second on, in each of some ten ticks: counted once each.
    tokio::time::sleep(Duration::from_secs(1) + TICK * 10).await;
    let r = rules.get(task).await;
    assert_eq!(r["matched_total"], 2, "{r}");
    assert_eq!(r["killed_total"], 0, "{r}");
    assert_eq!(r["task_state"], RUNNING, "{r}");

    let mut third = sleepers(db, &user, 1).await;
    tokio::time::sleep(Duration::from_secs(1) + TICK * 4).await;
    let r = rules.get(task).await;
    assert_eq!(r["matched_total"], 3, "{r}");
    assert_eq!(r["killed_total"], 0, "{r}");
    for v in first.iter_mut().chain(third.iter_mut()) {
        assert!(v.still_works(db).await, "{} was killed", v.label);
    }
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 0, "{h}");
    end_all(db, first.iter().chain(&third)).await;
}

#[tokio::test]
async fn max_kills_per_minute_caps_a_rules_kills() {
    let db = shared();
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let user = new_victim(db, "capped");
    let victims = sleepers(db, &user, 5).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let task = rules
        .add(rule(json!({"user": user, "max_kills_per_minute": 2})))
        .await;
    rules.switch_on().await;
    // Twelve ticks within the same minute: two kills, no more.
    tokio::time::sleep(TICK * 12).await;
    let all = ids(&victims);
    let alive = listed(db, &all);
    let killed: BTreeSet<u64> = all.difference(&alive).copied().collect();
    assert_eq!(
        (killed.len(), alive.len()),
        (2, 3),
        "killed {killed:?}, alive {alive:?}"
    );
    for v in &victims {
        if alive.contains(&v.id) {
            assert!(v.alive(db), "{} was killed", v.label);
        }
    }
    let r = rules.get_when(task, |r| r["killed_total"] == 2).await;
    assert_eq!(r["killed_total"], 2, "{r}");
    assert_eq!(r["matched_total"], 5, "{r}");
    let h = ctx.history_of(&app, killed.len()).await;
    assert_eq!(history_ids(&h), killed, "{h}");
    end_all(db, &victims).await;
}

#[tokio::test]
async fn pause_above_pauses_instead_of_killing_and_the_webhook_hears_of_pauses_and_kills() {
    let db = shared();
    let hook = WebhookSink::start().await;
    let app = spawn_app_with(|raw| {
        raw.rule_interval_ms = TICK.as_millis() as u64;
        raw.notify_webhook_url = Some(hook.url.clone());
    })
    .await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let (crowd_user, few_user) = (new_victim(db, "crowd"), new_victim(db, "few"));
    let mut crowd = sleepers(db, &crowd_user, 3).await;
    let mut few = sleepers(db, &few_user, 2).await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    let paused = rules
        .add(rule(
            json!({"user": crowd_user, "pause_above": 2, "name": "crowd control"}),
        ))
        .await;
    let killing = rules.add(rule(json!({"user": few_user}))).await;
    rules.switch_on().await;

    let r = rules.wait_for_state(paused, PAUSED, KILL_WITHIN).await;
    assert_eq!(r["killed_total"], 0, "{r}");
    let deadline = Instant::now() + KILL_WITHIN;
    assert!(
        wait_gone(db, &ids(&few), deadline).await.is_empty(),
        "the other rule did not kill"
    );
    // More ticks: a paused rule stays paused and kills nothing.
    tokio::time::sleep(TICK * 6).await;
    for v in &mut crowd {
        assert!(v.alive(db), "{} was killed by a paused rule", v.label);
    }
    assert_eq!(rules.get(paused).await["task_state"], PAUSED);
    for v in &mut few {
        assert!(v.died(db).await, "{}'s client saw no end", v.label);
    }

    let pause = hook
        .wait_for(Duration::from_secs(5), |e| e["event"] == "rule_paused")
        .await;
    assert!(
        pause.content_type.starts_with("application/json"),
        "{pause:?}"
    );
    let e = &pause.body;
    assert_eq!(e["task_id"], json!(paused), "{e}");
    assert_eq!(e["would_kill"], 3, "{e}");
    assert_eq!(e["instance_id"], ctx.instance.as_str(), "{e}");
    assert_eq!(e["project_id"], ctx.project.as_str(), "{e}");
    assert_eq!(e["rule_name"], "crowd control", "{e}");
    assert_eq!(e["killed"], json!([]), "{e}");
    assert!(!e["text"].as_str().unwrap_or("").is_empty(), "{e}");

    let kill = hook
        .wait_for(Duration::from_secs(5), |e| {
            e["event"] == "rule_kill" && e["task_id"] == json!(killing)
        })
        .await;
    let e = &kill.body;
    let told: BTreeSet<u64> = e["killed"]
        .as_array()
        .unwrap_or_else(|| panic!("{e}"))
        .iter()
        .map(|k| k["id"].as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(told, ids(&few), "{e}");
    for k in e["killed"].as_array().unwrap() {
        assert_eq!(k["user"], few_user.as_str(), "{e}");
        assert!(k["time"].as_i64().unwrap() >= 1, "{e}");
    }
    let text = e["text"].as_str().unwrap_or("");
    assert!(text.contains(&format!("rule:{killing}")), "{text}");
    assert!(text.contains("2 session"), "the count of kills: {text}");
    // One pause event only, however many ticks the rule stayed paused.
    let pauses: Vec<Value> = hook
        .posted()
        .into_iter()
        .map(|p| p.body)
        .filter(|e| e["event"] == "rule_paused")
        .collect();
    assert_eq!(pauses.len(), 1, "{pauses:?}");
    end_all(db, &crowd).await;
}
