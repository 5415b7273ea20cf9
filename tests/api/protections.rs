//! What KillSession must never kill, on a real server: replication and scheduler threads, dbkill's
//! own connections, protected users; what it reports when the db user may not kill; query kills,
//! dry runs, not-found ids and the kill history.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;
use reqwest::Method;
use serde_json::{Value, json};

use dbkill::clock::now_ms;

use crate::helpers::app::spawn_app;
use crate::helpers::errors::assert_das_error;
use crate::helpers::fixtures::{
    KillSetup, idle, ids_of, killer_ctx, left_server, new_database, new_victim, process_ids,
    sleeping, usable, wait_until_only_the_lifeline,
};
use crate::support::mariadb::{MariaDb, REPL_USER, replica_pair, shared, unique_name};

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

/// `skipped` as id → reason.
fn skipped(report: &Value) -> BTreeMap<u64, String> {
    report["skipped"]
        .as_array()
        .unwrap_or_else(|| panic!("no skipped list: {report}"))
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().parse().unwrap(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn not_found(report: &Value) -> BTreeSet<u64> {
    report["not_found"]
        .as_array()
        .unwrap_or_else(|| panic!("no not_found list: {report}"))
        .iter()
        .map(|s| s.as_str().unwrap().parse().unwrap())
        .collect()
}

/// Ids of the server's threads whose `column` equals `value`, ascending.
fn thread_ids(db: &MariaDb, column: &str, value: &str) -> Vec<u64> {
    let out = db.sql(&format!(
        "SELECT ID FROM information_schema.PROCESSLIST WHERE {column} = '{value}' ORDER BY ID"
    ));
    out.lines().map(|l| l.parse().unwrap()).collect()
}

/// A report that killed nothing and skipped each of `expect_skipped` with its reason.
fn assert_nothing_killed(report: &Value, expect_skipped: &[(u64, &str)], what: &str) {
    assert_eq!(report["killed"], json!([]), "{what}: {report}");
    assert_eq!(report["failed"], json!([]), "{what}: {report}");
    let got = skipped(report);
    for (id, reason) in expect_skipped {
        assert_eq!(
            got.get(id).map(String::as_str),
            Some(*reason),
            "{what}: session {id} must be skipped as {reason}: {report}"
        );
    }
}

#[tokio::test]
async fn replication_and_scheduler_threads_are_never_killed() {
    let (primary, replica) = replica_pair();
    let app = spawn_app().await;
    let on_primary = killer_ctx(&app, &primary, KILLER_GRANTS, &[]).await;
    let on_replica = killer_ctx(&app, &replica, KILLER_GRANTS, &[]).await;

    // Replication demonstrably works before we start.
    let rdb = unique_name("repl_check");
    primary.sql(&format!(
        "CREATE DATABASE {rdb}; CREATE TABLE {rdb}.t (i INT PRIMARY KEY) ENGINE=InnoDB"
    ));
    let replicated = |sql: &str, want: &str| {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if replica.sql(sql) == want {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    assert!(replicated(
        &format!("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{rdb}'"),
        "1"
    ));

    // The primary: the replica's Binlog Dump thread and the event scheduler.
    let dump = thread_ids(&primary, "COMMAND", "Binlog Dump");
    assert_eq!(dump.len(), 1, "one Binlog Dump thread on the primary");
    let dump = dump[0];
    assert_eq!(thread_ids(&primary, "USER", REPL_USER), vec![dump]);
    let scheduler = thread_ids(&primary, "USER", "event_scheduler");
    assert_eq!(
        scheduler.len(),
        1,
        "the event scheduler runs on the primary"
    );
    let scheduler = scheduler[0];

    // A client that has not logged in yet is listed as `unauthenticated user`.
    let _half_open = std::net::TcpStream::connect(("127.0.0.1", primary.port())).unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let unauthenticated = loop {
        let found = thread_ids(&primary, "USER", "unauthenticated user");
        if let [id] = found[..] {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "no unauthenticated row: {found:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };

    let r = on_primary
        .kill(
            &app,
            json!({"process_ids": process_ids(&[dump, scheduler, unauthenticated])}),
        )
        .await;
    assert_nothing_killed(
        &r,
        &[
            (dump, "system_thread"),
            (scheduler, "system_thread"),
            (unauthenticated, "system_thread"),
        ],
        "primary by ids",
    );
    assert_eq!(r["not_found"], json!([]), "{r}");
    let users: BTreeMap<u64, &str> = r["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().parse().unwrap(),
                s["user"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(users[&dump], REPL_USER, "{r}");
    assert_eq!(users[&scheduler], "event_scheduler", "{r}");
    assert_eq!(users[&unauthenticated], "unauthenticated user", "{r}");
    let r = on_primary.kill(&app, json!({"user": REPL_USER})).await;
    assert_nothing_killed(&r, &[(dump, "system_thread")], "primary by user repl");
    let r = on_primary
        .kill(&app, json!({"user": "event_scheduler"}))
        .await;
    assert_nothing_killed(
        &r,
        &[(scheduler, "system_thread")],
        "primary by user event_scheduler",
    );
    assert!(primary.alive(dump), "the Binlog Dump thread was killed");
    assert!(primary.alive(scheduler), "the event scheduler was killed");
    assert!(
        primary.alive(unauthenticated),
        "the unauthenticated connection was killed"
    );

    // The replica: its IO and SQL threads, both `system user`.
    let io = thread_ids(&replica, "COMMAND", "Slave_IO");
    let sql = thread_ids(&replica, "COMMAND", "Slave_SQL");
    assert_eq!(
        (io.len(), sql.len()),
        (1, 1),
        "replica threads: {io:?} {sql:?}"
    );
    let (io, sql) = (io[0], sql[0]);
    let system_user = thread_ids(&replica, "USER", "system user");
    assert!(system_user.contains(&io) && system_user.contains(&sql));

    let r = on_replica
        .kill(&app, json!({"process_ids": process_ids(&[io, sql])}))
        .await;
    assert_nothing_killed(
        &r,
        &[(io, "system_thread"), (sql, "system_thread")],
        "replica by ids",
    );
    let r = on_replica.kill(&app, json!({"user": "system user"})).await;
    let expect: Vec<(u64, &str)> = system_user
        .iter()
        .map(|id| (*id, "system_thread"))
        .collect();
    assert_nothing_killed(&r, &expect, "replica by user 'system user'");
    assert!(replica.alive(io), "Slave_IO was killed");
    assert!(replica.alive(sql), "Slave_SQL was killed");
    assert!(primary.alive(dump), "the Binlog Dump thread was killed");

    // Replication still runs: a row written on the primary arrives on the replica.
    primary.sql(&format!("INSERT INTO {rdb}.t VALUES (42)"));
    assert!(
        replicated(&format!("SELECT COUNT(*) FROM {rdb}.t WHERE i = 42"), "1"),
        "row did not replicate: {:?}",
        replica.slave_status()
    );
    let status = replica.slave_status().expect("still a replica");
    assert_eq!(status["Slave_IO_Running"], "Yes", "{status:?}");
    assert_eq!(status["Slave_SQL_Running"], "Yes", "{status:?}");
}

#[tokio::test]
async fn dbkills_own_connections_are_never_killed() {
    let KillSetup { app, db, ctx } = KillSetup::new(KILLER_GRANTS).await;

    // Registration opens the lifeline; it is the killer account's only session once the login
    // check of the registration has left.
    wait_until_only_the_lifeline(db, &ctx.killer).await;
    let listed = ctx.list(&app, &format!("user={}", ctx.killer)).await;
    let lifeline = ids_of(&listed["processes"]);
    assert_eq!(lifeline.len(), 1, "{listed}");
    let lifeline = lifeline[0];

    let r = ctx.kill(&app, json!({"user": ctx.killer})).await;
    assert_nothing_killed(&r, &[(lifeline, "own_connection")], "by own user");
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[lifeline])}))
        .await;
    assert_nothing_killed(&r, &[(lifeline, "own_connection")], "by own id");
    assert_eq!(r["not_found"], json!([]), "{r}");

    // The lifeline survived: the same connection still lists.
    assert!(db.alive(lifeline));
    let again = ctx.list(&app, &format!("user={}", ctx.killer)).await;
    assert_eq!(ids_of(&again["processes"]), vec![lifeline], "{again}");

    // Any connection of dbkill, not only the requesting db user's: another registered
    // db user (another instance on the same server) is protected too.
    let other = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    wait_until_only_the_lifeline(db, &other.killer).await;
    let theirs = ids_of(&other.list(&app, &format!("user={}", other.killer)).await["processes"]);
    assert_eq!(theirs.len(), 1);
    let r = ctx.kill(&app, json!({"user": other.killer})).await;
    assert_nothing_killed(
        &r,
        &[(theirs[0], "own_connection")],
        "other db user's lifeline",
    );
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&theirs)}))
        .await;
    assert_nothing_killed(&r, &[(theirs[0], "own_connection")], "other lifeline by id");
    assert!(db.alive(theirs[0]));
    let still = other.list(&app, &format!("user={}", other.killer)).await;
    assert_eq!(ids_of(&still["processes"]), theirs, "{still}");
}

#[tokio::test]
async fn protected_users_are_skipped_and_others_in_the_same_request_killed() {
    let app = spawn_app().await;
    let db = shared();
    let (keep, victim) = (new_victim(db, "keep"), new_victim(db, "victim"));
    let database = new_database(db, "protdb");
    let ctx = killer_ctx(&app, db, KILLER_GRANTS, &[&keep]).await;

    let (mut k1, k1_id) = idle(db, &keep, None).await;
    let (mut k2, k2_id) = idle(db, &keep, Some(&database)).await;
    let (mut v1, v1_id) = idle(db, &victim, None).await;
    let (mut v2, v2_id) = idle(db, &victim, Some(&database)).await;

    // By user: both protected sessions skipped.
    let r = ctx.kill(&app, json!({"user": keep})).await;
    assert_nothing_killed(
        &r,
        &[(k1_id, "protected_user"), (k2_id, "protected_user")],
        "by protected user",
    );
    assert_eq!(skipped(&r).len(), 2, "{r}");

    // By ids, mixed: the unprotected one dies, the protected one is skipped.
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[k1_id, v1_id])}))
        .await;
    assert_eq!(ids_of(&r["killed"]), vec![v1_id], "{r}");
    assert_eq!(
        skipped(&r),
        BTreeMap::from([(k1_id, "protected_user".to_owned())]),
        "{r}"
    );

    // By database, mixed.
    let r = ctx.kill(&app, json!({"database": database})).await;
    assert_eq!(ids_of(&r["killed"]), vec![v2_id], "{r}");
    assert_eq!(
        skipped(&r),
        BTreeMap::from([(k2_id, "protected_user".to_owned())]),
        "{r}"
    );

    assert!(
        db.alive(k1_id) && usable(&mut k1).await,
        "protected session 1 died"
    );
    assert!(
        db.alive(k2_id) && usable(&mut k2).await,
        "protected session 2 died"
    );
    assert!(left_server(db, v1_id).await && !usable(&mut v1).await);
    assert!(left_server(db, v2_id).await && !usable(&mut v2).await);
}

#[tokio::test]
async fn a_db_user_without_connection_admin_gets_per_session_failures() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS").await;
    let victim = new_victim(db, "unkillable");
    let (mut c1, id1) = idle(db, &victim, None).await;
    let (mut c2, id2) = idle(db, &victim, None).await;

    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[id1, id2])}))
        .await;
    assert_eq!(r["killed"], json!([]), "{r}");
    assert_eq!(r["not_found"], json!([]), "{r}");
    let failed = r["failed"].as_array().unwrap();
    assert_eq!(ids_of(&r["failed"]), vec![id1, id2], "{r}");
    let english = failed[0]["error_msg"].as_str().unwrap().to_owned();
    for f in failed {
        assert_eq!(f["error_code"], "DAS.210003", "{r}");
        assert!(!f["error_msg"].as_str().unwrap().is_empty(), "{r}");
    }

    // The same in Chinese, matched by user this time.
    let body = json!({"db_user_id": ctx.db_user_id, "user": victim});
    let zh = app
        .raw_request(
            Method::DELETE,
            &ctx.process_path(),
            Some(&app.admin_token),
            &[("X-Language", "zh-cn")],
            Some(serde_json::to_vec(&body).unwrap()),
        )
        .await;
    assert_eq!(zh.status.as_u16(), 200, "{}", zh.text);
    assert_eq!(zh.body["killed"], json!([]), "{}", zh.text);
    assert_eq!(ids_of(&zh.body["failed"]), vec![id1, id2], "{}", zh.text);
    for f in zh.body["failed"].as_array().unwrap() {
        assert_eq!(f["error_code"], "DAS.210003");
        let msg = f["error_msg"].as_str().unwrap();
        assert!(
            msg.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
            "not Chinese: {msg}"
        );
        assert_ne!(msg, english);
    }

    // Nothing died, nothing is in the history, and the lifeline still works.
    assert!(db.alive(id1) && usable(&mut c1).await);
    assert!(db.alive(id2) && usable(&mut c2).await);
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 0, "{h}");
    let listed = ctx.list(&app, &format!("user={victim}")).await;
    assert_eq!(listed["count"], 2, "{listed}");
}

#[tokio::test]
async fn a_query_kill_ends_the_statement_and_keeps_the_connection() {
    let KillSetup { app, db, ctx } = KillSetup::new(KILLER_GRANTS).await;
    let victim = new_victim(db, "querykill");
    let (running, id) = sleeping(db, &victim, None).await;

    let started = Instant::now();
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[id]), "kill_type": "query"}),
        )
        .await;
    assert_eq!(r["kill_type"], "query", "{r}");
    assert_eq!(ids_of(&r["killed"]), vec![id], "{r}");
    assert_eq!(r["killed"][0]["gone"], true, "the statement ended: {r}");
    assert_eq!(r["killed"][0]["sql"], "SELECT SLEEP(100)", "{r}");

    let (mut conn, result) = tokio::time::timeout(Duration::from_secs(5), running)
        .await
        .expect("SELECT SLEEP(100) still runs 5 s after KILL QUERY")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    // MariaDB ends an interrupted SLEEP() with 1317 "Query execution was interrupted".
    match &result {
        Err(mysql_async::Error::Server(e)) => assert_eq!(e.code, 1317, "{e:?}"),
        other => panic!("expected error 1317 from the interrupted statement, got {other:?}"),
    }
    // Same connection, still on the server, still answering.
    assert_eq!(u64::from(conn.id()), id);
    assert!(db.alive(id), "a query kill closed the connection");
    assert!(usable(&mut conn).await, "the connection no longer answers");
    let who: Option<String> = conn.query_first("SELECT CURRENT_USER()").await.unwrap();
    assert_eq!(who, Some(format!("{victim}@%")));
}

#[tokio::test]
async fn a_dry_run_touches_nothing() {
    let KillSetup { app, db, ctx } = KillSetup::new(KILLER_GRANTS).await;
    let victim = new_victim(db, "dryrun");
    let (mut conn, idle_id) = idle(db, &victim, None).await;
    let (running, busy_id) = sleeping(db, &victim, None).await;

    for kill_type in ["connection", "query"] {
        let r = ctx
            .kill(
                &app,
                json!({"user": victim, "dry_run": true, "kill_type": kill_type}),
            )
            .await;
        assert_eq!(r["dry_run"], true, "{r}");
        assert_eq!(r["kill_type"], kill_type, "{r}");
        let mut want = vec![idle_id, busy_id];
        want.sort_unstable();
        assert_eq!(ids_of(&r["killed"]), want, "{r}");
        for k in r["killed"].as_array().unwrap() {
            assert!(k.get("gone").is_none(), "a dry run has no `gone`: {k}");
            assert_eq!(k["user"], victim.as_str());
        }
        assert_eq!(r["failed"], json!([]));
    }
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[idle_id, 4_000_000_000]), "dry_run": true}),
        )
        .await;
    assert_eq!(ids_of(&r["killed"]), vec![idle_id], "{r}");
    assert_eq!(not_found(&r), BTreeSet::from([4_000_000_000]), "{r}");

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        db.alive(idle_id) && usable(&mut conn).await,
        "dry run killed the idle session"
    );
    assert!(db.alive(busy_id), "dry run killed the running session");
    assert!(
        !running.is_finished(),
        "dry run interrupted SELECT SLEEP(100)"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], 0, "{h}");
    assert_eq!(h["killed_sessions"], json!([]), "{h}");

    ctx.kill(&app, json!({"user": victim})).await;
}

#[tokio::test]
async fn kill_history_records_real_kills_newest_first_and_respects_roles() {
    let KillSetup { app, db, ctx } = KillSetup::new(KILLER_GRANTS).await;
    let victim = new_victim(db, "hist");
    let database = new_database(db, "histdb");
    let (_idle_conn, idle_id) = idle(db, &victim, Some(&database)).await;
    let (_running, busy_id) = sleeping(db, &victim, Some(&database)).await;
    let seen = ctx.list(&app, &format!("user={victim}")).await;
    let seen: BTreeMap<i64, Value> = seen["processes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().parse().unwrap(), p.clone()))
        .collect();
    assert_eq!(seen.len(), 2);

    let before = now_ms();
    let r = ctx.kill(&app, json!({"user": victim})).await;
    let after = now_ms();
    let mut both = vec![idle_id, busy_id];
    both.sort_unstable();
    assert_eq!(ids_of(&r["killed"]), both, "{r}");

    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(2), "{h}");
    let rows = h["killed_sessions"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{h}");
    let mut got = BTreeSet::new();
    for row in rows {
        assert_eq!(row["task_id"], json!(0), "{row}");
        assert_eq!(row["instance_id"], ctx.instance.as_str(), "{row}");
        let id = row["session_id"].as_i64().expect("integer session_id");
        let kill_time = row["kill_time"].as_i64().expect("integer kill_time");
        assert!(
            (before..=after).contains(&kill_time),
            "{before} ≤ {kill_time} ≤ {after}"
        );
        assert!(row["time"].is_i64(), "integer time: {row}");
        assert_eq!(row["killed_source"], "api:admin", "{row}");
        let listed = &seen[&id];
        assert_eq!(row["user"], listed["user"], "{row}");
        assert_eq!(row["host"], listed["host"], "{row}");
        assert_eq!(row["db"], database.as_str(), "{row}");
        assert_eq!(row["command"], listed["command"], "{row}");
        got.insert(id as u64);
    }
    assert_eq!(got, both.iter().copied().collect());
    assert_eq!(seen[&(busy_id as i64)]["command"], "Query");
    let busy_row = rows.iter().find(|r| r["session_id"] == busy_id).unwrap();
    assert_eq!(busy_row["info"], "SELECT SLEEP(100)", "{busy_row}");
    assert!(
        rows[0]["kill_time"].as_i64() >= rows[1]["kill_time"].as_i64(),
        "newest first: {h}"
    );

    // Paging and the time window.
    let second = ctx.history(&app, "page_size=1&page_num=2").await;
    assert_eq!(second["total_count"], json!(2), "{second}");
    assert_eq!(second["killed_sessions"], json!([rows[1]]), "{second}");
    let first = ctx.history(&app, "page_size=1").await;
    assert_eq!(first["killed_sessions"], json!([rows[0]]), "{first}");
    let later = ctx
        .history(&app, &format!("start_time={}", after + 1))
        .await;
    assert_eq!(later["total_count"], json!(0), "{later}");
    assert_eq!(later["killed_sessions"], json!([]), "{later}");
    let earlier = ctx.history(&app, &format!("end_time={}", before - 1)).await;
    assert_eq!(earlier["total_count"], json!(0), "{earlier}");

    // Roles: a viewer reads history but may not kill; an operator may kill.
    let viewer = app.user_with_role(&ctx.project, "viewer").await;
    let operator = app.user_with_role(&ctx.project, "operator").await;
    let as_viewer = app
        .call(Method::GET, &ctx.history_path(), &viewer, None)
        .await;
    assert_eq!(as_viewer.status.as_u16(), 200, "{}", as_viewer.text);
    assert_eq!(as_viewer.body, h);

    let (mut third, third_id) = idle(db, &victim, None).await;
    let denied = ctx.kill_as(&app, &viewer, json!({"user": victim})).await;
    assert_das_error(&denied, 403, "APIGW.0302");
    assert!(
        db.alive(third_id) && usable(&mut third).await,
        "a viewer's kill went through"
    );

    let by_operator = ctx.kill_as(&app, &operator, json!({"user": victim})).await;
    assert_eq!(by_operator.status.as_u16(), 200, "{}", by_operator.text);
    assert_eq!(ids_of(&by_operator.body["killed"]), vec![third_id]);
    assert!(left_server(db, third_id).await);
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(3), "{h}");
    let newest = &h["killed_sessions"][0];
    assert_eq!(newest["session_id"], json!(third_id), "{h}");
    assert!(
        newest["killed_source"]
            .as_str()
            .unwrap()
            .starts_with("api:operator_"),
        "{newest}"
    );
}

#[tokio::test]
async fn ids_without_a_session_are_not_found() {
    let KillSetup { app, db, ctx } = KillSetup::new(KILLER_GRANTS).await;
    let victim = new_victim(db, "notfound");
    let (mut live, live_id) = idle(db, &victim, None).await;
    let (closed, closed_id) = idle(db, &victim, None).await;
    closed.disconnect().await.unwrap();
    assert!(left_server(db, closed_id).await);

    const NO_SUCH: u64 = 4_000_000_000;
    // Only missing ids: a 200 with nothing to do.
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[NO_SUCH])}))
        .await;
    assert_eq!(r["not_found"], json!([NO_SUCH.to_string()]), "{r}");
    assert_eq!(r["killed"], json!([]), "{r}");
    assert_eq!(r["skipped"], json!([]), "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");

    // A closed connection's old id is simply not found, even with a user filter;
    // the live session named alongside still dies.
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[closed_id, NO_SUCH, live_id]), "user": victim}),
        )
        .await;
    assert_eq!(not_found(&r), BTreeSet::from([closed_id, NO_SUCH]), "{r}");
    assert_eq!(ids_of(&r["killed"]), vec![live_id], "{r}");
    assert_eq!(r["skipped"], json!([]), "{r}");
    assert_eq!(r["failed"], json!([]), "{r}");
    assert!(left_server(db, live_id).await && !usable(&mut live).await);

    // Only the real kill is history.
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(1), "{h}");
    assert_eq!(h["killed_sessions"][0]["session_id"], json!(live_id), "{h}");
}
