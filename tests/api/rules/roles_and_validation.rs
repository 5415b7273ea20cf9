//! Who may do what with rules (a viewer reads the switch, previews and lists; only an operator
//! adds, terminates, switches and kills all), and the requests refused for their values (bad
//! fields, unknown db users, one rule too many, unknown rules): none of them changes anything.

use reqwest::Method;
use serde_json::{Value, json};

use super::{KILLER_GRANTS, private_server};
use crate::helpers::app::uuid_hex;
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{killer_ctx, new_victim};
use crate::helpers::rules::{RUNNING, Rules, STOPPED, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, sleeping_victim};
use crate::support::mariadb::{shared, unique_name};

#[tokio::test]
async fn a_viewer_reads_the_switch_previews_and_lists_but_changes_nothing() {
    // Its own server: the operator's kill-all at the end ends every client session.
    let db = private_server(false);
    let app = spawn_rules_app().await;
    let victim = new_victim(&db, "roles");
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let viewer = app.user_with_role(&ctx.project, "viewer").await;
    let operator = app.user_with_role(&ctx.project, "operator").await;
    let mut v = sleeping_victim(&db, &victim, None, Via::Tcp, "victim").await;

    // The operator adds a rule (for nobody on the server) and switches rules on.
    let add = "add-kill-process-task";
    let for_nobody = rule(json!({"user": unique_name("nobody")}));
    let r = rules
        .call_as(&operator, Method::PUT, add, Some(for_nobody.clone()))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let task = r.body["task_id"].as_i64().unwrap();
    let set = "set-kill-process-task-switch";
    let r = rules
        .call_as(&operator, Method::POST, set, Some(json!({"status": "ON"})))
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;

    // The viewer reads.
    let r = rules
        .call_as(&viewer, Method::GET, "get-kill-process-task-switch", None)
        .await;
    assert_eq!(
        (r.status.as_u16(), &r.body),
        (200, &json!({"status": "ON"}))
    );
    let preview = "preview-session-for-kill-process-task";
    let r = rules
        .call_as(
            &viewer,
            Method::POST,
            preview,
            Some(rule(json!({"user": victim}))),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(r.body["processes"][0]["id"], json!(v.id), "{}", r.text);
    let list = "query-kill-process-task";
    let r = rules.call_as(&viewer, Method::GET, list, None).await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    let listed = rules.list().await;
    assert_eq!(r.body["sql_killing_task_resp_list"], json!(listed));

    // The viewer may change nothing.
    let writes: [(Method, &str, Option<Value>); 4] = [
        (Method::PUT, add, Some(rule(json!({"user": victim})))),
        (
            Method::POST,
            "terminate-kill-process-task",
            Some(json!({"task_id": task.to_string()})),
        ),
        (Method::POST, set, Some(json!({"status": "OFF"}))),
        (Method::POST, "kill-all-session", None),
    ];
    for (method, op, body) in writes {
        let r = rules.call_as(&viewer, method, op, body).await;
        assert_das_error(&r, 403, "APIGW.0302");
    }
    tokio::time::sleep(TICK * 2).await;
    assert!(v.alive(&db), "the viewer's kill-all went through");
    assert_eq!(rules.switch().await, "ON");
    let after = rules.list().await;
    assert_eq!(after.len(), 1, "{after:?}");
    assert_eq!(after[0]["task_state"], RUNNING, "{after:?}");

    // The operator may: terminate, and kill all.
    let r = rules
        .call_as(
            &operator,
            Method::POST,
            "terminate-kill-process-task",
            Some(json!({"task_id": task})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert_eq!(rules.get(task).await["task_state"], STOPPED);
    let r = rules
        .call_as(&operator, Method::POST, "kill-all-session", None)
        .await;
    assert_eq!(r.status.as_u16(), 200, "{}", r.text);
    assert!(
        v.died(&db).await,
        "the operator's kill-all spared the victim"
    );
}

#[tokio::test]
async fn invalid_requests_are_refused_and_change_nothing() {
    // The switch stays OFF and every rule names a user nobody has: the shared server is safe.
    let db = shared();
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let elsewhere = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let nobody = unique_name("nobody");
    let valid = || rule(json!({"user": nobody}));
    let with = |field: &str, value: Value| {
        let mut b = valid();
        b[field] = value;
        b
    };
    let without = |field: &str| {
        let mut b = valid();
        b.as_object_mut().unwrap().remove(field);
        b
    };
    let unknown_uuid = {
        let h = uuid_hex();
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    };
    let bad: Vec<(Value, &str, &str)> = vec![
        (with("time", json!(0)), "DAS.200100", "time"),
        (with("time", json!(-3)), "DAS.200100", "time"),
        (without("time"), "DAS.200100", "time"),
        (without("task_type"), "DAS.200100", "task_type"),
        (with("task_type", json!("")), "DAS.200100", "task_type"),
        (
            with("task_duration", json!(0)),
            "DAS.200100",
            "task_duration",
        ),
        (without("task_duration"), "DAS.200100", "task_duration"),
        (with("mode", json!("kill")), "DAS.200100", "mode"),
        (with("kill_type", json!("soft")), "DAS.200100", "kill_type"),
        (
            with("min_trx_time", json!(-1)),
            "DAS.200100",
            "min_trx_time",
        ),
        (
            with("max_kills_per_minute", json!(-1)),
            "DAS.200100",
            "max_kills_per_minute",
        ),
        (with("pause_above", json!(-1)), "DAS.200100", "pause_above"),
        (with("db_user_id", json!(unknown_uuid)), "DAS.200112", ""),
        (
            with("db_user_id", json!(elsewhere.db_user_id)),
            "DAS.200112",
            "",
        ),
        (with("db_user_id", json!("not-a-db-user")), "DAS.200112", ""),
    ];
    let before = rules.list().await;
    for (body, code, says) in bad {
        let r = rules.try_add(body).await;
        assert_das_error_says(&r, 400, code, says);
        assert_eq!(rules.list().await, before, "after {}", r.request);
    }
    let r = app
        .admin_call(
            Method::POST,
            &rules.path("preview-session-for-kill-process-task"),
            Some(with("time", json!(0))),
        )
        .await;
    assert_das_error_says(&r, 400, "DAS.200100", "time");
    let r = app
        .admin_call(
            Method::POST,
            &rules.path("set-kill-process-task-switch"),
            Some(json!({"status": "maybe"})),
        )
        .await;
    assert_das_error_says(&r, 400, "DAS.200100", "status");
    assert_eq!(rules.switch().await, "OFF");

    // Terminate: an unknown id, no id, a rule of another instance.
    let theirs = Rules::of(&app, &elsewhere).add(valid()).await;
    for id in [
        json!(999_999_999),
        json!("999999999"),
        json!("abc"),
        json!(theirs),
    ] {
        let r = rules.try_terminate(id).await;
        assert_das_error(&r, 400, "DAS.200100");
    }
    assert_eq!(
        Rules::of(&app, &elsewhere).get(theirs).await["task_state"],
        RUNNING
    );
    assert_eq!(rules.list().await, before);

    // Twenty rules running or paused at most; a stopped one makes room.
    let mut tasks = Vec::new();
    for _ in before.len()..20 {
        tasks.push(rules.add(valid()).await);
    }
    let twenty = rules.list().await;
    assert_eq!(twenty.len(), 20);
    let r = rules.try_add(valid()).await;
    assert_das_error_says(&r, 400, "DAS.200100", "20");
    assert_eq!(rules.list().await, twenty);
    rules.terminate(tasks[0]).await;
    rules.add(valid()).await;
    assert_eq!(rules.list().await.len(), 21);
}
