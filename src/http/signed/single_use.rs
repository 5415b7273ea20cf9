//! The replay cache as signed requests use it: which requests are single-use, taking a
//! signature (401 for one already taken, 429 when the cache is full), and giving it back when
//! the request is refused afterwards for another reason. On a store several replicas share, a
//! signature this replica accepts is also claimed in the store ([`claim_shared`]), so it cannot
//! be replayed through another replica.

use std::sync::MutexGuard;
use std::sync::atomic::{AtomicI64, Ordering};

use axum::http::Method;

use super::refused;
use crate::error::DasError;
use crate::http::AppState;
use crate::http::metrics::{LimitKind, limit_hit};
use crate::signing::replay::{ReplayCache, ReplayRefusal, Signature};

/// Whether a signature of this request is accepted once only: always for requests that can
/// change something; for reads when `signature_single_use_reads` says so.
pub(super) fn single_use(method: &Method, state: &AppState) -> bool {
    !matches!(*method, Method::GET | Method::HEAD) || state.settings.signatures.single_use_reads
}

/// A signature taken into the replay cache.
pub(super) struct ReplayTicket {
    signature: Signature,
    date: i64,
}

impl ReplayTicket {
    pub(super) fn forget(self, state: &AppState) {
        replays(state).forget(&self.signature, self.date);
    }
}

fn replays(state: &AppState) -> MutexGuard<'_, ReplayCache> {
    state
        .guards
        .replays
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

pub(super) fn remember(
    state: &AppState,
    signature: Signature,
    date: i64,
) -> Result<ReplayTicket, DasError> {
    let now = crate::clock::now_ms() / 1000;
    match replays(state).remember(signature, date, now) {
        Ok(()) => Ok(ReplayTicket { signature, date }),
        Err(ReplayRefusal::Replayed) => Err(refused(
            "replayed",
            "this signature was already used: sign each request anew (the SDK's X-Sdk-Date \
             has one-second resolution, so identical requests need a second between them)",
        )),
        Err(ReplayRefusal::Full { retry_after_secs }) => {
            warn_cache_full(now, state.settings.signatures.replay_cache_entries);
            limit_hit(LimitKind::ReplayCacheFull);
            Err(DasError::RateLimited { retry_after_secs })
        }
    }
}

/// Logs a full replay cache at most once a minute (it refuses signed writes meanwhile).
fn warn_cache_full(now: i64, entries: usize) {
    static LAST_WARNED: AtomicI64 = AtomicI64::new(i64::MIN);
    let last = LAST_WARNED.load(Ordering::Relaxed);
    if now.saturating_sub(last) >= 60
        && LAST_WARNED
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        tracing::warn!(
            "the replay cache holds {entries} live signatures: signed requests that change \
             something are refused (429) until the oldest leave the clock window; raise \
             signature_replay_cache_entries if this is legitimate traffic"
        );
    }
}

/// Claims an accepted signature in the shared store until it leaves the clock window; a
/// signature another replica took already is a replay. A store that cannot answer refuses the
/// request: a signed request whose freshness cannot be proven is not run.
pub(super) async fn claim_shared(
    state: &AppState,
    signature: &Signature,
    date: i64,
) -> Result<(), DasError> {
    if !state.settings.store.is_shared() {
        return Ok(());
    }
    let key: String = signature.iter().map(|b| format!("{b:02x}")).collect();
    let until_ms = date
        .saturating_add(state.settings.signatures.max_skew_secs)
        .saturating_add(1)
        .saturating_mul(1000);
    match state.store.claim_signature(&key, until_ms).await {
        Ok(true) => Ok(()),
        Ok(false) => Err(refused(
            "replayed",
            "this signature was already used (on another replica): sign each request anew",
        )),
        Err(e) => Err(DasError::from(e)),
    }
}
