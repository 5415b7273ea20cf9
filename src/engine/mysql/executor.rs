//! Sending a kill order's KILLs within its time. Batches are sized by what the KILLs so far cost
//! and by the time left ([`next_batch`]). A batch still running when sending must stop is ended
//! at its next statement by `KILL QUERY` on the sending connection, from a fresh connection, and
//! waited for; a batch the server no longer answers is given up at the order's `give_up`, its
//! unanswered KILLs left [`KillResult::Unanswered`] for verification to decide.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::time::{Instant, sleep_until, timeout_at};

use super::MysqlDriver;
use super::connect::connect;
use super::kill::{BatchEnd, batch_sql, kill_result, run_batch};
use crate::domain::{KillType, SessionId};
use crate::engine::{EngineError, KillResult, Target, Timeouts};
use crate::planner::next_batch;

pub(super) type Results = Vec<(SessionId, KillResult)>;

/// When sending stops and when waiting for answers ends.
#[derive(Clone, Copy, Debug)]
pub(super) struct Timing {
    pub kill_type: KillType,
    pub stop_sending: Instant,
    pub give_up: Instant,
}

/// Why a connection stopped taking batches.
#[derive(Debug)]
pub(super) enum Stopped {
    /// Every id it was given is settled (sent and answered, or not sent: time ran out).
    Done,
    /// The connection failed; the ids it did not settle were not sent on it.
    Lost(EngineError),
    /// The server stopped answering; the connection must be dropped.
    Stalled,
}

/// Sends KILLs on connections to one server.
#[derive(Clone)]
pub(super) struct Sender {
    pub target: Target,
    pub port: u16,
    pub timeouts: Timeouts,
    pub timing: Timing,
}

impl Sender {
    /// Sends `ids` in batches of at most `batch` on `conn` (server thread `conn_id`), pushing
    /// one result per id it settles; returns how many it settled and why it stopped.
    pub async fn run(
        &self,
        conn: &mut Conn,
        ids: &[SessionId],
        batch: usize,
        results: &mut Results,
    ) -> (usize, Stopped) {
        let conn_id = conn.id();
        let mut pos = 0;
        let mut per_kill: Option<Duration> = None;
        while pos < ids.len() {
            let now = Instant::now();
            if now >= self.timing.stop_sending {
                results.extend(ids[pos..].iter().map(|&id| (id, KillResult::NotAttempted)));
                return (ids.len(), Stopped::Done);
            }
            let size = next_batch(batch, per_kill, self.timing.stop_sending - now);
            let chunk = &ids[pos..(pos + size).min(ids.len())];
            let sent_at = crate::clock::now_ms();
            let accepted = AtomicUsize::new(0);
            let sql = batch_sql(self.timing.kill_type, chunk);
            let Some(end) = self.send(conn, conn_id, sql, &accepted).await else {
                let answered = accepted.load(Ordering::Relaxed).min(chunk.len());
                settle_accepted(&chunk[..answered], results);
                unanswered(&chunk[answered..], sent_at, results);
                return (pos + chunk.len(), Stopped::Stalled);
            };
            per_kill = Some(now.elapsed() / u32::try_from(end.accepted + 1).unwrap_or(u32::MAX));
            pos += settle(chunk, &end, sent_at, results);
            if let Some(e) = end.lost {
                return (pos, Stopped::Lost(e));
            }
        }
        (pos, Stopped::Done)
    }

    /// One batch: `None` when the server did not finish answering it by `give_up`.
    async fn send(
        &self,
        conn: &mut Conn,
        conn_id: u32,
        sql: String,
        accepted: &AtomicUsize,
    ) -> Option<BatchEnd> {
        let batch = run_batch(conn, sql, accepted);
        tokio::pin!(batch);
        tokio::select! {
            end = &mut batch => return Some(end),
            _ = sleep_until(self.timing.stop_sending) => {}
        }
        // Sending must stop and this batch still runs: the server checks for a KILL QUERY
        // between statements, so the rest of the batch is not run.
        self.stop_statement_of(conn_id).await;
        timeout_at(self.timing.give_up, batch).await.ok()
    }

    /// `KILL QUERY <conn_id>` from a fresh connection; bounded by `give_up`. If it cannot get in
    /// (a full or stalled server), the batch runs to its end or is given up.
    async fn stop_statement_of(&self, conn_id: u32) {
        let until = self.timing.give_up;
        let left = until.saturating_duration_since(Instant::now());
        let timeouts = Timeouts {
            connect: self.timeouts.connect.min(left),
            statement: self.timeouts.statement.min(left),
        };
        let stopped = timeout_at(until, async {
            let mut conn = connect(&self.target, self.port, timeouts).await?;
            let done = conn.query_drop(format!("KILL QUERY {conn_id}")).await;
            let _ = conn.disconnect().await;
            done.map_err(super::connect::map_error)
        })
        .await;
        if !matches!(stopped, Ok(Ok(()))) {
            tracing::debug!("could not stop the KILL batch of connection {conn_id}: {stopped:?}");
        }
    }
}

impl MysqlDriver {
    /// Sends `ids` on the lifeline (reopened once if lost), holding it for the whole kill.
    pub(super) async fn on_lifeline(
        &self,
        sender: &Sender,
        ids: &[SessionId],
        batch: usize,
    ) -> Results {
        let mut results = Vec::with_capacity(ids.len());
        let stop = sender.timing.stop_sending;
        let Ok(mut guard) = timeout_at(stop, self.lifeline.lock()).await else {
            unsent(ids, EngineError::StatementTimeout, stop, &mut results);
            return results;
        };
        let mut pos = 0;
        let mut reopened = false;
        while pos < ids.len() {
            if guard.is_none() {
                match self.open(sender.timing.stop_sending).await {
                    Ok(line) => *guard = Some(line),
                    Err(e) => {
                        unsent(&ids[pos..], e, sender.timing.stop_sending, &mut results);
                        break;
                    }
                }
            }
            let line = guard.as_mut().expect("opened above");
            let (n, stopped) = sender
                .run(&mut line.conn, &ids[pos..], batch, &mut results)
                .await;
            pos += n;
            match stopped {
                Stopped::Done => {}
                Stopped::Lost(e) => {
                    *guard = None;
                    self.set_current(None);
                    if reopened {
                        unsent(&ids[pos..], e, sender.timing.stop_sending, &mut results);
                        break;
                    }
                    reopened = true;
                }
                Stopped::Stalled => {
                    *guard = None;
                    self.set_current(None);
                    unsent(
                        &ids[pos..],
                        EngineError::StatementTimeout,
                        Instant::now(),
                        &mut results,
                    );
                    break;
                }
            }
        }
        results
    }

    /// Batch `i` goes to connection `i % connections`, keeping newest-first order within each
    /// share; the lifeline is connection 0 and takes the share of any helper that cannot connect.
    pub(super) async fn in_parallel(
        &self,
        sender: &Sender,
        ids: &[SessionId],
        connections: usize,
        batch: usize,
    ) -> Results {
        let shares: Vec<Vec<SessionId>> = (0..connections)
            .map(|w| {
                ids.chunks(batch)
                    .skip(w)
                    .step_by(connections)
                    .flatten()
                    .copied()
                    .collect()
            })
            .collect();
        let mut tasks = tokio::task::JoinSet::new();
        for (i, share) in shares.iter().enumerate().skip(1) {
            let (sender, share) = (sender.clone(), share.clone());
            tasks.spawn(async move { (i, helper(&sender, &share, batch).await) });
        }
        let mut results = self.on_lifeline(sender, &shares[0], batch).await;
        while let Some(joined) = tasks.join_next().await {
            let Ok((i, (done, stalled))) = joined else {
                continue;
            };
            let rest = &shares[i][done.len()..];
            results.extend(done);
            if stalled {
                unsent(
                    rest,
                    EngineError::StatementTimeout,
                    Instant::now(),
                    &mut results,
                );
            } else {
                results.extend(self.on_lifeline(sender, rest, batch).await);
            }
        }
        // A helper that panicked answered nothing: its ids were sent or not, nobody knows.
        let answered: HashSet<SessionId> = results.iter().map(|(id, _)| *id).collect();
        let now = crate::clock::now_ms();
        results.extend(
            ids.iter()
                .filter(|id| !answered.contains(id))
                .map(|&id| (id, KillResult::Unanswered(now))),
        );
        results
    }
}

/// One helper connection's share: its results, and whether the server stopped answering it.
async fn helper(sender: &Sender, share: &[SessionId], batch: usize) -> (Results, bool) {
    let mut results = vec![];
    let left = sender
        .timing
        .stop_sending
        .saturating_duration_since(Instant::now());
    let timeouts = Timeouts {
        connect: sender.timeouts.connect.min(left),
        ..sender.timeouts
    };
    // No connection (a full server): the lifeline takes the share.
    let Ok(mut conn) = connect(&sender.target, sender.port, timeouts).await else {
        return (results, false);
    };
    let (_, stopped) = sender.run(&mut conn, share, batch, &mut results).await;
    let stalled = matches!(stopped, Stopped::Stalled);
    if !stalled {
        let _ = timeout_at(sender.timing.give_up, conn.disconnect()).await;
    }
    (results, stalled)
}

/// Ids no KILL was sent for: not attempted once sending had to stop, else failed with `e`.
fn unsent(ids: &[SessionId], e: EngineError, stop_sending: Instant, results: &mut Results) {
    let past = Instant::now() >= stop_sending;
    results.extend(ids.iter().map(|&id| {
        let r = if past {
            KillResult::NotAttempted
        } else {
            KillResult::Failed(e.clone())
        };
        (id, r)
    }));
}

/// One result per id of `chunk` the batch settled; returns how many.
fn settle(chunk: &[SessionId], end: &BatchEnd, sent_at: i64, results: &mut Results) -> usize {
    let accepted = end.accepted.min(chunk.len());
    settle_accepted(&chunk[..accepted], results);
    match (&end.stopped_by, &end.lost) {
        (Some(_), _) if accepted == chunk.len() => accepted,
        // Stopped by KILL QUERY at the deadline: this statement may or may not have run.
        (Some(EngineError::Interrupted), _) => {
            unanswered(&chunk[accepted..=accepted], sent_at, results);
            accepted + 1
        }
        (Some(e), _) => {
            results.push((chunk[accepted], kill_result(Err(e.clone()))));
            accepted + 1
        }
        // The connection failed with these KILLs delivered: any of them may have run.
        (None, Some(_)) => {
            unanswered(&chunk[accepted..], sent_at, results);
            chunk.len()
        }
        _ => accepted,
    }
}

fn settle_accepted(ids: &[SessionId], results: &mut Results) {
    let at = crate::clock::now_ms();
    results.extend(ids.iter().map(|&id| (id, KillResult::Accepted(at))));
}

fn unanswered(ids: &[SessionId], sent_at: i64, results: &mut Results) {
    results.extend(ids.iter().map(|&id| (id, KillResult::Unanswered(sent_at))));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u64) -> Vec<SessionId> {
        (1..=n).map(SessionId).collect()
    }

    fn end(accepted: usize, stopped_by: Option<EngineError>, lost: bool) -> BatchEnd {
        BatchEnd {
            accepted,
            stopped_by,
            lost: lost.then(|| EngineError::Unreachable("reset".into())),
        }
    }

    fn kinds(results: &Results) -> Vec<&'static str> {
        results
            .iter()
            .map(|(_, r)| match r {
                KillResult::Accepted(_) => "accepted",
                KillResult::NotFound => "not_found",
                KillResult::Failed(_) => "failed",
                KillResult::Unanswered(_) => "unanswered",
                KillResult::NotAttempted => "not_attempted",
            })
            .collect()
    }

    #[test]
    fn a_batch_settles_up_to_the_statement_that_ended_it() {
        let chunk = ids(4);
        let mut r = vec![];
        assert_eq!(settle(&chunk, &end(4, None, false), 1, &mut r), 4);
        assert_eq!(kinds(&r), ["accepted"; 4]);

        let mut r = vec![];
        let n = settle(
            &chunk,
            &end(1, Some(EngineError::NoSuchSession), false),
            1,
            &mut r,
        );
        assert_eq!((n, kinds(&r)), (2, vec!["accepted", "not_found"]));

        let mut r = vec![];
        let n = settle(
            &chunk,
            &end(2, Some(EngineError::Interrupted), false),
            1,
            &mut r,
        );
        assert_eq!(
            (n, kinds(&r)),
            (3, vec!["accepted", "accepted", "unanswered"])
        );

        let mut r = vec![];
        let n = settle(&chunk, &end(1, None, true), 1, &mut r);
        assert_eq!(
            (n, kinds(&r)),
            (
                4,
                vec!["accepted", "unanswered", "unanswered", "unanswered"]
            )
        );
    }
}
