//! What KillSession never kills on PostgreSQL, checked on the server: every backend that is not
//! a client backend (autovacuum launcher, walsender, parallel workers, the logical replication
//! launcher, …) is `system_thread`, dbkill's own connections (its lifelines, and any backend
//! with `application_name` 'dbkill') are `own_connection`, the instance's protected users are
//! `protected_user` — while the other sessions of the same request are killed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::app::spawn_app;
use crate::helpers::fixtures::ids_of;
use crate::helpers::pg::{
    PgVictim, Via, all_skipped, connect_as, connect_with_password, end_all, left_server,
    lifeline_of, new_database, new_role, pg_ctx, pids, pids_of_type, process_ids, skipped,
};
use crate::support::postgres::{
    Postgres, PostgresOptions, SUPERUSER, SUPERUSER_PASSWORD, process_state, shared,
};

/// What a db user needs to see and signal every other role's non-superuser backends.
const KILLER: &str = "IN ROLE pg_read_all_stats, pg_signal_backend";

/// Every backend of the cluster that is not a client backend: pid → backend_type. Autovacuum
/// workers come and go on their own (the launcher starts one per database every naptime), so
/// they are left out.
fn server_backends(pg: &Postgres) -> BTreeMap<u64, String> {
    pg.sql(
        "SELECT pid, backend_type FROM pg_stat_activity \
         WHERE backend_type NOT IN ('client backend', 'autovacuum worker') ORDER BY pid",
    )
    .lines()
    .map(|l| {
        let (pid, kind) = l.split_once('|').unwrap();
        (pid.parse().unwrap(), kind.to_owned())
    })
    .collect()
}

/// A report that killed, failed and missed nothing, and skipped exactly `expect`.
fn assert_only_skipped(report: &Value, expect: &BTreeMap<u64, String>, what: &str) {
    assert_eq!(report["killed"], json!([]), "{what}: {report}");
    assert_eq!(report["failed"], json!([]), "{what}: {report}");
    assert_eq!(report["not_found"], json!([]), "{what}: {report}");
    assert_eq!(&skipped(report), expect, "{what}: {report}");
}

/// A connection of the bootstrap superuser over TCP to database `postgres`.
async fn superuser_conn(pg: &Postgres) -> sqlx::PgConnection {
    connect_with_password(
        pg,
        SUPERUSER,
        SUPERUSER_PASSWORD,
        "postgres",
        Via::Tcp,
        "victim",
    )
    .await
}

#[tokio::test]
async fn server_backends_are_never_killed_but_a_parallel_leader_is() {
    // Its own cluster: a walsender and parallel workers of the test's own, and room for both.
    let pg = Postgres::start(PostgresOptions::default());
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, &pg, "SUPERUSER", &[]).await;

    let wal = pg.receive_wal(SUPERUSER, SUPERUSER_PASSWORD);
    let walsender = wal.walsender_pid();

    // A parallel query that runs for minutes: every row sleeps.
    pg.sql(
        "CREATE TABLE par WITH (autovacuum_enabled = false, parallel_workers = 2) AS \
         SELECT g AS id FROM generate_series(1, 50000) g; ANALYZE par",
    );
    let mut conn = superuser_conn(&pg).await;
    sqlx::Executor::execute(
        &mut conn,
        "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; \
         SET min_parallel_table_scan_size = 0",
    )
    .await
    .unwrap();
    let mut leader = PgVictim::running(
        &pg,
        conn,
        "SELECT count(*) FROM par WHERE pg_sleep(0.01) IS NOT NULL",
        "PgSleep",
        "parallel leader",
    )
    .await;
    let workers = wait_for_workers(&pg, leader.pid).await;

    let before = server_backends(&pg);
    for (pid, kind) in [
        (walsender as u64, "walsender"),
        (workers[0], "parallel worker"),
        (workers[1], "parallel worker"),
    ] {
        assert_eq!(
            before.get(&pid).map(String::as_str),
            Some(kind),
            "{before:?}"
        );
    }
    for kind in [
        "autovacuum launcher",
        "logical replication launcher",
        "checkpointer",
        "background writer",
        "walwriter",
    ] {
        assert!(before.values().any(|k| k == kind), "no {kind}: {before:?}");
    }

    // Each by its pid, all in one request, as connection and as query kills.
    let every: Vec<i32> = before.keys().map(|&p| p as i32).collect();
    let expect = all_skipped(before.keys().copied(), "system_thread");
    for kill_type in ["connection", "query"] {
        let r = ctx
            .kill(
                &app,
                json!({"process_ids": process_ids(&every), "kill_type": kill_type}),
            )
            .await;
        assert_only_skipped(&r, &expect, kill_type);
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
        assert_eq!(users[&(walsender as u64)], SUPERUSER, "{r}");
        assert_eq!(
            users[&workers[0]], SUPERUSER,
            "a worker is its leader's: {r}"
        );
    }
    // A worker named with its leader's user is still not a client.
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[workers[0] as i32]), "user": SUPERUSER}),
        )
        .await;
    assert_only_skipped(
        &r,
        &all_skipped([workers[0]], "system_thread"),
        "worker by id and user",
    );

    // Nothing was signalled: the same backends, the query still runs, pg_receivewal streams.
    assert_eq!(server_backends(&pg), before);
    assert!(leader.alive(&pg), "the parallel query was cancelled");
    assert!(
        process_state(wal.pid()).is_some_and(|s| s != 'Z'),
        "pg_receivewal ended: {}",
        wal.log()
    );

    // The leader is a client backend: killed by its own pid, and its workers end with it.
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[leader.pid])}))
        .await;
    assert_eq!(ids_of(&r["killed"]), vec![leader.pid as u64], "{r}");
    assert_eq!(r["killed"][0]["gone"], true, "{r}");
    assert_eq!(r["killed"][0]["command"], "active", "{r}");
    assert_eq!(r["skipped"], json!([]), "{r}");
    assert!(leader.died(&pg).await, "the leader survived");
    for w in &workers {
        assert!(
            left_server(&pg, *w as i32).await,
            "worker {w} outlived its leader"
        );
    }
    let after = server_backends(&pg);
    let expect_after: BTreeMap<u64, String> = before
        .into_iter()
        .filter(|(pid, _)| !workers.contains(pid))
        .collect();
    assert_eq!(
        after, expect_after,
        "a server backend ended with the leader"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(1), "{h}");
    assert_eq!(
        h["killed_sessions"][0]["session_id"],
        json!(leader.pid),
        "{h}"
    );
}

/// The two parallel workers of `leader`, once both run.
async fn wait_for_workers(pg: &Postgres, leader: i32) -> Vec<u64> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let workers: Vec<u64> = pg
            .sql(&format!(
                "SELECT pid FROM pg_stat_activity \
                 WHERE backend_type = 'parallel worker' AND leader_pid = {leader} ORDER BY pid"
            ))
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        if workers.len() == 2 {
            return workers;
        }
        assert!(
            Instant::now() < deadline,
            "no 2 parallel workers for {leader}: {workers:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_kill_by_user_postgres_ends_only_its_client_backends() {
    // Its own cluster: every client backend of `postgres` dies here.
    let pg = Postgres::start(PostgresOptions::default());
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, &pg, "SUPERUSER", &[]).await;
    let wal = pg.receive_wal(SUPERUSER, SUPERUSER_PASSWORD);
    let launcher = backend_pid(&pg, "logical replication launcher");
    assert_eq!(
        pg.sql(&format!(
            "SELECT usename FROM pg_stat_activity WHERE pid = {launcher}"
        )),
        SUPERUSER,
        "the logical replication launcher runs as the bootstrap superuser"
    );

    let mut victims = vec![
        PgVictim::idle_after(superuser_conn(&pg).await, &[], "idle").await,
        PgVictim::idle_after(
            superuser_conn(&pg).await,
            &["BEGIN", "SELECT txid_current()"],
            "idle in transaction",
        )
        .await,
        PgVictim::running(
            &pg,
            superuser_conn(&pg).await,
            "SELECT pg_sleep(600)",
            "PgSleep",
            "sleeping",
        )
        .await,
    ];
    let mut other_role = PgVictim::idle(
        &pg,
        &new_role(&pg, "bystander", ""),
        "postgres",
        Via::Tcp,
        "another role",
    )
    .await;
    wait_for_clients_of(&pg, SUPERUSER, &pids(&victims)).await;
    let before = server_backends(&pg);

    let r = ctx.kill(&app, json!({"user": SUPERUSER})).await;
    assert_eq!(
        ids_of(&r["killed"]).into_iter().collect::<BTreeSet<_>>(),
        pids(&victims),
        "{r}"
    );
    for k in r["killed"].as_array().unwrap() {
        assert_eq!(k["user"], SUPERUSER, "{k}");
        assert_eq!(k["gone"], true, "{k}");
    }
    assert_eq!(r["failed"], json!([]), "{r}");
    assert_eq!(
        skipped(&r),
        all_skipped(
            [wal.walsender_pid() as u64, launcher as u64],
            "system_thread"
        ),
        "{r}"
    );

    for v in &mut victims {
        assert!(v.died(&pg).await, "{} survived", v.label);
    }
    assert!(
        other_role.still_works(&pg).await,
        "another role's session died"
    );
    assert_eq!(server_backends(&pg), before, "a server backend ended");
    assert!(
        process_state(wal.pid()).is_some_and(|s| s != 'Z'),
        "pg_receivewal ended: {}",
        wal.log()
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(victims.len()), "{h}");
}

/// The pid of the one backend of `backend_type`.
fn backend_pid(pg: &Postgres, backend_type: &str) -> i32 {
    let pids = pids_of_type(pg, backend_type);
    assert_eq!(pids.len(), 1, "{backend_type}: {pids:?}");
    pids[0]
}

/// Waits up to 5 s until the client backends of `user` are exactly `expect` (short-lived
/// backends, like the harness's psql, have left).
async fn wait_for_clients_of(pg: &Postgres, user: &str, expect: &BTreeSet<u64>) {
    let query = format!(
        "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' \
         AND usename = '{user}' AND pid <> pg_backend_pid() ORDER BY pid"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now: BTreeSet<u64> = pg.sql(&query).lines().map(|l| l.parse().unwrap()).collect();
        if &now == expect {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{user}'s backends: {now:?}, expected {expect:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn dbkills_own_connections_are_never_killed() {
    let pg = shared();
    let app = spawn_app().await;
    let ctx = pg_ctx(&app, pg, KILLER, &[]).await;
    let lifeline = lifeline_of(pg, &ctx.killer).await;
    let started = pg.backend_start(lifeline);

    // The lifeline, by the db user's own name and by its pid.
    let expect = all_skipped([lifeline as u64], "own_connection");
    let r = ctx.kill(&app, json!({"user": ctx.killer})).await;
    assert_only_skipped(&r, &expect, "by own user");
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[lifeline])}))
        .await;
    assert_only_skipped(&r, &expect, "by own pid");
    assert_eq!(r["skipped"][0]["user"], ctx.killer.as_str(), "{r}");

    // Another db user's lifeline (another instance on the same cluster) is dbkill's too.
    let other = pg_ctx(&app, pg, KILLER, &[]).await;
    let theirs = lifeline_of(pg, &other.killer).await;
    let expect_theirs = all_skipped([theirs as u64], "own_connection");
    let r = ctx.kill(&app, json!({"user": other.killer})).await;
    assert_only_skipped(&r, &expect_theirs, "other lifeline by user");
    let r = ctx
        .kill(&app, json!({"process_ids": process_ids(&[theirs])}))
        .await;
    assert_only_skipped(&r, &expect_theirs, "other lifeline by pid");

    // Any client that says it is dbkill (a replica of dbkill, say), beside one that does not.
    let role = new_role(pg, "named", "");
    let database = new_database(pg, "owndb");
    let mut named = PgVictim::idle_after(
        connect_as(pg, &role, &database, Via::Tcp, "dbkill").await,
        &[],
        "application_name dbkill",
    )
    .await;
    let mut plain = PgVictim::idle(pg, &role, &database, Via::Tcp, "plain").await;
    let r = ctx.kill(&app, json!({"user": role})).await;
    assert_eq!(ids_of(&r["killed"]), vec![plain.pid as u64], "{r}");
    assert_eq!(
        skipped(&r),
        all_skipped([named.pid as u64], "own_connection"),
        "{r}"
    );
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[named.pid]), "kill_type": "query"}),
        )
        .await;
    assert_only_skipped(
        &r,
        &all_skipped([named.pid as u64], "own_connection"),
        "dbkill-named by pid",
    );
    assert!(plain.died(pg).await, "the plain client survived");
    assert!(named.still_works(pg).await, "the dbkill-named client died");

    // The lifelines are the same backends, and still serve.
    assert_eq!(
        pg.backend_start(lifeline),
        started,
        "the lifeline was replaced"
    );
    assert!(pg.alive(theirs));
    let listed = ctx.list(&app, &format!("user={}", ctx.killer)).await;
    assert_eq!(
        ids_of(&listed["processes"]),
        vec![lifeline as u64],
        "{listed}"
    );
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(1), "{h}");
}

#[tokio::test]
async fn protected_users_are_skipped_and_the_others_in_the_same_request_killed() {
    let pg = shared();
    let app = spawn_app().await;
    let (keep, victim) = (new_role(pg, "keep", ""), new_role(pg, "victim", ""));
    let database = new_database(pg, "protdb");
    let ctx = pg_ctx(&app, pg, KILLER, &[&keep]).await;

    let mut kept = vec![
        PgVictim::idle(pg, &keep, &database, Via::Tcp, "kept idle").await,
        PgVictim::sleeping(pg, &keep, &database, Via::Socket, "kept sleeping").await,
        PgVictim::in_transaction(pg, &keep, "postgres", "kept in transaction").await,
    ];
    let mut victims = vec![
        PgVictim::idle(pg, &victim, &database, Via::Tcp, "victim idle").await,
        PgVictim::sleeping(pg, &victim, &database, Via::Tcp, "victim sleeping").await,
    ];
    let mut last = PgVictim::in_transaction(pg, &victim, "postgres", "victim in trx").await;

    // By database: the protected user's two sessions there skipped, the victim's killed.
    let r = ctx.kill(&app, json!({"database": database})).await;
    assert_eq!(
        ids_of(&r["killed"]).into_iter().collect::<BTreeSet<_>>(),
        pids(&victims),
        "{r}"
    );
    assert_eq!(
        skipped(&r),
        all_skipped(pids(&kept[..2]), "protected_user"),
        "{r}"
    );
    assert_eq!(r["failed"], json!([]), "{r}");

    // By the protected user: all three skipped.
    let r = ctx.kill(&app, json!({"user": keep})).await;
    assert_only_skipped(&r, &all_skipped(pids(&kept), "protected_user"), "by user");

    // By pids, mixed.
    let r = ctx
        .kill(
            &app,
            json!({"process_ids": process_ids(&[kept[2].pid, last.pid])}),
        )
        .await;
    assert_eq!(ids_of(&r["killed"]), vec![last.pid as u64], "{r}");
    assert_eq!(
        skipped(&r),
        all_skipped([kept[2].pid as u64], "protected_user"),
        "{r}"
    );

    for v in victims.iter_mut().chain([&mut last]) {
        assert!(v.died(pg).await, "{} survived", v.label);
    }
    for k in &mut kept {
        assert!(k.still_works(pg).await, "{} died", k.label);
    }
    let h = ctx.history(&app, "").await;
    assert_eq!(h["total_count"], json!(3), "{h}");
    end_all(pg, &kept);
}
