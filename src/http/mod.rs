//! The HTTP surface: the router, authentication, request parsing and the one error mapping.
//! One file per resource; handlers are named `<verb>_<resource>`. Handlers parse, call the
//! service (or, for identity and catalog reads that reach no target, the store) and shape the
//! answer; nothing below `http` imports `http`.

mod access;
pub mod auth;
mod client_limit;
mod console;
mod content_type;
mod credentials;
mod db_users;
pub mod error;
pub mod extract;
mod failure_sketch;
mod history;
mod instances;
mod kill;
mod limiter;
mod login_throttle;
mod metrics;
mod openapi;
mod ops;
mod processes;
mod projects;
mod rate_limit;
mod roles;
pub mod serve;
mod signed;
mod state;
mod tokens;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::{delete, get, post, put};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

use crate::error::DasError;
pub use state::{AppState, Guards};

pub use metrics::MetricsHandle;

async fn no_route() -> DasError {
    DasError::NoRoute
}

fn panic_response(_: Box<dyn std::any::Any + Send + 'static>) -> axum::response::Response {
    axum::response::IntoResponse::into_response(DasError::Internal("handler panicked".into()))
}

/// The span every log line of a request shares, kills included: method, path (no query) and
/// the request id the client sees in `X-Request-Id`.
fn request_span(req: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
    )
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let api = Router::new()
        .route(
            "/v3/auth/tokens",
            post(tokens::create_token).delete(tokens::revoke_token),
        )
        .route(
            "/v3/projects",
            post(projects::create_project).get(projects::list_projects),
        )
        .route("/v3/users", post(projects::create_user))
        .route(
            "/v3.0/OS-CREDENTIAL/credentials",
            post(credentials::create_credential).get(credentials::list_credentials),
        )
        .route(
            "/v3.0/OS-CREDENTIAL/credentials/{access}",
            delete(credentials::delete_credential),
        )
        .route(
            "/v3/projects/{project_id}/users/{user_id}/roles/{role}",
            put(roles::bind_role).delete(roles::unbind_role),
        )
        .route(
            "/v3/{project_id}/instances",
            post(instances::create_instance).get(instances::list_instances),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}",
            get(instances::get_instance)
                .put(instances::update_instance)
                .delete(instances::delete_instance),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}/db-users",
            post(db_users::register_db_user).get(db_users::list_db_users),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}/db-users/{db_user_id}",
            get(db_users::get_db_user)
                .put(db_users::update_db_user)
                .delete(db_users::delete_db_user),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}/processes",
            get(processes::list_processes_handler),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}/process",
            delete(kill::kill_sessions_handler),
        )
        .route(
            "/v3/{project_id}/instances/{instance_id}/auto-flow/query-kill-process-history",
            get(history::kill_history),
        )
        .route("/healthz", get(ops::healthz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(openapi::openapi_json))
        .route("/console", get(console::console_index))
        .route("/console/", get(console::console_index))
        .route("/console/{file}", get(console::console_file))
        .fallback(no_route)
        .method_not_allowed_fallback(no_route)
        .with_state(state.clone());
    // Credentials and rate limits are settled before any handler runs or any body is read.
    api.layer(axum::middleware::from_fn_with_state(
        state.clone(),
        auth::authenticate,
    ))
    .layer(axum::middleware::from_fn(content_type::require_json))
    .layer(axum::middleware::from_fn_with_state(
        client_limit::ClientRequests::new(state.settings.listener.max_requests_per_client),
        client_limit::limit,
    ))
    .layer(axum::middleware::from_fn_with_state(state, metrics::track))
    .layer(axum::middleware::from_fn(error::localize_errors))
    .layer(CatchPanicLayer::custom(panic_response))
    .layer(TraceLayer::new_for_http().make_span_with(request_span))
    .layer(PropagateRequestIdLayer::new(request_id.clone()))
    .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
    .layer(SetSensitiveRequestHeadersLayer::new([
        axum::http::header::AUTHORIZATION,
        HeaderName::from_static("x-auth-token"),
        HeaderName::from_static("x-subject-token"),
    ]))
}
