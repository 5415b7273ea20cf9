//! From an authorised db user to a driver that can reach the target: the only place a sealed
//! password is opened.

use std::sync::Arc;

use super::{DbUserAccess, Services};
use crate::engine::{SessionDriver, Target, TargetTls};
use crate::error::{DasError, DasResult};
use crate::secrets::db_user_password_aad;
use crate::store::{DbUserRecord, InstanceRecord};

/// The driver an authorised caller lists and kills through.
pub(super) fn driver_for(
    services: &Services,
    access: &DbUserAccess,
) -> DasResult<Arc<dyn SessionDriver>> {
    driver_of(services, access.instance(), access.db_user())
}

/// The driver of a db user, for work no caller asked for (opening lifelines at start).
pub(super) fn driver_of(
    services: &Services,
    instance: &InstanceRecord,
    db_user: &DbUserRecord,
) -> DasResult<Arc<dyn SessionDriver>> {
    let password = services
        .sealer
        .open(&db_user.sealed_password, &db_user_password_aad(&db_user.id))
        .map_err(|e| DasError::Internal(format!("db user {}: {e}", db_user.id)))?;
    let target = Target {
        datastore: instance.datastore_type,
        host: instance.host.clone(),
        port: instance.port,
        username: db_user.username.clone(),
        password,
        tls: TargetTls::new(instance.tls_mode, instance.tls_ca.as_deref()),
    };
    let kill_port = instance.admin_port.unwrap_or(instance.port);
    Ok(services
        .engines
        .driver(&db_user.id, &db_user.sealed_password, target, kill_port))
}
