//! ListProcesses against the raw processlist query it stands for, with N victims listed.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use mysql_async::Row;
use mysql_async::prelude::Queryable;
use serde_json::Value;

use crate::run::Bench;
use crate::victims::{self, USER};

/// Page size of the timed ListProcesses calls.
const PAGE: usize = 20;

/// Every column dbkill reads, for the victims only, fully fetched.
const RAW_SQL: &str = "SELECT CAST(ID AS UNSIGNED), USER, HOST, DB, COMMAND, TIME, STATE, INFO \
     FROM information_schema.PROCESSLIST WHERE USER = 'victim'";

/// What dbkill itself sends on MariaDB (every session, no server-side filter), for information.
const SHOW_SQL: &str = "SHOW FULL PROCESSLIST";

pub struct ListBench {
    pub n: usize,
    /// `GET …/processes?user=victim&limit=20`: request sent → body received.
    pub api: Vec<Duration>,
    /// [`RAW_SQL`] on `killer`'s open connection: sent → all rows fetched.
    pub raw: Vec<Duration>,
    /// [`SHOW_SQL`] on the same connection: sent → all rows fetched.
    pub show: Vec<Duration>,
    pub problem: Option<String>,
}

impl Bench {
    /// Times `calls` ListProcesses calls and as many of each raw query, alternating, after one
    /// untimed warm-up of each, with `n` victims open.
    pub async fn list_bench(&mut self, n: usize, calls: usize) -> Result<ListBench> {
        let conns = victims::open(self.port, n).await?;
        self.probe.wait_victims(n as u64).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut result = ListBench {
            n,
            api: Vec::new(),
            raw: Vec::new(),
            show: Vec::new(),
            problem: None,
        };
        for i in 0..=calls {
            let t = Instant::now();
            let answer = self.dbkill.list(USER, PAGE as u32).await?;
            let api = answer.done.duration_since(t);
            if let Err(e) = check_page(answer.status, &answer.body, n) {
                result.problem.get_or_insert(format!("{e:#}"));
            }
            let t = Instant::now();
            let rows: Vec<Row> = self.killer.query(RAW_SQL).await?;
            let raw = t.elapsed();
            if rows.len() != n {
                result.problem.get_or_insert(format!(
                    "raw query returned {} rows, expected {n}",
                    rows.len()
                ));
            }
            let t = Instant::now();
            let shown: Vec<Row> = self.killer.query(SHOW_SQL).await?;
            let show = t.elapsed();
            if shown.len() < n {
                result.problem.get_or_insert(format!(
                    "{SHOW_SQL} returned {} rows, expected at least {n}",
                    shown.len()
                ));
            }
            if i > 0 {
                result.api.push(api);
                result.raw.push(raw);
                result.show.push(show);
            }
        }
        self.probe.exec(&format!("KILL USER {USER}")).await?;
        victims::close(conns).await;
        self.probe.settle_clean().await?;
        Ok(result)
    }
}

/// A ListProcesses answer must count all `n` victims and carry one full page.
fn check_page(status: u16, body: &[u8], n: usize) -> Result<()> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    anyhow::ensure!(status == 200, "ListProcesses: HTTP {status}: {}", text());
    let v: Value = serde_json::from_slice(body)
        .with_context(|| format!("ListProcesses: not JSON: {}", text()))?;
    let count = v.get("count").and_then(Value::as_u64);
    let page = v.get("processes").and_then(Value::as_array).map(Vec::len);
    anyhow::ensure!(
        count == Some(n as u64) && page == Some(PAGE.min(n)),
        "ListProcesses: count {count:?}, page of {page:?}; expected {n} and {}",
        PAGE.min(n)
    );
    Ok(())
}
