//! The rule every driver's lifeline follows: one connection per (instance, db user), opened on
//! first use, shared by every call in turn; a call that may have broken it (lost, or cut short
//! by its deadline, which leaves a statement half-read) drops it, and a lost one is reopened
//! and the call retried once.

use std::future::Future;
use std::pin::Pin;

use async_trait::async_trait;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::EngineError;

pub(crate) type OpFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, EngineError>> + Send + 'c>>;

/// A driver that keeps one connection of type `Conn` as its lifeline.
#[async_trait]
pub(crate) trait HoldsLifeline: Send + Sync {
    type Conn: Send;
    fn slot(&self) -> &Mutex<Option<Self::Conn>>;
    /// Opens a new lifeline, all of it done by `until`.
    async fn open(&self, until: Instant) -> Result<Self::Conn, EngineError>;
    /// The lifeline was dropped: whatever the driver knew of it is stale.
    fn forget(&self);
    /// The end of one call started now: the statement timeout, or `until` if sooner.
    fn call_deadline(&self, until: Instant) -> Instant;
}

/// Runs `fut` until `deadline`; a call cut short is a statement timeout.
pub(crate) async fn timed<T>(
    deadline: Instant,
    fut: impl Future<Output = Result<T, EngineError>>,
) -> Result<T, EngineError> {
    tokio::time::timeout_at(deadline, fut)
        .await
        .unwrap_or(Err(EngineError::StatementTimeout))
}

/// Runs `op` on the holder's lifeline, opening it first when needed; `op` gets the deadline of
/// its call.
pub(crate) async fn with_lifeline<H, T, F>(
    holder: &H,
    until: Instant,
    op: F,
) -> Result<T, EngineError>
where
    H: HoldsLifeline + ?Sized,
    F: for<'c> Fn(&'c mut H::Conn, Instant) -> OpFuture<'c, T>,
{
    // Another call may hold the lifeline (a keepalive ping, a reconciliation) on a server that
    // stopped answering: waiting for it counts against this call's time too.
    let mut guard = tokio::time::timeout_at(until, holder.slot().lock())
        .await
        .map_err(|_| EngineError::StatementTimeout)?;
    let mut attempt = 0;
    loop {
        if guard.is_none() {
            *guard = Some(holder.open(until).await?);
        }
        let conn = guard.as_mut().expect("opened above");
        match op(conn, holder.call_deadline(until)).await {
            Err(e @ (EngineError::Unreachable(_) | EngineError::StatementTimeout)) => {
                *guard = None;
                holder.forget();
                attempt += 1;
                if attempt == 2 || matches!(e, EngineError::StatementTimeout) {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}
