//! Operational endpoints that need no credentials: health and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use super::openapi::{HealthErrors, OpenErrors};
use crate::error::DasResult;

/// 200 when the store can write (a small real write, at most one a second whoever asks); 503
/// with a DAS error body when it cannot.
#[utoipa::path(get, path = "/healthz", tag = "operations", security(()),
    responses((status = 200, description = "The store can write", content_type = "text/plain", body = String),
              HealthErrors))]
pub async fn healthz(State(state): State<AppState>) -> DasResult<&'static str> {
    state.services.health().await?;
    Ok("ok")
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations", security(()),
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain", body = String),
              OpenErrors))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
