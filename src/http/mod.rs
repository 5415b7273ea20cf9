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
mod kill_process;
mod limiter;
mod login_throttle;
mod metrics;
mod openapi;
mod ops;
mod pg_processes;
mod processes;
mod projects;
mod rate_limit;
mod roles;
mod rules;
pub mod serve;
mod signed;
mod state;
mod tokens;

use axum::http::HeaderName;
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

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
    let request_id = extract::request_id(req.headers());
    tracing::info_span!(
        "request",
        method = %req.method(),
        path = %req.uri().path(),
        request_id = %request_id,
    )
}

/// Every route, each from its handler's `#[utoipa::path]`: the router and `/openapi.json` are
/// both made from this list.
fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(tokens::create_token, tokens::revoke_token))
        .routes(routes!(projects::create_project, projects::list_projects))
        .routes(routes!(projects::create_user))
        .routes(routes!(
            credentials::create_credential,
            credentials::list_credentials
        ))
        .routes(routes!(credentials::delete_credential))
        .routes(routes!(roles::bind_role, roles::unbind_role))
        .routes(routes!(
            instances::create_instance,
            instances::list_instances
        ))
        .routes(routes!(
            instances::get_instance,
            instances::update_instance,
            instances::delete_instance
        ))
        .routes(routes!(db_users::register_db_user, db_users::list_db_users))
        .routes(routes!(
            db_users::get_db_user,
            db_users::update_db_user,
            db_users::delete_db_user
        ))
        .routes(routes!(processes::list_processes_handler))
        .routes(routes!(kill::kill_sessions_handler))
        .routes(routes!(history::kill_history))
        .routes(routes!(pg_processes::list_pg_processes))
        .routes(routes!(kill_process::kill_process))
        .routes(routes!(rules::get_rule_switch))
        .routes(routes!(rules::set_rule_switch))
        .routes(routes!(rules::add_rule))
        .routes(routes!(rules::preview_rule))
        .routes(routes!(rules::list_rules))
        .routes(routes!(rules::terminate_rule))
        .routes(routes!(rules::kill_all_sessions))
        .routes(routes!(ops::healthz))
        .routes(routes!(ops::metrics))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(console::console_index))
        .routes(routes!(console::console_index_slash))
        .routes(routes!(console::console_file))
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (routes, description) = routes().split_for_parts();
    let api = routes
        .layer(Extension(openapi::Description::new(&description)))
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
