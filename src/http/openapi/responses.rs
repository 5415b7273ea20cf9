//! The error answers each kind of operation can give, described once: every one carries the
//! `ErrorBody` schema. A handler's `#[utoipa::path]` lists its successes and one of these sets
//! (`responses((status = 200, body = X), CallerErrors)`); a status every route can answer goes in
//! [`EVERY_ROUTE`], so adding one is a one-line change.

use std::collections::BTreeMap;

use utoipa::IntoResponses;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::{ContentBuilder, ObjectBuilder, Ref, RefOr, Response, ResponseBuilder, Type};

/// What any request can be answered, whatever its route: the serve loop's refusals of a request
/// it cannot take (a malformed head or a body that is not JSON, a body too slow, a target or a
/// head too large), a bad SDK-HMAC-SHA256 signature (checked on every route), a rate limit, and
/// an internal error (a panic included).
const EVERY_ROUTE: &[u16] = &[400, 401, 408, 414, 429, 431, 500];

/// The meaning of each error status in this API, with the codes it carries.
fn description(status: u16) -> &'static str {
    match status {
        400 => {
            "A path id, a query parameter or the body is invalid (DAS.2001xx: the code and the \
             message name which; a body must be application/json), the instance refused the db \
             user's login or statement (DAS.210002, DAS.210003), or the request is not valid \
             HTTP (APIGW.0201)."
        }
        401 => {
            "APIGW.0301: no credentials, an unknown, revoked or expired token, a bad or replayed \
             SDK-HMAC-SHA256 signature, or a wrong user name or password. On a route that needs \
             no credentials, only a bad signature."
        }
        403 => "APIGW.0302: no role on this project, or the role does not allow this action.",
        404 => "APIGW.0101: no such route, method or file.",
        408 => "APIGW.0201: the body did not arrive within body_read_timeout_ms.",
        409 => "IAM.0409: a project or user with that name exists already.",
        414 => "APIGW.0201: the request target is longer than 65,534 bytes.",
        429 => {
            "APIGW.0308: a rate limit, the cap on one address's requests in flight, or the \
             login throttle; Retry-After says when to try again."
        }
        431 => "APIGW.0201: the request head is over 128 KiB or has more than 100 headers.",
        500 => {
            "DAS.209999: internal error (details in the server log under the X-Request-Id); \
             DAS.210001 / DAS.210004: the instance could not be reached (TLS included), or a \
             statement on it timed out; DAS.209999 too when the store cannot record a kill."
        }
        503 => "The service cannot serve: its store cannot write.",
        _ => "An error.",
    }
}

fn error_response(status: u16) -> Response {
    let body = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorBody")))
        .build();
    let response = ResponseBuilder::new()
        .description(description(status))
        .content("application/json", body);
    if status != 429 {
        return response.build();
    }
    let seconds = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some("seconds to wait before trying again"))
        .build();
    response.header("Retry-After", seconds).build()
}

/// One `ErrorBody` response per status, plus those of [`EVERY_ROUTE`].
pub(super) fn error_responses(statuses: &[u16]) -> BTreeMap<String, RefOr<Response>> {
    statuses
        .iter()
        .chain(EVERY_ROUTE)
        .map(|&status| (status.to_string(), RefOr::T(error_response(status))))
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
    /// Every operation that takes credentials: beyond what every route can answer, no role.
    CallerErrors: [403]
);
error_set!(
    /// Routes that need no credentials, the login included.
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
