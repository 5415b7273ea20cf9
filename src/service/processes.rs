//! ListProcesses: every session the db user can see, filtered by exact user / database, counted,
//! then one page in id order.

use crate::domain::{KillFilter, Session};
use crate::error::DasResult;
use crate::state::AppState;
use crate::store::{DbUserRecord, InstanceRecord, Page};

pub struct ProcessPage {
    pub sessions: Vec<Session>,
    /// All matches, not the page size.
    pub count: usize,
}

pub async fn list_processes(
    state: &AppState,
    instance: &InstanceRecord,
    db_user: &DbUserRecord,
    user: Option<&str>,
    database: Option<&str>,
    page: Page,
) -> DasResult<ProcessPage> {
    let driver = super::target::driver_for(state, instance, db_user)?;
    let filter = KillFilter {
        process_ids: None,
        user: user.map(str::to_owned),
        database: database.map(str::to_owned),
    };
    // The engine narrows on the server; names are compared exactly here.
    let mut sessions: Vec<Session> = driver
        .list(&filter)
        .await?
        .sessions
        .into_iter()
        .filter(|s| user.is_none_or(|u| s.user == u))
        .filter(|s| database.is_none_or(|d| s.database.as_deref() == Some(d)))
        .collect();
    sessions.sort_by_key(|s| s.id);
    let count = sessions.len();
    let start = usize::try_from(page.offset)
        .unwrap_or(usize::MAX)
        .min(count);
    let end = start
        .saturating_add(usize::try_from(page.limit).unwrap_or(0))
        .min(count);
    let mut sessions: Vec<Session> = sessions.drain(start..end).collect();
    // Transaction ages only for the page: INNODB_TRX is read once, for these ids. Without
    // PROCESS the db user may not read it; the ages then stay 0.
    let ids: Vec<_> = sessions.iter().map(|s| s.id).collect();
    match driver.trx_ages(&ids).await {
        Ok(ages) => {
            for s in &mut sessions {
                s.trx_seconds = ages.get(&s.id).copied().unwrap_or(0);
            }
        }
        Err(crate::engine::EngineError::Denied(_)) => {}
        Err(e) => return Err(e.into()),
    }
    Ok(ProcessPage { sessions, count })
}
