//! Lifelines are opened while targets are healthy: for every registered db user at start, and
//! for a db user as soon as it is registered, so a kill still gets in when a server is full.

use crate::error::DasResult;
use crate::state::AppState;
use crate::store::{DbUserFilter, DbUserRecord, InstanceRecord, Page};

const ALL: Page = Page {
    offset: 0,
    limit: i64::MAX,
};

/// Creates the driver (which opens and keeps its lifeline) of one db user.
pub fn warm(state: &AppState, instance: &InstanceRecord, db_user: &DbUserRecord) {
    if let Err(e) = super::target::driver_for(state, instance, db_user) {
        tracing::debug!("no lifeline for db user {}: {e}", db_user.id);
    }
}

/// Creates the drivers of every registered db user of a MySQL-family instance.
pub async fn warm_all(state: &AppState) -> DasResult<usize> {
    let mut count = 0;
    for project in state.store.list_projects().await? {
        let (instances, _) = state.store.list_instances(&project.id, ALL).await?;
        for instance in instances
            .iter()
            .filter(|i| i.datastore_type.is_mysql_family())
        {
            let (db_users, _) = state
                .store
                .list_db_users(&instance.id, &DbUserFilter::default(), ALL)
                .await?;
            for db_user in &db_users {
                warm(state, instance, db_user);
                count += 1;
            }
        }
    }
    Ok(count)
}
