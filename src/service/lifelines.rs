//! Lifelines are opened while targets are healthy: for every registered db user at start, and
//! for a db user as soon as it is registered, so a kill still gets in when a server is full.

use super::Services;
use super::target::driver_of;
use crate::error::DasResult;
use crate::store::{DbUserFilter, DbUserRecord, InstanceRecord, Page};

impl Services {
    /// Creates the driver (which opens and keeps its lifeline) of one db user; false for
    /// engines without a driver, which have nothing to open.
    pub(super) fn warm(&self, instance: &InstanceRecord, db_user: &DbUserRecord) -> bool {
        match driver_of(self, instance, db_user) {
            Ok(_) => true,
            Err(e) => {
                tracing::debug!("no lifeline for db user {}: {e}", db_user.id);
                false
            }
        }
    }

    /// Creates the drivers of every registered db user; returns how many were created.
    #[tracing::instrument(skip_all)]
    pub async fn warm_all(&self) -> DasResult<usize> {
        let mut count = 0;
        for project in self.store.list_projects().await? {
            let (instances, _) = self.store.list_instances(&project.id, Page::ALL).await?;
            for instance in &instances {
                let (db_users, _) = self
                    .store
                    .list_db_users(&instance.id, &DbUserFilter::default(), Page::ALL)
                    .await?;
                for db_user in &db_users {
                    count += usize::from(self.warm(instance, db_user));
                }
            }
        }
        Ok(count)
    }
}
