//! The accept loop. It never stops accepting while the server runs (a full backlog would hold
//! legitimate clients behind a flood): connections over the cap make room by evicting a waiting
//! one (see `table`). When `accept` itself fails because descriptors ran out (EMFILE, ENFILE) or
//! the kernel is short of memory, the loop closes the longest-waiting connection to free a
//! descriptor and pauses briefly, or backs off up to half a second when nothing can be closed;
//! the failure is logged at most once every few seconds, with how often it happened meanwhile.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio::sync::watch;

use super::connection::{self, ConnectionContext};
use super::stopping;
use super::table::ConnectionTable;

const LOG_EVERY: Duration = Duration::from_secs(5);
/// After closing a connection to free its descriptor: time for its task to close it.
const AFTER_EVICTION: Duration = Duration::from_millis(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// Lets a repeated event be logged at most once per period, counting the ones left out.
struct Throttled {
    last: Option<Instant>,
    left_out: u64,
}

impl Throttled {
    fn new() -> Self {
        Self {
            last: None,
            left_out: 0,
        }
    }

    /// `Some(events left out since the last log)` when this one may be logged.
    fn admit(&mut self) -> Option<u64> {
        let now = Instant::now();
        if self.last.is_some_and(|last| now - last < LOG_EVERY) {
            self.left_out += 1;
            return None;
        }
        self.last = Some(now);
        Some(std::mem::take(&mut self.left_out))
    }
}

/// Errors about one connection that was gone before it was accepted: nothing to wait for.
fn is_about_one_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

pub async fn accept_loop(
    listener: TcpListener,
    table: Arc<ConnectionTable>,
    ctx: Arc<ConnectionContext>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut refused_log = Throttled::new();
    let mut failure_log = Throttled::new();
    let mut backoff = FIRST_BACKOFF;
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = stopping(&mut shutdown) => return,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = FIRST_BACKOFF;
                let Some(slot) = table.admit() else {
                    metrics::counter!("dbkill_http_connections_closed_total", "reason" => "all_busy")
                        .increment(1);
                    if let Some(left_out) = refused_log.admit() {
                        tracing::warn!(
                            "every connection is busy (max_connections): closing new ones \
                             ({left_out} more since the last message)"
                        );
                    }
                    continue;
                };
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection::run(
                    ctx.clone(),
                    stream,
                    peer,
                    slot,
                    shutdown.clone(),
                ));
            }
            Err(e) if is_about_one_connection(&e) => {}
            Err(e) => {
                metrics::counter!("dbkill_http_accept_failures_total").increment(1);
                let freed = table.evict_oldest_waiting();
                if let Some(left_out) = failure_log.admit() {
                    tracing::warn!(
                        "cannot accept connections: {e} ({left_out} more since the last \
                         message); closing waiting connections to free descriptors"
                    );
                }
                let pause = if freed {
                    AFTER_EVICTION
                } else {
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    backoff
                };
                tokio::select! {
                    () = tokio::time::sleep(pause) => {}
                    () = stopping(&mut shutdown) => return,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_event_is_logged_once_per_period() {
        let mut t = Throttled::new();
        assert_eq!(t.admit(), Some(0));
        assert_eq!(t.admit(), None);
        assert_eq!(t.admit(), None);
        t.last = Some(Instant::now() - LOG_EVERY);
        assert_eq!(t.admit(), Some(2));
    }
}
