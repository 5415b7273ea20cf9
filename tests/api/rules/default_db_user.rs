//! Which db user a rule without `db_user_id` acts as: the oldest db user registered on the
//! instance until `PUT …/instances/{id}` names a `default_db_user_id`, then that one. Shown by
//! two db users of one instance of which only the newer may kill other accounts' sessions.

use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::json;

use crate::helpers::errors::assert_das_error;
use crate::helpers::fixtures::{killer_ctx, new_victim, register_killer};
use crate::helpers::rules::{KILL_WITHIN, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, ids, sleeping_victim, wait_gone};
use crate::support::mariadb::shared;

use super::KILLER_GRANTS;

#[tokio::test]
async fn a_rule_without_a_db_user_acts_as_the_instances_default_db_user() {
    // The rules name the test's own user: the shared server is safe.
    let db = shared();
    let app = spawn_rules_app().await;
    // The oldest db user sees every session but may not kill others' (no CONNECTION ADMIN).
    let ctx = killer_ctx(&app, db, "PROCESS", &[]).await;
    let (able, _) = register_killer(&app, db, &ctx.project, &ctx.instance, KILLER_GRANTS).await;
    let elsewhere = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let instance_path = format!("/v3/{}/instances/{}", ctx.project, ctx.instance);
    let default_of = async || {
        app.expect(Method::GET, &instance_path, None, 200).await["instance"]["default_db_user_id"]
            .clone()
    };
    assert_eq!(default_of().await, json!(null), "unset at first");

    let user = new_victim(db, "defuser");
    let mut victim = sleeping_victim(db, &user, None, Via::Tcp, "victim").await;
    tokio::time::sleep(Duration::from_millis(1_100)).await;

    // No default: the oldest db user acts, and its KILLs fail.
    let weak = rules.add(rule(json!({"user": user}))).await;
    rules.switch_on().await;
    tokio::time::sleep(TICK * 8).await;
    assert!(
        victim.alive(db),
        "killed by a db user without CONNECTION ADMIN"
    );
    let r = rules.get(weak).await;
    assert_eq!(r["matched_total"], 1, "the rule ran and matched: {r}");
    assert_eq!(r["killed_total"], 0, "{r}");
    rules.terminate(weak).await;

    // Another instance's db user is no default for this one.
    let r = app
        .admin_call(
            Method::PUT,
            &instance_path,
            Some(json!({"default_db_user_id": elsewhere.db_user_id})),
        )
        .await;
    assert_das_error(&r, 400, "DAS.200112");
    assert_eq!(default_of().await, json!(null));

    // The able db user as the default: a rule without db_user_id kills.
    app.expect(
        Method::PUT,
        &instance_path,
        Some(json!({"default_db_user_id": able})),
        200,
    )
    .await;
    assert_eq!(default_of().await, json!(able));
    let task = rules.add(rule(json!({"user": user}))).await;
    let deadline = Instant::now() + KILL_WITHIN;
    assert!(
        wait_gone(db, &ids([&victim]), deadline).await.is_empty(),
        "the default db user did not kill"
    );
    assert!(victim.died(db).await);
    let h = ctx.history_of(&app, 1).await;
    assert_eq!(h["total_count"], 1, "{h}");
    assert_eq!(h["killed_sessions"][0]["task_id"], json!(task), "{h}");
}
