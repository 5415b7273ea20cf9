//! Requests signed with `SDK-HMAC-SHA256` (the official Huawei Cloud SDKs), authenticated in an
//! order that keeps a stranger cheap: the `Authorization` header, the date and the access key
//! are checked before a byte of the body is read; the body is then hashed as it streams in (at
//! most 1 MiB kept, at most 8 MiB read); then come the signature, the project header and the
//! replay cache, which accepts each signature of a request that can change something once. The
//! caller then acts as the key's user. Refusals before the signature is proven count against
//! the client address; a verified request spends its user's budget.

mod hashed_body;
mod single_use;

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use secrecy::{ExposeSecret, SecretString};

use super::AppState;
use super::extract::BODY_LIMIT;
use super::metrics::signature_refused;
use super::rate_limit::{ClientAddress, count_refusal};
use crate::error::DasError;
use crate::secrets::access_key_secret_aad;
use crate::signing::replay::Signature;
use crate::signing::{
    PayloadHash, SignatureError, SignatureHeader, SignedRequest, check_freshness, check_signature,
};
use crate::store::UserRecord;
pub use hashed_body::LARGE_BODY_SLOTS;
use hashed_body::{HashedBody, large_body_slot, may_be_large, read_hashed};
use single_use::{claim_shared, remember, single_use};

/// Whether the request carries an `SDK-HMAC-*` signature (any other `Authorization` is left to
/// the token check, which ignores it).
pub(super) fn is_signed(headers: &HeaderMap) -> bool {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("SDK-HMAC-"))
}

fn reason(e: SignatureError) -> &'static str {
    match e {
        SignatureError::Malformed => {
            "the Authorization header is not a valid SDK-HMAC-SHA256 signature"
        }
        SignatureError::MissingSignedHeader => {
            "the signed headers must include host and x-sdk-date"
        }
        SignatureError::BadDate => "X-Sdk-Date is missing or malformed",
        SignatureError::StaleDate => {
            "X-Sdk-Date is too far from the server's time (see signature_max_skew_secs)"
        }
        SignatureError::Mismatch => "the signature does not match the request",
    }
}

fn metric_reason(e: SignatureError) -> &'static str {
    match e {
        SignatureError::Malformed => "malformed",
        SignatureError::MissingSignedHeader => "missing_signed_header",
        SignatureError::BadDate => "bad_date",
        SignatureError::StaleDate => "stale_date",
        SignatureError::Mismatch => "mismatch",
    }
}

/// A refused signature, counted by reason.
fn refused(metric: &'static str, why: &'static str) -> DasError {
    signature_refused(metric);
    DasError::Unauthenticated(why)
}

fn invalid(e: SignatureError) -> DasError {
    refused(metric_reason(e), reason(e))
}

/// The project a DAS path names (`/v3/{project_id}/…`), if any.
fn path_project(path: &str) -> Option<&str> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next(), segs.next()) {
        (Some("v3"), Some(p), Some(_)) if !["auth", "projects", "users"].contains(&p) => Some(p),
        _ => None,
    }
}

fn header<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts.headers.get(name).and_then(|v| v.to_str().ok())
}

/// A signed request proven genuine: the request with its body put back, and the key's user.
pub(super) struct Verified {
    pub request: Request,
    pub user: UserRecord,
}

/// Authenticates a signed request; the error is the answer (401, or 429 once the address or
/// the user is over its rate).
pub(super) async fn authenticate(
    state: &AppState,
    address: &ClientAddress,
    req: Request,
) -> Result<Verified, DasError> {
    let limits = state.guards.limits.as_ref();
    let (parts, body) = req.into_parts();
    let unproven = |e: DasError| count_refusal(limits, address, e);
    let bodiless = body.size_hint().exact() == Some(0);
    let large = may_be_large(&body);
    let before_body = check_before_body(state, &parts, bodiless)
        .await
        .map_err(unproven)?;
    if let Some(limits) = limits {
        limits.peek_user(&before_body.user.id)?;
    }
    let _slot = if large {
        Some(large_body_slot(&state.guards.signed_bodies).await?)
    } else {
        None
    };
    let body = read_hashed(body).await.map_err(unproven)?;
    let signature = check_after_body(&parts, &before_body, &body).map_err(unproven)?;
    let user = before_body.user;
    if body.len > BODY_LIMIT {
        // A genuine caller learns that its body is too large (it was drained, not kept).
        if let Some(limits) = limits {
            limits.charge_user(&user.id)?;
        }
        return Err(DasError::BodyTooLarge);
    }
    let ticket = if single_use(&parts.method, state) {
        Some(
            remember(state, signature, before_body.date).map_err(|e| match e {
                DasError::Unauthenticated(_) => unproven(e),
                full => full,
            })?,
        )
    } else {
        None
    };
    if let Some(limits) = limits
        && let Err(e) = limits.charge_user(&user.id)
    {
        // Not accepted, so the client may send the same signature again once it may.
        if let Some(ticket) = ticket {
            ticket.forget(state);
        }
        return Err(e);
    }
    if ticket.is_some() {
        claim_shared(state, &signature, before_body.date).await?;
    }
    Ok(Verified {
        request: Request::from_parts(parts, Body::from(body.kept)),
        user,
    })
}

/// What the headers and the store say before the body is read.
struct BeforeBody {
    auth: SignatureHeader,
    date: i64,
    unsigned: bool,
    user: UserRecord,
    secret: SecretString,
}

async fn check_before_body(
    state: &AppState,
    parts: &Parts,
    bodiless: bool,
) -> Result<BeforeBody, DasError> {
    let policy = state.settings.signatures;
    let auth = SignatureHeader::parse(header(parts, "authorization").unwrap_or_default())
        .map_err(invalid)?;
    let now = crate::clock::now_ms() / 1000;
    let date = check_freshness(
        &auth,
        header(parts, "x-sdk-date"),
        now,
        policy.max_skew_secs,
    )
    .map_err(invalid)?;
    let unsigned = PayloadHash::declared_unsigned(header(parts, "x-sdk-content-sha256"));
    if unsigned && !policy.unsigned_payload {
        return Err(refused(
            "unsigned_payload",
            "UNSIGNED-PAYLOAD is not accepted by this server (signature_unsigned_payload)",
        ));
    }
    if unsigned && !bodiless {
        return Err(unsigned_with_body());
    }
    let (user, secret) = key_user(state, &auth.access).await?;
    Ok(BeforeBody {
        auth,
        date,
        unsigned,
        user,
        secret,
    })
}

fn unsigned_with_body() -> DasError {
    refused(
        "unsigned_payload",
        "UNSIGNED-PAYLOAD is refused on a request with a body: sign the body",
    )
}

/// The active access key's user and the key's secret.
async fn key_user(state: &AppState, access: &str) -> Result<(UserRecord, SecretString), DasError> {
    let unknown = || refused("unknown_key", "the access key is unknown or inactive");
    if access.len() > 128 {
        return Err(unknown());
    }
    let key = state
        .store
        .get_access_key(access)
        .await?
        .filter(|k| k.status == "active")
        .ok_or_else(unknown)?;
    let secret = state
        .sealer
        .open(&key.sealed_secret, &access_key_secret_aad(&key.access))
        .map_err(|e| DasError::Internal(format!("access key {}: {e}", key.access)))?;
    let user = state
        .store
        .get_user(&key.user_id)
        .await?
        .ok_or_else(|| refused("unknown_key", "the access key's user no longer exists"))?;
    Ok((user, secret))
}

/// The signature over the request as received, then the project header; returns the proven
/// signature.
fn check_after_body(
    parts: &Parts,
    before: &BeforeBody,
    body: &HashedBody,
) -> Result<Signature, DasError> {
    if before.unsigned && body.len > 0 {
        return Err(unsigned_with_body());
    }
    let header_value = |name: &str| header(parts, name).map(str::to_owned);
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        header: &header_value,
        payload: if before.unsigned {
            PayloadHash::Unsigned
        } else {
            PayloadHash::Sha256(body.sha256)
        },
    };
    let signature =
        check_signature(&signed, &before.auth, before.secret.expose_secret()).map_err(invalid)?;
    if let (Some(sent), Some(in_path)) = (
        header(parts, "x-project-id"),
        path_project(parts.uri.path()),
    ) && sent.trim() != in_path
    {
        return Err(refused(
            "project_mismatch",
            "X-Project-Id does not match the project in the path",
        ));
    }
    Ok(signature)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_das_paths_name_a_project() {
        assert_eq!(path_project("/v3/abc/instances"), Some("abc"));
        assert_eq!(path_project("/v3/abc/instances/x/process"), Some("abc"));
        assert_eq!(path_project("/v3/projects"), None);
        assert_eq!(path_project("/v3/projects/p/users/u/roles/r"), None);
        assert_eq!(path_project("/v3/auth/tokens"), None);
        assert_eq!(path_project("/v3.0/OS-CREDENTIAL/credentials"), None);
        assert_eq!(path_project("/healthz"), None);
    }
}
