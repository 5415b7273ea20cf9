//! Phase 6: wait until every session whose KILL was sent is gone, or the time is up. For a
//! query kill, "gone" means the killed statement no longer runs.
//!
//! Each processlist read walks every thread under a global lock, slowing the very exits it
//! waits for; so between reads it watches the cheap connection counter and reads the
//! processlist again only once the counter stops falling.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::domain::{KillType, Session, SessionId};
use crate::engine::{Presence, SessionDriver};

/// What verification saw.
#[derive(Debug, Default)]
pub(super) struct Verified {
    /// Sessions seen gone (a query kill: their statement ended).
    pub gone: HashSet<SessionId>,
    /// Sessions still listed, shown as `Killed` (rolling back) at the last read.
    pub marked_killed: HashSet<SessionId>,
    /// At least one processlist read succeeded after the KILLs.
    pub checked: bool,
}

/// Verifies the sessions a kill sent KILLs to, for at most `verify_timeout` and never past the
/// timing's end.
pub(super) async fn verify_sent(
    driver: &dyn SessionDriver,
    sent_to: &[&Session],
    kill_type: KillType,
    timing: super::KillTiming,
    verify_timeout: Duration,
) -> Verified {
    let wait_until = timing.verify_until.min(Instant::now() + verify_timeout);
    verify(driver, sent_to, kill_type, wait_until, timing.verify_until).await
}

/// Watches `sessions` until they are all gone or `wait_until`; every read ends by `read_until`.
pub(super) async fn verify(
    driver: &dyn SessionDriver,
    sessions: &[&Session],
    kill_type: KillType,
    wait_until: Instant,
    read_until: Instant,
) -> Verified {
    let mut pending: HashMap<SessionId, &Session> = sessions.iter().map(|s| (s.id, *s)).collect();
    let mut v = Verified::default();
    let mut last_count = u64::MAX;
    loop {
        if kill_type == KillType::Connection {
            let step = step_for(pending.len());
            last_count = wait_while_leaving(driver, last_count, step, wait_until, read_until).await;
        }
        let ids: Vec<SessionId> = pending.keys().copied().collect();
        let Ok(present) = driver.presence(&ids, read_until).await else {
            break;
        };
        v.checked = true;
        v.marked_killed = present
            .iter()
            .filter(|p| p.command == "Killed")
            .map(|p| p.id)
            .collect();
        let still: HashSet<SessionId> = present
            .iter()
            .filter(|p| same_session(p, pending.get(&p.id).copied()))
            .filter(|p| still_running(p, pending.get(&p.id).copied(), kill_type))
            .map(|p| p.id)
            .collect();
        pending.retain(|id, _| {
            let running = still.contains(id);
            if !running {
                v.gone.insert(*id);
            }
            running
        });
        let step = step_for(pending.len());
        if pending.is_empty() || Instant::now() + step > wait_until {
            break;
        }
        // Lingering sessions (rolling back): look again a little later.
        tokio::time::sleep(step).await;
    }
    v
}

/// Sessions few enough to be looked at every [`FEW_STEP`]: a small kill's answer then waits
/// a few milliseconds past the sessions' exit, not one 25 ms step (or two, when the count was
/// first read before the session had left) for a step's worth of CPU it does not save.
const FEW: usize = 16;
const FEW_STEP: Duration = Duration::from_millis(5);
/// Each read costs the server a fraction of a millisecond of CPU, which the sessions being
/// killed need to exit; with many leaving, one read per 25 ms keeps that negligible.
const MANY_STEP: Duration = Duration::from_millis(25);

/// How long to wait between two reads while `pending` sessions are still to leave.
fn step_for(pending: usize) -> Duration {
    if pending <= FEW { FEW_STEP } else { MANY_STEP }
}

/// Connection kills: waits (until `until`) while the connection counter still falls (sessions
/// are leaving), reading it every `step`; returns the last count seen.
async fn wait_while_leaving(
    driver: &dyn SessionDriver,
    mut last_count: u64,
    step: Duration,
    until: Instant,
    read_until: Instant,
) -> u64 {
    while Instant::now() < until {
        match driver.connected_count(read_until).await {
            Ok(n) if n < last_count => last_count = n,
            _ => break,
        }
        tokio::time::sleep(step).await;
    }
    last_count
}

/// Whether a listed id is still the session that was killed, not a newer one given its id.
pub(crate) fn same_session(p: &Presence, before: Option<&Session>) -> bool {
    before.is_none_or(|b| b.started.is_none() || b.started == p.started)
}

/// Whether a listed session still runs what its KILL was meant to end.
pub(crate) fn still_running(p: &Presence, before: Option<&Session>, kill_type: KillType) -> bool {
    match kill_type {
        KillType::Connection => true,
        KillType::Query => p.running && before.is_some_and(|b| b.sql.is_some() && b.sql == p.sql),
    }
}
