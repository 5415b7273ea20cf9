//! Assertions on DAS error answers: the HTTP status with the `error_code`, what the message
//! names, the exact shape of the envelope, and that a timeout error came in time. Failures show
//! the request and the answer.

use std::time::{Duration, Instant};

use super::app::Resp;

/// `r` is the DAS error `code` with HTTP `status`.
#[track_caller]
pub fn assert_das_error(r: &Resp, status: u16, code: &str) {
    assert_eq!(
        (r.status.as_u16(), r.code()),
        (status, code),
        "{}: {}",
        r.request,
        r.text
    );
}

/// [`assert_das_error`], and the message contains `says` (the field at fault, or the reason).
#[track_caller]
pub fn assert_das_error_says(r: &Resp, status: u16, code: &str, says: &str) {
    assert_das_error(r, status, code);
    assert!(r.msg().contains(says), "{}: {}", r.request, r.msg());
}

/// [`assert_das_error`], and the body is the whole envelope: `error_code` and an `error_msg` of
/// 2 to 512 characters, nothing else.
#[track_caller]
pub fn assert_envelope(r: &Resp, status: u16, code: &str) {
    assert_das_error(r, status, code);
    let msg = r.msg();
    assert!((2..=512).contains(&msg.chars().count()), "{msg}");
    assert_eq!(
        r.body.as_object().unwrap().len(),
        2,
        "only error_code and error_msg: {}",
        r.text
    );
}

/// Less than `limit` has passed since `started`: an error came within its timeout, not after a
/// hang.
#[track_caller]
pub fn assert_within(started: Instant, limit: Duration) {
    let elapsed = started.elapsed();
    assert!(elapsed < limit, "{elapsed:?}, not within {limit:?}");
}
