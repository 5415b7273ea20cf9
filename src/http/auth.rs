//! Who is calling, settled before any handler runs and before any body is read. [`authenticate`]
//! turns the credentials into a [`Caller`]: a live `X-Auth-Token`, or an `SDK-HMAC-SHA256`
//! signature (verified by `signed`), is its user; anything else is anonymous or refused. It then
//! spends the caller's rate-limit budget (the user's, or the client address's) and caps what a
//! caller without valid credentials may send: only a login takes such a body, of at most 64 KiB.
//! The [`Principal`] extractor gives the routes that need a caller its user and roles.

use axum::body::{Body, HttpBody};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::header::CONNECTION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::AppState;
use super::rate_limit::ClientAddress;
use super::signed::{self, Verified};
use crate::domain::{Principal, ProjectId, Role};
use crate::error::DasError;
use crate::secrets::hash_token;
use crate::store::UserRecord;

/// The most a caller without valid credentials may send: a login is a few hundred bytes.
pub const ANONYMOUS_BODY_LIMIT: usize = 64 * 1024;

/// What the credentials of a request came to.
#[derive(Clone)]
pub(super) enum Caller {
    /// A live token (maybe scoped to a project) or a verified signature.
    User {
        user: UserRecord,
        scope: Option<ProjectId>,
        signed: bool,
    },
    /// No credentials.
    Anonymous,
    /// Credentials that were refused, and why; routes that need a caller answer 401.
    Refused(&'static str),
}

pub async fn authenticate(State(state): State<AppState>, req: Request, next: Next) -> Response {
    match admit(&state, req).await {
        Ok(req) => next.run(req).await,
        Err(answer) => answer,
    }
}

async fn admit(state: &AppState, req: Request) -> Result<Request, Response> {
    let address = ClientAddress::of(req.extensions());
    if signed::is_signed(req.headers()) {
        let unread_body = !req.body().is_end_stream();
        return match signed::authenticate(state, &address, req).await {
            Ok(Verified { mut request, user }) => {
                request.extensions_mut().insert(Caller::User {
                    user,
                    scope: None,
                    signed: true,
                });
                Ok(request)
            }
            Err(e) => Err(closing_if(unread_body, e.into_response())),
        };
    }
    let token = req.headers().get("x-auth-token").cloned();
    let caller = resolve_token(state, token)
        .await
        .map_err(IntoResponse::into_response)?;
    if let Some(limits) = &state.guards.limits {
        match &caller {
            Caller::User { user, .. } => limits.charge_user(&user.id),
            Caller::Anonymous | Caller::Refused(_) => limits.charge_address(&address),
        }
        .map_err(|e| closing_if(!req.body().is_end_stream(), e.into_response()))?;
    }
    let mut req = match caller {
        Caller::User { .. } => req,
        Caller::Anonymous | Caller::Refused(_) => cap_anonymous_body(req).await?,
    };
    req.extensions_mut().insert(caller);
    Ok(req)
}

/// The caller an `X-Auth-Token` header makes: its live token's user, refused, or anonymous when
/// there is no such header. Only a failing store is an error.
async fn resolve_token(state: &AppState, sent: Option<HeaderValue>) -> Result<Caller, DasError> {
    let Some(raw) = sent else {
        return Ok(Caller::Anonymous);
    };
    let token = match raw.to_str().map(str::trim) {
        Ok(t) if !t.is_empty() && t.len() <= 512 => t,
        _ => return Ok(Caller::Refused("the token is not valid")),
    };
    let Some(record) = state.store.find_token(&hash_token(token)).await? else {
        return Ok(Caller::Refused("the token is unknown or revoked"));
    };
    if record.expires_at <= crate::clock::now_ms() {
        return Ok(Caller::Refused("the token has expired"));
    }
    let Some(user) = state.store.get_user(&record.user_id).await? else {
        return Ok(Caller::Refused("the token's user no longer exists"));
    };
    Ok(Caller::User {
        user,
        scope: record.project_id,
        signed: false,
    })
}

/// Asks the client to close a connection whose request body was left unread, rather than have
/// it sent (up to 8 MiB) for nothing.
fn closing_if(unread_body: bool, mut answer: Response) -> Response {
    if unread_body {
        answer
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    answer
}

/// The one route that takes a body without credentials.
fn is_login(req: &Request) -> bool {
    req.method() == Method::POST && req.uri().path() == "/v3/auth/tokens"
}

/// Reads a login's body here, at most [`ANONYMOUS_BODY_LIMIT`]; any other route that needs no
/// credentials takes no body, and the routes that do need them answer 401 without reading it,
/// so theirs is only wrapped in the same cap.
async fn cap_anonymous_body(req: Request) -> Result<Request, Response> {
    if req.body().is_end_stream() {
        return Ok(req);
    }
    if !is_login(&req) {
        return Ok(req.map(|body| Body::new(Limited::new(body, ANONYMOUS_BODY_LIMIT))));
    }
    let too_large = || closing_if(true, DasError::AnonymousBodyTooLarge.into_response());
    if req.body().size_hint().lower() > ANONYMOUS_BODY_LIMIT as u64 {
        return Err(too_large());
    }
    let (parts, body) = req.into_parts();
    match Limited::new(body, ANONYMOUS_BODY_LIMIT).collect().await {
        Ok(collected) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
        Err(e) if e.is::<LengthLimitError>() => Err(too_large()),
        Err(e) => Err(super::extract::body_error(e.as_ref()).into_response()),
    }
}

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
        let (user, scope, signed) = match parts.extensions.get::<Caller>() {
            Some(Caller::User {
                user,
                scope,
                signed,
            }) => (user.clone(), scope.clone(), *signed),
            Some(Caller::Refused(why)) => return Err(DasError::Unauthenticated(why)),
            Some(Caller::Anonymous) | None => {
                return Err(DasError::Unauthenticated("no X-Auth-Token header"));
            }
        };
        let roles = state.store.roles_of(&user.id).await?;
        if signed {
            return Ok(principal(user, None, roles, "api"));
        }
        Ok(principal(user, scope, roles, token_channel(&parts.headers)))
    }
}

/// The channel a token caller names for the history: the console sends `X-Dbkill-Console`, the
/// `dbkill` CLI `X-Dbkill-Client: cli`; anything else is a plain API client. A signed request is
/// always `api`: its signature does not cover these headers.
fn token_channel(headers: &HeaderMap) -> &'static str {
    if headers.contains_key("x-dbkill-console") {
        "console"
    } else if headers
        .get("x-dbkill-client")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("cli"))
    {
        "cli"
    } else {
        "api"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(headers: &[(&'static str, &'static str)]) -> &'static str {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.insert(*k, HeaderValue::from_static(v));
        }
        token_channel(&map)
    }

    #[test]
    fn the_console_and_the_cli_name_their_channel() {
        assert_eq!(channel(&[]), "api");
        assert_eq!(channel(&[("x-dbkill-console", "1")]), "console");
        assert_eq!(channel(&[("x-dbkill-client", "cli")]), "cli");
        assert_eq!(channel(&[("x-dbkill-client", "CLI")]), "cli");
        assert_eq!(channel(&[("x-dbkill-client", "curl")]), "api");
        assert_eq!(
            channel(&[("x-dbkill-console", "1"), ("x-dbkill-client", "cli")]),
            "console"
        );
    }
}
