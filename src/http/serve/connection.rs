//! One client connection: the TLS handshake when serving HTTPS, then HTTP/1.1 through hyper
//! until the client leaves, its [`Activity`] watchdog expires, the table evicts it, or the
//! server stops (then the request in flight, a kill included, is answered first).
//!
//! Only HTTP/1.1 is spoken: every client of dbkill (the SDKs, the CLI, browsers) speaks it, its
//! timeouts are the ones this module enforces, and HTTP/2's own attack surface stays out.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;
use tower_http::timeout::DeadlineBody;

use super::activity::{Activity, Expiry, TrackedBody, TrackedIo, WaitLimits};
use super::rejections::DasRejections;
use super::stopping;
use super::table::Slot;

/// The most of a request's head a connection buffers: a longest request target (65,534 bytes)
/// fits; a larger head is refused with 431.
pub const MAX_HEAD_BYTES: usize = 128 * 1024;

/// What every connection is served with.
pub struct ConnectionContext {
    pub router: Router,
    pub tls: Option<TlsAcceptor>,
    pub limits: WaitLimits,
    pub body_read_timeout: Duration,
    pub http1: http1::Builder,
}

impl ConnectionContext {
    pub fn http1() -> http1::Builder {
        let mut http1 = http1::Builder::new();
        http1
            .keep_alive(true)
            // hyper's default, ~400 KB, would let `max_connections` slow heads hold gigabytes.
            .max_buf_size(MAX_HEAD_BYTES)
            // The head's deadline is the connection watchdog's; hyper's own timer is off.
            .header_read_timeout(None::<Duration>)
            .writev(false);
        http1
    }
}

/// Serves the connection in `slot` until it ends, then frees the slot.
pub async fn run(
    ctx: Arc<ConnectionContext>,
    stream: TcpStream,
    peer: SocketAddr,
    slot: Slot,
    shutdown: watch::Receiver<bool>,
) {
    let activity = slot.activity.clone();
    metrics::gauge!("dbkill_http_connections_open").increment(1);
    let closed_because = tokio::select! {
        () = serve(&ctx, stream, peer, &activity, shutdown) => "ended",
        why = activity.expired(ctx.limits) => {
            tracing::debug!(%peer, "closing the connection: {why:?}");
            match why {
                Expiry::HeadTimeout => "header_timeout",
                Expiry::IdleTimeout => "keep_alive_timeout",
            }
        }
        () = activity.evicted() => {
            tracing::debug!(%peer, "closing a waiting connection to make room for a new one");
            "evicted"
        }
    };
    drop(slot);
    metrics::gauge!("dbkill_http_connections_open").decrement(1);
    metrics::counter!("dbkill_http_connections_closed_total", "reason" => closed_because)
        .increment(1);
}

async fn serve(
    ctx: &ConnectionContext,
    stream: TcpStream,
    peer: SocketAddr,
    activity: &Arc<Activity>,
    mut shutdown: watch::Receiver<bool>,
) {
    let Some(acceptor) = &ctx.tls else {
        return serve_http(ctx, stream, peer, activity, shutdown).await;
    };
    let handshake = tokio::select! {
        r = acceptor.accept(stream) => r,
        () = stopping(&mut shutdown) => return,
    };
    match handshake {
        Ok(tls) => serve_http(ctx, tls, peer, activity, shutdown).await,
        Err(e) => tracing::debug!(%peer, "TLS handshake failed: {e}"),
    }
}

async fn serve_http<S>(
    ctx: &ConnectionContext,
    io: S,
    peer: SocketAddr,
    activity: &Arc<Activity>,
    mut shutdown: watch::Receiver<bool>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(DasRejections::new(TrackedIo::new(io, activity.clone())));
    let service = {
        let (router, activity) = (ctx.router.clone(), activity.clone());
        let body_read_timeout = ctx.body_read_timeout;
        hyper::service::service_fn(move |req| {
            handle(router.clone(), &activity, peer, body_read_timeout, req)
        })
    };
    let conn = ctx.http1.serve_connection(io, service);
    tokio::pin!(conn);
    let served = tokio::select! {
        r = conn.as_mut() => r,
        () = stopping(&mut shutdown) => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = served {
        tracing::debug!(%peer, "connection ended: {e}");
    }
}

/// One request: busy from here until hyper has taken the answer's last frame; the client's
/// address for the layers that count per address; the body bounded by `body_read_timeout`.
fn handle(
    router: Router,
    activity: &Arc<Activity>,
    peer: SocketAddr,
    body_read_timeout: Duration,
    mut req: hyper::Request<Incoming>,
) -> impl Future<Output = Result<hyper::Response<TrackedBody>, Infallible>> + use<> {
    let guard = activity.request_started();
    req.extensions_mut().insert(ConnectInfo(peer));
    let req = req.map(|body| Body::new(DeadlineBody::new(body_read_timeout, body)));
    async move {
        let resp = match router.oneshot(req).await {
            Ok(resp) => resp,
            Err(never) => match never {},
        };
        Ok(resp.map(|body| TrackedBody::new(body, guard)))
    }
}
