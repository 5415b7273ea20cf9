//! The victims (idle connections of role `victim` to database `example`, opened by the benchmark
//! itself over TCP) and the monitor: the superuser's connection over the unix socket that counts
//! them in `pg_stat_activity`, the same way for every method.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};
use tokio::task::JoinSet;

pub const USER: &str = "victim";
pub const PASSWORD: &str = "victimpw";
pub const DATABASE: &str = "example";
/// Victim connections being opened at once (each is a fork and a SCRAM exchange on the server).
const OPEN_PARALLELISM: usize = 32;
/// Give up on time-to-zero this long after t0 (the psql loop at 2,000 takes minutes) …
const ZERO_TIMEOUT: Duration = Duration::from_secs(600);
/// … or this long after the method returned.
pub const ZERO_GRACE_AFTER_RETURN: Duration = Duration::from_secs(10);

/// Options of a TCP login to 127.0.0.1:`port` (no TLS: the throwaway server has none).
pub fn tcp_options(port: u16, user: &str, password: &str, database: &str) -> PgConnectOptions {
    PgConnectOptions::new()
        .host("127.0.0.1")
        .port(port)
        .username(user)
        .password(password)
        .database(database)
        .ssl_mode(PgSslMode::Disable)
}

/// Opens `n` idle victim connections, [`OPEN_PARALLELISM`] at a time.
pub async fn open(port: u16, n: usize) -> Result<Vec<PgConnection>> {
    let opts = Arc::new(tcp_options(port, USER, PASSWORD, DATABASE));
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..OPEN_PARALLELISM.min(n) {
        let (next, opts) = (next.clone(), opts.clone());
        workers.spawn(async move {
            let mut conns = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                let conn = tokio::time::timeout(
                    Duration::from_secs(30),
                    PgConnection::connect_with(&opts),
                )
                .await
                .context("connecting a victim timed out")?
                .context("connect a victim")?;
                conns.push(conn);
            }
            anyhow::Ok(conns)
        });
    }
    let mut all = Vec::with_capacity(n);
    while let Some(joined) = workers.join_next().await {
        all.extend(joined??);
    }
    Ok(all)
}

/// The superuser's connection that watches `pg_stat_activity`.
pub struct Monitor {
    conn: PgConnection,
    /// Pause between polls while waiting for zero.
    pub interval: Duration,
}

/// When the victims' count reached zero, if it did.
pub struct Zero {
    /// t0 → the poll that first read 0 had its answer.
    pub zero: Option<Duration>,
    /// Polls sent.
    pub polls: usize,
}

impl Monitor {
    pub fn new(conn: PgConnection, interval: Duration) -> Monitor {
        Monitor { conn, interval }
    }

    /// The victims' backends now (each statement outside a transaction reads a fresh snapshot).
    pub async fn count(&mut self) -> Result<i64> {
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE usename = $1")
            .bind(USER)
            .fetch_one(&mut self.conn)
            .await
            .context("monitor: count the victims")
    }

    /// The victims' pids, in pid order.
    pub async fn pids(&mut self) -> Result<Vec<i32>> {
        sqlx::query_scalar("SELECT pid FROM pg_stat_activity WHERE usename = $1 ORDER BY pid")
            .bind(USER)
            .fetch_all(&mut self.conn)
            .await
            .context("monitor: list the victims")
    }

    /// Waits (up to 60 s) until `n` victim backends are listed.
    pub async fn wait_for(&mut self, n: usize) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let c = self.count().await?;
            if c == n as i64 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{c} victim backends listed, expected {n}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls the count every [`Monitor::interval`] from `t0` until it reads 0, giving up
    /// [`ZERO_TIMEOUT`] after t0 or [`ZERO_GRACE_AFTER_RETURN`] after `returned()` says when
    /// the method returned (`Some(true)` also when it failed: no kill is coming).
    pub async fn time_to_zero(
        &mut self,
        t0: Instant,
        mut returned: impl FnMut() -> Option<(Instant, bool)>,
    ) -> Result<Zero> {
        let mut polls = 0;
        loop {
            let c = self.count().await?;
            polls += 1;
            let now = Instant::now();
            if c == 0 {
                return Ok(Zero {
                    zero: Some(now - t0),
                    polls,
                });
            }
            let gave_up = match returned() {
                Some((_, true)) => true,
                Some((at, false)) => now > at + ZERO_GRACE_AFTER_RETURN,
                None => false,
            };
            if gave_up || now > t0 + ZERO_TIMEOUT {
                return Ok(Zero { zero: None, polls });
            }
            tokio::time::sleep(self.interval).await;
        }
    }

    /// Terminates whatever victims are left and waits until none is listed.
    pub async fn clear(&mut self) -> Result<()> {
        sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1")
            .bind(USER)
            .execute(&mut self.conn)
            .await
            .context("monitor: terminate the victims left")?;
        self.wait_for(0).await
    }
}
