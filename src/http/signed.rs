//! Requests signed with `SDK-HMAC-SHA256` (the official Huawei Cloud SDKs): the signature is
//! verified here, over the whole body, before any handler runs; the caller then acts as the
//! access key's user. An `Authorization` of another scheme is left to the token check.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::AppState;
use crate::domain::UserId;
use crate::error::DasError;
use crate::secrets::access_key_secret_aad;
use crate::signing::{SignatureError, SignatureHeader, SignedRequest, verify};

/// Set on a request whose signature was verified.
#[derive(Clone, Debug)]
pub struct SignedCaller {
    pub user_id: UserId,
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
        SignatureError::StaleDate => "X-Sdk-Date is more than 15 minutes from the server time",
        SignatureError::Mismatch => "the signature does not match the request",
    }
}

/// The project a DAS path names (`/v3/{project_id}/…`), if any.
fn path_project(path: &str) -> Option<&str> {
    let mut segs = path.trim_start_matches('/').split('/');
    match (segs.next(), segs.next(), segs.next()) {
        (Some("v3"), Some(p), Some(_)) if !["auth", "projects", "users"].contains(&p) => Some(p),
        _ => None,
    }
}

/// Reads the whole body for hashing; bodies over the drain limit cannot be verified.
async fn collect(body: Body) -> Result<Vec<u8>, DasError> {
    let limited = http_body_util::Limited::new(body, 8 * 1024 * 1024);
    match limited.collect().await {
        Ok(c) => Ok(c.to_bytes().to_vec()),
        Err(_) => Err(DasError::BodyTooLarge),
    }
}

pub async fn verify_signature(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let is_signed = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("SDK-HMAC-"));
    if !is_signed {
        return next.run(req).await;
    }
    match authenticate(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

async fn authenticate(state: &AppState, req: Request) -> Result<Request, DasError> {
    let (mut parts, body) = req.into_parts();
    let header_value = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let auth = SignatureHeader::parse(&header_value("authorization").unwrap_or_default())
        .map_err(|e| DasError::Unauthenticated(reason(e)))?;
    let bytes = collect(body).await?;
    let key = state
        .store
        .get_access_key(&auth.access)
        .await?
        .filter(|k| k.status == "active")
        .ok_or(DasError::Unauthenticated(
            "the access key is unknown or inactive",
        ))?;
    let secret = state
        .sealer
        .open(&key.sealed_secret, &access_key_secret_aad(&key.access))
        .map_err(|e| DasError::Internal(format!("access key {}: {e}", key.access)))?;
    let signed = SignedRequest {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query().unwrap_or(""),
        header: &header_value,
        body: &bytes,
    };
    let now = crate::clock::now_ms() / 1000;
    verify(
        &signed,
        &auth,
        secrecy::ExposeSecret::expose_secret(&secret),
        now,
    )
    .map_err(|e| DasError::Unauthenticated(reason(e)))?;
    if let (Some(sent), Some(in_path)) =
        (header_value("x-project-id"), path_project(parts.uri.path()))
        && sent.trim() != in_path
    {
        return Err(DasError::Unauthenticated(
            "X-Project-Id does not match the project in the path",
        ));
    }
    parts.extensions.insert(SignedCaller {
        user_id: key.user_id,
    });
    Ok(Request::from_parts(parts, Body::from(bytes)))
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
