//! Requests signed with `SDK-HMAC-SHA256` (the official Huawei Cloud SDKs), authenticated in an
//! order that keeps a stranger cheap: the `Authorization` header, the date and the access key
//! are checked before a byte of the body is read; the body is then hashed as it streams in (at
//! most 1 MiB kept, at most 8 MiB read); then come the signature, the project header and the
//! replay cache, which accepts each signature of a request that can change something once. The
//! caller then acts as the key's user. Refusals before the signature is proven count against
//! the client address; a verified request spends its user's budget.

use std::sync::atomic::{AtomicI64, Ordering};

use axum::body::{Body, HttpBody};
use axum::extract::Request;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use http_body_util::BodyExt;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use super::AppState;
use super::extract::{BODY_LIMIT, DRAIN_LIMIT};
use super::metrics::{LimitKind, limit_hit, signature_refused};
use super::rate_limit::{ClientAddress, count_refusal};
use crate::error::DasError;
use crate::secrets::access_key_secret_aad;
use crate::signing::replay::{ReplayRefusal, Signature};
use crate::signing::{
    PayloadHash, SignatureError, SignatureHeader, SignedRequest, check_freshness, check_signature,
};
use crate::store::UserRecord;

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
    let before_body = check_before_body(state, &parts, bodiless)
        .await
        .map_err(unproven)?;
    if let Some(limits) = limits {
        limits.peek_user(&before_body.user.id)?;
    }
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

/// The body as it streamed in: kept whole up to [`BODY_LIMIT`], hashed whole up to
/// [`DRAIN_LIMIT`] (a longer one cannot be verified and is refused unread beyond that).
struct HashedBody {
    kept: Vec<u8>,
    len: usize,
    sha256: [u8; 32],
}

async fn read_hashed(mut body: Body) -> Result<HashedBody, DasError> {
    let expected = body.size_hint().exact().unwrap_or(0);
    let mut kept = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).min(BODY_LIMIT));
    let mut hasher = Sha256::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|_| DasError::MalformedJson("the body could not be read".into()))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len();
        if len > DRAIN_LIMIT {
            return Err(DasError::BodyTooLarge);
        }
        hasher.update(&data);
        if len <= BODY_LIMIT {
            kept.extend_from_slice(&data);
        } else if kept.capacity() > 0 {
            kept = Vec::new();
        }
    }
    Ok(HashedBody {
        kept,
        len,
        sha256: hasher.finalize().into(),
    })
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

/// Whether a signature of this request is accepted once only: always for requests that can
/// change something; for reads when `signature_single_use_reads` says so.
fn single_use(method: &Method, state: &AppState) -> bool {
    !matches!(*method, Method::GET | Method::HEAD) || state.settings.signatures.single_use_reads
}

/// A signature taken into the replay cache.
struct ReplayTicket {
    signature: Signature,
    date: i64,
}

impl ReplayTicket {
    fn forget(self, state: &AppState) {
        replays(state).forget(&self.signature, self.date);
    }
}

fn replays(state: &AppState) -> std::sync::MutexGuard<'_, crate::signing::replay::ReplayCache> {
    state
        .guards
        .replays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn remember(state: &AppState, signature: Signature, date: i64) -> Result<ReplayTicket, DasError> {
    let now = crate::clock::now_ms() / 1000;
    match replays(state).remember(signature, date, now) {
        Ok(()) => Ok(ReplayTicket { signature, date }),
        Err(ReplayRefusal::Replayed) => Err(refused(
            "replayed",
            "this signature was already used: sign each request anew (the SDK's X-Sdk-Date \
             has one-second resolution, so identical requests need a second between them)",
        )),
        Err(ReplayRefusal::Full { retry_after_secs }) => {
            warn_cache_full(now, state.settings.signatures.replay_cache_entries);
            limit_hit(LimitKind::ReplayCacheFull);
            Err(DasError::RateLimited { retry_after_secs })
        }
    }
}

/// Logs a full replay cache at most once a minute (it refuses signed writes meanwhile).
fn warn_cache_full(now: i64, entries: usize) {
    static LAST_WARNED: AtomicI64 = AtomicI64::new(i64::MIN);
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            "the replay cache holds {entries} live signatures: signed requests that change \
             something are refused (429) until the oldest leave the clock window; raise \
             signature_replay_cache_entries if this is legitimate traffic"
        );
    }
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

    #[tokio::test]
    async fn bodies_are_hashed_whole_kept_to_the_limit_and_refused_beyond_the_drain() {
        let small = read_hashed(Body::from(&b"abc"[..])).await.ok().unwrap();
        assert_eq!(small.kept, b"abc");
        assert_eq!(PayloadHash::Sha256(small.sha256), PayloadHash::of(b"abc"));
        let big = vec![b'x'; BODY_LIMIT + 1];
        let read = read_hashed(Body::from(big.clone())).await.ok().unwrap();
        assert!(read.kept.is_empty(), "nothing kept past the limit");
        assert_eq!(read.len, BODY_LIMIT + 1);
        assert_eq!(PayloadHash::Sha256(read.sha256), PayloadHash::of(&big));
        let huge = Body::from(vec![b'x'; DRAIN_LIMIT + 1]);
        assert!(matches!(
            read_hashed(huge).await,
            Err(DasError::BodyTooLarge)
        ));
    }
}
