//! Changing an instance: the new fields are stored, and when the way to reach it changes
//! (address, ports, TLS) every connection to it goes (lifelines, and with them the drivers) and
//! the lifelines open again on the new settings, while the server is presumably healthy.

use super::{InstanceAccess, Services};
use crate::domain::Role;
use crate::error::{DasError, DasResult};
use crate::store::{DbUserFilter, InstanceRecord, Page};

/// Whether `new` reaches the server differently from `old`.
fn reached_differently(old: &InstanceRecord, new: &InstanceRecord) -> bool {
    (
        &old.host,
        old.port,
        old.admin_port,
        old.tls_mode,
        &old.tls_ca,
    ) != (
        &new.host,
        new.port,
        new.admin_port,
        new.tls_mode,
        &new.tls_ca,
    )
}

impl Services {
    /// UpdateInstance (admin): stores `updated` (the checked result of the caller's changes).
    #[tracing::instrument(skip_all, fields(instance = %access.instance().id))]
    pub async fn update_instance(
        &self,
        access: &InstanceAccess,
        updated: InstanceRecord,
    ) -> DasResult<()> {
        access.project().require(Role::Admin)?;
        let old = access.instance();
        if updated.id != old.id || updated.project_id != old.project_id {
            return Err(DasError::Internal(
                "an update may not move an instance".into(),
            ));
        }
        if !self.store.update_instance(&updated).await? {
            return Err(DasError::BadInstanceId);
        }
        if reached_differently(old, &updated) {
            let (db_users, _) = self
                .store
                .list_db_users(&updated.id, &DbUserFilter::default(), Page::ALL)
                .await?;
            for db_user in &db_users {
                self.engines.evict(&db_user.id);
                self.warm(&updated, db_user);
            }
        }
        Ok(())
    }
}
