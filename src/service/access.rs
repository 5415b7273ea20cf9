//! The order of checks is part of the contract: role on the project (403, whether or not the
//! project exists) → existence of the project / instance / db user (400 with their codes).

use crate::domain::{DbUserId, InstanceId, ProjectId, Role};
use crate::error::{DasError, DasResult};
use crate::http::auth::Principal;
use crate::store::{DbUserRecord, InstanceRecord, ProjectRecord, Store};

/// Proof that a caller holds at least some role on an existing project.
#[derive(Clone, Debug)]
pub struct Access {
    pub project: ProjectRecord,
    pub role: Role,
}

/// Checks `needed` on `project`, then that the project exists.
pub async fn authorize(
    store: &dyn Store,
    caller: &Principal,
    project: &ProjectId,
    needed: Role,
) -> DasResult<Access> {
    let role = caller.role_in(project).ok_or(DasError::Forbidden)?;
    if !role.allows(needed) {
        return Err(DasError::Forbidden);
    }
    let project = store
        .get_project(project)
        .await?
        .ok_or(DasError::BadProjectId)?;
    Ok(Access { project, role })
}

pub async fn resolve_instance(
    store: &dyn Store,
    access: &Access,
    id: &InstanceId,
) -> DasResult<InstanceRecord> {
    store
        .get_instance(&access.project.id, id)
        .await?
        .ok_or(DasError::BadInstanceId)
}

/// A db user exists and belongs to `instance`, otherwise DAS.200112.
pub async fn resolve_db_user(
    store: &dyn Store,
    instance: &InstanceRecord,
    id: &DbUserId,
) -> DasResult<DbUserRecord> {
    match store.get_db_user(id).await? {
        Some(u) if u.instance_id == instance.id => Ok(u),
        _ => Err(DasError::BadDbUserId),
    }
}
