//! How to send a plan's KILLs, chosen from what the listing shows and corrected by what the first
//! KILLs cost. Pure: the executor in `engine` does what this decides.
//!
//! What the choice rests on (MariaDB 10.11, measured on a 2-core VM, issue #11):
//! - A KILL wakes its victim by trying to lock the mutex the victim waits on, retrying every 50 ms
//!   for up to 2 s while someone else holds it. Every `SELECT SLEEP()` waits on one global mutex,
//!   which each woken victim takes on its way out; KILLs sent back to back (a pipelined batch,
//!   `KILL USER`, parallel killers) keep colliding with the previous victim and sleep 50 ms each.
//!   One KILL per round trip gives each victim the moment it needs: 100 sleepers die in ~40 ms
//!   that way, against seconds for a batch.
//! - Everything else (idle sessions, row-lock and metadata-lock waits, running queries) wakes on a
//!   mutex of its own, and a KILL costs microseconds: batches of up to [`MAX_BATCH`] statements
//!   in one round trip are fastest, and the server, not the round trip, is the limit.
//! - `KILL USER` signals every session of an account in one statement, but it also ends sessions
//!   opened after the listing, which the report cannot name; it is used only when the setting
//!   allows it, the plan is every session of that account, and no victim waits on a shared mutex.

use std::time::Duration;

use crate::domain::Session;

/// KILL statements per round trip at most: amortises the round trip, and a batch of
/// uncontended KILLs stays in the milliseconds even on a loaded server.
pub const MAX_BATCH: usize = 500;

/// What a KILL is taken to cost before one was measured: an uncontended KILL costs microseconds,
/// and a first batch sized on this fits its time even on a slow server.
const ASSUMED_PER_KILL: Duration = Duration::from_micros(50);

/// A per-KILL cost above this means KILLs are contending (a 50 ms retry happened somewhere in
/// the batch): the rest goes one KILL per round trip.
const CONTENDED_PER_KILL: Duration = Duration::from_millis(2);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillStrategy {
    /// One `KILL [QUERY] USER` statement.
    KillUser,
    /// Batches of up to `batch` KILLs, one batch per round trip, on one connection.
    Sequential { batch: usize },
    /// Batches spread over `connections` connections at once.
    Parallel { connections: usize, batch: usize },
}

/// What the chooser looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Observations {
    /// Sessions to kill.
    pub victims: usize,
    /// Of them, sessions waiting in `SELECT SLEEP()` (state `User sleep`), whose KILLs contend.
    pub sleepers: usize,
    /// `KILL USER <name>` would signal exactly the planned sessions, and the engine has it.
    pub kill_user_exact: bool,
    /// The setting `kill_user_statement`.
    pub kill_user_allowed: bool,
    /// The setting `kill_connections`: connections a large kill may use.
    pub max_connections: usize,
}

impl Observations {
    /// Counts what matters in the sessions to kill.
    pub fn of(victims: &[Session]) -> Self {
        Self {
            victims: victims.len(),
            sleepers: victims.iter().filter(|s| waits_on_shared_mutex(s)).count(),
            ..Self::default()
        }
    }
}

/// `SELECT SLEEP()` shows as state `User sleep` on MariaDB and MySQL; `DO SLEEP()` too.
fn waits_on_shared_mutex(s: &Session) -> bool {
    s.state.eq_ignore_ascii_case("User sleep")
}

/// The strategy for a plan, before any KILL is sent.
pub fn choose(o: &Observations) -> KillStrategy {
    if o.sleepers > 0 {
        return KillStrategy::Sequential { batch: 1 };
    }
    if o.kill_user_allowed && o.kill_user_exact {
        return KillStrategy::KillUser;
    }
    let connections = o.max_connections.min(o.victims.div_ceil(MAX_BATCH)).max(1);
    if connections > 1 {
        KillStrategy::Parallel {
            connections,
            batch: MAX_BATCH,
        }
    } else {
        KillStrategy::Sequential { batch: MAX_BATCH }
    }
}

/// The size of the next batch: the strategy's, one KILL at a time once KILLs are seen to
/// contend, and never more than fits, at the cost seen so far (or [`ASSUMED_PER_KILL`]), in a
/// quarter of the time left for sending, so a batch is unlikely to outlive the point where
/// sending stops (the executor ends one that does).
pub fn next_batch(planned: usize, per_kill: Option<Duration>, left_to_send: Duration) -> usize {
    let per_kill = per_kill.unwrap_or(ASSUMED_PER_KILL);
    if per_kill > CONTENDED_PER_KILL {
        return 1;
    }
    let fits = (left_to_send / 4).as_nanos() / per_kill.as_nanos().max(1);
    planned
        .min(usize::try_from(fits).unwrap_or(usize::MAX))
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SessionId;

    fn session(id: u64, command: &str, state: &str) -> Session {
        Session {
            id: SessionId(id),
            user: "app".into(),
            host: "h:1".into(),
            database: Some("shop".into()),
            command: command.into(),
            time: 5,
            state: state.into(),
            sql: None,
            trx_seconds: 0,
            foreground: None,
            started: None,
        }
    }

    fn observed(sessions: &[Session], kill_user: (bool, bool), connections: usize) -> Observations {
        Observations {
            kill_user_exact: kill_user.0,
            kill_user_allowed: kill_user.1,
            max_connections: connections,
            ..Observations::of(sessions)
        }
    }

    #[test]
    fn sleepers_go_one_kill_per_round_trip_whatever_else_is_allowed() {
        let mut s: Vec<Session> = (0..300).map(|i| session(i, "Sleep", "")).collect();
        s.push(session(999, "Query", "User sleep"));
        assert_eq!(
            choose(&observed(&s, (true, true), 8)),
            KillStrategy::Sequential { batch: 1 }
        );
    }

    #[test]
    fn idle_sessions_go_in_full_batches_on_one_connection_by_default() {
        let s: Vec<Session> = (0..5000).map(|i| session(i, "Sleep", "")).collect();
        assert_eq!(
            choose(&observed(&s, (true, false), 1)),
            KillStrategy::Sequential { batch: MAX_BATCH }
        );
    }

    #[test]
    fn lock_waits_and_busy_queries_are_not_contended_kills() {
        for state in [
            "Waiting for table metadata lock",
            "Updating",
            "Sending data",
            "executing",
        ] {
            let s: Vec<Session> = (0..300).map(|i| session(i, "Query", state)).collect();
            assert_eq!(
                choose(&observed(&s, (false, false), 1)),
                KillStrategy::Sequential { batch: MAX_BATCH },
                "{state}"
            );
        }
    }

    #[test]
    fn kill_user_only_when_allowed_exact_and_uncontended() {
        let s: Vec<Session> = (0..100).map(|i| session(i, "Query", "executing")).collect();
        assert_eq!(
            choose(&observed(&s, (true, true), 1)),
            KillStrategy::KillUser
        );
        assert_ne!(
            choose(&observed(&s, (false, true), 1)),
            KillStrategy::KillUser
        );
        assert_ne!(
            choose(&observed(&s, (true, false), 1)),
            KillStrategy::KillUser
        );
    }

    #[test]
    fn parallel_only_when_configured_and_there_is_more_than_a_batch() {
        let small: Vec<Session> = (0..400).map(|i| session(i, "Sleep", "")).collect();
        assert_eq!(
            choose(&observed(&small, (false, false), 4)),
            KillStrategy::Sequential { batch: MAX_BATCH }
        );
        let large: Vec<Session> = (0..1200).map(|i| session(i, "Sleep", "")).collect();
        assert_eq!(
            choose(&observed(&large, (false, false), 4)),
            KillStrategy::Parallel {
                connections: 3,
                batch: MAX_BATCH
            }
        );
    }

    #[test]
    fn batches_shrink_to_what_the_time_left_allows_and_to_one_when_contended() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        assert_eq!(next_batch(500, None, ms(10_000)), 500);
        // 4 ms left: a quarter of it holds 20 KILLs at the assumed 50 µs.
        assert_eq!(next_batch(500, None, ms(4)), 20);
        assert_eq!(next_batch(500, Some(us(20)), ms(10_000)), 500);
        // 400 ms left at 1 ms a KILL: a quarter of it holds 100 KILLs.
        assert_eq!(next_batch(500, Some(ms(1)), ms(400)), 100);
        assert_eq!(next_batch(500, Some(ms(1)), ms(1)), 1);
        assert_eq!(next_batch(500, Some(ms(50)), ms(10_000)), 1);
        assert_eq!(next_batch(1, Some(us(10)), ms(10_000)), 1);
    }
}
