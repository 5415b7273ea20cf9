//! A signed request's body, hashed as it streams in: kept whole up to [`BODY_LIMIT`] (what a
//! handler may read), hashed whole up to [`DRAIN_LIMIT`] (so that a genuine caller with a larger
//! body can still be told so); beyond that it cannot be verified and is refused unread.

use axum::body::{Body, HttpBody};
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::error::DasError;
use crate::http::extract::{BODY_LIMIT, DRAIN_LIMIT};

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
        let frame =
            frame.map_err(|_| DasError::MalformedJson("the body could not be read".into()))?;
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
