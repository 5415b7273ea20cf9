//! DAS error bodies for the requests hyper refuses itself.
//!
//! hyper answers a head it cannot parse (a bad request line or header: 400; a request target
//! over 65,534 bytes: 414; a head over its buffer or with over 100 headers: 431) on its own,
//! with an empty body, and closes the connection; it offers no hook to shape that answer. This
//! wrapper sits between hyper and the socket and replaces exactly those answers with the DAS
//! error envelope (`APIGW.0201`, English: the request was never read, so neither was its
//! `X-Language`) and a fresh `X-Request-Id`. It recognises them by what only they are: the last
//! bytes hyper writes on the connection, a complete response head of status 400, 414 or 431
//! with `content-length: 0` and no `x-request-id` (which every answer of the router carries).
//! JSON bodies escape CR and LF, so no answer of dbkill's can end in such a head by chance.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::error::{DasError, Rejection};
use crate::http::error::{Lang, status_and_body};

/// hyper's own answers are short; only the tail of a write can hold one.
const LONGEST_AUTOMATIC_HEAD: usize = 256;

pub struct DasRejections<S> {
    inner: S,
    /// The replacement answer being written, and how much of it is out.
    replacement: Option<(Vec<u8>, usize)>,
    /// How many of hyper's bytes the replacement stands for (reported once it is written).
    replaced: usize,
}

impl<S> DasRejections<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            replacement: None,
            replaced: 0,
        }
    }
}

/// Where hyper's automatic refusal starts in `buf`, and which it is.
fn automatic_refusal(buf: &[u8]) -> Option<(usize, Rejection)> {
    if !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let tail_start = buf.len().saturating_sub(LONGEST_AUTOMATIC_HEAD);
    let at = tail_start
        + buf[tail_start..]
            .windows(9)
            .rposition(|w| w == b"HTTP/1.1 ")?;
    let mut headers = [httparse::EMPTY_HEADER; 8];
    let mut head = httparse::Response::new(&mut headers);
    match head.parse(&buf[at..]) {
        Ok(httparse::Status::Complete(n)) if at + n == buf.len() => {}
        _ => return None,
    }
    let rejection = match head.code? {
        400 => Rejection::Malformed,
        414 => Rejection::UriTooLong,
        431 => Rejection::HeadersTooLarge,
        _ => return None,
    };
    let header = |name: &str| {
        head.headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    (header("x-request-id").is_none() && header("content-length") == Some(b"0"))
        .then_some((at, rejection))
}

/// The DAS answer that replaces hyper's, keeping its `date`.
fn replacement(rejection: Rejection, automatic: &[u8]) -> Vec<u8> {
    let (status, body) = status_and_body(&DasError::Rejected(rejection), Lang::En);
    let date = automatic
        .split(|&b| b == b'\n')
        .find(|line| line.len() > 5 && line[..5].eq_ignore_ascii_case(b"date:"))
        .map(|line| String::from_utf8_lossy(line).trim().to_owned());
    let mut out = format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {}\r\nconnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len(),
        uuid::Uuid::new_v4(),
    );
    if let Some(date) = date {
        out.push_str(&date);
        out.push_str("\r\n");
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(&body);
    out
}

impl<S: AsyncWrite + Unpin> DasRejections<S> {
    /// Writes what is left of the replacement; ready once all of it is out.
    fn poll_replacement(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.replacement {
            if *written == bytes.len() {
                self.replacement = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for DasRejections<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for DasRejections<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacement.is_some() {
            ready!(this.poll_replacement(cx))?;
            return Poll::Ready(Ok(std::mem::take(&mut this.replaced).min(buf.len())));
        }
        match automatic_refusal(buf) {
            None => Pin::new(&mut this.inner).poll_write(cx, buf),
            // The bytes before it (the end of an earlier answer) go out as they are first.
            Some((at, _)) if at > 0 => Pin::new(&mut this.inner).poll_write(cx, &buf[..at]),
            Some((_, rejection)) => {
                this.replacement = Some((replacement(rejection, buf), 0));
                this.replaced = buf.len();
                ready!(this.poll_replacement(cx))?;
                Poll::Ready(Ok(std::mem::take(&mut this.replaced)))
            }
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_replacement(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        // hyper then flattens each answer into one buffer, where a refusal is found whole.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYPER_414: &[u8] =
        b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: Thu, 01 Jan 2026 00:00:00 GMT\r\n\r\n";

    #[test]
    fn hyper_refusals_are_found_at_the_end_of_a_write() {
        assert_eq!(
            automatic_refusal(HYPER_414),
            Some((0, Rejection::UriTooLong))
        );
        let mut after_answer =
            b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-request-id: a\r\n\r\n{}".to_vec();
        let at = after_answer.len();
        after_answer.extend_from_slice(HYPER_414);
        assert_eq!(
            automatic_refusal(&after_answer),
            Some((at, Rejection::UriTooLong))
        );
    }

    #[test]
    fn the_routers_answers_are_left_alone() {
        for own in [
            &b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nx-request-id: 1\r\n\r\n"[..],
            b"HTTP/1.1 204 No Content\r\nx-request-id: 1\r\n\r\n",
            b"HTTP/1.1 400 Bad Request\r\ncontent-length: 40\r\n\r\n",
            b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\n\r\n{\"a\":1}",
        ] {
            assert_eq!(
                automatic_refusal(own),
                None,
                "{}",
                String::from_utf8_lossy(own)
            );
        }
    }

    #[test]
    fn the_replacement_is_a_das_error_with_a_request_id() {
        let out = String::from_utf8(replacement(Rejection::UriTooLong, HYPER_414)).unwrap();
        let (head, body) = out.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(head.contains("date: Thu, 01 Jan 2026"), "{head}");
        assert!(head.contains("x-request-id: "), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error_code"], "APIGW.0201");
    }
}
