//! Webhook events of kill rules, delivered in the background.
//!
//! The rule runner calls [`Notifier::send`] after a kill batch or a pause; `send` never waits:
//! the event goes into a bounded queue, or is dropped (and counted) when the queue is full, so
//! a slow or dead webhook never delays a kill. One background task (`deliver`) POSTs the
//! events in order, retrying with backoff.
//!
//! Counted in `/metrics` as `dbkill_webhook_events_total{result="delivered"|"failed"|"dropped"}`
//! (`failed`: given up after the retries) and in [`Notifier::stats`].
//!
//! An adapter: it uses only its own plain event values, never the service or the HTTP layer.

mod deliver;
mod event;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

use deliver::Delivery;
pub use event::{KilledSession, RuleEvent, RuleEventKind};

/// Why a notifier could not start. No variant carries the URL: it is a secret for Slack.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify_webhook_url must be an http:// or https:// URL with a host")]
    BadUrl,
    #[error("notify_queue_len must be at least 1")]
    EmptyQueue,
    #[error("the webhook client could not be built: {0}")]
    Client(String),
    #[error("the webhook notifier must be started inside a Tokio runtime")]
    NoRuntime,
}

/// The events' fates so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub delivered: u64,
    /// Given up after every retry.
    pub failed: u64,
    /// Not queued: the queue was full.
    pub dropped: u64,
}

/// Sends kill rules' events to the webhook. Cheap to clone; the delivery task stops when the
/// last clone is dropped (after the event it is delivering).
#[derive(Clone)]
pub struct Notifier {
    /// `None`: no webhook is configured; events are dropped without counting.
    queue: Option<mpsc::Sender<RuleEvent>>,
    counters: Arc<Counters>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier")
            .field("enabled", &self.queue.is_some())
            .finish_non_exhaustive()
    }
}

impl Notifier {
    /// A notifier of `url` (`notify_webhook_url`) with a queue of `queue_len` events; its
    /// delivery task is spawned on the current Tokio runtime. `None` → [`Notifier::disabled`].
    pub fn start(url: Option<String>, queue_len: usize) -> Result<Notifier, NotifyError> {
        Self::start_with(url, queue_len, Delivery::default())
    }

    fn start_with(
        url: Option<String>,
        queue_len: usize,
        delivery: Delivery,
    ) -> Result<Notifier, NotifyError> {
        let Some(url) = url else {
            return Ok(Notifier::disabled());
        };
        let url = webhook_url(&url)?;
        if queue_len == 0 {
            return Err(NotifyError::EmptyQueue);
        }
        let runtime = tokio::runtime::Handle::try_current().map_err(|_| NotifyError::NoRuntime)?;
        let client = delivery.client()?;
        let counters = Arc::new(Counters::default());
        let (tx, rx) = mpsc::channel(queue_len);
        runtime.spawn(deliver::run(client, url, rx, counters.clone(), delivery));
        Ok(Notifier {
            queue: Some(tx),
            counters,
        })
    }

    /// A notifier that drops every event: no webhook is configured.
    pub fn disabled() -> Notifier {
        Notifier {
            queue: None,
            counters: Arc::default(),
        }
    }

    /// Queues `event` for delivery; never blocks. A full queue drops it (counted).
    pub fn send(&self, event: RuleEvent) {
        let Some(queue) = &self.queue else { return };
        match queue.try_send(event) {
            Ok(()) => {}
            // Closed only if the delivery task is gone (its runtime stopped): the event is
            // lost either way.
            Err(TrySendError::Full(_) | TrySendError::Closed(_)) => {
                self.counters.record(Outcome::Dropped)
            }
        }
    }

    /// Delivered, failed and dropped events since the start (all 0 when disabled).
    pub fn stats(&self) -> NotifyStats {
        let c = &self.counters;
        NotifyStats {
            delivered: c.delivered.load(Ordering::Relaxed),
            failed: c.failed.load(Ordering::Relaxed),
            dropped: c.dropped(),
        }
    }
}

/// Only http(s) with a host: anything else (a typo, `file:`, a bare path) would fail every
/// delivery, so it stops the start instead.
fn webhook_url(raw: &str) -> Result<reqwest::Url, NotifyError> {
    let url = reqwest::Url::parse(raw.trim()).map_err(|_| NotifyError::BadUrl)?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        _ => Err(NotifyError::BadUrl),
    }
}

#[derive(Debug, Clone, Copy)]
enum Outcome {
    Delivered,
    Failed,
    Dropped,
}

#[derive(Default)]
struct Counters {
    delivered: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
}

impl Counters {
    fn record(&self, outcome: Outcome) {
        let (counter, result) = match outcome {
            Outcome::Delivered => (&self.delivered, "delivered"),
            Outcome::Failed => (&self.failed, "failed"),
            Outcome::Dropped => (&self.dropped, "dropped"),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("dbkill_webhook_events_total", "result" => result).increment(1);
    }

    fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}
