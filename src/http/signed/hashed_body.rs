//! A signed request's body, hashed as it streams in: kept whole up to [`BODY_LIMIT`] (what a
//! handler may read), hashed whole up to [`DRAIN_LIMIT`] (so that a genuine caller with a larger
//! body can still be told so); beyond that it cannot be verified and is refused unread. An access
//! key's id is no secret, so until the signature is proven a body over [`SMALL_BODY`] is read
//! only in one of [`LARGE_BODY_SLOTS`]: a flood of large bodies under a real key's id holds at
//! most that many MiB.

use std::time::Duration;

use axum::body::{Body, HttpBody};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::error::DasError;
use crate::http::extract::{BODY_LIMIT, DRAIN_LIMIT, body_error};
use crate::http::metrics::{LimitKind, limit_hit};

/// Bodies up to this size (by their `Content-Length`) are read without a slot.
pub const SMALL_BODY: u64 = 64 * 1024;
/// Larger bodies of signed requests read at once, all callers together.
pub const LARGE_BODY_SLOTS: usize = 16;
/// How long a large body waits for a slot before the request is answered 429.
const SLOT_WAIT: Duration = Duration::from_secs(2);

/// Whether the body may be larger than [`SMALL_BODY`] (a chunked one may).
pub(super) fn may_be_large(body: &Body) -> bool {
    body.size_hint().upper().is_none_or(|n| n > SMALL_BODY)
}

/// A slot to read a large body in, waiting [`SLOT_WAIT`] at most.
pub(super) async fn large_body_slot(slots: &Semaphore) -> Result<SemaphorePermit<'_>, DasError> {
    match tokio::time::timeout(SLOT_WAIT, slots.acquire()).await {
        Ok(Ok(permit)) => Ok(permit),
        _ => {
            limit_hit(LimitKind::SignedBodiesBusy);
            Err(DasError::RateLimited {
                retry_after_secs: 1,
            })
        }
    }
}

/// The body as it streamed in.
pub(super) struct HashedBody {
    /// The whole body, or nothing when it is over [`BODY_LIMIT`].
    pub kept: Vec<u8>,
    pub len: usize,
    pub sha256: [u8; 32],
}

pub(super) async fn read_hashed(mut body: Body) -> Result<HashedBody, DasError> {
    let expected = body.size_hint().exact().unwrap_or(0);
    let mut kept = Vec::with_capacity(usize::try_from(expected).unwrap_or(0).min(BODY_LIMIT));
    let mut hasher = Sha256::new();
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| body_error(&e))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        len += data.len();
        if len > DRAIN_LIMIT {
            return Err(DasError::BodyTooLarge);
        }
        hasher.update(&data);
        if len <= BODY_LIMIT {
            kept.extend_from_slice(&data);
        } else if kept.capacity() > 0 {
            kept = Vec::new();
        }
    }
    Ok(HashedBody {
        kept,
        len,
        sha256: hasher.finalize().into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signing::PayloadHash;

    #[tokio::test]
    async fn bodies_are_hashed_whole_kept_to_the_limit_and_refused_beyond_the_drain() {
        let small = read_hashed(Body::from(&b"abc"[..])).await.ok().unwrap();
        assert_eq!(small.kept, b"abc");
        assert_eq!(PayloadHash::Sha256(small.sha256), PayloadHash::of(b"abc"));
        let big = vec![b'x'; BODY_LIMIT + 1];
        let read = read_hashed(Body::from(big.clone())).await.ok().unwrap();
        assert!(read.kept.is_empty(), "nothing kept past the limit");
        assert_eq!(read.len, BODY_LIMIT + 1);
        assert_eq!(PayloadHash::Sha256(read.sha256), PayloadHash::of(&big));
        let huge = Body::from(vec![b'x'; DRAIN_LIMIT + 1]);
        assert!(matches!(
            read_hashed(huge).await,
            Err(DasError::BodyTooLarge)
        ));
    }
}
