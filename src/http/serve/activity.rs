//! What one connection is doing, and when it must be closed for doing nothing.
//!
//! A connection is *busy* while a request is in flight (from the end of its head until hyper
//! has taken the last frame of the answer), and *waiting* otherwise. A waiting connection has a
//! deadline: a fresh one must send a complete head within `header_read_timeout`; a kept-alive one
//! may wait `keep_alive_timeout` for its next request, and once that request's first byte has
//! come, the head must be complete within `header_read_timeout`. Writes of an answer the client
//! is still reading count as activity, so a slow reader is not cut while bytes move. A busy
//! connection has no deadline here: its body has `body_read_timeout` (a layer on the request)
//! and its work the deadlines of the service.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::body::Bytes;
use http_body::Frame;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::table::ConnectionTable;

/// Milliseconds since the connection's start; `NONE` for "not set".
const NONE: u64 = u64::MAX;

/// The timeouts that bound a waiting connection.
#[derive(Clone, Copy, Debug)]
pub struct WaitLimits {
    pub header_read: Duration,
    pub keep_alive: Duration,
}

pub struct Activity {
    pub id: u64,
    started: Instant,
    table: Weak<ConnectionTable>,
    in_flight: AtomicU32,
    /// Whether a request was answered on this connection (then waiting is keep-alive).
    answered: AtomicBool,
    /// When the connection last became waiting.
    waiting_since: AtomicU64,
    /// When the first byte of the next head came, while waiting.
    head_since: AtomicU64,
    /// When a write last made progress.
    last_write: AtomicU64,
    /// Bumped on every change between busy and waiting; eviction checks it is still current.
    generation: AtomicU64,
    /// The deadline may have moved earlier: the watchdog recomputes it.
    changed: Notify,
    /// The connection table wants this connection closed to make room.
    evicted: Notify,
}

/// Why a connection was closed by its watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// No complete head within `header_read_timeout` (a fresh connection, or a started head).
    HeadTimeout,
    /// A kept-alive connection sent no new request within `keep_alive_timeout`.
    IdleTimeout,
}

impl Activity {
    pub fn new(id: u64, table: Weak<ConnectionTable>) -> Arc<Self> {
        Arc::new(Self {
            id,
            started: Instant::now(),
            table,
            in_flight: AtomicU32::new(0),
            answered: AtomicBool::new(false),
            waiting_since: AtomicU64::new(0),
            head_since: AtomicU64::new(NONE),
            last_write: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            changed: Notify::new(),
            evicted: Notify::new(),
        })
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(NONE - 1)
    }

    fn at(&self, ms: u64) -> Instant {
        self.started + Duration::from_millis(ms)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Waiting, and the state `generation` describes: the connection may be evicted.
    pub fn is_waiting_at(&self, generation: u64) -> bool {
        self.in_flight.load(Ordering::SeqCst) == 0 && self.generation() == generation
    }

    pub fn evict(&self) {
        self.evicted.notify_one();
    }

    /// Resolves when the table asked this connection to close and it is still waiting (a
    /// request that started since is never cut).
    pub async fn evicted(&self) {
        loop {
            self.evicted.notified().await;
            if self.in_flight.load(Ordering::SeqCst) == 0 {
                return;
            }
        }
    }

    /// A request's head is complete and its handling starts; the guard ends it.
    pub fn request_started(self: &Arc<Self>) -> RequestGuard {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        self.head_since.store(NONE, Ordering::SeqCst);
        self.generation.fetch_add(1, Ordering::SeqCst);
        RequestGuard(Some(self.clone()))
    }

    fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.answered.store(true, Ordering::SeqCst);
            self.waiting_since.store(self.now_ms(), Ordering::SeqCst);
            let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
            if let Some(table) = self.table.upgrade() {
                table.now_waiting(self.id, generation);
            }
            self.changed.notify_one();
        }
    }

    fn bytes_read(&self) {
        if self.in_flight.load(Ordering::SeqCst) == 0
            && self.head_since.load(Ordering::SeqCst) == NONE
        {
            self.head_since.store(self.now_ms(), Ordering::SeqCst);
            self.changed.notify_one();
        }
    }

    fn bytes_written(&self) {
        self.last_write.store(self.now_ms(), Ordering::Relaxed);
    }

    /// When a waiting connection must be closed, and why; `None` while busy.
    fn deadline(&self, limits: WaitLimits) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let head = self.head_since.load(Ordering::SeqCst);
        if head != NONE {
            return Some((self.at(head) + limits.header_read, Expiry::HeadTimeout));
        }
        let since = self
            .waiting_since
            .load(Ordering::SeqCst)
            .max(self.last_write.load(Ordering::Relaxed));
        Some(if self.answered.load(Ordering::SeqCst) {
            (self.at(since) + limits.keep_alive, Expiry::IdleTimeout)
        } else {
            (self.at(since) + limits.header_read, Expiry::HeadTimeout)
        })
    }

    /// Resolves when the connection has waited too long.
    pub async fn expired(&self, limits: WaitLimits) -> Expiry {
        loop {
            // Registered before the state is read, so no change between the two is missed.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            match self.deadline(limits) {
                None => changed.await,
                Some((at, _)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {
                            // The state may have changed since; only a still-passed deadline counts.
                            if let Some((now_at, now_why)) = self.deadline(limits)
                                && now_at <= Instant::now()
                            {
                                return now_why;
                            }
                        }
                        _ = changed => {}
                    }
                }
            }
        }
    }
}

/// Ends a request's busy time when dropped: with the answer's body, or with the request's
/// future if the connection closes first.
pub struct RequestGuard(Option<Arc<Activity>>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        if let Some(a) = self.0.take() {
            a.request_finished();
        }
    }
}

/// An answer's body that keeps its request busy until hyper has taken its last frame.
pub struct TrackedBody {
    inner: Body,
    guard: Option<RequestGuard>,
}

impl TrackedBody {
    pub fn new(inner: Body, guard: RequestGuard) -> Self {
        Self {
            inner,
            guard: Some(guard),
        }
    }
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if matches!(polled, Poll::Ready(None)) || self.inner.is_end_stream() {
            self.guard.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

/// The connection's byte stream, noting reads (a new head starting) and writes (an answer
/// moving) on its [`Activity`].
pub struct TrackedIo<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> TrackedIo<S> {
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for TrackedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.bytes_read();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for TrackedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let polled = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(polled, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.bytes_written();
        }
        polled
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: WaitLimits = WaitLimits {
        header_read: Duration::from_secs(10),
        keep_alive: Duration::from_secs(30),
    };

    #[tokio::test(start_paused = true)]
    async fn deadlines_follow_the_phase() {
        let a = Activity::new(1, Weak::new());
        let (at, why) = a.deadline(LIMITS).unwrap();
        assert_eq!(why, Expiry::HeadTimeout, "a fresh connection owes a head");
        assert_eq!(at - a.started, LIMITS.header_read);

        let guard = a.request_started();
        assert!(a.deadline(LIMITS).is_none(), "busy: no deadline");
        tokio::time::advance(Duration::from_secs(100)).await;
        drop(guard);
        let (at, why) = a.deadline(LIMITS).unwrap();
        assert_eq!(why, Expiry::IdleTimeout);
        assert_eq!(at - Instant::now(), LIMITS.keep_alive);

        tokio::time::advance(Duration::from_secs(1)).await;
        a.bytes_read();
        let (at, why) = a.deadline(LIMITS).unwrap();
        assert_eq!(
            why,
            Expiry::HeadTimeout,
            "a started head has the header timeout"
        );
        assert_eq!(at - Instant::now(), LIMITS.header_read);
    }

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_fires_at_the_earlier_deadline() {
        let a = Activity::new(1, Weak::new());
        let guard = a.request_started();
        drop(guard);
        let watchdog = tokio::spawn({
            let a = a.clone();
            async move { a.expired(LIMITS).await }
        });
        tokio::time::advance(Duration::from_secs(5)).await;
        a.bytes_read();
        let started = Instant::now();
        assert_eq!(watchdog.await.unwrap(), Expiry::HeadTimeout);
        assert_eq!(Instant::now() - started, LIMITS.header_read);
    }
}
