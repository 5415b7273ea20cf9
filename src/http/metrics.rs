//! Prometheus metrics: requests by route and status, a latency histogram, kill outcomes, limits
//! hit and signatures refused. One process-wide recorder (the `metrics` facade is global); every
//! app in a process shares it.

use std::sync::OnceLock;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use super::AppState;

#[derive(Clone)]
pub struct MetricsHandle(PrometheusHandle);

impl MetricsHandle {
    pub fn global() -> Self {
        static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
        let handle = HANDLE.get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                ])
                .expect("static buckets are valid")
                .build_recorder();
            let handle = recorder.handle();
            // Another recorder may exist when dbkill is embedded; then this handle stays empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        });
        Self(handle.clone())
    }

    pub fn render(&self) -> String {
        self.0.render()
    }
}

pub async fn track(State(_): State<AppState>, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = req.method().to_string();
    let start = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("dbkill_http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status).increment(1);
    metrics::histogram!("dbkill_http_request_duration_seconds", "method" => method, "route" => route)
        .record(start.elapsed().as_secs_f64());
    resp
}

/// A limit that held a request back, as `dbkill_rate_limited_total{kind}` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LimitKind {
    /// A client address without valid credentials over its rate.
    Address,
    /// An authenticated user over its rate.
    User,
    /// A new client address refused: the address table is full of addresses over their rate.
    AddressTableFull,
    UserTableFull,
    /// A login that waited its turn after failures of its name or address.
    LoginDelayed,
    /// A login refused (429): its turn was too far off, or too many logins were waiting.
    LoginRefused,
    /// A login refused (429): too many password checks queued.
    LoginBusy,
    /// A signed request refused (429): the replay cache is full of live signatures.
    ReplayCacheFull,
    /// A signed request refused (429): every slot for large unverified bodies stayed taken.
    SignedBodiesBusy,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Address => "address",
            Self::User => "user",
            Self::AddressTableFull => "address_table_full",
            Self::UserTableFull => "user_table_full",
            Self::LoginDelayed => "login_delayed",
            Self::LoginRefused => "login_refused",
            Self::LoginBusy => "login_busy",
            Self::ReplayCacheFull => "replay_cache_full",
            Self::SignedBodiesBusy => "signed_bodies_busy",
        }
    }
}

pub fn limit_hit(kind: LimitKind) {
    metrics::counter!("dbkill_rate_limited_total", "kind" => kind.as_str()).increment(1);
}

/// A signed request refused, by reason (`dbkill_signatures_refused_total{reason}`).
pub fn signature_refused(reason: &'static str) {
    metrics::counter!("dbkill_signatures_refused_total", "reason" => reason).increment(1);
}
