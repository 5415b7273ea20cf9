//! `dbkill sessions list`: every page of ListProcesses (user and database filtered by the server),
//! then the filters the API does not have (command, minimum time, active), as an aligned table or
//! as JSON. `dbkill sessions kill` lives in [`super::kill`].

use clap::{Args, Subcommand};

use super::api::{Process, SessionOut};
use super::client::ProcessQuery;
use super::context::{Ctx, TargetArgs};
use super::error::{CliError, CliResult};
use super::kill::KillArgs;
use super::table::{Align, Table, clean, truncate};

/// Rows per ListProcesses request: the most the API gives.
const PAGE: usize = 1000;
/// Longest SQL shown in a table cell; `--json` has it whole.
pub const SQL_WIDTH: usize = 60;

#[derive(Subcommand, Debug)]
pub enum SessionsCommand {
    /// List sessions.
    List(ListArgs),
    /// Kill sessions by id, user and/or database (ANDed), after showing what would be killed.
    Kill(KillArgs),
}

#[derive(Args, Debug)]
pub struct ListArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only this account's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions in this database.
    #[arg(long)]
    pub database: Option<String>,
    /// Only sessions whose command is this (e.g. Sleep, Query; on PostgreSQL the backend state:
    /// idle, active, "idle in transaction"), case-insensitive.
    #[arg(long)]
    pub command: Option<String>,
    /// Only sessions in their current state for at least this many seconds.
    #[arg(long, value_name = "SECONDS")]
    pub min_time: Option<u64>,
    /// Only sessions doing something (command not Sleep; on PostgreSQL not idle).
    #[arg(long)]
    pub active: bool,
    /// Print the rows as a JSON array instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Every session the server lists for `user` / `database` (absent or empty: any), all pages.
pub async fn fetch_all(
    ctx: &Ctx,
    instance: &str,
    db_user_id: &str,
    user: Option<&str>,
    database: Option<&str>,
) -> CliResult<Vec<Process>> {
    let mut out: Vec<Process> = Vec::new();
    loop {
        let q = ProcessQuery {
            db_user_id,
            user: user.filter(|s| !s.is_empty()),
            database: database.filter(|s| !s.is_empty()),
            offset: out.len(),
            limit: PAGE,
        };
        let page = ctx
            .client
            .list_processes(&ctx.project, instance, &q)
            .await?;
        let done = page.processes.len() < PAGE;
        out.extend(page.processes);
        // Sessions come and go between pages; a short page or reaching the count ends it.
        if done || out.len() >= page.count {
            return Ok(out);
        }
    }
}

fn numeric(s: &str) -> u64 {
    s.parse().unwrap_or(0)
}

/// A session between statements: MySQL's `Sleep`, PostgreSQL's `idle`. A PostgreSQL session
/// `idle in transaction` holds its transaction open and counts as doing something, as DAS's
/// PostgreSQL session list (which hides only `idle` ones) has it.
fn is_idle(command: &str) -> bool {
    command.eq_ignore_ascii_case("Sleep") || command == "idle"
}

impl ListArgs {
    /// The filters the server does not apply.
    fn keeps(&self, p: &Process) -> bool {
        let s = &p.session;
        self.command
            .as_deref()
            .is_none_or(|c| s.command.eq_ignore_ascii_case(c))
            && self.min_time.is_none_or(|m| numeric(&s.time) >= m)
            && (!self.active || !is_idle(&s.command))
    }
}

/// The columns that say which session a row is, first in every table of sessions.
pub const SESSION_COLUMNS: [(&str, Align); 5] = [
    ("ID", Align::Right),
    ("USER", Align::Left),
    ("HOST", Align::Left),
    ("DB", Align::Left),
    ("COMMAND", Align::Left),
];

/// The cells of [`SESSION_COLUMNS`] for `p`.
pub fn session_cells(p: &SessionOut) -> Vec<String> {
    vec![
        p.id.clone(),
        p.user.clone(),
        p.host.clone(),
        p.database.clone(),
        p.command.clone(),
    ]
}

/// Sessions as a table: [`SESSION_COLUMNS`], time, state, the age of the open transaction when
/// `with_trx` (ListProcesses reports it, KillSession does not: each row's second part), and the
/// SQL cut to [`SQL_WIDTH`].
pub fn process_table<'a>(
    rows: impl IntoIterator<Item = (&'a SessionOut, &'a str)>,
    with_trx: bool,
) -> Table {
    let mut columns = SESSION_COLUMNS.to_vec();
    columns.extend([("TIME", Align::Right), ("STATE", Align::Left)]);
    if with_trx {
        columns.push(("TRX", Align::Right));
    }
    columns.push(("SQL", Align::Left));
    let mut t = Table::new(&columns);
    for (p, trx) in rows {
        let mut cells = session_cells(p);
        cells.extend([p.time.clone(), p.state.clone()]);
        if with_trx {
            cells.push(trx.to_owned());
        }
        cells.push(truncate(&clean(&p.sql), SQL_WIDTH));
        t.row(cells);
    }
    t
}

pub async fn list(args: &ListArgs, ctx: &Ctx) -> CliResult<i32> {
    let (instance, db_user) = ctx.target(&args.target).await?;
    let mut rows = fetch_all(
        ctx,
        &instance.instance_id,
        &db_user.db_user_id,
        args.user.as_deref(),
        args.database.as_deref(),
    )
    .await?;
    rows.retain(|p| args.keeps(p));
    rows.sort_by_key(|p| numeric(&p.session.id));
    if args.json {
        let json =
            serde_json::to_string_pretty(&rows).map_err(|e| CliError::Other(e.to_string()))?;
        println!("{json}");
    } else {
        let table = process_table(
            rows.iter()
                .map(|p| (&p.session, p.trx_executed_time.as_str())),
            true,
        );
        print!("{}", table.render());
        println!("{}", ctx.lang.count(rows.len(), "session", "会话"));
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cmd {
        #[command(flatten)]
        list: ListArgs,
    }

    fn row(command: &str, time: &str) -> Process {
        Process {
            session: SessionOut {
                id: "1".into(),
                user: "u".into(),
                host: "h".into(),
                database: "--".into(),
                command: command.into(),
                time: time.into(),
                state: String::new(),
                sql: String::new(),
            },
            trx_executed_time: "0".into(),
        }
    }

    fn keeps(flags: &[&str], p: &Process) -> bool {
        let mut argv = vec!["x", "--instance", "i"];
        argv.extend(flags);
        Cmd::parse_from(argv).list.keeps(p)
    }

    #[test]
    fn the_kill_plan_shows_the_list_columns_but_trx() {
        let header = |t: Table| t.render().lines().next().unwrap().to_owned();
        let p = row("Query", "2");
        assert_eq!(
            header(process_table([(&p.session, "0")], true)),
            "ID  USER  HOST  DB  COMMAND  TIME  STATE  TRX  SQL"
        );
        assert_eq!(
            header(process_table([(&p.session, "")], false)),
            "ID  USER  HOST  DB  COMMAND  TIME  STATE  SQL"
        );
    }

    #[test]
    fn client_side_filters() {
        assert!(keeps(&[], &row("Sleep", "0")));
        assert!(keeps(&["--command", "query"], &row("Query", "1")));
        assert!(!keeps(&["--command", "Query"], &row("Sleep", "1")));
        assert!(keeps(&["--min-time", "5"], &row("Sleep", "5")));
        assert!(!keeps(&["--min-time", "5"], &row("Sleep", "4")));
        assert!(!keeps(&["--active"], &row("Sleep", "9")));
        assert!(keeps(&["--active"], &row("Query", "0")));
        assert!(!keeps(&["--active", "--min-time", "3"], &row("Query", "2")));
    }

    #[test]
    fn postgresql_states_are_commands() {
        assert!(keeps(&["--command", "IDLE"], &row("idle", "1")));
        assert!(keeps(
            &["--command", "idle in transaction"],
            &row("idle in transaction", "1")
        ));
        assert!(!keeps(
            &["--command", "idle"],
            &row("idle in transaction", "1")
        ));
        assert!(!keeps(&["--active"], &row("idle", "9")));
        assert!(keeps(&["--active"], &row("active", "0")));
        assert!(keeps(&["--active"], &row("idle in transaction", "0")));
    }
}
