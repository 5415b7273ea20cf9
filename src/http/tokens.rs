//! Tokens (a self-hosted stand-in for Huawei IAM, in Keystone v3 shapes): a password login
//! issues one, optionally scoped to a project; revoking ends it.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::extract::JsonObject;
use super::openapi::{CallerErrors, OpenErrors, shapes};
use super::projects::{IdName, id_name};
use super::rate_limit::ClientAddress;
use crate::clock::{now_ms, rfc3339_ms};
use crate::domain::{Principal, ProjectId, Role};
use crate::error::{DasError, DasResult, Problem};
use crate::secrets::{generate_token, hash_token};
use crate::store::{ProjectRecord, TokenRecord, UserRecord};

#[derive(Serialize, ToSchema)]
pub struct RoleName {
    pub name: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct TokenOut {
    pub expires_at: String,
    pub issued_at: String,
    pub methods: Vec<&'static str>,
    pub user: IdName,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<IdName>,
    pub roles: Vec<RoleName>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenEnvelope {
    pub token: TokenOut,
}

/// Keystone's password-auth body. Only the user's name and password are read (and the scope,
/// when given); `methods` and `domain` are accepted and ignored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TokenIn {
    pub auth: AuthIn,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct AuthIn {
    pub identity: IdentityIn,
    /// Absent: an unscoped token, acting with all the user's roles.
    pub scope: Option<ScopeIn>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct IdentityIn {
    /// `["password"]`
    pub methods: Option<Vec<String>>,
    pub password: PasswordIdentityIn,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct PasswordIdentityIn {
    pub user: LoginUserIn,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct LoginUserIn {
    #[schema(min_length = 1)]
    pub name: String,
    #[schema(format = Password, min_length = 1)]
    pub password: String,
    /// Ignored.
    pub domain: Option<serde_json::Value>,
}

#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ScopeIn {
    /// By `id`, or else by `name`.
    #[schema(schema_with = shapes::project_ref)]
    pub project: Option<serde_json::Value>,
}

/// A login as parsed: the name, the password, and the project scope by id or name.
struct LoginIn {
    name: String,
    password: String,
    scope: Option<(Option<String>, Option<String>)>,
}

impl LoginIn {
    fn parse(body: &JsonObject) -> DasResult<Self> {
        let auth = body.object("auth")?;
        let identity = auth.object("identity")?;
        let user = identity.object("password")?.object("user")?;
        let scope = match auth.object_opt("scope")? {
            Some(scope) => scope.object_opt("project")?,
            None => None,
        };
        Ok(Self {
            name: user.str_req("name")?,
            password: user.str_req("password")?,
            scope: match &scope {
                Some(p) => Some((p.str_opt("id")?, p.str_opt("name")?)),
                None => None,
            },
        })
    }
}

/// `POST /v3/auth/tokens`: a password login; 201 with the token in `X-Subject-Token`.
#[utoipa::path(post, path = "/v3/auth/tokens", tag = "identity", request_body = TokenIn, security(()),
    responses((status = 201, body = TokenEnvelope, headers(("X-Subject-Token" = String, description = "the token"))),
              OpenErrors))]
pub async fn create_token(
    State(state): State<AppState>,
    address: ClientAddress,
    body: Body,
) -> DasResult<Response> {
    let login = LoginIn::parse(&JsonObject::read(body).await?)?;
    // Failed logins slow down further attempts on the name and from the address.
    let attempt = state.guards.logins.attempt(&login.name, address).await?;
    let found = state.store.get_user_by_name(&login.name).await?;
    let phc = found.as_ref().map(|u| u.password_hash.clone());
    let ok = attempt
        .check_password(state.hasher.clone(), login.password, phc)
        .await?;
    let user = match (ok, found) {
        (true, Some(u)) => u,
        _ => return Err(DasError::Unauthenticated("wrong user name or password")),
    };
    let roles = state.store.roles_of(&user.id).await?;
    let project = match login.scope {
        None => None,
        Some(scope) => Some(scoped_project(&state, &user, &roles, scope).await?),
    };

    let token = generate_token();
    let issued_at = now_ms();
    let ttl_ms = i64::try_from(state.settings.token_ttl.as_millis()).unwrap_or(i64::MAX);
    let record = TokenRecord {
        hash: hash_token(&token),
        user_id: user.id.clone(),
        project_id: project.as_ref().map(|p| p.id.clone()),
        issued_at,
        expires_at: issued_at.saturating_add(ttl_ms),
    };
    state.store.insert_token(&record).await?;
    let out = token_out(&user, &roles, project.as_ref(), &record);
    let mut resp = (StatusCode::CREATED, Json(out)).into_response();
    resp.headers_mut().insert(
        "x-subject-token",
        HeaderValue::from_str(&token).expect("token is header-safe"),
    );
    Ok(resp)
}

/// The project a login asks to be scoped to, by id or by name; the user must hold a role there.
async fn scoped_project(
    state: &AppState,
    user: &UserRecord,
    roles: &[(ProjectId, Role)],
    (id, name): (Option<String>, Option<String>),
) -> DasResult<ProjectRecord> {
    let project = match (id, name) {
        (Some(id), _) => match ProjectId::parse(&id) {
            Some(id) => state.store.get_project(&id).await?,
            None => None,
        },
        (None, Some(name)) => state.store.get_project_by_name(&name).await?,
        (None, None) => return Err(DasError::bad("auth.scope.project", Problem::Missing)),
    };
    project
        .filter(|p| user.is_global_admin || roles.iter().any(|(rp, _)| rp == &p.id))
        .ok_or(DasError::Unauthenticated(
            "no access to the requested project",
        ))
}

fn token_out(
    user: &UserRecord,
    roles: &[(ProjectId, Role)],
    project: Option<&ProjectRecord>,
    record: &TokenRecord,
) -> TokenEnvelope {
    let mut role_names: Vec<Role> = if user.is_global_admin {
        vec![Role::Admin]
    } else {
        roles
            .iter()
            .filter(|(p, _)| project.is_none_or(|s| &s.id == p))
            .map(|(_, r)| *r)
            .collect()
    };
    role_names.sort();
    role_names.dedup();
    TokenEnvelope {
        token: TokenOut {
            expires_at: rfc3339_ms(record.expires_at),
            issued_at: rfc3339_ms(record.issued_at),
            methods: vec!["password"],
            user: IdName {
                id: user.id.to_string(),
                name: user.name.clone(),
            },
            project: project.map(id_name),
            roles: role_names
                .into_iter()
                .map(|r| RoleName { name: r.as_str() })
                .collect(),
        },
    }
}

/// `DELETE /v3/auth/tokens`: revokes the token named in `X-Subject-Token`.
#[utoipa::path(delete, path = "/v3/auth/tokens", tag = "identity",
    params(("X-Subject-Token" = String, Header, description = "the token to revoke")),
    responses((status = 204, description = "Revoked"), CallerErrors))]
pub async fn revoke_token(
    caller: Principal,
    State(state): State<AppState>,
    headers: HeaderMap,
) -> DasResult<StatusCode> {
    let subject = headers
        .get("x-subject-token")
        .and_then(|v| v.to_str().ok())
        .ok_or(DasError::bad("X-Subject-Token", Problem::Missing))?;
    let hash = hash_token(subject.trim());
    // Anyone may revoke their own token; only the global admin may revoke another user's.
    // Another user's token answers exactly as an unknown one, so the answer never tells a
    // caller that a token it may not revoke exists.
    match state.store.find_token(&hash).await? {
        Some(t) if t.user_id == caller.user_id || caller.is_global_admin() => {
            state.store.delete_token(&hash).await?;
            Ok(StatusCode::NO_CONTENT)
        }
        Some(_) | None => Err(DasError::Unauthenticated(
            "the subject token is unknown, revoked or not the caller's",
        )),
    }
}
