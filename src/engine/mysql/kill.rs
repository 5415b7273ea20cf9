//! The KILL statements: pipelined multi-statement batches (one round trip for up to
//! [`crate::planner::MAX_BATCH`] KILLs), read answer by answer; what one KILL's error means; and
//! MariaDB's `KILL USER` where the caller has checked it is exactly equivalent.

use std::sync::atomic::{AtomicUsize, Ordering};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, QueryResult, TextProtocol};

use super::connect::map_error;
use crate::domain::{KillType, SessionId};
use crate::engine::{EngineError, KillResult};

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

/// How one batch ended: how many statements the server accepted, the error that stopped it (the
/// statement right after those), and, when the connection itself failed, why (its state is then
/// unknown and it must not be reused).
#[derive(Debug)]
pub struct BatchEnd {
    pub accepted: usize,
    pub stopped_by: Option<EngineError>,
    pub lost: Option<EngineError>,
}

/// Runs one batch, counting accepted KILLs into `accepted` as their answers arrive, so a caller
/// that stops waiting still knows how far the server got.
pub async fn run_batch(conn: &mut Conn, sql: String, accepted: &AtomicUsize) -> BatchEnd {
    let end = |n: usize, stopped_by, lost| {
        accepted.store(n, Ordering::Relaxed);
        BatchEnd {
            accepted: n,
            stopped_by,
            lost,
        }
    };
    let mut result = match conn.query_iter(sql).await {
        Ok(r) => r,
        Err(e @ mysql_async::Error::Server(_)) => return end(0, Some(map_error(e)), None),
        Err(e) => return end(0, None, Some(map_error(e))),
    };
    let mut done = 1;
    while !result.is_empty() {
        accepted.store(done, Ordering::Relaxed);
        match next_answer(&mut result).await {
            Err(e) => return end(done, None, Some(e)),
            Ok(Some(e)) => return end(done, Some(e), None),
            Ok(None) => {}
        }
        if result.is_empty() {
            // The last answer was read. mysql_async stores an error answer and hands it back only
            // on the following step; left unread it would surface on the connection's next query.
            return match next_answer(&mut result).await {
                Ok(None) => end(done + 1, None, None),
                Ok(Some(e)) => end(done, Some(e), None),
                Err(e) => end(done, None, Some(e)),
            };
        }
        done += 1;
    }
    end(done, None, None)
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
