//! HTTP/1.1 by hand over a real socket, for what a client library will not send: heads that are
//! too long or malformed, heads and bodies sent byte by byte, connections that never speak. An
//! answer is read until the server closes the connection or the time given runs out.

use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// An answer as it came off the wire.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    pub head: String,
    pub body: Value,
}

impl RawAnswer {
    /// The value of header `name` (lower case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// The address (`127.0.0.1:port`) of a `http://…` base URL.
pub fn addr_of(base: &str) -> String {
    base.trim_start_matches("http://")
        .trim_start_matches("https://")
        .to_owned()
}

pub async fn connect(base: &str) -> TcpStream {
    TcpStream::connect(addr_of(base)).await.expect("connect")
}

/// Parses one answer from `bytes` (head, then a `content-length` body).
pub fn parse_answer(bytes: &[u8]) -> Option<RawAnswer> {
    let text = String::from_utf8_lossy(bytes);
    let (head, rest) = text.split_once("\r\n\r\n")?;
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let mut answer = RawAnswer {
        status,
        head: head.to_owned(),
        body: Value::Null,
    };
    let length: usize = answer.header("content-length")?.parse().ok()?;
    if rest.len() < length {
        return None;
    }
    answer.body = serde_json::from_str(&rest[..length]).unwrap_or(Value::Null);
    Some(answer)
}

/// Reads until one complete answer is in, the peer closes, or `limit` passes.
pub async fn read_answer<S: AsyncRead + Unpin>(
    stream: &mut S,
    limit: Duration,
) -> Option<RawAnswer> {
    let deadline = tokio::time::Instant::now() + limit;
    let mut bytes = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        if let Some(answer) = parse_answer(&bytes) {
            return Some(answer);
        }
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) | Err(_) => return parse_answer(&bytes),
            Ok(Ok(n)) => bytes.extend_from_slice(&chunk[..n]),
        }
    }
}

/// Sends `request` whole and reads the answer.
pub async fn exchange(base: &str, request: &[u8]) -> RawAnswer {
    let mut stream = connect(base).await;
    // The server may answer and close before it has read everything (a head over its limit).
    let _ = stream.write_all(request).await;
    read_answer(&mut stream, Duration::from_secs(10))
        .await
        .expect("an answer")
}

/// How the server ended a connection that was left alone.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Closed (EOF or reset) after this long.
    Closed(Duration),
    /// Still open when the wait ended.
    StillOpen,
}

/// Waits up to `limit` for the server to close `stream`, discarding whatever it sends first.
pub async fn wait_for_close<S: AsyncRead + Unpin>(stream: &mut S, limit: Duration) -> Ending {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
            Err(_) => return Ending::StillOpen,
            Ok(Ok(0)) | Ok(Err(_)) => return Ending::Closed(started.elapsed()),
            Ok(Ok(_)) => {}
        }
    }
}

/// Writes `bytes` one at a time, `every` apart, until done or the peer refuses a write; `true`
/// if the server cut it off first.
pub async fn trickle<S: AsyncWrite + Unpin>(stream: &mut S, bytes: &[u8], every: Duration) -> bool {
    for b in bytes {
        if stream.write_all(&[*b]).await.is_err() {
            return true;
        }
        tokio::time::sleep(every).await;
    }
    false
}
