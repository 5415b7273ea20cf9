//! Sending `pg_terminate_backend` / `pg_cancel_backend` to many sessions at once: one statement
//! per chunk of pids that checks each pid's start and the db user's right to signal it (see
//! [`super::sql::signal`]), answering per session; and one statement per pid when a chunk's
//! statement is refused as a whole.

use std::collections::HashMap;

use sqlx::postgres::PgConnection;
use tokio::time::Instant;

use super::connect::map_error;
use crate::domain::{KillType, SessionId};
use crate::engine::{EngineError, KillResult};

/// Pids per statement: one statement's signals are all sent before its answer comes back, so
/// a chunk bounds what is left unanswered when the server stops answering mid-way.
pub const CHUNK: usize = 1000;

/// One chunk's statement: each pid's result, or the statement's own error.
pub async fn signal_chunk(
    conn: &mut PgConnection,
    ids: &[SessionId],
    started: &HashMap<SessionId, i64>,
    kill_type: KillType,
    deadline: Instant,
) -> Result<Vec<(SessionId, KillResult)>, EngineError> {
    let pids: Vec<i32> = ids.iter().map(|id| pid_of(*id)).collect();
    // A session without a known start cannot be told from a newer one: NULL never matches.
    let starts: Vec<Option<i64>> = ids.iter().map(|id| started.get(id).copied()).collect();
    let sql = super::sql::signal(kill_type);
    let rows: Vec<(i32, String)> = tokio::time::timeout_at(
        deadline,
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&pids)
            .bind(&starts)
            .fetch_all(&mut *conn),
    )
    .await
    .map_err(|_| EngineError::StatementTimeout)?
    .map_err(map_error)?;
    let at = crate::clock::now_ms();
    let outcomes: HashMap<i32, String> = rows.into_iter().collect();
    Ok(ids
        .iter()
        .map(|id| {
            (
                *id,
                result_of(outcomes.get(&pid_of(*id)).map(String::as_str), at),
            )
        })
        .collect())
}

/// What one row's outcome means; no row: the pid is gone, or now names another session.
fn result_of(outcome: Option<&str>, at: i64) -> KillResult {
    match outcome {
        Some("signalled") => KillResult::Accepted(at),
        Some("denied_superuser") => KillResult::Failed(EngineError::Denied(
            "must be a superuser to signal a superuser's or a server process".into(),
        )),
        Some("denied") => KillResult::Failed(EngineError::Denied(
            "must be a member of the session's role or of pg_signal_backend".into(),
        )),
        _ => KillResult::NotFound,
    }
}

fn pid_of(id: SessionId) -> i32 {
    i32::try_from(id.0).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_map_to_kill_results() {
        assert!(matches!(
            result_of(Some("signalled"), 5),
            KillResult::Accepted(5)
        ));
        assert!(matches!(
            result_of(Some("denied"), 5),
            KillResult::Failed(EngineError::Denied(_))
        ));
        assert!(matches!(
            result_of(Some("denied_superuser"), 5),
            KillResult::Failed(EngineError::Denied(_))
        ));
        assert!(matches!(result_of(Some("gone"), 5), KillResult::NotFound));
        assert!(matches!(result_of(None, 5), KillResult::NotFound));
    }

    #[test]
    fn an_id_beyond_a_pid_never_matches_a_real_one() {
        assert_eq!(pid_of(SessionId(u64::MAX)), i32::MAX);
        assert_eq!(pid_of(SessionId(4242)), 4242);
    }
}
