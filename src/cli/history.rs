//! `dbkill history`: the sessions actually killed on an instance, newest first, with kill times
//! in the local time zone.

use clap::Args;

use super::context::Ctx;
use super::error::CliResult;
use super::table::{Align, Table, local_time};

/// The most the history API gives per page.
const PAGE: u32 = 100;

#[derive(Args, Debug)]
pub struct HistoryArgs {
    /// Instance id or name.
    #[arg(long, value_name = "ID_OR_NAME")]
    pub instance: String,
    /// Show at most this many killed sessions.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

pub async fn run(args: &HistoryArgs, ctx: &Ctx) -> CliResult<i32> {
    let instance = ctx.instance(&args.instance).await?;
    let page_size = args.limit.min(PAGE);
    let mut rows = Vec::new();
    let mut total = 0;
    for page_num in 1.. {
        let page = ctx
            .client
            .kill_history(&ctx.project, &instance.instance_id, page_num, page_size)
            .await?;
        total = page.total_count;
        let short = page.killed_sessions.len() < page_size as usize;
        rows.extend(page.killed_sessions);
        if short || rows.len() >= args.limit as usize || rows.len() as i64 >= total {
            break;
        }
    }
    rows.truncate(args.limit as usize);
    let mut t = Table::new(&[
        ("KILLED AT", Align::Left),
        ("ID", Align::Right),
        ("USER", Align::Left),
        ("HOST", Align::Left),
        ("DB", Align::Left),
        ("COMMAND", Align::Left),
        ("KILLED BY", Align::Left),
        ("INTERRUPTED", Align::Left),
    ]);
    for r in &rows {
        t.row(vec![
            local_time(r.kill_time),
            r.session_id.to_string(),
            r.user.clone(),
            r.host.clone(),
            r.db.clone(),
            r.command.clone(),
            r.killed_source.clone(),
            if r.interrupted { "yes" } else { "" }.to_owned(),
        ]);
    }
    print!("{}", t.render());
    println!("{}", ctx.lang.history_count(rows.len(), total));
    Ok(0)
}
