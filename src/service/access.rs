//! Authorisation as a type. A [`ProjectAccess`], [`InstanceAccess`] or [`DbUserAccess`] can only
//! be made here, after the checks in the contract's order: credentials (the caller is a
//! [`Principal`]) → path ids (parsed by the caller) → role on the project (403 whether or not the
//! project exists) → existence of the project, instance and db user (400 with their codes).
//! Every operation on a target takes one, so code that was not authorised cannot reach a driver.

use super::Services;
use crate::domain::{DbUserId, InstanceId, Principal, ProjectId, Role};
use crate::error::{DasError, DasResult};
use crate::store::{DbUserRecord, InstanceRecord, ProjectRecord};

/// A caller holding `role` on an existing project.
#[derive(Clone, Debug)]
pub struct ProjectAccess {
    project: ProjectRecord,
    role: Role,
}

/// A [`ProjectAccess`] and an instance of that project.
#[derive(Clone, Debug)]
pub struct InstanceAccess {
    project: ProjectAccess,
    instance: InstanceRecord,
}

/// An [`InstanceAccess`] and a db user registered on that instance.
#[derive(Clone, Debug)]
pub struct DbUserAccess {
    instance: InstanceAccess,
    db_user: DbUserRecord,
}

impl ProjectAccess {
    pub fn project(&self) -> &ProjectRecord {
        &self.project
    }

    pub fn role(&self) -> Role {
        self.role
    }

    /// Refuses an operation that needs more than the role this access was granted with.
    pub fn require(&self, needed: Role) -> DasResult<()> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(DasError::Forbidden)
        }
    }
}

impl InstanceAccess {
    pub fn project(&self) -> &ProjectAccess {
        &self.project
    }

    pub fn instance(&self) -> &InstanceRecord {
        &self.instance
    }
}

impl DbUserAccess {
    pub fn instance_access(&self) -> &InstanceAccess {
        &self.instance
    }

    pub fn instance(&self) -> &InstanceRecord {
        &self.instance.instance
    }

    pub fn db_user(&self) -> &DbUserRecord {
        &self.db_user
    }

    pub fn require(&self, needed: Role) -> DasResult<()> {
        self.instance.project.require(needed)
    }
}

impl Services {
    /// Checks `needed` on `project`, then that the project exists.
    pub async fn project_access(
        &self,
        caller: &Principal,
        project: &ProjectId,
        needed: Role,
    ) -> DasResult<ProjectAccess> {
        let role = caller.role_in(project).ok_or(DasError::Forbidden)?;
        if !role.allows(needed) {
            return Err(DasError::Forbidden);
        }
        let project = self
            .store
            .get_project(project)
            .await?
            .ok_or(DasError::BadProjectId)?;
        Ok(ProjectAccess { project, role })
    }

    /// [`Services::project_access`], then that the instance exists in that project.
    pub async fn instance_access(
        &self,
        caller: &Principal,
        project: &ProjectId,
        instance: &InstanceId,
        needed: Role,
    ) -> DasResult<InstanceAccess> {
        let project = self.project_access(caller, project, needed).await?;
        let instance = self
            .store
            .get_instance(&project.project.id, instance)
            .await?
            .ok_or(DasError::BadInstanceId)?;
        Ok(InstanceAccess { project, instance })
    }

    /// The db user exists and belongs to the instance, otherwise DAS.200112.
    pub async fn db_user_access(
        &self,
        access: InstanceAccess,
        db_user: &DbUserId,
    ) -> DasResult<DbUserAccess> {
        match self.store.get_db_user(db_user).await? {
            Some(u) if u.instance_id == access.instance.id => Ok(DbUserAccess {
                instance: access,
                db_user: u,
            }),
            _ => Err(DasError::BadDbUserId),
        }
    }
}

impl Services {
    /// The instance as the rule runner acts on it: rules were added by an operator of its
    /// project, and run on that grant until they stop. `None` when the instance is gone.
    pub(super) async fn rule_runner_access(
        &self,
        project: &ProjectId,
        instance: &InstanceId,
    ) -> DasResult<Option<InstanceAccess>> {
        let Some(project) = self.store.get_project(project).await? else {
            return Ok(None);
        };
        let Some(instance) = self.store.get_instance(&project.id, instance).await? else {
            return Ok(None);
        };
        Ok(Some(InstanceAccess {
            project: ProjectAccess {
                project,
                role: Role::Operator,
            },
            instance,
        }))
    }
}
