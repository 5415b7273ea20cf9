//! Who is calling: the `X-Auth-Token` header (later also an AK/SK signature) becomes a
//! [`Principal`] with its roles. Every route except the open ones takes a `Principal`.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppState, SignedCaller};
use crate::domain::{ProjectId, Role};
use crate::error::DasError;
use crate::secrets::hash_token;
use crate::store::UserRecord;

#[derive(Clone, Debug)]
pub struct Principal {
    pub user: UserRecord,
    /// A project-scoped token acts only in this project.
    pub scope: Option<ProjectId>,
    pub roles: Vec<(ProjectId, Role)>,
    /// How the caller authenticated, for history: `api`, later `console`.
    pub channel: &'static str,
}

impl Principal {
    /// The strongest role this caller holds on `project`, honouring a token's scope.
    pub fn role_in(&self, project: &ProjectId) -> Option<Role> {
        if self.scope.as_ref().is_some_and(|s| s != project) {
            return None;
        }
        if self.user.is_global_admin {
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
        self.user.is_global_admin && self.scope.is_none()
    }

    /// `api:<user name>` and friends, as written to the kill history.
    pub fn source(&self) -> String {
        format!("{}:{}", self.channel, self.user.name)
    }
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = DasError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, DasError> {
        if let Some(signed) = parts.extensions.get::<SignedCaller>().cloned() {
            let user =
                state
                    .store
                    .get_user(&signed.user_id)
                    .await?
                    .ok_or(DasError::Unauthenticated(
                        "the access key's user no longer exists",
                    ))?;
            let roles = state.store.roles_of(&user.id).await?;
            return Ok(Principal {
                user,
                scope: None,
                roles,
                channel: "api",
            });
        }
        let token = parts
            .headers
            .get("x-auth-token")
            .ok_or(DasError::Unauthenticated("no X-Auth-Token header"))?
            .to_str()
            .map_err(|_| DasError::Unauthenticated("the token is not valid"))?
            .trim();
        if token.is_empty() || token.len() > 512 {
            return Err(DasError::Unauthenticated("the token is not valid"));
        }
        let record = state
            .store
            .find_token(&hash_token(token))
            .await?
            .ok_or(DasError::Unauthenticated("the token is unknown or revoked"))?;
        if record.expires_at <= crate::clock::now_ms() {
            return Err(DasError::Unauthenticated("the token has expired"));
        }
        let user =
            state
                .store
                .get_user(&record.user_id)
                .await?
                .ok_or(DasError::Unauthenticated(
                    "the token's user no longer exists",
                ))?;
        let roles = state.store.roles_of(&user.id).await?;
        let channel = if parts.headers.contains_key("x-dbkill-console") {
            "console"
        } else {
            "api"
        };
        Ok(Principal {
            user,
            scope: record.project_id,
            roles,
            channel,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::UserId;

    fn principal(
        admin: bool,
        scope: Option<&ProjectId>,
        roles: Vec<(ProjectId, Role)>,
    ) -> Principal {
        Principal {
            user: UserRecord {
                id: UserId::new_random(),
                name: "u".into(),
                password_hash: String::new(),
                is_global_admin: admin,
            },
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
}
