//! The change feed of a shared PostgreSQL store: a dedicated `LISTEN dbkill_changes` connection
//! (the store's triggers notify on every write to what the cache holds) that invalidates this
//! replica's cache, and a ping this replica sends itself through the same channel every
//! [`PING_EVERY`]: hearing it proves every change committed before it was heard too
//! (notifications arrive in commit order), which is what lets the cache answer
//! ([`Coherence::confirm`]). If the listening connection dies or hangs, the pings stop being
//! heard and the cache stops answering within [`super::coherence::TRUST_FOR`]; a listener that
//! hears nothing for [`RESTART_AFTER`] is replaced.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use super::coherence::Coherence;

/// The channel the store's triggers notify on.
pub const CHANNEL: &str = "dbkill_changes";
pub const PING_EVERY: Duration = Duration::from_millis(250);
const RESTART_AFTER: Duration = Duration::from_secs(5);
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Runs the feed until the returned handle is aborted (or dropped with [`ChangeFeed`]).
pub struct ChangeFeed {
    task: JoinHandle<()>,
}

impl Drop for ChangeFeed {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ChangeFeed {
    pub fn start(pool: PgPool, coherence: Arc<Coherence>) -> Self {
        Self {
            task: tokio::spawn(supervise(pool, coherence)),
        }
    }
}

/// Keeps one listener running and pings through it; replaces a listener that hears nothing.
async fn supervise(pool: PgPool, coherence: Arc<Coherence>) {
    let token = format!("ping:{}", uuid::Uuid::new_v4().simple());
    let heard = Arc::new(std::sync::Mutex::new(Instant::now()));
    let mut listener = tokio::spawn(listen(
        pool.clone(),
        coherence.clone(),
        token.clone(),
        heard.clone(),
    ));
    let mut ticker = tokio::time::interval(PING_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let ping = sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(&token)
            .execute(&pool);
        if let Err(e) = tokio::time::timeout(PING_TIMEOUT, ping)
            .await
            .map_err(|_| "timed out".to_string())
            .and_then(|r| r.map_err(|e| e.to_string()))
        {
            tracing::debug!("store change feed: ping failed: {e}");
        }
        let silent_for = heard.lock().unwrap_or_else(|p| p.into_inner()).elapsed();
        if listener.is_finished() || silent_for > RESTART_AFTER {
            tracing::warn!(
                "store change feed: the listener heard nothing for {silent_for:?}; reconnecting (the cache is off meanwhile)"
            );
            listener.abort();
            coherence.lost();
            *heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
            listener = tokio::spawn(listen(
                pool.clone(),
                coherence.clone(),
                token.clone(),
                heard.clone(),
            ));
        }
    }
}

/// Listens until aborted: its own ping confirms, anything else invalidates, a lost connection
/// (the listener reconnects by itself on the next receive) invalidates and withdraws trust.
async fn listen(
    pool: PgPool,
    coherence: Arc<Coherence>,
    token: String,
    heard: Arc<std::sync::Mutex<Instant>>,
) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::debug!("store change feed: cannot connect: {e}");
                tokio::time::sleep(PING_EVERY).await;
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::debug!("store change feed: cannot LISTEN: {e}");
            tokio::time::sleep(PING_EVERY).await;
            continue;
        }
        // What changed while nobody listened is unknown.
        coherence.invalidate();
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => {
                    *heard.lock().unwrap_or_else(|p| p.into_inner()) = Instant::now();
                    if n.payload() == token {
                        coherence.confirm();
                    } else if !n.payload().starts_with("ping:") {
                        coherence.invalidate();
                    }
                }
                // The connection was lost; the next receive reconnects and listens again.
                Ok(None) => coherence.lost(),
                Err(e) => {
                    tracing::debug!("store change feed: {e}");
                    coherence.lost();
                    break;
                }
            }
        }
        tokio::time::sleep(PING_EVERY).await;
    }
}
