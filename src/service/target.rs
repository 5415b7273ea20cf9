//! From a resolved instance and db user to a driver that can reach the target: the only place
//! a sealed password is opened.

use std::sync::Arc;

use crate::engine::{SessionDriver, Target};
use crate::error::{DasError, DasResult};
use crate::http::db_users::password_aad;
use crate::state::AppState;
use crate::store::{DbUserRecord, InstanceRecord};

pub fn driver_for(
    state: &AppState,
    instance: &InstanceRecord,
    db_user: &DbUserRecord,
) -> DasResult<Arc<dyn SessionDriver>> {
    if !instance.datastore_type.is_mysql_family() {
        // Sessions of PostgreSQL instances come with the PostgreSQL driver.
        return Err(DasError::UnsupportedDatastore);
    }
    let password = state
        .sealer
        .open(&db_user.sealed_password, &password_aad(&db_user.id))
        .map_err(|e| DasError::Internal(format!("db user {}: {e}", db_user.id)))?;
    let target = Target {
        datastore: instance.datastore_type,
        host: instance.host.clone(),
        port: instance.port,
        username: db_user.username.clone(),
        password,
    };
    let kill_port = instance.admin_port.unwrap_or(instance.port);
    Ok(state.engines.driver(
        &db_user.id,
        &db_user.sealed_password,
        target,
        kill_port,
        state.timeouts(),
        state.settings.kill_connections,
    ))
}
