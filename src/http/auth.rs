//! Who is calling: an AK/SK-signed request (verified earlier by `signed`) or the `X-Auth-Token`
//! header becomes a [`Principal`] with its roles. Every route except the open ones takes one.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::{AppState, SignedCaller};
use crate::domain::{Principal, ProjectId, Role};
use crate::error::DasError;
use crate::secrets::hash_token;
use crate::store::UserRecord;

/// The caller a user record and its roles make, acting through `channel`.
fn principal(
    user: UserRecord,
    scope: Option<ProjectId>,
    roles: Vec<(ProjectId, Role)>,
    channel: &'static str,
) -> Principal {
    Principal {
        user_id: user.id,
        user_name: user.name,
        global_admin: user.is_global_admin,
        scope,
        roles,
        channel,
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
            return Ok(principal(user, None, roles, "api"));
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
        Ok(principal(user, record.project_id, roles, channel))
    }
}
