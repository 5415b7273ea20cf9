//! The path ids of a project, instance or db user, parsed with their DAS codes, and the one call
//! that turns them and the caller into an access value of the service. Handlers take one of
//! these extractors after the [`Principal`], so checks run in the contract's order: credentials
//! → path ids → role → existence.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::extract::{PathParams, db_user_id, instance_id, project_id};
use crate::domain::{DbUserId, InstanceId, Principal, ProjectId, Role};
use crate::error::{DasError, DasResult};
use crate::service::{DbUserAccess, InstanceAccess, ProjectAccess};

/// `/v3/{project_id}/…`
pub struct ProjectPath(pub ProjectId);

/// `/v3/{project_id}/instances/{instance_id}/…`
pub struct InstancePath {
    pub project: ProjectId,
    pub instance: InstanceId,
}

/// `/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}`
pub struct DbUserPath {
    pub instance: InstancePath,
    pub db_user: DbUserId,
}

impl ProjectPath {
    pub async fn access(
        &self,
        state: &AppState,
        caller: &Principal,
        needed: Role,
    ) -> DasResult<ProjectAccess> {
        state.services.project_access(caller, &self.0, needed).await
    }
}

impl InstancePath {
    pub async fn access(
        &self,
        state: &AppState,
        caller: &Principal,
        needed: Role,
    ) -> DasResult<InstanceAccess> {
        state
            .services
            .instance_access(caller, &self.project, &self.instance, needed)
            .await
    }
}

impl DbUserPath {
    pub async fn access(
        &self,
        state: &AppState,
        caller: &Principal,
        needed: Role,
    ) -> DasResult<DbUserAccess> {
        let access = self.instance.access(state, caller, needed).await?;
        state.services.db_user_access(access, &self.db_user).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ProjectPath {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DasError> {
        let PathParams(project) = PathParams::<String>::from_request_parts(parts, state).await?;
        Ok(Self(project_id(&project)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DasError> {
        let PathParams((project, instance)) =
            PathParams::<(String, String)>::from_request_parts(parts, state).await?;
        Ok(Self {
            project: project_id(&project)?,
            instance: instance_id(&instance)?,
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for DbUserPath {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, DasError> {
        let PathParams((project, instance, db_user)) =
            PathParams::<(String, String, String)>::from_request_parts(parts, state).await?;
        Ok(Self {
            instance: InstancePath {
                project: project_id(&project)?,
                instance: instance_id(&instance)?,
            },
            db_user: db_user_id(&db_user)?,
        })
    }
}
