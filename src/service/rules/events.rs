//! What a rule's tick tells the outside: the webhook events of a kill batch and of a pause, and
//! the conditions recorded with each kill in the history.

use crate::domain::Session;
use crate::notify::{KilledSession, RuleEvent, RuleEventKind};
use crate::store::{InstanceRecord, KillRuleRecord};

fn event(instance: &InstanceRecord, rule: &KillRuleRecord, kind: RuleEventKind) -> RuleEvent {
    RuleEvent {
        kind,
        project_id: instance.project_id.to_string(),
        instance_id: instance.id.to_string(),
        instance_name: instance.name.clone(),
        task_id: rule.id,
        rule_name: rule.spec.name.clone(),
        killed: vec![],
        would_kill: 0,
        time_ms: crate::clock::now_ms(),
    }
}

pub(super) fn killed(
    instance: &InstanceRecord,
    rule: &KillRuleRecord,
    sessions: &[(Session, i64, bool)],
) -> RuleEvent {
    RuleEvent {
        killed: sessions
            .iter()
            .map(|(s, _, _)| KilledSession {
                id: s.id.0,
                user: s.user.clone(),
                host: s.host.clone(),
                db: s.database.clone().unwrap_or_default(),
                command: s.command.clone(),
                time: s.time,
            })
            .collect(),
        ..event(instance, rule, RuleEventKind::Killed)
    }
}

pub(super) fn paused(
    instance: &InstanceRecord,
    rule: &KillRuleRecord,
    would_kill: usize,
) -> RuleEvent {
    RuleEvent {
        would_kill,
        ..event(instance, rule, RuleEventKind::Paused)
    }
}

/// The rule's conditions as the history's `filter_json` of its kills.
pub(super) fn conditions_json(rule: &KillRuleRecord) -> String {
    let c = &rule.spec.conditions;
    serde_json::json!({
        "task_id": rule.id,
        "user": c.user,
        "host": c.host,
        "db": c.db,
        "command": c.command,
        "info": c.info,
        "state": c.state,
        "time": c.time,
        "min_trx_time": c.min_trx_time,
    })
    .to_string()
}
