//! `dbkill rules preview` and `dbkill rules add`: a rule's conditions from the command line, what
//! it would kill now (the server's preview, the same matching the rule runs), and — for `add` —
//! the question (default no) unless `--yes`, then the rule itself.

use clap::{ArgGroup, Args};

use super::api::{RuleBody, RulePreview};
use super::context::Ctx;
use super::error::CliResult;
use super::i18n::Lang;
use super::sessions::process_table;

/// DAS's examples name every rule's type `auto`; dbkill stores and echoes it.
const TASK_TYPE: &str = "auto";

/// The conditions of a rule (ANDed; absent or empty: any) and where it runs.
#[derive(Args, Debug)]
pub struct ConditionArgs {
    /// Instance id or name.
    #[arg(long, value_name = "ID_OR_NAME")]
    pub instance: String,
    /// DB user id or user name the rule acts as [default: the instance's default db user].
    #[arg(long, value_name = "ID_OR_USERNAME")]
    pub db_user: Option<String>,
    /// Sessions in their current state for at least this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub time: u64,
    /// Only this account's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions from this client address (without port), an SQL LIKE pattern: 10.0.%.
    #[arg(long)]
    pub host: Option<String>,
    /// Only sessions in this database.
    #[arg(long)]
    pub db: Option<String>,
    /// Only sessions whose command is this (e.g. Sleep, Query; on PostgreSQL the backend state:
    /// active, idle, "idle in transaction"), case-insensitive.
    #[arg(long)]
    pub command: Option<String>,
    /// Only sessions whose SQL contains this text, case-insensitive.
    #[arg(long)]
    pub info: Option<String>,
    /// Only sessions whose state contains this text, case-insensitive.
    #[arg(long)]
    pub state: Option<String>,
    /// Only sessions whose open transaction is at least this many seconds old.
    #[arg(long, value_name = "SECONDS")]
    pub min_trx_time: Option<u64>,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    #[command(flatten)]
    pub conditions: ConditionArgs,
}

#[derive(Args, Debug)]
#[command(group(ArgGroup::new("how_long").required(true).args(["duration", "until_stopped"])))]
pub struct AddArgs {
    #[command(flatten)]
    pub conditions: ConditionArgs,
    /// The rule runs for this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub duration: Option<u64>,
    /// The rule runs until `dbkill rules stop`.
    #[arg(long)]
    pub until_stopped: bool,
    /// A name shown in `dbkill rules list` and the console.
    #[arg(long)]
    pub name: Option<String>,
    /// `query` ends only the running statement; the connection stays usable.
    #[arg(long, default_value = "connection", value_parser = ["connection", "query"])]
    pub kill_type: String,
    /// Count what the rule matches, never kill.
    #[arg(long)]
    pub observe: bool,
    /// Kill at most this many sessions a minute [default: no limit].
    #[arg(long, value_name = "N")]
    pub max_kills_per_minute: Option<u64>,
    /// A tick that would kill more than this many sessions kills none and pauses the rule.
    #[arg(long, value_name = "N")]
    pub pause_above: Option<u64>,
    /// Add without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

impl ConditionArgs {
    /// The body with these conditions, acting as `db_user_id` (`None`: the server's default),
    /// running until stopped; `add` sets the rest.
    fn body(&self, db_user_id: Option<String>) -> RuleBody {
        RuleBody {
            db_user_id,
            user: non_empty(&self.user),
            host: non_empty(&self.host),
            db: non_empty(&self.db),
            command: non_empty(&self.command),
            info: non_empty(&self.info),
            state: non_empty(&self.state),
            time: self.time,
            min_trx_time: self.min_trx_time,
            // A preview creates nothing, so its duration does not matter; DAS's preview takes
            // the add body, where it is required.
            task_duration: -1,
            task_type: TASK_TYPE,
            ..RuleBody::default()
        }
    }

    /// The instance, and the body of a rule with these conditions on it.
    async fn resolve(&self, ctx: &Ctx) -> CliResult<(super::api::Instance, RuleBody)> {
        let instance = ctx.instance(&self.instance).await?;
        let db_user_id = match self.db_user.as_deref() {
            Some(key) => Some(ctx.db_user(&instance, Some(key)).await?.db_user_id),
            None => None,
        };
        let body = self.body(db_user_id);
        Ok((instance, body))
    }
}

impl AddArgs {
    fn body(&self, db_user_id: Option<String>) -> RuleBody {
        let kill_type = if self.kill_type == "query" {
            "query"
        } else {
            "connection"
        };
        RuleBody {
            task_duration: self.duration.map_or(-1, |d| d as i64),
            name: non_empty(&self.name),
            kill_type: Some(kill_type),
            mode: Some(if self.observe { "observe" } else { "enforce" }),
            max_kills_per_minute: self.max_kills_per_minute,
            pause_above: self.pause_above,
            ..self.conditions.body(db_user_id)
        }
    }
}

/// What the preview found: how many sessions match now, and those it listed, in id order.
fn print_matches(preview: &RulePreview, lang: Lang) {
    if preview.total_count == 0 {
        println!("{}", lang.rule_matches_nothing());
        return;
    }
    println!("{}", lang.rule_matches(preview.total_count));
    let mut shown: Vec<_> = preview.processes.iter().map(|p| p.as_session()).collect();
    shown.sort_by_key(|s| s.id.parse::<u64>().unwrap_or(u64::MAX));
    print!(
        "{}",
        process_table(shown.iter().map(|s| (s, "")), false).render()
    );
    if (shown.len() as i64) < preview.total_count {
        println!(
            "{}",
            lang.rule_matches_shown(shown.len(), preview.total_count)
        );
    }
}

pub async fn preview(args: &PreviewArgs, ctx: &Ctx) -> CliResult<i32> {
    let (instance, body) = args.conditions.resolve(ctx).await?;
    let preview = ctx
        .client
        .preview_rule(&ctx.project, &instance.instance_id, &body)
        .await?;
    print_matches(&preview, ctx.lang);
    Ok(0)
}

pub async fn add(args: &AddArgs, ctx: &Ctx) -> CliResult<i32> {
    let lang = ctx.lang;
    let (instance, conditions) = args.conditions.resolve(ctx).await?;
    let body = args.body(conditions.db_user_id);
    // The preview takes the very body the rule is added with.
    let preview = ctx
        .client
        .preview_rule(&ctx.project, &instance.instance_id, &body)
        .await?;
    print_matches(&preview, lang);
    let question = lang.confirm_rule(preview.total_count, &args.kill_type, args.observe);
    if !args.yes && !super::prompt::confirm(&question) {
        println!("{}", lang.rule_not_added());
        return Ok(0);
    }
    let id = ctx
        .client
        .add_rule(&ctx.project, &instance.instance_id, &body)
        .await?;
    println!("{}", lang.rule_added(id));
    super::rules::warn_if_switch_off(ctx, &instance.instance_id, &instance.name).await?;
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::{Value, json};

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        add: AddArgs,
    }

    fn add_body(flags: &[&str]) -> Value {
        let mut argv = vec!["x", "--instance", "i", "--time", "5"];
        argv.extend(flags);
        let args = Cmd::try_parse_from(argv).unwrap().add;
        serde_json::to_value(args.body(Some("u1".into()))).unwrap()
    }

    #[test]
    fn the_flags_make_the_das_body_and_empty_conditions_are_left_out() {
        assert_eq!(
            add_body(&["--until-stopped", "--user", "app", "--db", ""]),
            json!({"db_user_id": "u1", "user": "app", "time": 5, "task_duration": -1,
                   "task_type": "auto", "kill_type": "connection", "mode": "enforce"})
        );
        assert_eq!(
            add_body(&[
                "--duration",
                "600",
                "--host",
                "10.%",
                "--command",
                "Query",
                "--info",
                "SLEEP(",
                "--state",
                "lock",
                "--min-trx-time",
                "30",
                "--name",
                "runaway",
                "--kill-type",
                "query",
                "--observe",
                "--max-kills-per-minute",
                "10",
                "--pause-above",
                "50",
            ]),
            json!({"db_user_id": "u1", "host": "10.%", "command": "Query", "info": "SLEEP(",
                   "state": "lock", "min_trx_time": 30, "time": 5, "task_duration": 600,
                   "task_type": "auto", "name": "runaway", "kill_type": "query",
                   "mode": "observe", "max_kills_per_minute": 10, "pause_above": 50})
        );
    }

    #[test]
    fn a_rule_says_how_long_it_runs_and_time_is_at_least_one() {
        let parse = |flags: &[&str]| {
            let mut argv = vec!["x", "--instance", "i"];
            argv.extend(flags);
            Cmd::try_parse_from(argv).map(|_| ())
        };
        assert!(parse(&["--time", "5"]).is_err(), "no duration");
        assert!(parse(&["--time", "5", "--duration", "60", "--until-stopped"]).is_err());
        assert!(parse(&["--time", "0", "--until-stopped"]).is_err());
        assert!(parse(&["--time", "5", "--duration", "0"]).is_err());
        assert!(parse(&["--until-stopped"]).is_err(), "no time");
        assert!(parse(&["--time", "1", "--duration", "1"]).is_ok());
    }
}
