//! The error answers each kind of operation can give, described once: every one carries the
//! `ErrorBody` schema. A handler's `#[utoipa::path]` lists its successes and one of these sets
//! (`responses((status = 200, body = X), CallerErrors)`); a status every route can answer goes in
//! [`EVERY_ROUTE`], so adding one is a one-line change.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::{ContentBuilder, Ref, RefOr, Response, ResponseBuilder};

/// What any request can be answered, whatever its route: the rate limit, and an internal error
/// (a failing store, or a panic turned into a 500 by the router).
const EVERY_ROUTE: &[u16] = &[429, 500];

/// The meaning of each error status in this API, with the DAS codes it carries.
fn description(status: u16) -> &'static str {
    match status {
        400 => {
            "A path id, a query parameter or the body is invalid (DAS.2001xx: the code and the \
             message name which), or the instance refused the db user's login or statement \
             (DAS.210002, DAS.210003)."
        }
        401 => {
            "APIGW.0301: no credentials, an unknown, revoked or expired token, a bad \
             SDK-HMAC-SHA256 signature, or a wrong user name or password."
        }
        403 => "APIGW.0302: no role on this project, or the role does not allow this action.",
        404 => "APIGW.0101: no such route, method or file.",
        409 => "IAM.0409: a project or user with that name exists already.",
        429 => "APIGW.0308: the caller's rate limit was hit; retry later.",
        500 => {
            "DAS.209999: internal error (details in the server log under the X-Request-Id); \
             DAS.210001 / DAS.210004: the instance could not be reached, or a statement on it \
             timed out."
        }
        503 => "The service cannot serve: its store does not answer or cannot write.",
        _ => "An error.",
    }
}

/// One `ErrorBody` response per status, plus those of [`EVERY_ROUTE`].
pub(super) fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .chain(EVERY_ROUTE)
        .map(|&status| {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            let response = ResponseBuilder::new()
                .description(description(status))
                .content("application/json", body)
                .build();
            (status.to_string(), RefOr::T(response))
        })
        .collect()
}

/// Declares a set of error answers as a type a `#[utoipa::path]` can list among its responses.
macro_rules! error_set {
    ($(#[$doc:meta])* $name:ident: [$($status:literal),*]) => {
        $(#[$doc])*
        pub struct $name;

        impl IntoResponses for $name {
            fn responses() -> BTreeMap<String, RefOr<Response>> {
                error_responses(&[$($status),*])
            }
        }
    };
}

error_set!(
    /// Every operation that takes credentials: bad input, no or bad credentials, no role.
    CallerErrors: [400, 401, 403]
);
error_set!(
    /// `POST /v3/auth/tokens`: a malformed body, a wrong name or password.
    LoginErrors: [400, 401]
);
error_set!(
    /// Routes that need no credentials and take no input.
    OpenErrors: []
);
error_set!(
    /// `GET /healthz`: the store does not answer.
    HealthErrors: [503]
);
error_set!(
    /// The console's files: a name that is not one of them.
    ConsoleFileErrors: [404]
);
