//! The kill executor against a real server: pipelined batches resume after a failing statement,
//! across batch boundaries; `KILL USER`, when enabled, is used exactly when it is equivalent; the
//! saturation lifeline still kills when the server is full.

use std::time::Duration;

use dbkill::domain::{DatastoreType, KillType, SessionId};
use dbkill::engine::mysql::MysqlDriver;
use dbkill::engine::{
    KillOrder, KillResult, OwnConnections, SessionDriver, Target, TargetTls, Timeouts,
};
use dbkill::planner::{KillStrategy, MAX_BATCH};
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::app::{TestApp, spawn_app, spawn_app_with};
use crate::helpers::fixtures::{
    KillCtx, KillSetup, VICTIM_PASSWORD, idle, killer_ctx, new_victim, usable,
};
use crate::support::mariadb::{MariaDb, MariaDbOptions, shared, unique_name};
use crate::support::proxy::StallProxy;

fn target(db: &MariaDb, port: u16, user: &str, password: &str) -> Target {
    Target {
        datastore: DatastoreType::Mariadb,
        host: db.host().into(),
        port,
        username: user.into(),
        password: SecretString::from(password.to_owned()),
        tls: TargetTls::default(),
    }
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(5),
        statement: Duration::from_secs(10),
    }
}

/// A driver reaching `db` on `port` (its own, or a proxy's).
fn driver_via(db: &MariaDb, port: u16, user: &str, password: &str) -> MysqlDriver {
    let target = target(db, port, user, password);
    MysqlDriver::new(target, port, timeouts(), OwnConnections::default())
}

fn driver(db: &MariaDb, user: &str, password: &str) -> MysqlDriver {
    driver_via(db, db.port(), user, password)
}

/// A minute from now: time that plays no part in the test.
fn later() -> Instant {
    Instant::now() + Duration::from_secs(60)
}

/// Sends KILLs for `ids` by `strategy`, with time to spare.
async fn kill_by(
    d: &MysqlDriver,
    ids: &[SessionId],
    strategy: KillStrategy,
) -> Vec<(SessionId, KillResult)> {
    let no_starts = std::collections::HashMap::new();
    let order = KillOrder {
        ids,
        started: &no_starts,
        kill_type: KillType::Connection,
        strategy,
        stop_sending: later(),
        give_up: later(),
    };
    d.execute(&order).await
}

fn killer(db: &MariaDb, grants: &str) -> String {
    let name = unique_name("exec");
    db.sql(&format!(
        "CREATE USER '{name}'@'%' IDENTIFIED BY 'pw'; GRANT {grants} ON *.* TO '{name}'@'%'"
    ));
    name
}

#[tokio::test]
async fn batches_resume_after_each_failing_statement_across_boundaries() {
    resume_across_boundaries(1).await;
}

#[tokio::test]
async fn batches_spread_over_several_connections_answer_every_id() {
    resume_across_boundaries(3).await;
}

async fn resume_across_boundaries(kill_connections: usize) {
    let db = shared();
    let victim = new_victim(db, "batch");
    let mut conns = vec![];
    for _ in 0..5 {
        conns.push(idle(db, &victim, None).await);
    }
    // 1001 ids: victims at both ends and around the 500-statement batch boundary, every other id
    // unknown to the server, so nearly every statement ends its batch with 1094.
    let mut ids: Vec<SessionId> = (0..1001).map(|i| SessionId(4_000_000_000 + i)).collect();
    let positions = [0usize, 499, 500, 501, 1000];
    for (pos, (_, id)) in positions.iter().zip(&conns) {
        ids[*pos] = SessionId(*id);
    }
    let d = driver(db, &killer(db, "PROCESS, CONNECTION ADMIN"), "pw");
    let strategy = match kill_connections {
        1 => KillStrategy::Sequential { batch: MAX_BATCH },
        n => KillStrategy::Parallel {
            connections: n,
            batch: MAX_BATCH,
        },
    };
    let mut results = kill_by(&d, &ids, strategy).await;
    assert_eq!(results.len(), ids.len(), "every id gets exactly one answer");
    // Several connections answer in their own order; one connection answers in the order sent.
    if kill_connections > 1 {
        let rank: std::collections::HashMap<SessionId, usize> =
            ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        results.sort_by_key(|(id, _)| rank[id]);
    }
    for (i, (id, result)) in results.iter().enumerate() {
        assert_eq!(*id, ids[i]);
        if positions.contains(&i) {
            assert!(matches!(result, KillResult::Accepted(_)), "{i}: {result:?}");
        } else {
            assert!(matches!(result, KillResult::NotFound), "{i}: {result:?}");
        }
    }
    for (conn, id) in conns.iter_mut() {
        assert!(!usable(conn).await, "{id} should be dead");
        assert!(!db.alive(*id));
    }
}

#[tokio::test]
async fn refused_kills_fail_one_by_one_and_later_ids_still_run() {
    let db = shared();
    let victim = new_victim(db, "refused");
    let (mut a, a_id) = idle(db, &victim, None).await;
    let (mut b, b_id) = idle(db, &victim, None).await;
    let weak = driver(db, &killer(db, "PROCESS"), "pw");
    let results = kill_by(
        &weak,
        &[SessionId(a_id), SessionId(4_100_000_000), SessionId(b_id)],
        KillStrategy::Sequential { batch: MAX_BATCH },
    )
    .await;
    assert!(
        matches!(
            results[0].1,
            KillResult::Failed(dbkill::engine::EngineError::Denied(_))
        ),
        "{results:?}"
    );
    assert!(matches!(results[1].1, KillResult::NotFound), "{results:?}");
    assert!(
        matches!(
            results[2].1,
            KillResult::Failed(dbkill::engine::EngineError::Denied(_))
        ),
        "{results:?}"
    );
    assert!(usable(&mut a).await && usable(&mut b).await);
    // Without CONNECTION ADMIN, MariaDB's KILL USER signals nobody (silently, or refusing).
    match weak.kill_user(&victim, KillType::Connection, later()).await {
        Ok(Some(0)) | Err(dbkill::engine::EngineError::Denied(_)) => {}
        other => panic!("{other:?}"),
    }
    // The lifeline is still in step after the refused statements: its next answer is its own.
    let listed = weak
        .list(&dbkill::domain::KillFilter::default(), later())
        .await
        .unwrap();
    assert!(listed.sessions.iter().any(|s| s.id.0 == a_id));
    assert!(usable(&mut a).await);
}

fn com_kill(db: &MariaDb) -> u64 {
    db.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_KILL'")
        .parse()
        .unwrap()
}

#[tokio::test]
async fn kill_user_is_used_exactly_when_equivalent() {
    // A server of its own: the test counts every KILL statement the server runs.
    let db = MariaDb::start(MariaDbOptions {
        event_scheduler: false,
        ..Default::default()
    });
    let victim = new_victim(&db, "ku");
    db.sql(&format!(
        "CREATE DATABASE ku_db; GRANT ALL ON ku_db.* TO '{victim}'@'%'"
    ));

    // By default a kill by user is pipelined KILLs of exactly the planned ids.
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, &db, "PROCESS, CONNECTION ADMIN", &[]).await;
    ctx.list(&app, "").await;
    let statements = kill_four(&app, &ctx, &db, &victim, json!({"user": victim})).await;
    assert_eq!(statements, 4, "one KILL per planned session");

    // With kill_user_statement, one KILL USER where it is exactly the plan.
    let app = spawn_app_with(|raw| raw.kill_user_statement = true).await;
    let ctx = killer_ctx(&app, &db, "PROCESS, CONNECTION ADMIN", &[]).await;
    ctx.list(&app, "").await;
    let statements = kill_four(&app, &ctx, &db, &victim, json!({"user": victim})).await;
    assert_eq!(statements, 1, "one KILL USER did the whole plan");

    // By database the same sessions take one pipelined KILL each.
    let statements = kill_four(&app, &ctx, &db, &victim, json!({"database": "ku_db"})).await;
    assert_eq!(statements, 4);

    // A session of the user that must survive (here: one already being killed is skipped) rules
    // KILL USER out; so does a protected session — tested through the protected-user path below.
    let mut open = vec![];
    for _ in 0..3 {
        open.push(idle(&db, &victim, None).await);
    }
    let p_ctx = killer_ctx(&app, &db, "PROCESS, CONNECTION ADMIN", &[&victim]).await;
    let before = com_kill(&db);
    let report = p_ctx.kill(&app, json!({"user": victim})).await;
    assert_eq!(report["killed"], json!([]), "{report}");
    assert_eq!(report["skipped"].as_array().unwrap().len(), 3);
    assert_eq!(
        com_kill(&db) - before,
        0,
        "protected sessions: no KILL at all"
    );
    for (conn, _) in open.iter_mut() {
        assert!(usable(conn).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_server_is_still_killed_through_the_lifeline_within_100_ms() {
    let db = MariaDb::start(MariaDbOptions {
        max_connections: 20,
        event_scheduler: false,
        ..Default::default()
    });
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, &db, "PROCESS, CONNECTION ADMIN", &[]).await;
    // The lifeline opens while the server is healthy.
    ctx.list(&app, "").await;
    let victim = new_victim(&db, "storm");

    // Fill every slot with victims.
    let mut victims = vec![];
    loop {
        match db.try_connect(&victim, VICTIM_PASSWORD, None).await {
            Ok(c) => victims.push(c),
            Err(_) => break,
        }
        assert!(victims.len() <= 30, "max_connections did not hold");
    }
    assert!(victims.len() >= 15, "only {} victims got in", victims.len());
    // And keep a reconnect storm going while the kill runs.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // The storm runs on a thread of its own, as a separate client machine would.
    let storm = {
        let stop = stop.clone();
        let port = db.port();
        let user = victim.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let mut clients = vec![];
                for _ in 0..8 {
                    clients.push(tokio::spawn(reconnect_until(
                        stop.clone(),
                        port,
                        user.clone(),
                    )));
                }
                futures_sum(clients).await
            })
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;

    let sent = dbkill::clock::now_ms();
    let report = ctx.kill(&app, json!({"user": victim})).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let refused = storm.join().unwrap();
    assert!(refused > 0, "the storm never hit max_connections");
    let killed = report["killed"].as_array().unwrap();
    assert!(killed.len() >= victims.len(), "{report}");
    let first_kill = ctx.kill_times(&app).await.into_iter().min().unwrap();
    assert!(
        first_kill - sent <= 100,
        "first KILL {} ms after the request",
        first_kill - sent
    );
    for c in victims.iter_mut() {
        assert!(!usable(c).await);
    }
}

/// Opens four idle sessions of `victim` in `ku_db`, kills them with `body` and checks that they
/// are reported and gone; returns how many KILL statements the server ran.
async fn kill_four(app: &TestApp, ctx: &KillCtx, db: &MariaDb, victim: &str, body: Value) -> u64 {
    let mut open = vec![];
    for _ in 0..4 {
        open.push(idle(db, victim, Some("ku_db")).await);
    }
    let before = com_kill(db);
    let report = ctx.kill(app, body).await;
    assert_eq!(report["killed"].as_array().unwrap().len(), 4, "{report}");
    let statements = com_kill(db) - before;
    for (conn, _) in open.iter_mut() {
        assert!(!usable(conn).await);
    }
    statements
}

/// Connects and disconnects as `user` until `stop`; returns how often it was refused.
async fn reconnect_until(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    port: u16,
    user: String,
) -> u32 {
    let mut refused = 0u32;
    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
        let opts = mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(port)
            .user(Some(user.clone()))
            .pass(Some(VICTIM_PASSWORD))
            .prefer_socket(false);
        match tokio::time::timeout(Duration::from_secs(2), mysql_async::Conn::new(opts)).await {
            Ok(Ok(c)) => drop(c.disconnect().await),
            _ => refused += 1,
        }
    }
    refused
}

async fn futures_sum(tasks: Vec<tokio::task::JoinHandle<u32>>) -> u32 {
    let mut sum = 0;
    for t in tasks {
        sum += t.await.unwrap();
    }
    sum
}

#[tokio::test]
async fn a_lost_lifeline_is_reopened_and_opened_at_registration() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    // Registration opens the lifeline without any other call.
    let mut lifeline = vec![];
    for _ in 0..100 {
        lifeline = db.processlist_ids(&ctx.killer);
        if !lifeline.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(lifeline.len(), 1, "one lifeline per db user");
    // Someone kills it behind dbkill's back: the next call reopens it and works.
    db.sql(&format!("KILL {}", lifeline[0]));
    let listed = ctx.list(&app, &format!("user={}", ctx.killer)).await;
    assert_eq!(listed["count"], 1, "{listed}");
    assert_ne!(listed["processes"][0]["id"], lifeline[0].to_string());
}

#[tokio::test]
async fn a_batch_unanswered_when_sending_stops_is_stopped_given_up_and_left_to_verification() {
    let db = MariaDb::start(MariaDbOptions {
        event_scheduler: false,
        extra_args: vec!["--general-log=1".into(), "--log-output=TABLE".into()],
        ..Default::default()
    });
    let victim = new_victim(&db, "held");
    let mut conns = vec![];
    for _ in 0..20 {
        conns.push(idle(&db, &victim, None).await);
    }
    let ids: Vec<SessionId> = conns.iter().rev().map(|(_, id)| SessionId(*id)).collect();
    let killer = killer(&db, "PROCESS, CONNECTION ADMIN");
    // The server runs every KILL at once, but the lifeline hears no answer: to dbkill it looks
    // like a batch still running when sending must stop.
    let proxy = StallProxy::start(db.port()).await;
    let d = driver_via(&db, proxy.port, &killer, "pw");
    d.list(&dbkill::domain::KillFilter::default(), later())
        .await
        .unwrap();
    let lifeline: u64 = db.processlist_ids(&killer)[0];
    proxy.hold_answers();
    let start = Instant::now();
    // Batches of 8: the first is in flight when sending stops, the others are never sent.
    let no_starts = std::collections::HashMap::new();
    let order = KillOrder {
        ids: &ids,
        started: &no_starts,
        kill_type: KillType::Connection,
        strategy: KillStrategy::Sequential { batch: 8 },
        stop_sending: start + Duration::from_millis(200),
        give_up: start + Duration::from_millis(1200),
    };
    let results = d.execute(&order).await;
    let returned = start.elapsed();
    // Given up at `give_up`, not at the statement timeout.
    assert!(
        (Duration::from_millis(1200)..Duration::from_secs(3)).contains(&returned),
        "{returned:?}"
    );
    assert_eq!(results.len(), ids.len(), "every id answered once");
    // The batch in flight is unanswered (the server did run it: verification will find those
    // sessions gone); nothing was sent after it.
    let (mut unanswered, mut not_attempted) = (vec![], vec![]);
    for (id, r) in &results {
        match r {
            KillResult::Unanswered(_) => unanswered.push(id.0),
            KillResult::NotAttempted => not_attempted.push(id.0),
            other => panic!("{id:?}: {other:?}"),
        }
    }
    assert!(
        !unanswered.is_empty() && !not_attempted.is_empty(),
        "{results:?}"
    );
    for id in &unanswered {
        assert!(!db.alive(*id), "{id} was in the delivered batch");
    }
    for id in &not_attempted {
        assert!(db.alive(*id), "{id} was never sent a KILL");
    }
    // At the send point the batch's statement was ended from another connection.
    let stop = db.sql(&format!(
        "SELECT COUNT(*) FROM mysql.general_log WHERE argument = 'KILL QUERY {lifeline}'"
    ));
    assert_eq!(stop, "1");
}
