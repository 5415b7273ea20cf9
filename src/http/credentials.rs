//! Access keys (Huawei IAM's permanent access key API): create (the secret is shown only then),
//! list without secrets, delete. A user manages their own keys; the global admin anyone's.

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Serialize;
use utoipa::ToSchema;

use super::AppState;
use super::extract::{JsonObject, PathParams, QueryParams, check_len, query_str};
use super::openapi::shapes;
use super::openapi::{AccessKeyPath, CallerErrors, UserFilterQuery};
use crate::clock::{now_ms, rfc3339_ms};
use crate::domain::{Principal, UserId};
use crate::error::{DasError, DasResult, Problem};
use crate::secrets::{access_key_secret_aad, random_bytes};
use crate::store::AccessKeyRecord;

#[derive(Serialize, ToSchema)]
pub struct CredentialOut {
    pub access: String,
    /// Only in the answer to the creation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    pub user_id: String,
    pub status: String,
    pub create_time: String,
    pub description: String,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialEnvelope {
    pub credential: CredentialOut,
}

#[derive(Serialize, ToSchema)]
pub struct CredentialList {
    pub credentials: Vec<CredentialOut>,
}

/// `{"credential":{"user_id","description"}}`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct CreateCredentialBody {
    pub credential: CreateCredentialIn,
}

/// A new access key, as parsed.
#[derive(ToSchema)]
pub struct CreateCredentialIn {
    #[schema(schema_with = shapes::user_id)]
    pub user_id: UserId,
    #[schema(schema_with = shapes::description, required = false)]
    pub description: String,
}

fn out(k: &AccessKeyRecord, secret: Option<String>) -> CredentialOut {
    CredentialOut {
        access: k.access.clone(),
        secret,
        user_id: k.user_id.to_string(),
        status: k.status.clone(),
        create_time: rfc3339_ms(k.created_at),
        description: k.description.clone(),
    }
}

/// Random characters from `alphabet`, unbiased.
fn random_string(alphabet: &[u8], len: usize) -> String {
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(len * 2) {
            // 256 - 256 % n keeps every symbol equally likely.
            let limit = 256 - 256 % alphabet.len();
            if usize::from(b) < limit && out.len() < len {
                out.push(alphabet[usize::from(b) % alphabet.len()] as char);
            }
        }
    }
    out
}

fn parse_user_id(s: &str) -> DasResult<UserId> {
    UserId::parse(s)
        .ok_or_else(|| DasError::bad("user_id", Problem::Invalid("32 lowercase hex".into())))
}

/// The shape of an access key id this API accepts (it mints 20 upper-case letters and digits).
pub(super) fn is_access_key(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

fn may_manage(caller: &Principal, user: &UserId) -> DasResult<()> {
    if &caller.user_id == user || caller.is_global_admin() {
        Ok(())
    } else {
        Err(DasError::Forbidden)
    }
}

/// `POST /v3.0/OS-CREDENTIAL/credentials`.
#[utoipa::path(post, path = "/v3.0/OS-CREDENTIAL/credentials", tag = "identity", request_body = CreateCredentialBody,
    responses((status = 201, body = CredentialEnvelope), CallerErrors))]
pub async fn create_credential(
    caller: Principal,
    State(state): State<AppState>,
    body: Body,
) -> DasResult<Response> {
    let body = JsonObject::read(body).await?;
    let cred = body.object("credential")?;
    let input = CreateCredentialIn {
        user_id: parse_user_id(&cred.str_req("user_id")?)?,
        description: cred.str_opt("description")?.unwrap_or_default(),
    };
    if !input.description.is_empty() {
        check_len("description", &input.description, 0, 255)?;
    }
    may_manage(&caller, &input.user_id)?;
    if state.store.get_user(&input.user_id).await?.is_none() {
        return Err(DasError::bad(
            "user_id",
            Problem::Invalid("no such user".into()),
        ));
    }
    let access = random_string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 20);
    let secret = random_string(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        40,
    );
    let record = AccessKeyRecord {
        sealed_secret: state.sealer.seal(
            &SecretString::from(secret.clone()),
            &access_key_secret_aad(&access),
        ),
        access,
        user_id: input.user_id,
        description: input.description,
        status: "active".into(),
        created_at: now_ms(),
    };
    state.store.insert_access_key(&record).await?;
    let envelope = CredentialEnvelope {
        credential: out(&record, Some(secret)),
    };
    Ok((StatusCode::CREATED, Json(envelope)).into_response())
}

/// `GET /v3.0/OS-CREDENTIAL/credentials?user_id=`: no secrets. Without `user_id`, the caller's
/// own keys (every key, for the global admin).
#[utoipa::path(get, path = "/v3.0/OS-CREDENTIAL/credentials", tag = "identity",
    params(UserFilterQuery), responses((status = 200, body = CredentialList), CallerErrors))]
pub async fn list_credentials(
    caller: Principal,
    State(state): State<AppState>,
    QueryParams(query): QueryParams,
) -> DasResult<Json<CredentialList>> {
    let user = match query_str(&query, "user_id") {
        Some(u) => {
            let u = parse_user_id(u)?;
            may_manage(&caller, &u)?;
            Some(u)
        }
        None if caller.is_global_admin() => None,
        None => Some(caller.user_id.clone()),
    };
    let keys = state.store.list_access_keys(user.as_ref()).await?;
    Ok(Json(CredentialList {
        credentials: keys.iter().map(|k| out(k, None)).collect(),
    }))
}

/// `DELETE /v3.0/OS-CREDENTIAL/credentials/{access}`.
#[utoipa::path(delete, path = "/v3.0/OS-CREDENTIAL/credentials/{access}", tag = "identity",
    params(AccessKeyPath), responses((status = 204, description = "Deleted"), CallerErrors))]
pub async fn delete_credential(
    caller: Principal,
    State(state): State<AppState>,
    PathParams(access): PathParams<String>,
) -> DasResult<StatusCode> {
    if !is_access_key(&access) {
        return Err(DasError::bad(
            "access",
            Problem::Invalid("letters and digits".into()),
        ));
    }
    let key =
        state.store.get_access_key(&access).await?.ok_or_else(|| {
            DasError::bad("access", Problem::Invalid("no such access key".into()))
        })?;
    may_manage(&caller, &key.user_id)?;
    state.store.delete_access_key(&access).await?;
    Ok(StatusCode::NO_CONTENT)
}
