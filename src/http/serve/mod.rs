//! dbkill's own serve loop, in place of `axum::serve`, which bounds nothing: every connection
//! here has a deadline for its head (`header_read_timeout`), its body (`body_read_timeout`) and
//! its idle keep-alive (`keep_alive_timeout`); at most `max_connections` are served, the longest
//! waiting one making room for a new one; the open-file limit is raised to its hard limit and
//! the cap kept below it; running out of descriptors pauses the accept loop without flooding
//! the log; HTTPS uses a certificate reloaded on SIGHUP; hyper's own refusals carry a DAS body.
//! On shutdown it stops accepting, closes waiting connections and lets requests in flight
//! (kills included) finish.
//!
//! - `accept`: the accept loop and its back-off.
//! - `table`: admission under the cap, eviction, the wait at shutdown.
//! - `activity`: what a connection is doing and its deadlines (the watchdog).
//! - `connection`: one connection through TLS and hyper.
//! - `rejections`: DAS bodies for hyper's automatic 400 / 414 / 431.
//! - `descriptors`: `RLIMIT_NOFILE`.
//! - `tls`: certificates and their reload.

mod accept;
mod activity;
mod connection;
mod descriptors;
mod rejections;
mod table;
mod tls;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ListenerSettings;
use activity::WaitLimits;
use connection::ConnectionContext;
use table::ConnectionTable;
pub use tls::CurrentCertificate;

/// Resolves once the server is stopping (or gone).
async fn stopping(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Serves `router` on `listener` until `shutdown` resolves, then waits for every request in
/// flight to be answered. With `tls`, speaks HTTPS only.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    settings: &ListenerSettings,
    tls: Option<Arc<CurrentCertificate>>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let cap = descriptors::connection_cap(settings.max_connections, descriptors::raise_limit());
    let table = ConnectionTable::new(cap);
    let reloader = match &tls {
        Some(certificate) => Some(certificate.clone().reload_on_sighup()?),
        None => None,
    };
    let ctx = Arc::new(ConnectionContext {
        router,
        tls: tls.as_ref().map(|t| t.acceptor()).transpose()?,
        limits: WaitLimits {
            header_read: settings.header_read_timeout,
            keep_alive: settings.keep_alive_timeout,
        },
        body_read_timeout: settings.body_read_timeout,
        http1: ConnectionContext::http1(),
    });
    let (stop, stopped) = watch::channel(false);
    let accepting = tokio::spawn(accept::accept_loop(listener, table.clone(), ctx, stopped));
    shutdown.await;
    stop.send_replace(true);
    // The listener closes with the loop; then the connections still open finish their requests.
    let _ = accepting.await;
    table.drained().await;
    if let Some(reloader) = reloader {
        reloader.abort();
    }
    Ok(())
}
