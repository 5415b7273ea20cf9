//! The `stalled` scene's history check: does dbkill's kill history (`GET …/auto-flow/
//! query-kill-process-history`, every page, since t0 and with the run's `request_id` filter,
//! which older dbkills ignore) name exactly the victims that died? Polled until it does or
//! [`WITHIN`] after the server was continued.

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::Value;

use crate::service::Dbkill;
use crate::victims::Probe;

/// How long after SIGCONT the history may take to match.
pub const WITHIN: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct HistoryCheck {
    /// When it first matched, from SIGCONT; `None` if it never did within [`WITHIN`].
    pub matched_after: Option<Duration>,
    /// The last comparison, e.g. "history 80 rows (80 ids), died 100, 20 missing, 0 extra".
    pub summary: String,
}

/// Polls until the history since `start_ms` equals the victims of `ids` no longer listed.
pub async fn check(
    dbkill: &Dbkill,
    checker: &mut Probe,
    ids: &[u64],
    start_ms: i64,
    request_id: &str,
    resumed: Instant,
) -> Result<HistoryCheck> {
    loop {
        let alive = checker.alive().await?;
        let died: BTreeSet<u64> = ids.iter().copied().filter(|i| !alive.contains(i)).collect();
        let rows = fetch(dbkill, start_ms, request_id).await?;
        let recorded: BTreeSet<u64> = rows.iter().copied().collect();
        let victims: HashSet<u64> = ids.iter().copied().collect();
        let missing = died.difference(&recorded).count();
        let extra = recorded.difference(&died).count();
        let summary = format!(
            "history {} rows ({} ids, {} not victims), died {}, {missing} missing, {extra} extra",
            rows.len(),
            recorded.len(),
            recorded.iter().filter(|i| !victims.contains(i)).count(),
            died.len()
        );
        if rows.len() == died.len() && recorded == died {
            return Ok(HistoryCheck {
                matched_after: Some(resumed.elapsed()),
                summary,
            });
        }
        if resumed.elapsed() > WITHIN {
            return Ok(HistoryCheck {
                matched_after: None,
                summary,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Every session id in the history since `start_ms`, page by page.
async fn fetch(dbkill: &Dbkill, start_ms: i64, request_id: &str) -> Result<Vec<u64>> {
    let mut out = Vec::new();
    for page in 1.. {
        let v = dbkill.history(start_ms, request_id, page).await?;
        let rows = v
            .get("killed_sessions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let total = v.get("total_count").and_then(Value::as_u64).unwrap_or(0);
        out.extend(rows.iter().filter_map(|r| r.get("session_id")?.as_u64()));
        if rows.is_empty() || out.len() as u64 >= total {
            break;
        }
    }
    Ok(out)
}
