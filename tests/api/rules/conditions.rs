//! Each condition of a rule alone and several together (AND), on a population of sessions that
//! differ in user, host, database, command, statement, state, age and open transaction: the
//! preview must list exactly the members a condition describes. Then one rule per kind of
//! condition (host, statement text, state, command with database and user, transaction age)
//! runs, and exactly the union of their matches dies, each credited to its rule.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{KILLER_GRANTS, private_server};
use crate::helpers::fixtures::{killer_ctx, new_database, new_victim};
use crate::helpers::rules::{KILL_WITHIN, Rules, TICK, rule, spawn_rules_app};
use crate::helpers::sessions::{Via, Victim, idle_after, idle_victim, running_victim, wait_gone};
use crate::support::mariadb::{MariaDb, unique_name};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum User {
    A,
    B,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Db {
    One,
    Two,
}

/// What a member runs.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stmt {
    /// Nothing: idle (command `Sleep`, empty state).
    Idle,
    /// `SELECT SLEEP(60), 'alpha_marker'` (state `User sleep`).
    Alpha,
    /// `SELECT SLEEP(60), 'beta_marker'`.
    Beta,
    /// A `GET_LOCK()` that waits for the lock holder (state `User lock`).
    WaitLock,
}

/// An open transaction, and when it began.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Trx {
    None,
    /// Before the pause between the old and the young members.
    Old,
    Young,
}

/// What a member of the population is, as the conditions see it.
#[derive(Clone, Copy, Debug)]
struct Traits {
    user: User,
    via: Via,
    db: Db,
    stmt: Stmt,
    /// Made before the pause, so older than 2 s when the age cases run.
    old: bool,
    trx: Trx,
    /// Idle, holding the lock `WaitLock` waits for.
    holds_lock: bool,
}

impl Traits {
    fn query(&self) -> bool {
        self.stmt != Stmt::Idle
    }
    fn sleeps(&self) -> bool {
        matches!(self.stmt, Stmt::Alpha | Stmt::Beta)
    }
}

const ALPHA: &str = "SELECT SLEEP(60), 'alpha_marker'";
const BETA: &str = "SELECT SLEEP(60), 'beta_marker'";

/// The base of every member: idle, of A, over TCP, in database one, old, no transaction.
const IDLE: Traits = Traits {
    user: User::A,
    via: Via::Tcp,
    db: Db::One,
    stmt: Stmt::Idle,
    old: true,
    trx: Trx::None,
    holds_lock: false,
};

type Pick = fn(&Traits) -> bool;

/// The names the population lives under on the server.
struct Names {
    a: String,
    b: String,
    one: String,
    two: String,
    lock: String,
}

impl Names {
    fn new(db: &MariaDb) -> Names {
        let names = Names {
            a: new_victim(db, "cond_a"),
            b: new_victim(db, "cond_b"),
            one: new_database(db, "one"),
            two: new_database(db, "two"),
            lock: unique_name("lk"),
        };
        db.sql(&format!(
            "CREATE TABLE `{one}`.t (i INT PRIMARY KEY) ENGINE=InnoDB; GRANT ALL ON `{one}`.* TO '{b}'@'%'",
            one = names.one,
            b = names.b
        ));
        names
    }

    fn user(&self, u: User) -> &str {
        if u == User::A { &self.a } else { &self.b }
    }

    fn db(&self, d: Db) -> &str {
        if d == Db::One { &self.one } else { &self.two }
    }

    /// A write that opens a transaction; `row` keeps transactions off each other's locks.
    fn write(&self, row: usize) -> String {
        format!("INSERT INTO `{}`.t VALUES ({row})", self.one)
    }
}

/// Opens member `t` as `label`; `row` is its own row for a transaction's write.
async fn open_member(db: &MariaDb, n: &Names, label: &str, t: Traits, row: usize) -> Victim {
    let (user, database, via) = (n.user(t.user), Some(n.db(t.db)), t.via);
    match t.stmt {
        Stmt::Alpha => running_victim(db, user, database, via, ALPHA, "User sleep", label).await,
        Stmt::Beta => running_victim(db, user, database, via, BETA, "User sleep", label).await,
        Stmt::WaitLock => {
            let sql = format!("SELECT GET_LOCK('{}', 60)", n.lock);
            running_victim(db, user, database, via, &sql, "User lock", label).await
        }
        Stmt::Idle if t.holds_lock => {
            let sql = format!("SELECT GET_LOCK('{}', 0)", n.lock);
            idle_after(db, user, database, via, &[&sql], label).await
        }
        Stmt::Idle if t.trx != Trx::None => {
            idle_after(db, user, database, via, &["BEGIN", &n.write(row)], label).await
        }
        Stmt::Idle => idle_victim(db, user, database, via, label).await,
    }
}

#[tokio::test]
async fn each_condition_alone_and_together_matches_exactly_its_sessions_and_kills_them() {
    // Its own server (TCP clients listed as 127.0.0.1, socket clients as localhost): the kill
    // rules at the end are not narrowed to one user.
    let db = private_server(true);
    let app = spawn_rules_app().await;
    let ctx = killer_ctx(&app, &db, KILLER_GRANTS, &[]).await;
    let rules = Rules::of(&app, &ctx);
    let n = Names::new(&db);
    let (a, b, one, two) = (&n.a, &n.b, &n.one, &n.two);

    let old = [
        (
            "alpha",
            Traits {
                stmt: Stmt::Alpha,
                ..IDLE
            },
        ),
        (
            "beta over the socket",
            Traits {
                via: Via::Socket,
                stmt: Stmt::Beta,
                ..IDLE
            },
        ),
        (
            "idle in two",
            Traits {
                db: Db::Two,
                ..IDLE
            },
        ),
        (
            "lock holder",
            Traits {
                user: User::B,
                holds_lock: true,
                ..IDLE
            },
        ),
        (
            "lock waiter",
            Traits {
                user: User::B,
                stmt: Stmt::WaitLock,
                ..IDLE
            },
        ),
        (
            "old transaction",
            Traits {
                user: User::B,
                db: Db::Two,
                trx: Trx::Old,
                ..IDLE
            },
        ),
    ];
    let young = [
        (
            "young alpha",
            Traits {
                stmt: Stmt::Alpha,
                old: false,
                ..IDLE
            },
        ),
        (
            "young transaction over the socket",
            Traits {
                user: User::B,
                via: Via::Socket,
                db: Db::Two,
                old: false,
                trx: Trx::Young,
                ..IDLE
            },
        ),
        ("young idle", Traits { old: false, ..IDLE }),
    ];
    let mut members: Vec<(Victim, Traits)> = Vec::new();
    for (label, t) in old {
        let row = members.len();
        members.push((open_member(&db, &n, label, t, row).await, t));
    }
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let young_from = Instant::now();
    for (label, t) in young {
        let row = members.len();
        members.push((open_member(&db, &n, label, t, row).await, t));
    }

    let expect = |pick: Pick| -> BTreeSet<u64> {
        members
            .iter()
            .filter(|(_, t)| pick(t))
            .map(|(v, _)| v.id)
            .collect()
    };
    let label_of = |id: &u64| {
        members
            .iter()
            .find(|(v, _)| v.id == *id)
            .map_or("?".to_owned(), |(v, _)| v.label.clone())
    };
    let check = async |body: Value, pick: Pick| {
        let got = rules.preview_ids(rule(body.clone())).await;
        let want = expect(pick);
        let names = |s: &BTreeSet<u64>| s.iter().map(label_of).collect::<Vec<_>>();
        assert_eq!(
            names(&got),
            names(&want),
            "preview of {body} (ids {got:?} vs {want:?})"
        );
    };

    // Age: run while the young members are under 2 s and the old ones over 2 s.
    let time_cases: Vec<(Value, Pick)> = vec![
        (json!({"time": 2}), |t| t.old),
        (json!({"time": 2, "user": a}), |t| {
            t.old && t.user == User::A
        }),
        (json!({"min_trx_time": 2}), |t| t.trx == Trx::Old),
        (json!({"min_trx_time": 2, "user": b, "db": two}), |t| {
            t.trx == Trx::Old
        }),
        (json!({"time": 2, "info": "alpha"}), |t| {
            t.old && t.stmt == Stmt::Alpha
        }),
    ];
    for (body, pick) in time_cases {
        check(body, pick).await;
    }
    assert!(
        young_from.elapsed() < Duration::from_millis(1_900),
        "the age cases took {:?}: the young members may have turned 2 s",
        young_from.elapsed()
    );

    // Everything else with `time` 1, which every member has reached by now.
    tokio::time::sleep_until((young_from + Duration::from_millis(1_300)).into()).await;
    let tcp = |t: &Traits| t.via == Via::Tcp;
    let socket = |t: &Traits| t.via == Via::Socket;
    let cases: Vec<(Value, Pick)> = vec![
        (json!({}), |_| true),
        (json!({"user": a}), |t| t.user == User::A),
        (json!({"user": b}), |t| t.user == User::B),
        (json!({"host": "localhost"}), socket),
        (json!({"host": "127.0.0.1"}), tcp),
        (json!({"host": "127.0.0.%"}), tcp),
        (json!({"host": "127.0.0._"}), tcp),
        (json!({"host": "127.0.0.1_"}), |_| false),
        (json!({"host": "%calho%"}), socket),
        (json!({"host": "_ocalhost"}), socket),
        (json!({"db": one}), |t| t.db == Db::One),
        (json!({"db": two}), |t| t.db == Db::Two),
        (json!({"command": "sleep"}), |t| !t.query()),
        (json!({"command": "QUERY"}), |t| t.query()),
        (json!({"info": "ALPHA_MARKER"}), |t| t.stmt == Stmt::Alpha),
        (json!({"info": "sleep(60)"}), |t| t.sleeps()),
        (json!({"info": "get_lock"}), |t| t.stmt == Stmt::WaitLock),
        (json!({"state": "User lock"}), |t| t.stmt == Stmt::WaitLock),
        (json!({"state": "User sleep"}), |t| t.sleeps()),
        (json!({"user": a, "host": "localhost"}), |t| {
            t.user == User::A && t.via == Via::Socket
        }),
        (
            json!({"user": a, "command": "query", "info": "alpha"}),
            |t| t.stmt == Stmt::Alpha,
        ),
        (json!({"user": b, "db": two, "command": "Sleep"}), |t| {
            t.user == User::B && t.db == Db::Two && !t.query()
        }),
        (
            json!({"host": "127.%", "db": one, "state": "User sleep"}),
            |t| t.via == Via::Tcp && t.stmt == Stmt::Alpha,
        ),
        (json!({"user": b, "info": "sleep"}), |_| false),
        (json!({"db": one, "command": "sleep", "user": b}), |t| {
            t.user == User::B && t.db == Db::One && !t.query()
        }),
    ];
    for (body, pick) in cases {
        check(body, pick).await;
    }

    // One preview answer in full: DAS's fields for the old alpha session.
    let p = rules
        .preview(rule(json!({"info": "alpha", "time": 2})))
        .await;
    let alpha = &p["processes"][0];
    assert_eq!(p["total_count"], 1, "{p}");
    assert_eq!(alpha["user"], a.as_str(), "{p}");
    assert_eq!(alpha["db"], one.as_str(), "{p}");
    assert_eq!(alpha["command"], "Query", "{p}");
    assert_eq!(alpha["sql_info"], ALPHA, "{p}");
    assert_eq!(alpha["state"], "User sleep", "{p}");
    assert!(alpha["state_duration"].as_i64().unwrap() >= 2, "{p}");
    assert!(
        alpha["host"].as_str().unwrap().starts_with("127.0.0.1"),
        "{p}"
    );
    assert!(p["data_sync_time"].as_i64().unwrap() > 0, "{p}");

    // Kills, one rule per kind of condition. `min_trx_time` 5 kills both transactions begun
    // before now (the young one is over 5 s old when the switch goes on), and spares one begun
    // 1.2 s before the switch goes on (older than `time` 1, younger than 5 s until the switch
    // is off again).
    tokio::time::sleep_until((young_from + Duration::from_millis(4_300)).into()).await;
    let fresh_write = n.write(100);
    let fresh_trx = idle_after(
        &db,
        b,
        Some(two),
        Via::Tcp,
        &["BEGIN", &fresh_write],
        "fresh transaction",
    )
    .await;
    let fresh_from = Instant::now();
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    let kinds: Vec<(Value, Pick)> = vec![
        (json!({"host": "localhost", "user": a}), |t| {
            t.user == User::A && t.via == Via::Socket
        }),
        (json!({"info": "ALPHA_MARKER"}), |t| t.stmt == Stmt::Alpha),
        (json!({"state": "User lock"}), |t| t.stmt == Stmt::WaitLock),
        (json!({"command": "sleep", "db": two, "user": a}), |t| {
            t.user == User::A && t.db == Db::Two && !t.query()
        }),
        (json!({"min_trx_time": 5}), |t| t.trx != Trx::None),
    ];
    let mut credited: BTreeMap<u64, i64> = BTreeMap::new();
    let mut per_rule: Vec<(i64, usize)> = Vec::new();
    for (body, pick) in &kinds {
        let task = rules.add(rule(body.clone())).await;
        let mine = expect(*pick);
        per_rule.push((task, mine.len()));
        for id in mine {
            assert!(
                credited.insert(id, task).is_none(),
                "the kinds overlap on {}",
                label_of(&id)
            );
        }
    }
    rules.switch_on().await;
    let doomed: BTreeSet<u64> = credited.keys().copied().collect();
    let left = wait_gone(&db, &doomed, Instant::now() + KILL_WITHIN).await;
    rules.switch_off().await;
    assert!(
        left.is_empty(),
        "not killed: {:?}",
        left.iter().map(label_of).collect::<Vec<_>>()
    );
    // Off within one interval, before the fresh transaction turns 5 s.
    tokio::time::sleep(TICK * 2).await;
    assert!(
        fresh_from.elapsed() < Duration::from_millis(4_700),
        "too slow to tell the fresh transaction apart: {:?}",
        fresh_from.elapsed()
    );

    let mut fresh_trx = fresh_trx;
    assert!(
        fresh_trx.still_works(&db).await,
        "the fresh transaction was killed"
    );
    for (v, _) in &mut members {
        if doomed.contains(&v.id) {
            assert!(
                v.died(&db).await,
                "{}'s client did not see its end",
                v.label
            );
        } else {
            assert!(v.still_works(&db).await, "{} was killed", v.label);
        }
    }
    let h = ctx.history_of(&app, credited.len()).await;
    let got: BTreeMap<u64, i64> = h["killed_sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["session_id"].as_u64().unwrap(),
                r["task_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, credited, "{h}");
    for (task, n) in per_rule {
        let listed = rules.get_when(task, |r| r["killed_total"] == n).await;
        assert_eq!(listed["killed_total"], json!(n), "{listed}");
    }
}
