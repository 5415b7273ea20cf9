//! ListProcesses: every session the db user can see, filtered by exact user / database, counted,
//! then one page in id order with the page's transaction ages.

use std::sync::Arc;

use tokio::time::Instant;

use super::target::driver_for;
use super::{DbUserAccess, Services};
use crate::domain::{KillFilter, Role, Session};
use crate::engine::{EngineError, SessionDriver};
use crate::error::DasResult;
use crate::store::Page;

pub struct ProcessPage {
    pub sessions: Vec<Session>,
    /// All matches, not the page size.
    pub count: usize,
}

impl Services {
    /// ListProcesses (viewer).
    #[tracing::instrument(skip_all, fields(instance = %access.instance().id))]
    pub async fn list_processes(
        &self,
        access: &DbUserAccess,
        user: Option<&str>,
        database: Option<&str>,
        page: Page,
    ) -> DasResult<ProcessPage> {
        access.require(Role::Viewer)?;
        let driver = driver_for(self, access)?;
        let filter = KillFilter {
            process_ids: None,
            user: user.map(str::to_owned),
            database: database.map(str::to_owned),
        };
        // The engine narrows on the server; names are compared exactly here.
        let mut sessions: Vec<Session> = driver
            .list(&filter, Instant::now() + self.engines.timeouts().statement)
            .await?
            .sessions
            .into_iter()
            .filter(|s| user.is_none_or(|u| s.user == u))
            .filter(|s| database.is_none_or(|d| s.database.as_deref() == Some(d)))
            .collect();
        sessions.sort_by_key(|s| s.id);
        let count = sessions.len();
        let mut sessions = page_of(sessions, page);
        add_trx_ages(driver, &mut sessions).await?;
        Ok(ProcessPage { sessions, count })
    }
}

fn page_of(mut sessions: Vec<Session>, page: Page) -> Vec<Session> {
    let count = sessions.len();
    let start = usize::try_from(page.offset)
        .unwrap_or(usize::MAX)
        .min(count);
    let end = start
        .saturating_add(usize::try_from(page.limit).unwrap_or(0))
        .min(count);
    sessions.drain(start..end).collect()
}

/// Transaction ages only for the page: INNODB_TRX is read once, for these ids. Without PROCESS
/// the db user may not read it; the ages then stay 0.
pub(super) async fn add_trx_ages(
    driver: Arc<dyn SessionDriver>,
    sessions: &mut [Session],
) -> DasResult<()> {
    let ids: Vec<_> = sessions.iter().map(|s| s.id).collect();
    match driver.trx_ages(&ids).await {
        Ok(ages) => {
            for s in sessions {
                s.trx_seconds = ages.get(&s.id).copied().unwrap_or(0);
            }
            Ok(())
        }
        Err(EngineError::Denied(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
