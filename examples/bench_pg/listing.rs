//! ListProcesses with N victims listed, against the raw `pg_stat_activity` query it stands for:
//! one request with the default page (first 20 rows and the count: what DAS answers, and what
//! the goal compares), one walk of every page at the largest page dbkill allows, and the raw
//! query from the benchmark over TCP as dbkill's db user, all rows fetched: the driver's own
//! `LIST` statement (src/engine/postgres/sql.rs), bound as dbkill binds it for
//! `user=victim` (pids and database NULL, user 'victim': the goal's peer) and with every
//! parameter NULL (every backend; reported).

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use sqlx::postgres::PgConnection;

use crate::Bench;
use crate::service::Dbkill;
use crate::victims::{self, USER};

/// dbkill's default page size and its largest (`limit` 1..1000, spec "ListProcesses").
pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 1000;

/// The statement dbkill's PostgreSQL driver lists with.
const RAW_SQL: &str = crate::pg_sql::LIST;

pub struct ListBench {
    pub n: usize,
    /// `GET …/processes?db_user_id=…&user=victim`: request sent → body received.
    pub default_page: Vec<Duration>,
    /// Every page of `limit` [`MAX_PAGE`], one after the other: first request sent → last body.
    pub all_pages: Vec<Duration>,
    pub pages: usize,
    /// [`RAW_SQL`] bound as dbkill binds it (NULL, 'victim', NULL) on an open connection:
    /// sent → all rows received.
    pub raw: Vec<Duration>,
    /// [`RAW_SQL`] with every parameter NULL: every backend.
    pub raw_all: Vec<Duration>,
    pub problem: Option<String>,
}

impl Bench {
    /// Times `calls` of each, alternating, after one untimed warm-up of each, with `n` victims.
    pub async fn list_bench(&mut self, n: usize, calls: usize) -> Result<ListBench> {
        let conns = victims::open(self.port, n).await?;
        self.monitor.wait_for(n).await?;
        self.settle().await?;
        let mut result = ListBench {
            n,
            default_page: Vec::new(),
            all_pages: Vec::new(),
            pages: n.div_ceil(MAX_PAGE),
            raw: Vec::new(),
            raw_all: Vec::new(),
            problem: None,
        };
        // Without dbkill, or once it has failed, only the raw query is timed.
        let mut api = self.dbkill.as_ref();
        for i in 0..=calls {
            if let Some(dbkill) = api {
                let timed = async {
                    let t = Instant::now();
                    let answer = dbkill.list_page(USER, None).await?;
                    check_page(answer.status, &answer.body, n)?;
                    let page = answer.done - t;
                    let t = Instant::now();
                    walk(dbkill, n).await?;
                    anyhow::Ok((page, t.elapsed()))
                };
                match timed.await {
                    Ok((page, all)) if i > 0 => {
                        result.default_page.push(page);
                        result.all_pages.push(all);
                    }
                    Ok(_) => {}
                    Err(e) => {
                        result.problem = Some(format!("ListProcesses: {e:#}"));
                        api = None;
                    }
                }
            }
            let (raw, rows) = raw_list(&mut self.killer, Some(USER)).await?;
            if rows != n {
                bail!("raw query returned {rows} rows, expected {n}");
            }
            let (raw_all, rows) = raw_list(&mut self.killer, None).await?;
            if rows < n {
                bail!("raw query (all NULL) returned {rows} rows, expected at least {n}");
            }
            if i > 0 {
                result.raw.push(raw);
                result.raw_all.push(raw_all);
            }
        }
        self.monitor.clear().await?;
        drop(conns);
        Ok(result)
    }
}

/// [`RAW_SQL`] narrowed to `user` (or not at all) on `conn`: its time and rows.
async fn raw_list(conn: &mut PgConnection, user: Option<&str>) -> Result<(Duration, usize)> {
    let t = Instant::now();
    let rows = sqlx::query(RAW_SQL)
        .bind(None::<Vec<i32>>)
        .bind(user)
        .bind(None::<String>)
        .fetch_all(conn)
        .await
        .context("raw pg_stat_activity query")?;
    Ok((t.elapsed(), rows.len()))
}

/// A default-page answer must count all `n` victims and carry one full page.
fn check_page(status: u16, body: &[u8], n: usize) -> Result<()> {
    let v = json(status, body)?;
    let count = v.get("count").and_then(Value::as_u64);
    let page = v.get("processes").and_then(Value::as_array).map(Vec::len);
    ensure!(
        count == Some(n as u64) && page == Some(DEFAULT_PAGE.min(n)),
        "count {count:?}, page of {page:?}; expected {n} and {}",
        DEFAULT_PAGE.min(n)
    );
    Ok(())
}

/// Reads every page of the victims at `limit` [`MAX_PAGE`]; they must be `n` distinct ids.
async fn walk(dbkill: &Dbkill, n: usize) -> Result<()> {
    let mut ids = HashSet::new();
    let mut offset = 0;
    loop {
        let answer = dbkill
            .list_page(USER, Some((offset, MAX_PAGE as u32)))
            .await?;
        let v = json(answer.status, &answer.body)?;
        let rows = v
            .get("processes")
            .and_then(Value::as_array)
            .context("no processes")?;
        ids.extend(
            rows.iter()
                .filter_map(|r| r.get("id").and_then(Value::as_str).map(str::to_owned)),
        );
        offset += rows.len();
        let count = v.get("count").and_then(Value::as_u64).context("no count")? as usize;
        if rows.is_empty() || offset >= count {
            break;
        }
    }
    ensure!(
        ids.len() == n,
        "walked {} distinct ids, expected {n}",
        ids.len()
    );
    Ok(())
}

fn json(status: u16, body: &[u8]) -> Result<Value> {
    let text = || String::from_utf8_lossy(&body[..body.len().min(300)]).into_owned();
    ensure!(status == 200, "HTTP {status}: {}", text());
    serde_json::from_slice(body).with_context(|| format!("not JSON: {}", text()))
}
