//! A loopback TCP proxy that can go silent, to make a target stop answering without stopping it:
//! in `stall` mode new connections are accepted but never hear back, and open ones stop
//! forwarding in both directions. `hold_answers` is subtler: the connections open at that moment
//! keep delivering statements to the server but hear no answer, while new ones work normally.

#![allow(dead_code)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct StallProxy {
    pub port: u16,
    stalled: Arc<AtomicBool>,
    /// Answers are held on connections numbered below this.
    held_below: Arc<AtomicU64>,
    /// Connections accepted so far.
    accepted: Arc<AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

/// Forwards `from` to `to` while neither `stalled` nor (for answers on an old connection)
/// `held` says to wait.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    stalled: Arc<AtomicBool>,
    held: impl Fn() -> bool,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        while stalled.load(Ordering::SeqCst) || held() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

impl StallProxy {
    /// Forwards 127.0.0.1:<ephemeral> to 127.0.0.1:`target`. Lives on the calling runtime.
    pub async fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let stalled = Arc::new(AtomicBool::new(false));
        let held_below = Arc::new(AtomicU64::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let (flag, held, count) = (stalled.clone(), held_below.clone(), accepted.clone());
        let task = tokio::spawn(async move {
            for seq in 0u64.. {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                count.store(seq + 1, Ordering::SeqCst);
                let (flag, held) = (flag.clone(), held.clone());
                tokio::spawn(async move {
                    // A stalled proxy holds new clients without a word: no handshake arrives.
                    while flag.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let answers_held = move || seq < held.load(Ordering::SeqCst);
                    tokio::join!(
                        pump(cr, sw, flag.clone(), || false),
                        pump(sr, cw, flag, answers_held)
                    );
                });
            }
        });
        Self {
            port,
            stalled,
            held_below,
            accepted,
            task,
        }
    }

    pub fn stall(&self, on: bool) {
        self.stalled.store(on, Ordering::SeqCst);
    }

    /// From now on the connections open so far hear no answer; later ones are not affected.
    pub fn hold_answers(&self) {
        self.held_below
            .store(self.accepted.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

impl Drop for StallProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
