//! Phase 6: wait until every accepted session is gone or the time is up. For a query kill,
//! "gone" means the killed statement no longer runs.
//!
//! Each processlist read walks every thread under a global lock, slowing the very exits it
//! waits for; so between reads it watches the cheap connection counter and reads the
//! processlist again only once the counter stops falling.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::domain::{KillType, Session, SessionId};
use crate::engine::{Presence, SessionDriver};
use crate::service::KillSettings;

/// Returns the ids seen gone.
pub(super) async fn verify(
    driver: Arc<dyn SessionDriver>,
    accepted: &[(Session, i64)],
    kill_type: KillType,
    settings: KillSettings,
) -> HashSet<SessionId> {
    let mut pending: HashMap<SessionId, &Session> =
        accepted.iter().map(|(s, _)| (s.id, s)).collect();
    let mut gone = HashSet::new();
    let deadline = Instant::now() + settings.verify_timeout;
    let mut last_count = u64::MAX;
    loop {
        if kill_type == KillType::Connection {
            last_count = wait_while_leaving(driver.as_ref(), last_count, deadline).await;
        }
        let ids: Vec<SessionId> = pending.keys().copied().collect();
        let Ok(present) = driver.presence(&ids).await else {
            break;
        };
        let still: HashSet<SessionId> = present
            .iter()
            .filter(|p| still_running(p, pending.get(&p.id).copied(), kill_type))
            .map(|p| p.id)
            .collect();
        pending.retain(|id, _| {
            let running = still.contains(id);
            if !running {
                gone.insert(*id);
            }
            running
        });
        if pending.is_empty() || Instant::now() + Duration::from_millis(20) > deadline {
            break;
        }
        // Lingering sessions (rolling back): look again a little later.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    gone
}

/// Connection kills: waits while the connection counter still falls (sessions are leaving);
/// returns the last count seen.
async fn wait_while_leaving(
    driver: &dyn SessionDriver,
    mut last_count: u64,
    deadline: Instant,
) -> u64 {
    while Instant::now() < deadline {
        match driver.connected_count().await {
            Ok(n) if n < last_count => last_count = n,
            _ => break,
        }
        // Each read costs the server a fraction of a millisecond of CPU, which the sessions
        // being killed need to exit; one read per 25 ms keeps that negligible.
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    last_count
}

pub(crate) fn still_running(p: &Presence, before: Option<&Session>, kill_type: KillType) -> bool {
    match kill_type {
        KillType::Connection => true,
        KillType::Query => {
            p.command == "Query" && before.is_some_and(|b| b.sql.is_some() && b.sql == p.sql)
        }
    }
}
