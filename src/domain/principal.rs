//! Who is calling, once authenticated: the user, the project a token is scoped to, the roles the
//! user holds, and the channel the call came through (written to the kill history).

use super::{ProjectId, Role, UserId};

#[derive(Clone, Debug)]
pub struct Principal {
    pub user_id: UserId,
    pub user_name: String,
    /// The user is a global admin; see [`Principal::is_global_admin`] for what a scope changes.
    pub global_admin: bool,
    /// A project-scoped token acts only in this project.
    pub scope: Option<ProjectId>,
    pub roles: Vec<(ProjectId, Role)>,
    /// How the caller authenticated, for history: `api`, `console` or `cli`.
    pub channel: &'static str,
}

impl Principal {
    /// The strongest role this caller holds on `project`, honouring a token's scope.
    pub fn role_in(&self, project: &ProjectId) -> Option<Role> {
        if self.scope.as_ref().is_some_and(|s| s != project) {
            return None;
        }
        if self.global_admin {
            return Some(Role::Admin);
        }
        self.roles
            .iter()
            .filter(|(p, _)| p == project)
            .map(|(_, r)| *r)
            .max()
    }

    /// Creating projects and users is reserved to the global admin acting unscoped.
    pub fn is_global_admin(&self) -> bool {
        self.global_admin && self.scope.is_none()
    }

    /// `api:<user name>` and friends, as written to the kill history.
    pub fn source(&self) -> String {
        format!("{}:{}", self.channel, self.user_name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(
        admin: bool,
        scope: Option<&ProjectId>,
        roles: Vec<(ProjectId, Role)>,
    ) -> Principal {
        Principal {
            user_id: UserId::new_random(),
            user_name: "u".into(),
            global_admin: admin,
            scope: scope.cloned(),
            roles,
            channel: "api",
        }
    }

    #[test]
    fn scope_limits_every_role() {
        let a = ProjectId::new_random();
        let b = ProjectId::new_random();
        let admin = principal(true, None, vec![]);
        assert_eq!(admin.role_in(&b), Some(Role::Admin));
        let scoped_admin = principal(true, Some(&a), vec![]);
        assert_eq!(scoped_admin.role_in(&a), Some(Role::Admin));
        assert_eq!(scoped_admin.role_in(&b), None);
        assert!(!scoped_admin.is_global_admin());
        let op = principal(
            false,
            None,
            vec![(a.clone(), Role::Viewer), (a.clone(), Role::Operator)],
        );
        assert_eq!(op.role_in(&a), Some(Role::Operator));
        assert_eq!(op.role_in(&b), None);
    }

    #[test]
    fn the_source_names_channel_and_user() {
        let mut p = principal(false, None, vec![]);
        p.channel = "console";
        assert_eq!(p.source(), "console:u");
    }
}
