//! Kill rules across restarts of dbkill: after a graceful restart and after a SIGKILL of
//! `dbkill serve`, the rule is listed as it was (state, times, counters), the switch is still ON,
//! and the rule goes on killing matching sessions.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::fixtures::{idle, killer_ctx, new_victim, usable};
use crate::helpers::rules::{Rules, rule, spawn_rules_app};
use crate::helpers::serve::{ServeProcess, ServedKiller};
use crate::helpers::sessions::gone_within;
use crate::support::mariadb::shared;

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";
/// A victim of a `time = 1` rule dies within a second of connecting plus an interval; the rest
/// is slack for a busy machine (the bound itself is another test's subject).
const KILL_WITHIN: Duration = Duration::from_secs(5);

/// Polls `probe` every 50 ms until it is `Some`, for at most 5 s.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn a_restart_keeps_the_rule_the_switch_and_the_counters_and_the_rule_kills_again() {
    let app = spawn_rules_app().await;
    let db = shared();
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let victim = new_victim(db, "restart");
    let task = rules
        .add(rule(
            json!({"user": victim, "task_duration": 3600, "name": "survives restarts"}),
        ))
        .await;
    rules.switch_on().await;
    let (mut first, first_id) = idle(db, &victim, None).await;
    gone_within(db, first_id, KILL_WITHIN)
        .await
        .expect("the rule kills the first victim");
    assert!(!usable(&mut first).await);
    let before = eventually("the first kill is counted", || async {
        let r = rules.get(task).await;
        (r["killed_total"] == json!(1)).then_some(r)
    })
    .await;
    assert_eq!(before["task_state"], json!(1), "{before}");
    assert_eq!(before["matched_total"], json!(1), "{before}");
    assert_eq!(before["name"], json!("survives restarts"), "{before}");

    let app = app.restart().await;
    let rules = Rules::of(&app, &ctx);
    assert_eq!(rules.switch().await, "ON");
    let after = rules.get(task).await;
    assert_eq!(
        after, before,
        "the rule as listed before and after the restart"
    );

    let (mut second, second_id) = idle(db, &victim, None).await;
    gone_within(db, second_id, KILL_WITHIN)
        .await
        .expect("the rule kills a victim after the restart");
    assert!(!usable(&mut second).await);
    let counted = eventually("the second kill is counted", || async {
        let r = rules.get(task).await;
        (r["killed_total"] == json!(2)).then_some(r)
    })
    .await;
    assert_eq!(counted["matched_total"], json!(2), "{counted}");
    assert_eq!(counted["start_time"], before["start_time"]);
    assert_eq!(counted["end_time"], before["end_time"]);
    let mut killed: Vec<u64> = rules
        .kills(task)
        .await
        .iter()
        .map(|row| {
            assert_eq!(row["killed_source"], json!(format!("rule:{task}")), "{row}");
            row["session_id"].as_u64().unwrap()
        })
        .collect();
    killed.sort_unstable();
    assert_eq!(killed, vec![first_id, second_id]);
}

/// `…/auto-flow/{op}` of the served killer's instance.
fn flow(target: &ServedKiller, op: &str) -> String {
    format!("{}/auto-flow/{op}", target.instance_path)
}

/// The rule `task` as the served instance lists it.
async fn served_rule(
    dbkill: &ServeProcess,
    token: &str,
    target: &ServedKiller,
    task: i64,
) -> Value {
    let list = dbkill
        .expect(
            token,
            Method::GET,
            &flow(target, "query-kill-process-task"),
            None,
            200,
        )
        .await;
    list["sql_killing_task_resp_list"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["task_id"] == json!(task))
        .unwrap_or_else(|| panic!("rule {task} is not listed: {list}"))
        .clone()
}

#[tokio::test]
async fn a_rule_of_a_sigkilled_dbkill_resumes_when_it_starts_again_on_the_same_data_dir() {
    let db = shared();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let env = [("DBKILL_RULE_INTERVAL_MS", "250")];
    let mut dbkill = ServeProcess::start(&data, &dir.path().join("first.log"), &env).await;
    let target = dbkill.register_killer(db).await;
    let victim = new_victim(db, "sigkilled");
    let added = dbkill
        .expect(
            &target.token,
            Method::PUT,
            &flow(&target, "add-kill-process-task"),
            Some(rule(json!({"user": victim}))),
            200,
        )
        .await;
    let task = added["task_id"].as_i64().expect("task_id");
    dbkill
        .expect(
            &target.token,
            Method::POST,
            &flow(&target, "set-kill-process-task-switch"),
            Some(json!({"status": "on"})),
            200,
        )
        .await;
    let (_first, first_id) = idle(db, &victim, None).await;
    gone_within(db, first_id, KILL_WITHIN)
        .await
        .expect("the rule kills the first victim");
    let before = eventually("the first kill is counted", || async {
        let r = served_rule(&dbkill, &target.token, &target, task).await;
        (r["killed_total"] == json!(1)).then_some(r)
    })
    .await;

    dbkill.sigkill();
    let dbkill = ServeProcess::start(&data, &dir.path().join("second.log"), &env).await;
    let token = dbkill.login().await;
    let switch = dbkill
        .expect(
            &token,
            Method::GET,
            &flow(&target, "get-kill-process-task-switch"),
            None,
            200,
        )
        .await;
    assert_eq!(switch, json!({"status": "ON"}));
    let after = served_rule(&dbkill, &token, &target, task).await;
    assert_eq!(
        after, before,
        "the rule as listed before the SIGKILL and after the start"
    );

    let (mut second, second_id) = idle(db, &victim, None).await;
    gone_within(db, second_id, KILL_WITHIN)
        .await
        .expect("the rule kills a victim after the restart");
    assert!(!usable(&mut second).await);
    let history = eventually("the second kill is in the history", || async {
        let h = dbkill
            .expect(
                &token,
                Method::GET,
                &format!("{}?page_size=100", target.history_path()),
                None,
                200,
            )
            .await;
        let rows: Vec<Value> = h["killed_sessions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|row| row["session_id"] == json!(second_id))
            .cloned()
            .collect();
        (!rows.is_empty()).then_some(rows)
    })
    .await;
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0]["task_id"], json!(task));
    assert_eq!(history[0]["killed_source"], json!(format!("rule:{task}")));
    assert_eq!(
        served_rule(&dbkill, &token, &target, task).await["killed_total"],
        json!(2)
    );
}
