//! `dbkill rules list|stop|switch`: an instance's kill rules (DAS "kill tasks") with their state
//! and counters, stopping one, and the instance's switch that lets them run. Adding and previewing
//! a rule live in [`super::rule_add`].

use clap::{Args, Subcommand};

use super::api::Rule;
use super::context::Ctx;
use super::error::CliResult;
use super::rule_add::{AddArgs, PreviewArgs};
use super::table::{Align, Table, clean, local_time, truncate};

/// Longest condition list shown in a table cell.
const CONDITIONS_WIDTH: usize = 60;

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// List the instance's rules, newest first, with their state and counters.
    List(InstanceArg),
    /// Add a rule, after showing what it would kill now.
    // Boxed: its many flags would make every client command as large.
    Add(Box<AddArgs>),
    /// Show what a rule with these conditions would kill now.
    Preview(PreviewArgs),
    /// Stop a rule: it never kills again.
    Stop {
        #[command(flatten)]
        instance: InstanceArg,
        /// The rule's id (see `dbkill rules list`).
        #[arg(value_name = "TASK_ID")]
        task_id: u64,
    },
    /// Show the instance's switch, or turn it on or off: rules run only while it is ON.
    Switch {
        #[command(flatten)]
        instance: InstanceArg,
        /// Turn the switch on or off [default: show it].
        #[arg(value_name = "ON|OFF", ignore_case = true, value_parser = ["on", "off"])]
        state: Option<String>,
    },
}

#[derive(Args, Debug)]
pub struct InstanceArg {
    /// Instance id or name.
    #[arg(long, value_name = "ID_OR_NAME")]
    pub instance: String,
}

pub async fn run(cmd: &RulesCommand, ctx: &Ctx) -> CliResult<i32> {
    match cmd {
        RulesCommand::List(a) => list(&a.instance, ctx).await,
        RulesCommand::Add(a) => super::rule_add::add(a, ctx).await,
        RulesCommand::Preview(a) => super::rule_add::preview(a, ctx).await,
        RulesCommand::Stop { instance, task_id } => {
            let i = ctx.instance(&instance.instance).await?;
            ctx.client
                .stop_rule(&ctx.project, &i.instance_id, *task_id)
                .await?;
            println!("{}", ctx.lang.rule_stopped(*task_id));
            Ok(0)
        }
        RulesCommand::Switch { instance, state } => {
            let i = ctx.instance(&instance.instance).await?;
            match state {
                None => {
                    let status = ctx.client.rule_switch(&ctx.project, &i.instance_id).await?;
                    println!("{}", ctx.lang.switch_status(&i.name, &status));
                }
                Some(s) => {
                    let on = s.eq_ignore_ascii_case("on");
                    ctx.client
                        .set_rule_switch(&ctx.project, &i.instance_id, on)
                        .await?;
                    println!("{}", ctx.lang.switch_set(&i.name, on));
                }
            }
            Ok(0)
        }
    }
}

/// Prints a warning on stderr when the switch of `instance` is OFF: its rules do not run.
pub async fn warn_if_switch_off(ctx: &Ctx, instance_id: &str, name: &str) -> CliResult<()> {
    let status = ctx.client.rule_switch(&ctx.project, instance_id).await?;
    if !status.eq_ignore_ascii_case("ON") {
        eprintln!(
            "{}{}",
            ctx.lang.warning_prefix(),
            ctx.lang.switch_is_off(name)
        );
    }
    Ok(())
}

/// A rule's non-empty conditions on one line: `time>=5 user=app host=10.% info~SLEEP trx>=30`
/// (`=` equal, or a `LIKE` pattern for the host; `~` a substring).
pub fn conditions(r: &Rule) -> String {
    let mut parts = vec![format!("time>={}", r.time)];
    let set = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    for (key, value, op) in [
        ("user", &r.user, "="),
        ("host", &r.host, "="),
        ("db", &r.db, "="),
        ("command", &r.command, "="),
        ("info", &r.info, "~"),
        ("state", &r.state, "~"),
    ] {
        if let Some(v) = set(value) {
            parts.push(format!("{key}{op}{v}"));
        }
    }
    if let Some(t) = r.min_trx_time.filter(|t| *t > 0) {
        parts.push(format!("trx>={t}"));
    }
    parts.join(" ")
}

async fn list(instance: &str, ctx: &Ctx) -> CliResult<i32> {
    let lang = ctx.lang;
    let i = ctx.instance(instance).await?;
    let rules = ctx.client.list_rules(&ctx.project, &i.instance_id).await?;
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("NAME", Align::Left),
        ("STATE", Align::Left),
        ("MODE", Align::Left),
        ("CONDITIONS", Align::Left),
        ("KILL", Align::Left),
        ("MATCHED", Align::Right),
        ("KILLED", Align::Right),
        ("LAST KILL", Align::Left),
        ("START", Align::Left),
        ("END", Align::Left),
    ]);
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    for r in &rules {
        t.row(vec![
            r.task_id.to_string(),
            r.name.clone().unwrap_or_default(),
            lang.rule_state(r.task_state),
            r.mode.clone().unwrap_or_default(),
            truncate(&clean(&conditions(r)), CONDITIONS_WIDTH),
            r.kill_type.clone().unwrap_or_default(),
            count(r.matched_total),
            count(r.killed_total),
            r.last_kill_time
                .filter(|t| *t > 0)
                .map(local_time)
                .unwrap_or_default(),
            local_time(r.start_time),
            if r.end_time == 0 {
                lang.until_stopped()
            } else {
                local_time(r.end_time)
            },
        ]);
    }
    print!("{}", t.render());
    println!("{}", lang.count(rules.len(), "rule", "规则"));
    if rules.iter().any(|r| r.task_state == 1) {
        warn_if_switch_off(ctx, &i.instance_id, &i.name).await?;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(extra: serde_json::Value) -> Rule {
        let mut v = serde_json::json!({"task_id": 5, "time": 7, "task_type": "auto",
            "task_duration": -1, "task_state": 1, "start_time": 1, "end_time": 0});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn conditions_show_only_what_is_set() {
        assert_eq!(conditions(&rule(serde_json::json!({}))), "time>=7");
        // DAS sends absent conditions as "" (or null); neither is shown.
        let r = rule(serde_json::json!({"user": "app", "host": "10.%", "db": "",
            "command": null, "info": "SLEEP(", "state": "lock", "min_trx_time": 30}));
        assert_eq!(
            conditions(&r),
            "time>=7 user=app host=10.% info~SLEEP( state~lock trx>=30"
        );
        assert_eq!(
            conditions(&rule(serde_json::json!({"min_trx_time": 0}))),
            "time>=7"
        );
    }
}
