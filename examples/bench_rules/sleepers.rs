//! The reaction scene's victims: N connections of `victim`, all opened first, then each starts
//! `SELECT SLEEP(600)` at the same moment; the server's own clock (`TIME_MS`) tells when the
//! last one started.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mysql_async::prelude::Queryable;
use tokio::sync::Barrier;
use tokio::task::JoinSet;

use crate::victims::{self, Probe, USER};

const SQL: &str = "SELECT SLEEP(600)";
/// How long each sleeps: the most a leftover can outlive a run.
const SLEEP: Duration = Duration::from_secs(600);
/// Counts the sleepers that started, and the longest and shortest time since their start.
const STARTED: &str = "SELECT COUNT(*), CAST(COALESCE(MIN(TIME_MS), 0) AS DOUBLE), \
    CAST(COALESCE(MAX(TIME_MS), 0) AS DOUBLE) FROM information_schema.PROCESSLIST \
    WHERE USER = 'victim' AND COMMAND = 'Query' AND INFO LIKE 'SELECT SLEEP(%'";

/// Running sleepers.
pub struct Sleepers {
    tasks: JoinSet<()>,
    /// When the last of them started its statement (server time mapped onto our clock; if
    /// anything a little early, which can only lengthen the reaction measured from it).
    pub latest_start: Instant,
    /// The first start to the last, in ms (how simultaneous "at once" was).
    pub spread_ms: f64,
}

impl Sleepers {
    /// Opens `n` victim connections, then releases all their statements together and waits
    /// until the server shows all `n` running; fails if that takes until `cross`, the time the
    /// scene's rule starts matching, since then the start could no longer be read.
    pub async fn start(port: u16, probe: &mut Probe, n: usize, cross: Duration) -> Result<Self> {
        let conns = victims::open(port, n).await?;
        probe.wait_victims(n as u64).await?;
        // Every task waits at the barrier with its connection in hand; the last to arrive (this
        // one) releases them all, so no statement waits for a connection to be set up.
        let barrier = Arc::new(Barrier::new(n + 1));
        let mut tasks = JoinSet::new();
        for mut conn in conns {
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                // Ends with an error when the victim is killed.
                let _ = conn.query_drop(SQL).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.disconnect()).await;
            });
        }
        barrier.wait().await;
        let fired = Instant::now();
        loop {
            let sent = Instant::now();
            let row: Option<(u64, f64, f64)> = probe.conn().query_first(STARTED).await?;
            let (count, min_ms, max_ms) = row.unwrap_or_default();
            if count == n as u64 {
                return Ok(Sleepers {
                    tasks,
                    latest_start: sent - Duration::from_secs_f64(min_ms / 1e3),
                    spread_ms: max_ms - min_ms,
                });
            }
            if fired.elapsed() > cross {
                tasks.abort_all();
                bail!("only {count} of {n} sleepers had started {cross:?} after the release");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Waits for the statements to end (their victims were killed, or are killed here as root),
    /// then for the server to list none. Leftovers can take minutes to die (MariaDB's KILL of a
    /// sleeper waits up to 2 s whenever it collides with another leaving), so this waits until
    /// their `SLEEP(600)` would have ended by itself.
    pub async fn close(mut self, probe: &mut Probe) -> Result<()> {
        if probe.victim_count().await? > 0 {
            probe.exec(&format!("KILL USER {USER}")).await?;
            let deadline = Instant::now() + SLEEP + Duration::from_secs(60);
            loop {
                let left = probe.victim_count().await?;
                if left == 0 {
                    break;
                }
                if Instant::now() > deadline {
                    bail!("{left} sleepers still listed {SLEEP:?} after KILL USER");
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        probe.settle_clean().await?;
        let ended = async { while self.tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(Duration::from_secs(10), ended)
            .await
            .is_err()
        {
            self.tasks.abort_all();
        }
        Ok(())
    }
}
