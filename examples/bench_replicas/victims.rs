//! The roles whose sessions the benchmark lists and kills, all idle connections to database
//! `example` opened by the benchmark over TCP: `listed` (ListProcesses lists them; never
//! killed), `killme` (one per timed kill) and `ruled` (the failover rule's victims). The
//! superuser's socket connection watches `pg_stat_activity` for a pid to go.

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sqlx::Connection;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgSslMode};

pub const DATABASE: &str = "example";
pub const LISTED: (&str, &str) = ("listed", "listedpw");
pub const KILLED: (&str, &str) = ("killme", "killmepw");
pub const RULED: (&str, &str) = ("ruled", "ruledpw");

/// The statements that create the three roles and their database.
pub fn setup_sql() -> Vec<String> {
    let mut sql: Vec<String> = [LISTED, KILLED, RULED]
        .iter()
        .map(|(u, p)| format!("CREATE ROLE {u} LOGIN PASSWORD '{p}'"))
        .collect();
    sql.push(format!("CREATE DATABASE {DATABASE} OWNER {}", LISTED.0));
    sql
}

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

/// `n` idle connections of `(user, password)`, opened one after the other.
pub async fn open(
    port: u16,
    (user, password): (&str, &str),
    n: usize,
) -> Result<Vec<PgConnection>> {
    let opts = tcp_options(port, user, password, DATABASE);
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        conns.push(
            PgConnection::connect_with(&opts)
                .await
                .with_context(|| format!("connect as {user}"))?,
        );
    }
    Ok(conns)
}

/// Whether backend `pid` is still listed.
pub async fn alive(monitor: &mut PgConnection, pid: i32) -> Result<bool> {
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = $1")
        .bind(pid)
        .fetch_one(monitor)
        .await
        .context("monitor: look for a pid")?;
    Ok(n > 0)
}

/// Polls every 10 ms until backend `pid` is gone: when, after `t0`; `None` after `within`.
pub async fn gone_after(
    monitor: &mut PgConnection,
    pid: i32,
    t0: Instant,
    within: Duration,
) -> Result<Option<Duration>> {
    loop {
        if !alive(monitor, pid).await? {
            return Ok(Some(t0.elapsed()));
        }
        if t0.elapsed() > within {
            return Ok(None);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
