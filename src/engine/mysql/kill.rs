//! Sending KILLs: pipelined multi-statement batches on one connection (the fastest per-id method
//! on a busy 2-core server), resuming after the statement that failed, since an error inside a
//! batch ends it; and MariaDB's `KILL USER` where the caller has checked it is exactly equivalent.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, QueryResult, TextProtocol};

use super::connect::map_error;
use crate::domain::{KillType, SessionId};
use crate::engine::{EngineError, KillResult, Timeouts};

/// KILL statements per round trip. 500 amortises the round trip while keeping one batch well
/// under any statement timeout even on a loaded server.
pub const BATCH: usize = 500;

pub fn verb(kill_type: KillType) -> &'static str {
    match kill_type {
        KillType::Connection => "KILL CONNECTION",
        KillType::Query => "KILL QUERY",
    }
}

pub fn batch_sql(kill_type: KillType, ids: &[SessionId]) -> String {
    let verb = verb(kill_type);
    let mut sql = String::with_capacity(ids.len() * (verb.len() + 12));
    for id in ids {
        if !sql.is_empty() {
            sql.push(';');
        }
        sql.push_str(verb);
        sql.push(' ');
        sql.push_str(&id.0.to_string());
    }
    sql
}

/// How one batch ended: how many statements succeeded, and the error that stopped it (the
/// statement right after those), if any.
pub type BatchOutcome = (usize, Option<EngineError>);

/// Runs one batch. `Err` means the connection itself failed and its state is unknown.
pub async fn run_batch(conn: &mut Conn, sql: String) -> Result<BatchOutcome, EngineError> {
    let mut result = match conn.query_iter(sql).await {
        Ok(r) => r,
        Err(e @ mysql_async::Error::Server(_)) => return Ok((0, Some(map_error(e)))),
        Err(e) => return Err(map_error(e)),
    };
    let mut done = 1;
    while !result.is_empty() {
        if let Some(e) = next_answer(&mut result).await? {
            return Ok((done, Some(e)));
        }
        if result.is_empty() {
            // The last answer was read. mysql_async stores an error answer and hands it back only
            // on the following step; left unread it would surface on the connection's next query.
            return Ok(match next_answer(&mut result).await? {
                None => (done + 1, None),
                Some(e) => (done, Some(e)),
            });
        }
        done += 1;
    }
    Ok((done, None))
}

/// One step through a multi-statement answer: `Ok(None)` fine, `Ok(Some(_))` a statement's
/// error, `Err(_)` the connection failed.
async fn next_answer(
    result: &mut QueryResult<'_, '_, TextProtocol>,
) -> Result<Option<EngineError>, EngineError> {
    match result.next().await {
        Ok(_) => Ok(None),
        Err(e @ mysql_async::Error::Server(_)) => Ok(Some(map_error(e))),
        Err(e) => Err(map_error(e)),
    }
}

/// Fills `results` with one answer per id of one batch outcome; returns how many ids it settled.
pub fn settle(
    batch: &[SessionId],
    outcome: BatchOutcome,
    results: &mut Vec<(SessionId, KillResult)>,
) -> usize {
    let at = crate::clock::now_ms();
    let (done, stopped) = outcome;
    results.extend(
        batch[..done]
            .iter()
            .map(|&id| (id, KillResult::Accepted(at))),
    );
    match stopped {
        Some(e) => {
            results.push((batch[done], kill_result(Err(e))));
            done + 1
        }
        None => done,
    }
}

/// Runs `ids` in batches on a connection of its own (a helper of the lifeline). Stops at the
/// first connection failure and returns the answers so far; the caller sends the rest again.
pub async fn kill_on(
    conn: &mut Conn,
    ids: &[SessionId],
    kill_type: KillType,
    timeouts: Timeouts,
) -> Vec<(SessionId, KillResult)> {
    let mut results = Vec::with_capacity(ids.len());
    let mut pos = 0;
    while pos < ids.len() {
        let batch = &ids[pos..(pos + BATCH).min(ids.len())];
        let sql = batch_sql(kill_type, batch);
        match tokio::time::timeout(timeouts.statement, run_batch(conn, sql)).await {
            Ok(Ok(outcome)) => pos += settle(batch, outcome, &mut results),
            _ => break,
        }
    }
    results
}

/// 1094 "Unknown thread id" means the session is gone already; everything else is per session.
pub fn kill_result(outcome: Result<(), EngineError>) -> KillResult {
    match outcome {
        Ok(()) => KillResult::Accepted(crate::clock::now_ms()),
        Err(EngineError::NoSuchSession) => KillResult::NotFound,
        Err(e) => KillResult::Failed(e),
    }
}

/// `KILL [QUERY] USER 'name'` on MariaDB; the number of threads the server signalled (0 also
/// when the account lacks CONNECTION ADMIN: MariaDB then succeeds silently).
pub async fn kill_user(
    conn: &mut Conn,
    kill_type: KillType,
    user: &str,
) -> Result<u64, EngineError> {
    debug_assert!(is_plain_account_name(user));
    let sql = match kill_type {
        KillType::Connection => format!("KILL CONNECTION USER '{user}'"),
        KillType::Query => format!("KILL QUERY USER '{user}'"),
    };
    conn.query_drop(sql).await.map_err(map_error)?;
    Ok(conn.affected_rows())
}

/// Names that need no quoting inside a string literal under any sql_mode.
pub fn is_plain_account_name(user: &str) -> bool {
    !user.is_empty()
        && user.len() <= 80
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.@$".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_plain_kill_statements() {
        let ids = [SessionId(9), SessionId(7)];
        assert_eq!(
            batch_sql(KillType::Connection, &ids),
            "KILL CONNECTION 9;KILL CONNECTION 7"
        );
        assert_eq!(batch_sql(KillType::Query, &ids[..1]), "KILL QUERY 9");
    }

    #[test]
    fn only_plain_names_take_the_kill_user_path() {
        assert!(is_plain_account_name("app_rw-1.x@y$"));
        for bad in ["", "a'b", "a\\b", "a b", "ü", "a;b", &"a".repeat(81)] {
            assert!(!is_plain_account_name(bad), "{bad:?}");
        }
    }
}
