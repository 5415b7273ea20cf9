//! Operational endpoints that need no credentials: health and metrics.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use super::AppState;
use crate::error::{DasError, DasResult};

/// 200 when the store answers.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "The store answers"), (status = 500, body = super::error::ErrorBody)))]
pub async fn healthz(State(state): State<AppState>) -> DasResult<&'static str> {
    state.store.ping().await.map_err(DasError::from)?;
    Ok("ok")
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition")))]
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
