//! The scenes of issue #11: what the N victims (all `victim`, in `example`, over TCP) are doing
//! when they are killed, and how each is staged before t0 and cleared after the run.
//!
//! - `idle`: N idle connections (the issue #4 benchmark, unchanged);
//! - `sleep`: each victim runs `SELECT SLEEP(3600)`;
//! - `rowlock`: `holder` keeps row 1 of `example.t` locked (`SELECT … FOR UPDATE` in an open
//!   transaction); each victim's `UPDATE` of that row waits for it;
//! - `mdl`: `holder` reads `example.t` in an open transaction, a second `holder` connection's
//!   `ALTER TABLE` waits for its metadata lock, and the victims' `SELECT`s queue behind the ALTER;
//! - `cpu`: each victim runs a `BENCHMARK()` loop that would take hours;
//! - `stalled`: idle victims, but mariadbd is stopped mid-kill (`stall.rs`).

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use mysql_async::Conn;
use mysql_async::prelude::Queryable;
use tokio::task::JoinSet;

use crate::methods::Method;
use crate::victims::{self, DATABASE, Probe, USER};

/// The account of the lock holders: not a victim, so no method may kill it.
pub const HOLDER: (&str, &str) = ("holder", "holderpw");
/// Victims (and the ALTER) wait this long for a lock before giving up: longer than any run.
const LOCK_WAIT_S: u32 = 86_400;
/// CPU-bound victims per core at most: with more, the probe's and the killers' server threads
/// get too small a share of the CPU to measure anything but the scheduler (and the machine is
/// shared).
const CPU_VICTIMS_PER_CORE: usize = 50;
/// How long staging may take before the scene counts as not built.
const STAGE_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scene {
    Idle,
    Sleep,
    RowLock,
    Mdl,
    Cpu,
    Stalled,
}

impl Scene {
    pub const ALL: [Scene; 6] = [
        Scene::Idle,
        Scene::Sleep,
        Scene::RowLock,
        Scene::Mdl,
        Scene::Cpu,
        Scene::Stalled,
    ];

    /// The name used on the command line (`--scenes`) and in tables.
    pub fn key(self) -> &'static str {
        match self {
            Scene::Idle => "idle",
            Scene::Sleep => "sleep",
            Scene::RowLock => "rowlock",
            Scene::Mdl => "mdl",
            Scene::Cpu => "cpu",
            Scene::Stalled => "stalled",
        }
    }

    pub fn parse(s: &str) -> Option<Scene> {
        Scene::ALL.into_iter().find(|m| m.key() == s)
    }

    /// One line for the tables' headings.
    pub fn describe(self) -> &'static str {
        match self {
            Scene::Idle => "N idle connections",
            Scene::Sleep => "each victim runs SELECT SLEEP(3600)",
            Scene::RowLock => "each victim's UPDATE waits for a row lock another user holds",
            Scene::Mdl => {
                "each victim's SELECT waits for a metadata lock behind a pending ALTER TABLE"
            }
            Scene::Cpu => "each victim runs a CPU-bound BENCHMARK() loop",
            Scene::Stalled => "N idle connections; mariadbd stopped 3 s at the first victim gone",
        }
    }

    /// N when `--sizes` is not given: `idle` keeps issue #4's sizes, so old figures compare.
    pub fn default_sizes(self) -> &'static [usize] {
        match self {
            Scene::Idle => &[1000, 5000, 10_000],
            _ => &[100, 300, 1000],
        }
    }

    /// The methods run when `--methods` is not given: `idle` keeps issue #4's set.
    pub fn default_methods(self) -> &'static [Method] {
        match self {
            Scene::Idle => &Method::DEFAULT,
            _ => &Method::INCIDENT,
        }
    }

    /// Whether `method` can run in this scene (by database and ids only in `idle`).
    pub fn supports(self, method: Method) -> bool {
        self == Scene::Idle || !matches!(method, Method::DbkillDatabase | Method::DbkillIds)
    }

    /// Whether the general log is on (every scene but `idle`, which stays as issue #4 ran it).
    pub fn general_log(self) -> bool {
        self != Scene::Idle
    }

    /// The `deadline_ms` sent in dbkill's kill body, if any.
    pub fn deadline_ms(self) -> Option<u64> {
        (self == Scene::Stalled).then_some(2000)
    }

    /// Why this machine cannot run the scene with `n` victims, if it cannot.
    pub fn skip_reason(self, n: usize, cores: usize) -> Option<String> {
        let most = CPU_VICTIMS_PER_CORE * cores.max(1);
        (self == Scene::Cpu && n > most).then(|| {
            format!(
                "more than {most} CPU-bound victims ({CPU_VICTIMS_PER_CORE} per core, {cores} \
                 cores) would starve the probe and the killers of CPU"
            )
        })
    }

    /// The statement each victim runs, if any (`None`: idle).
    fn victim_sql(self) -> Option<&'static str> {
        match self {
            Scene::Idle | Scene::Stalled => None,
            Scene::Sleep => Some("SELECT SLEEP(3600)"),
            Scene::RowLock => Some("UPDATE t SET v = v + 1 WHERE id = 1"),
            Scene::Mdl => Some("SELECT COUNT(*) FROM t"),
            Scene::Cpu => Some("SELECT BENCHMARK(10000000000, SHA2('x', 256))"),
        }
    }

    /// Counts the victims that are where the scene wants them (the probe runs it).
    fn ready_sql(self) -> String {
        let mine =
            format!("SELECT COUNT(*) FROM information_schema.processlist WHERE user='{USER}'");
        match self {
            Scene::Idle | Scene::Stalled => mine,
            Scene::Sleep => format!("{mine} AND state = 'User sleep'"),
            // An UPDATE is "Updating" while it waits for the row lock. (information_schema.
            // INNODB_TRX would say LOCK WAIT, but it is a cache refreshed only after 100 ms
            // without a read, so polling it reads stale counts.)
            Scene::RowLock => format!("{mine} AND state = 'Updating'"),
            Scene::Mdl => format!("{mine} AND state = 'Waiting for table metadata lock'"),
            Scene::Cpu => format!("{mine} AND command = 'Query' AND info LIKE 'SELECT BENCHMARK%'"),
        }
    }
}

/// What the scenes need on the server, created once: table `example.t` with row 1, the holder
/// account, and a lock wait long enough for every victim (new sessions take the global).
pub fn server_sql() -> String {
    let (holder, hpw) = HOLDER;
    format!(
        "CREATE TABLE {DATABASE}.t (id INT PRIMARY KEY, v INT NOT NULL) ENGINE=InnoDB;
         INSERT INTO {DATABASE}.t VALUES (1, 0);
         CREATE USER '{holder}'@'%' IDENTIFIED BY '{hpw}'; GRANT ALL ON {DATABASE}.* TO '{holder}'@'%';
         SET GLOBAL innodb_lock_wait_timeout = {LOCK_WAIT_S}; SET GLOBAL lock_wait_timeout = {LOCK_WAIT_S};"
    )
}

/// The holder's connections of one run (`rowlock`, `mdl`); opened before the victims.
pub struct Helpers {
    holder: Option<Conn>,
    /// `mdl`: the connection whose ALTER waits, running in its own task.
    alter: Option<tokio::task::JoinHandle<()>>,
}

impl Helpers {
    pub async fn open(scene: Scene, port: u16, probe: &mut Probe) -> Result<Helpers> {
        let (user, password) = HOLDER;
        let mut helpers = Helpers {
            holder: None,
            alter: None,
        };
        match scene {
            Scene::RowLock => {
                let mut holder = victims::connect_tcp(port, user, password, Some(DATABASE)).await?;
                holder
                    .query_drop("BEGIN; SELECT v FROM t WHERE id = 1 FOR UPDATE")
                    .await?;
                helpers.holder = Some(holder);
            }
            Scene::Mdl => {
                let mut holder = victims::connect_tcp(port, user, password, Some(DATABASE)).await?;
                holder
                    .query_drop("BEGIN; SELECT v FROM t WHERE id = 1")
                    .await?;
                helpers.holder = Some(holder);
                let mut alter = victims::connect_tcp(port, user, password, Some(DATABASE)).await?;
                helpers.alter = Some(tokio::spawn(async move {
                    let _ = alter.query_drop("ALTER TABLE t COMMENT = 'bench'").await;
                    let _ = tokio::time::timeout(Duration::from_secs(5), alter.disconnect()).await;
                }));
                let waiting = format!(
                    "SELECT COUNT(*) FROM information_schema.processlist WHERE user = '{user}' \
                     AND info LIKE 'ALTER TABLE%' AND state = 'Waiting for table metadata lock'"
                );
                probe.wait_count(&waiting, 1, STAGE_TIMEOUT).await?;
            }
            _ => {}
        }
        Ok(helpers)
    }

    /// Releases the locks (after the victims are gone): the pending ALTER then completes.
    pub async fn close(self) -> Result<()> {
        if let Some(mut holder) = self.holder {
            holder.query_drop("ROLLBACK").await?;
            let _ = tokio::time::timeout(Duration::from_secs(5), holder.disconnect()).await;
        }
        if let Some(alter) = self.alter
            && tokio::time::timeout(Duration::from_secs(30), alter)
                .await
                .is_err()
        {
            bail!("the ALTER TABLE did not finish within 30 s of the rollback");
        }
        Ok(())
    }
}

/// One run's victims: their connections, or the tasks that own them while their statements run.
pub struct Victims {
    idle: Vec<Conn>,
    running: JoinSet<()>,
}

impl Victims {
    /// Opens `n` victims and, in scenes with a statement, starts it on each; returns once the
    /// probe sees all `n` where the scene wants them.
    pub async fn start(scene: Scene, port: u16, probe: &mut Probe, n: usize) -> Result<Victims> {
        let conns = victims::open(port, n).await?;
        let Some(sql) = scene.victim_sql() else {
            probe.wait_victims(n as u64).await?;
            return Ok(Victims {
                idle: conns,
                running: JoinSet::new(),
            });
        };
        let mut running = JoinSet::new();
        for mut conn in conns {
            running.spawn(async move {
                // Ends with an error when the victim is killed.
                let _ = conn.query_drop(sql).await;
                let _ = tokio::time::timeout(Duration::from_secs(5), conn.disconnect()).await;
            });
        }
        let victims = Victims {
            idle: Vec::new(),
            running,
        };
        probe
            .wait_count(&scene.ready_sql(), n as u64, STAGE_TIMEOUT)
            .await
            .map_err(|e| e.context(format!("{}: victims not in place", scene.key())))?;
        Ok(victims)
    }

    /// Ends the victims: closes the idle ones' sockets, waits (as the probe) until none is
    /// listed, killing leftovers, then reaps the statement tasks.
    pub async fn close(mut self, probe: &mut Probe) -> Result<()> {
        victims::close(std::mem::take(&mut self.idle)).await;
        probe.settle_clean().await?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.running.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if tokio::time::timeout(left, self.running.join_next())
                .await
                .is_err()
            {
                self.running.abort_all();
                break;
            }
        }
        Ok(())
    }
}
