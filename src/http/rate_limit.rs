//! Per-caller rate limiting (429 APIGW.0308). A caller is its token when it sends one, otherwise
//! its client address, so password guessing is limited too.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::config::RateLimit;
use crate::error::DasError;
use crate::secrets::hash_token;

#[derive(Clone)]
pub struct CallerLimiter(Arc<DefaultKeyedRateLimiter<String>>);

impl CallerLimiter {
    pub fn new(limit: RateLimit) -> Self {
        let per_second = NonZeroU32::new(limit.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(limit.burst).unwrap_or(NonZeroU32::MIN);
        Self(Arc::new(RateLimiter::keyed(
            Quota::per_second(per_second).allow_burst(burst),
        )))
    }
}

fn caller_key(req: &Request) -> String {
    if let Some(token) = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
    {
        return format!("token:{}", hash_token(token));
    }
    match req.extensions().get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(addr)) => format!("ip:{}", addr.ip()),
        None => "anonymous".to_owned(),
    }
}

pub async fn limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some(limiter) = &state.limiter {
        let limiter = &limiter.0;
        if limiter.check_key(&caller_key(&req)).is_err() {
            return DasError::RateLimited.into_response();
        }
        // Forget idle callers now and then so the map cannot grow without bound.
        if limiter.len() > 10_000 {
            limiter.retain_recent();
        }
    }
    next.run(req).await
}
