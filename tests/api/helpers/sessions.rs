//! Victim sessions for the rule tests: idle, running a statement of the test's choice, or idle
//! in an open transaction; over TCP or over the server's unix socket (which the server lists
//! with another host). What the server says about them is checked without touching their
//! connections, so an idle session's time keeps growing while a test watches it.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};

use super::fixtures::{VICTIM_PASSWORD, left_server, usable};
use crate::support::mariadb::MariaDb;

/// How a victim reaches the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// 127.0.0.1 over TCP: the server lists `127.0.0.1:<port>` (`localhost:<port>` unless it
    /// runs with `--skip-name-resolve`).
    Tcp,
    /// The unix socket: the server lists `localhost`.
    Socket,
}

type Running = tokio::task::JoinHandle<(Conn, Result<(), mysql_async::Error>)>;

/// One victim session; `label` names it in assertion messages.
pub struct Victim {
    pub id: u64,
    pub label: String,
    conn: Option<Conn>,
    running: Option<Running>,
}

/// A connection of `user` (password [`VICTIM_PASSWORD`]) to `db`, in `database` if given.
pub async fn connect(db: &MariaDb, user: &str, database: Option<&str>, via: Via) -> Conn {
    let opts = OptsBuilder::default()
        .user(Some(user))
        .pass(Some(VICTIM_PASSWORD))
        .db_name(database)
        .prefer_socket(false);
    let opts = match via {
        Via::Tcp => opts.ip_or_hostname(db.host()).tcp_port(db.port()),
        Via::Socket => opts.socket(Some(db.dir().join("sock").to_string_lossy().into_owned())),
    };
    tokio::time::timeout(Duration::from_secs(10), Conn::new(opts))
        .await
        .unwrap_or_else(|_| panic!("{user} connecting {via:?} timed out"))
        .unwrap_or_else(|e| panic!("{user} connects {via:?}: {e}"))
}

/// An idle session (command `Sleep`).
pub async fn idle_victim(
    db: &MariaDb,
    user: &str,
    database: Option<&str>,
    via: Via,
    label: &str,
) -> Victim {
    idle_after(db, user, database, via, &[], label).await
}

/// A session that runs `statements` and then stays idle, e.g. `BEGIN` and a write to an InnoDB
/// table (an open transaction), or a `GET_LOCK()` that others will wait for.
pub async fn idle_after(
    db: &MariaDb,
    user: &str,
    database: Option<&str>,
    via: Via,
    statements: &[&str],
    label: &str,
) -> Victim {
    let mut conn = connect(db, user, database, via).await;
    for sql in statements {
        conn.query_drop(*sql)
            .await
            .unwrap_or_else(|e| panic!("{label}: {sql}: {e}"));
    }
    Victim {
        id: u64::from(conn.id()),
        label: label.to_owned(),
        conn: Some(conn),
        running: None,
    }
}

/// A session running `sql`; returns once the server shows it in `state` (`User sleep` for
/// `SLEEP()`, `User lock` for a `GET_LOCK()` that waits).
pub async fn running_victim(
    db: &MariaDb,
    user: &str,
    database: Option<&str>,
    via: Via,
    sql: &str,
    state: &str,
    label: &str,
) -> Victim {
    let mut conn = connect(db, user, database, via).await;
    let id = u64::from(conn.id());
    let statement = sql.to_owned();
    let running = tokio::spawn(async move {
        let r = conn.query_drop(statement).await;
        (conn, r)
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    let query = format!("SELECT STATE FROM information_schema.PROCESSLIST WHERE ID = {id}");
    while db.sql(&query) != state {
        assert!(
            Instant::now() < deadline,
            "{label}: `{sql}` did not reach state {state:?}: {:?}",
            db.sql(&query)
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Victim {
        id,
        label: label.to_owned(),
        conn: None,
        running: Some(running),
    }
}

/// A session running `SELECT SLEEP(60), '<label>'` (its text names it).
pub async fn sleeping_victim(
    db: &MariaDb,
    user: &str,
    database: Option<&str>,
    via: Via,
    label: &str,
) -> Victim {
    let sql = format!("SELECT SLEEP(60), '{label}'");
    running_victim(db, user, database, via, &sql, "User sleep", label).await
}

impl Victim {
    /// Listed by the server, and a running statement still runs. Does not touch the
    /// connection.
    pub fn alive(&self, db: &MariaDb) -> bool {
        db.alive(self.id) && self.running.as_ref().is_none_or(|r| !r.is_finished())
    }

    /// [`Victim::alive`], and an idle connection still answers (which resets its idle time).
    pub async fn still_works(&mut self, db: &MariaDb) -> bool {
        if !self.alive(db) {
            return false;
        }
        match &mut self.conn {
            Some(c) => usable(c).await,
            None => true,
        }
    }

    /// Left the server (waiting up to 5 s), and its client saw the connection end: a running
    /// statement failed, an idle connection no longer answers.
    pub async fn died(&mut self, db: &MariaDb) -> bool {
        if !left_server(db, self.id).await {
            return false;
        }
        if let Some(c) = &mut self.conn {
            return !usable(c).await;
        }
        let running = self.running.take().expect("a victim is idle or running");
        let (_, result) = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("a killed statement ends")
            .unwrap();
        result.is_err()
    }
}

/// The ids of `victims`.
pub fn ids<'a>(victims: impl IntoIterator<Item = &'a Victim>) -> BTreeSet<u64> {
    victims.into_iter().map(|v| v.id).collect()
}

/// Which of `ids` the server lists now (one query).
pub fn listed(db: &MariaDb, ids: &BTreeSet<u64>) -> BTreeSet<u64> {
    if ids.is_empty() {
        return BTreeSet::new();
    }
    let list: Vec<String> = ids.iter().map(u64::to_string).collect();
    db.sql(&format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE ID IN ({})",
        list.join(",")
    ))
    .lines()
    .map(|l| l.parse().unwrap())
    .collect()
}

/// Waits until the server lists none of `ids`, at most until `deadline`; returns those still
/// listed then (empty: all gone in time).
pub async fn wait_gone(db: &MariaDb, ids: &BTreeSet<u64>, deadline: Instant) -> BTreeSet<u64> {
    loop {
        let left = listed(db, ids);
        if left.is_empty() || Instant::now() >= deadline {
            return left;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits up to `within` for session `id` to leave the server: how long it took, `None` if it
/// is still listed.
pub async fn gone_within(db: &MariaDb, id: u64, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    while db.alive(id) {
        if start.elapsed() > within {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    Some(start.elapsed())
}

/// Ends whatever of `victims` is still on the server (as root), so no statement outlives its
/// test on a shared server.
pub async fn end_all<'a>(db: &MariaDb, victims: impl IntoIterator<Item = &'a Victim>) {
    let left = listed(db, &ids(victims));
    if left.is_empty() {
        return;
    }
    let mut root = db.connect("root", "").await;
    for id in left {
        // A session that ended since the listing makes `KILL` fail (1094): still the outcome
        // wanted.
        let _ = root.query_drop(format!("KILL {id}")).await;
    }
}
