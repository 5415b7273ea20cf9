//! The victims (connections of `victim` in database `example`, idle until a scene gives them a
//! statement) and the probe: the admin connection that watches the server exactly as
//! baseline.md describes. A second such connection checks answers against the server.

use std::cell::Cell;
use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use tokio::task::JoinSet;
use tokio::time::MissedTickBehavior;

pub const USER: &str = "victim";
pub const PASSWORD: &str = "victimpw";
pub const DATABASE: &str = "example";
/// Victim connections being opened at once.
const OPEN_PARALLELISM: usize = 64;
/// While more extra connections than this remain, the probe polls the constant-time
/// `Threads_connected` instead of the processlist (baseline.md, "Driver", step 3).
const EXTRA_THREADS_BEFORE_COUNTING: u64 = 64;
/// Give up on time-to-zero this long after t0 …
const ZERO_TIMEOUT: Duration = Duration::from_secs(120);
/// … or this long after the method returned.
const ZERO_GRACE_AFTER_RETURN: Duration = Duration::from_secs(10);

/// Options for a connection that sends nothing after the handshake (no settings query).
fn quiet(builder: OptsBuilder) -> OptsBuilder {
    builder
        .max_allowed_packet(Some(16 << 20))
        .wait_timeout(Some(28_800))
        .stmt_cache_size(0)
}

/// A TCP connection to 127.0.0.1:`port` as `user`.
pub async fn connect_tcp(port: u16, user: &str, password: &str, db: Option<&str>) -> Result<Conn> {
    let opts = quiet(OptsBuilder::default())
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(Some(password))
        .db_name(db)
        .prefer_socket(false);
    let conn = tokio::time::timeout(Duration::from_secs(30), Conn::new(opts))
        .await
        .with_context(|| format!("connecting as {user} timed out"))?
        .with_context(|| format!("connect as {user} to port {port}"))?;
    Ok(conn)
}

/// Opens `n` idle victim connections over TCP, [`OPEN_PARALLELISM`] at a time.
pub async fn open(port: u16, n: usize) -> Result<Vec<Conn>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..OPEN_PARALLELISM.min(n) {
        let next = next.clone();
        workers.spawn(async move {
            let mut conns = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                conns.push(connect_tcp(port, USER, PASSWORD, Some(DATABASE)).await?);
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

/// Closes victim connections (most are dead already) and waits for that to finish, so no
/// disconnect work spills into the next measurement.
pub async fn close(conns: Vec<Conn>) {
    let mut tasks = JoinSet::new();
    for conn in conns {
        tasks.spawn(async move {
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.disconnect()).await;
        });
    }
    while tasks.join_next().await.is_some() {}
}

/// The admin connection (root over the unix socket) that watches the server.
pub struct Probe {
    conn: Conn,
    /// Pause between polls while waiting for zero (1 ms, as baseline.md).
    pub interval: Duration,
    /// The OS thread serving this connection in mysqld (one thread per connection), whose CPU
    /// time is the probe's own cost on the server.
    pub tid: Option<u32>,
}

impl Probe {
    pub async fn connect(socket: &Path) -> Result<Probe> {
        let opts = quiet(OptsBuilder::default())
            .socket(Some(socket.to_string_lossy()))
            .user(Some("root"));
        let mut conn = Conn::new(opts)
            .await
            .context("probe: connect as root over the socket")?;
        // Keeps the probe's own statements out of the general log (scenes other than idle).
        conn.query_drop("SET SESSION sql_log_off = 1").await?;
        let tid = conn
            .query_first(
                "SELECT TID FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()",
            )
            .await?;
        Ok(Probe {
            conn,
            interval: Duration::from_millis(1),
            tid,
        })
    }

    /// The connection itself, for queries of its own (the general log).
    pub fn conn(&mut self) -> &mut Conn {
        &mut self.conn
    }

    pub async fn threads_connected(&mut self) -> Result<u64> {
        let row: Option<(String, u64)> = self
            .conn
            .query_first("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
            .await?;
        Ok(row.context("no Threads_connected")?.1)
    }

    pub async fn victim_count(&mut self) -> Result<u64> {
        let count: Option<u64> = self
            .conn
            .query_first(format!(
                "SELECT COUNT(*) FROM information_schema.processlist WHERE user='{USER}'"
            ))
            .await?;
        Ok(count.unwrap_or(0))
    }

    /// The victims' session ids, in processlist order.
    pub async fn victim_ids(&mut self) -> Result<Vec<u64>> {
        Ok(self
            .conn
            .query(format!(
                "SELECT CAST(ID AS UNSIGNED) FROM information_schema.processlist WHERE user='{USER}'"
            ))
            .await?)
    }

    /// The victims listed now, as a set.
    pub async fn alive(&mut self) -> Result<HashSet<u64>> {
        Ok(self.victim_ids().await?.into_iter().collect())
    }

    /// The first column of a `SELECT COUNT(*) …`.
    pub async fn count(&mut self, sql: &str) -> Result<u64> {
        Ok(self.conn.query_first(sql).await?.unwrap_or(0))
    }

    /// Waits until `sql` (a `SELECT COUNT(*) …`) reads exactly `n`.
    pub async fn wait_count(&mut self, sql: &str, n: u64, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let count = self.count(sql).await?;
            if count == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{count} after {timeout:?}, expected {n}: {sql}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn exec(&mut self, sql: &str) -> Result<()> {
        Ok(self.conn.query_drop(sql).await?)
    }

    /// Waits until exactly `n` victims are listed.
    pub async fn wait_victims(&mut self, n: u64) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let count = self.victim_count().await?;
            if count == n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{count} victims listed after 60 s, expected {n}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until no victim is listed (killing leftovers as root, e.g. after a failed method),
    /// then lets the server's thread cleanup finish.
    pub async fn settle_clean(&mut self) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut killed = false;
        loop {
            let victims = self.victim_count().await?;
            if victims == 0 {
                break;
            }
            if !killed {
                self.exec(&format!("KILL USER {USER}")).await?;
                killed = true;
            }
            if Instant::now() > deadline {
                bail!("{victims} victims still listed 60 s after KILL USER");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(())
    }

    /// Polls every [`Probe::interval`] from `t0` on: `Threads_connected` until at most 64 connections above
    /// `base` remain, then the victims' processlist count until it is 0, and returns when that
    /// zero was read. `None` if it never came (see [`ZERO_TIMEOUT`]); `returned` is set by the
    /// method under test when it returns.
    pub async fn time_to_zero(
        &mut self,
        t0: Instant,
        base: u64,
        returned: &Cell<Option<Instant>>,
    ) -> Result<Option<Duration>> {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let give_up = || {
            t0.elapsed() > ZERO_TIMEOUT
                || returned
                    .get()
                    .is_some_and(|r| r.elapsed() > ZERO_GRACE_AFTER_RETURN)
        };
        loop {
            tick.tick().await;
            if self.threads_connected().await? <= base + EXTRA_THREADS_BEFORE_COUNTING {
                break;
            }
            if give_up() {
                return Ok(None);
            }
        }
        loop {
            if self.victim_count().await? == 0 {
                return Ok(Some(t0.elapsed()));
            }
            if give_up() {
                return Ok(None);
            }
            tick.tick().await;
        }
    }
}
