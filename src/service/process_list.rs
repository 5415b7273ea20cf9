//! ListPostgresProcesses (`pg/query-process-list`): one listing of the instance through its
//! default db user (the one kill rules act as), then the pure [`process_list`] for the rows and
//! the statistics, then the transaction ages of the page's rows only.

use tokio::time::Instant;

use super::processes::add_trx_ages;
use super::target::driver_for;
use super::{InstanceAccess, Services};
use crate::domain::{KillFilter, Role};
use crate::error::DasResult;
use crate::process_list::{ListQuery, ProcessList, process_list};

impl Services {
    /// ListPostgresProcesses (viewer); on any engine.
    #[tracing::instrument(skip_all, fields(instance = %access.instance().id))]
    pub async fn query_process_list(
        &self,
        access: &InstanceAccess,
        query: &ListQuery,
    ) -> DasResult<ProcessList> {
        access.project().require(Role::Viewer)?;
        let db_user = self.rule_db_user(access, None).await?;
        let driver = driver_for(self, &db_user)?;
        let until = Instant::now() + self.engines.timeouts().statement;
        let snap = driver.list(&KillFilter::default(), until).await?;
        let mut list = process_list(snap.sessions, query);
        add_trx_ages(driver, &mut list.page).await?;
        Ok(list)
    }
}
