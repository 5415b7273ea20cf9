//! Kill rules, their counters and the per-instance switch on both backends.

use dbkill::domain::{
    DbUserId, InstanceId, KillType, RuleConditions, RuleMode, RuleSpec, RuleSwitch, TaskState,
};
use dbkill::store::{KillRuleRecord, RuleCounts, Store};

use super::catalog::stored_instance;
use super::{Backend, both};

both!(
    rules_round_trip,
    the_rule_limit_holds_under_concurrent_adds,
    deleting_a_db_user_stops_its_rules
);

fn rule(
    instance: &dbkill::store::InstanceRecord,
    name: &str,
    db_user: Option<DbUserId>,
) -> KillRuleRecord {
    KillRuleRecord {
        id: 0,
        project_id: instance.project_id.clone(),
        instance_id: instance.id.clone(),
        spec: RuleSpec {
            db_user_id: db_user,
            name: name.into(),
            task_type: "kill_session".into(),
            conditions: RuleConditions {
                user: Some("app".into()),
                host: Some("10.%".into()),
                db: None,
                command: Some("Query".into()),
                info: Some("select".into()),
                state: None,
                time: 30,
                min_trx_time: Some(5),
            },
            kill_type: KillType::Query,
            mode: RuleMode::Observe,
            max_kills_per_minute: 60,
            pause_above: 100,
            task_duration: -1,
        },
        state: TaskState::Running,
        start_time: 1_000,
        end_time: 0,
        matched_total: 0,
        killed_total: 0,
        last_kill_time: None,
    }
}

async fn rules_round_trip(b: Backend) {
    let s = b.store();
    let i = stored_instance(s.as_ref()).await;
    let first = s
        .insert_rule(&rule(&i, "first", None), 10)
        .await
        .unwrap()
        .unwrap();
    let db_user = s
        .upsert_db_user(&i.id, "app", &|_| "x".into())
        .await
        .unwrap();
    let second = s
        .insert_rule(&rule(&i, "second", Some(db_user.clone())), 10)
        .await
        .unwrap()
        .unwrap();
    assert!(second > first);
    let listed = s.list_rules(&i.id, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|r| r.id).collect::<Vec<_>>(),
        [second, first],
        "newest first"
    );
    let mut expected = rule(&i, "second", Some(db_user));
    expected.id = second;
    assert_eq!(listed[0], expected);
    assert_eq!(s.list_rules(&i.id, 1).await.unwrap().len(), 1);

    assert!(
        s.rule_instances().await.unwrap().is_empty(),
        "the switch is off"
    );
    assert_eq!(s.rule_switch(&i.id).await.unwrap(), RuleSwitch::Off);
    s.set_rule_switch(&i.id, RuleSwitch::On).await.unwrap();
    assert_eq!(s.rule_switch(&i.id).await.unwrap(), RuleSwitch::On);
    assert_eq!(
        s.rule_instances().await.unwrap(),
        [(i.project_id.clone(), i.id.clone())]
    );
    assert_eq!(
        s.rule_switch(&InstanceId::new_random("in01"))
            .await
            .unwrap(),
        RuleSwitch::Off
    );

    let active = [TaskState::Running, TaskState::Paused];
    assert!(
        s.set_rule_state(&i.id, first, &active, TaskState::Paused)
            .await
            .unwrap()
    );
    assert!(
        !s.set_rule_state(&i.id, first, &[TaskState::Running], TaskState::Stopped)
            .await
            .unwrap(),
        "not in a `from` state"
    );
    let other = InstanceId::new_random("in01");
    assert!(
        !s.set_rule_state(&other, second, &active, TaskState::Stopped)
            .await
            .unwrap()
    );
    let paused = s.rules_in_state(&i.id, TaskState::Paused).await.unwrap();
    assert_eq!(paused.iter().map(|r| r.id).collect::<Vec<_>>(), [first]);
    assert!(
        s.set_rule_state(&i.id, second, &active, TaskState::Finished)
            .await
            .unwrap()
    );
    assert!(
        s.rule_instances().await.unwrap().is_empty(),
        "no running rule"
    );

    s.add_rule_counts(&[
        RuleCounts {
            task_id: first,
            matched: 5,
            killed: 3,
            last_kill_time: Some(7_000),
        },
        RuleCounts {
            task_id: second,
            matched: 2,
            killed: 0,
            last_kill_time: None,
        },
    ])
    .await
    .unwrap();
    s.add_rule_counts(&[RuleCounts {
        task_id: first,
        matched: 1,
        killed: 1,
        last_kill_time: None,
    }])
    .await
    .unwrap();
    let listed = s.list_rules(&i.id, 10).await.unwrap();
    let counts: Vec<(i64, i64, Option<i64>)> = listed
        .iter()
        .map(|r| (r.matched_total, r.killed_total, r.last_kill_time))
        .collect();
    assert_eq!(counts, [(2, 0, None), (6, 4, Some(7_000))]);

    // Rules go with their instance.
    s.delete_instance(&i.project_id, &i.id).await.unwrap();
    assert!(s.list_rules(&i.id, 10).await.unwrap().is_empty());
}

/// Adds to one instance race; the limit on running or paused rules still holds.
async fn the_rule_limit_holds_under_concurrent_adds(b: Backend) {
    let s = b.store();
    let i = stored_instance(s.as_ref()).await;
    let adds = (0..12).map(|n| {
        let (s, r) = (s.clone(), rule(&i, &format!("r{n}"), None));
        tokio::spawn(async move { s.insert_rule(&r, 5).await })
    });
    let mut inserted = 0;
    for add in adds.collect::<Vec<_>>() {
        if add.await.unwrap().unwrap().is_some() {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 5);
    let stopped = s.list_rules(&i.id, 1).await.unwrap()[0].id;
    s.set_rule_state(&i.id, stopped, &[TaskState::Running], TaskState::Stopped)
        .await
        .unwrap();
    assert!(
        s.insert_rule(&rule(&i, "again", None), 5)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        s.insert_rule(&rule(&i, "over", None), 5)
            .await
            .unwrap()
            .is_none()
    );
}

async fn deleting_a_db_user_stops_its_rules(b: Backend) {
    let s: std::sync::Arc<dyn Store> = b.store();
    let i = stored_instance(s.as_ref()).await;
    let app = s
        .upsert_db_user(&i.id, "app", &|_| "x".into())
        .await
        .unwrap();
    let own = s
        .insert_rule(&rule(&i, "own", Some(app.clone())), 10)
        .await
        .unwrap()
        .unwrap();
    let default = s
        .insert_rule(&rule(&i, "default", None), 10)
        .await
        .unwrap()
        .unwrap();
    s.delete_db_user(&app).await.unwrap();
    let states: Vec<(i64, TaskState)> = s
        .list_rules(&i.id, 10)
        .await
        .unwrap()
        .iter()
        .map(|r| (r.id, r.state))
        .collect();
    assert_eq!(
        states,
        [(default, TaskState::Running), (own, TaskState::Stopped)]
    );
}
