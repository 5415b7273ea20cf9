//! "No KILL after the answer", checked in the server's general log: mariadbd runs with
//! `log_output=TABLE`, the log is on in every scene but `idle` and emptied before each run, and
//! `mysql.general_log.event_time` (TIMESTAMP(6), the server's `CLOCK_REALTIME` when it read the
//! statement) is compared with the wall-clock time at which the benchmark received dbkill's
//! answer. Both clocks are this machine's; [`MARGIN_US`] absorbs their granularity. The probe and
//! the checker connection run with `sql_log_off`, so the log holds only the killers', victims'
//! and holder's statements.
//!
//! MariaDB logs a multi-statement packet (dbkill's pipelined KILL batches) as one row, at the
//! time it read the packet: a batch read after the answer shows, a batch still executing at the
//! answer does not. So the first processlist read after the answer also counts `killer`
//! sessions still running a KILL ([`RUNNING`]).

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Result;
use mysql_async::Conn;
use mysql_async::prelude::Queryable;

/// A KILL logged up to this long after the answer still counts as before it (clock granularity).
pub const MARGIN_US: i64 = 2000;

/// KILL statements from the killers' account (`killer`: dbkill's db user; during a dbkill run
/// nobody else uses it).
const KILLS: &str = "SELECT CAST(UNIX_TIMESTAMP(event_time) * 1000000 AS SIGNED) \
     FROM mysql.general_log WHERE user_host LIKE 'killer[%' \
     AND command_type IN ('Query', 'Execute') AND TRIM(argument) LIKE 'KILL%'";

/// `killer` sessions running a KILL (statement or batch) now.
pub const RUNNING: &str = "SELECT COUNT(*) FROM information_schema.processlist \
     WHERE user = 'killer' AND command = 'Query' AND info LIKE 'KILL%'";

/// What the log says about one dbkill run.
#[derive(Clone, Debug)]
pub struct LateKills {
    /// KILL packets logged in the run (0 would make the check vacuous).
    pub logged: usize,
    /// Of which logged more than [`MARGIN_US`] after the answer.
    pub late: usize,
    /// The last KILL relative to the answer, in ms (negative: before it).
    pub last_after_answer_ms: Option<f64>,
    /// `killer` sessions still running a KILL at the first read after the answer.
    pub running_at_answer: u64,
}

impl LateKills {
    pub fn ok(&self) -> bool {
        self.late == 0 && self.running_at_answer == 0 && self.logged > 0
    }

    pub fn summary(&self) -> String {
        let last = self
            .last_after_answer_ms
            .map_or("–".to_owned(), |ms| format!("{ms:+.1} ms"));
        format!(
            "{} of {} KILL packets logged after the answer (last {last} from it), \
             {} still running at it",
            self.late, self.logged, self.running_at_answer
        )
    }
}

/// Turns the general log on or off (it goes to `mysql.general_log`).
pub async fn set(conn: &mut Conn, on: bool) -> Result<()> {
    let value = if on { "ON" } else { "OFF" };
    Ok(conn
        .query_drop(format!("SET GLOBAL general_log = {value}"))
        .await?)
}

/// Empties the log (allowed on a log table while logging).
pub async fn truncate(conn: &mut Conn) -> Result<()> {
    Ok(conn.query_drop("TRUNCATE TABLE mysql.general_log").await?)
}

/// The KILLs logged since the last [`truncate`], against the answer's arrival at `answer`;
/// `running_at_answer` is what [`RUNNING`] read then.
pub async fn late_kills(
    conn: &mut Conn,
    answer: SystemTime,
    running_at_answer: u64,
) -> Result<LateKills> {
    let answer_us = answer.duration_since(UNIX_EPOCH)?.as_micros() as i64;
    let times: Vec<i64> = conn.query(KILLS).await?;
    Ok(LateKills {
        logged: times.len(),
        late: times.iter().filter(|&&t| t > answer_us + MARGIN_US).count(),
        last_after_answer_ms: times.iter().max().map(|&t| (t - answer_us) as f64 / 1e3),
        running_at_answer,
    })
}
