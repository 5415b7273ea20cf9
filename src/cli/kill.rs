//! `dbkill sessions kill`: a dry run first, the plan shown, a question (default no) unless
//! `--yes`, then a kill of exactly the planned ids — ANDed with the same user/database filters,
//! so nothing that appeared after the preview is touched — in chunks, with a progress bar for
//! large kills, and the merged report.

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::api::{KillReport, KillRequest, Killed};
use super::context::{Ctx, TargetArgs};
use super::error::{CliError, CliResult, EXIT_KILL_FAILED};
use super::i18n::Lang;
use super::sessions::{SESSION_COLUMNS, process_table, session_cells};
use super::table::{Align, Table};

/// Above this many planned sessions the kill shows a progress bar.
const PROGRESS_THRESHOLD: usize = 100;

#[derive(Args, Debug)]
pub struct KillArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// A session id to kill (repeatable, or comma-separated).
    #[arg(long = "id", value_name = "ID", value_delimiter = ',')]
    pub ids: Vec<u64>,
    /// Only this account's sessions.
    #[arg(long)]
    pub user: Option<String>,
    /// Only sessions in this database.
    #[arg(long)]
    pub database: Option<String>,
    /// End only the running statement; the connection stays usable.
    #[arg(long)]
    pub query: bool,
    /// Show what would be killed and stop.
    #[arg(long)]
    pub dry_run: bool,
    /// Kill without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Session ids per kill request. Hidden: 500 suits every server; smaller values let the
    /// tests exercise a kill spread over several requests without opening 500+ sessions.
    #[arg(long, hide = true, default_value_t = 500,
          value_parser = clap::value_parser!(u16).range(1..=500))]
    pub chunk_size: u16,
}

fn non_empty(s: &Option<String>) -> Option<String> {
    s.clone().filter(|s| !s.is_empty())
}

/// Sessions in id order for display; the server answers in the order it kills (newest first).
fn by_id(killed: &[Killed]) -> Vec<&Killed> {
    let mut v: Vec<&Killed> = killed.iter().collect();
    v.sort_by_key(|k| k.session.id.parse::<u64>().unwrap_or(u64::MAX));
    v
}

fn print_plan(plan: &KillReport, kill_type: &str, lang: Lang) {
    if !plan.killed.is_empty() {
        println!("{}", lang.plan_header(plan.killed.len(), kill_type));
        let rows = by_id(&plan.killed).into_iter().map(|k| (&k.session, ""));
        print!("{}", process_table(rows, false).render());
    }
    if !plan.skipped.is_empty() {
        println!("{}", lang.plan_skipped(plan.skipped.len()));
        print!("{}", skipped_table(plan).render());
    }
    if !plan.not_found.is_empty() {
        println!("{}", lang.not_found(&plan.not_found.join(", ")));
    }
}

fn skipped_table(r: &KillReport) -> Table {
    let mut t = Table::new(&[
        ("ID", Align::Right),
        ("USER", Align::Left),
        ("REASON", Align::Left),
    ]);
    for s in &r.skipped {
        t.row(vec![s.id.clone(), s.user.clone(), s.reason.clone()]);
    }
    t
}

fn print_report(r: &KillReport, lang: Lang) {
    if !r.killed.is_empty() {
        println!("{}", lang.killed_header(r.killed.len()));
        let mut columns = SESSION_COLUMNS.to_vec();
        columns.push(("GONE", Align::Left));
        let mut t = Table::new(&columns);
        for k in by_id(&r.killed) {
            let mut cells = session_cells(&k.session);
            cells.push(lang.yes_no(k.gone.unwrap_or(false)).to_owned());
            t.row(cells);
        }
        print!("{}", t.render());
    }
    if !r.skipped.is_empty() {
        println!("{}", lang.skipped_header(r.skipped.len()));
        print!("{}", skipped_table(r).render());
    }
    if !r.not_found.is_empty() {
        println!("{}", lang.not_found(&r.not_found.join(", ")));
    }
    if !r.failed.is_empty() {
        println!("{}", lang.failed_header(r.failed.len()));
        let mut t = Table::new(&[("ID", Align::Right), ("ERROR", Align::Left)]);
        for f in &r.failed {
            t.row(vec![
                f.id.clone(),
                format!("{}: {}", f.error_code, f.error_msg),
            ]);
        }
        print!("{}", t.render());
    }
    let gone = r.killed.iter().filter(|k| k.gone == Some(true)).count();
    println!(
        "{}",
        lang.kill_summary(
            r.killed.len(),
            gone,
            r.skipped.len(),
            r.not_found.len(),
            r.failed.len()
        )
    );
}

fn progress_bar(total: usize) -> ProgressBar {
    if total <= PROGRESS_THRESHOLD {
        return ProgressBar::hidden();
    }
    // Drawn on stderr, and only when it is a terminal (indicatif hides it otherwise): the report
    // on stdout stays clean for pipes and files.
    let bar = ProgressBar::new(total as u64);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {elapsed}") {
        bar.set_style(style);
    }
    bar
}

pub async fn kill(args: &KillArgs, ctx: &Ctx) -> CliResult<i32> {
    let lang = ctx.lang;
    let user = non_empty(&args.user);
    let database = non_empty(&args.database);
    if args.ids.is_empty() && user.is_none() && database.is_none() {
        return Err(CliError::Usage(lang.kill_needs_filter()));
    }
    let (instance, db_user) = ctx.target(&args.target).await?;
    let kill_type = if args.query { "query" } else { "connection" };
    let preview = KillRequest {
        db_user_id: db_user.db_user_id.clone(),
        process_ids: (!args.ids.is_empty())
            .then(|| args.ids.iter().map(ToString::to_string).collect()),
        user,
        database,
        dry_run: true,
        kill_type,
    };
    let plan = ctx
        .client
        .kill(&ctx.project, &instance.instance_id, &preview)
        .await?;
    print_plan(&plan, kill_type, lang);
    let n = plan.killed.len();
    if n == 0 {
        println!("{}", lang.nothing_to_kill());
        return Ok(0);
    }
    if args.dry_run {
        println!("{}", lang.dry_run_done());
        return Ok(0);
    }
    if !args.yes && !super::prompt::confirm(&lang.confirm(n)) {
        println!("{}", lang.aborted());
        return Ok(0);
    }

    let ids: Vec<String> = plan.killed.iter().map(|k| k.session.id.clone()).collect();
    let bar = progress_bar(n);
    let mut report = KillReport::default();
    for chunk in ids.chunks(usize::from(args.chunk_size)) {
        let req = KillRequest {
            process_ids: Some(chunk.to_vec()),
            dry_run: false,
            ..preview.clone()
        };
        match ctx
            .client
            .kill(&ctx.project, &instance.instance_id, &req)
            .await
        {
            Ok(r) => report.merge(r),
            Err(e) => {
                bar.abandon();
                // Earlier chunks did kill: say what, then why the rest was not done.
                if !report.killed.is_empty() || !report.failed.is_empty() {
                    println!("{}", lang.kill_interrupted());
                    print_report(&report, lang);
                }
                return Err(e);
            }
        }
        bar.inc(chunk.len() as u64);
    }
    bar.finish_and_clear();
    print_report(&report, lang);
    Ok(if report.failed.is_empty() {
        0
    } else {
        EXIT_KILL_FAILED
    })
}
