//! Smoke tests for the throwaway-PostgreSQL harness in `tests/support/postgres.rs`:
//! if these fail, every PostgreSQL-backed integration test will, so they pin
//! down the harness behaviour those tests rely on.

use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{AssertSqlSafe, Connection, Executor};

use crate::helpers::orphans::{self, wait_for};
use crate::support::postgres::{self, BACKEND_START_SQL, Postgres, PostgresOptions, process_state};

#[test]
fn two_clusters_run_at_once_on_free_ports_with_their_options() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| {
            Postgres::start(PostgresOptions {
                max_connections: 20,
                superuser_reserved_connections: 2,
                settings: vec![("work_mem".to_owned(), "7MB".to_owned())],
            })
        });
        let b = s.spawn(|| Postgres::start(PostgresOptions::default()));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert_ne!(a.port(), 5432);
    assert_ne!(b.port(), 5432);
    assert_eq!(a.host(), "127.0.0.1");
    assert_eq!(a.sql("SHOW port"), a.port().to_string());
    assert_eq!(b.sql("SHOW port"), b.port().to_string());
    assert_eq!(
        a.sql("SELECT current_setting('max_connections'), current_setting('superuser_reserved_connections'), current_setting('work_mem')"),
        "20|2|7MB"
    );
    assert_eq!(b.sql("SHOW max_connections"), "100");
    assert_eq!(b.sql("SHOW superuser_reserved_connections"), "3");
    assert_eq!(b.sql("SHOW fsync"), "off");
    assert_eq!(b.sql("SHOW listen_addresses"), "127.0.0.1");
    assert_eq!(
        b.sql("SHOW unix_socket_directories"),
        b.socket_dir().display().to_string()
    );
    assert!(
        b.socket_dir()
            .join(format!(".s.PGSQL.{}", b.port()))
            .exists()
    );
    for pg in [&a, &b] {
        let pid = pg.server_pid().expect("running");
        assert!(
            server_running(pid, pg.dir()),
            "server_pid is the postmaster"
        );
        assert_eq!(
            pg.sql("SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'")
                .parse::<u32>()
                .ok()
                .map(|checkpointer| parent_of(checkpointer) == Some(pid)),
            Some(true),
            "the checkpointer is a child of server_pid"
        );
    }
    let err = a.try_sql("SELECT * FROM no_such_table").unwrap_err();
    assert!(err.contains("no_such_table"), "{err}");

    // A reload keeps the harness's settings and finds nothing to complain about.
    assert_eq!(a.sql("SELECT pg_reload_conf()"), "t");
    wait_for("the reload", || a.log().contains("received SIGHUP"));
    assert_eq!(a.sql("SHOW work_mem"), "7MB");
    assert!(!a.log().contains("cannot be changed"), "{}", a.log());
}

#[tokio::test]
async fn role_logs_in_over_tcp_and_wrong_password_is_refused() {
    let pg = postgres::shared();
    let user = postgres::unique_name("smoke");
    pg.create_role(&user, "pw'1", "");
    pg.sql(&format!("CREATE DATABASE {user} OWNER {user}"));

    let mut conn = pg.connect(&user, "pw'1", &user).await;
    let (who, db, app, addr): (String, String, String, String) = sqlx::query_as(
        "SELECT current_user::text, current_database()::text, current_setting('application_name'), \
         host(inet_client_addr())",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        (who.as_str(), db.as_str(), app.as_str(), addr.as_str()),
        (user.as_str(), user.as_str(), "dbkill-test", "127.0.0.1")
    );
    conn.close().await.unwrap();

    let err = pg.try_connect(&user, "wrong", &user).await.unwrap_err();
    assert_eq!(sqlstate(&err).as_deref(), Some("28P01"), "{err}");

    // The superuser also logs in over TCP with its password.
    let mut root = pg
        .connect(
            postgres::SUPERUSER,
            postgres::SUPERUSER_PASSWORD,
            "postgres",
        )
        .await;
    let superuser: bool =
        sqlx::query_scalar("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
            .fetch_one(&mut root)
            .await
            .unwrap();
    assert!(superuser);
    root.close().await.unwrap();

    pg.create_role(&format!("{user}_sig"), "x", "IN ROLE pg_signal_backend");
    assert_eq!(
        pg.sql(&format!(
            "SELECT pg_has_role('{user}_sig', 'pg_signal_backend', 'MEMBER')"
        )),
        "t"
    );
}

#[tokio::test]
async fn pids_alive_and_backend_start_agree_with_a_real_connection() {
    let pg = postgres::shared();
    let user = postgres::unique_name("pids");
    pg.create_role(&user, "pw", "");
    assert!(pg.pids(&user).is_empty());

    let mut conn = pg.connect(&user, "pw", "postgres").await;
    let (pid, started): (i32, String) = sqlx::query_as(AssertSqlSafe(format!(
        "SELECT pid, {BACKEND_START_SQL} FROM pg_stat_activity WHERE pid = pg_backend_pid()"
    )))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(pg.pids(&user), vec![pid]);
    assert!(pg.alive(pid));
    assert_eq!(pg.backend_start(pid), Some(started.clone()));
    assert!(started.ends_with('Z') && started.len() == 27, "{started}");

    let mut second = pg.connect(&user, "pw", "postgres").await;
    let pid2: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut second)
        .await
        .unwrap();
    let mut both = vec![pid, pid2];
    both.sort();
    assert_eq!(pg.pids(&user), both);

    conn.close().await.unwrap();
    // The backend exits asynchronously after the client's Terminate.
    wait_for("backend to exit", || !pg.alive(pid));
    assert_eq!(pg.backend_start(pid), None);
    assert_eq!(pg.pids(&user), vec![pid2]);
    second.close().await.unwrap();
    wait_for("second backend to exit", || pg.pids(&user).is_empty());
}

#[tokio::test]
async fn open_idle_opens_that_many_idle_backends() {
    let pg = postgres::shared();
    let user = postgres::unique_name("idle");
    pg.create_role(&user, "pw", "");
    let conns = pg.open_idle(&user, "pw", "postgres", 40).await;
    assert_eq!(conns.len(), 40);
    assert_eq!(pg.pids(&user).len(), 40);
    assert_eq!(
        pg.sql(&format!(
            "SELECT DISTINCT state FROM pg_stat_activity WHERE usename = '{user}'"
        )),
        "idle"
    );
    drop(conns);
    wait_for("idle backends to exit", || pg.pids(&user).is_empty());
}

#[tokio::test]
async fn parallel_queries_get_workers() {
    let pg = postgres::shared();
    let table = postgres::unique_name("par");
    pg.sql(&format!(
        "CREATE TABLE {table} AS SELECT g AS id FROM generate_series(1, 50000) g; ANALYZE {table}"
    ));
    let mut conn = pg
        .connect(
            postgres::SUPERUSER,
            postgres::SUPERUSER_PASSWORD,
            "postgres",
        )
        .await;
    conn.execute(
        "SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; \
         SET min_parallel_table_scan_size = 0",
    )
    .await
    .unwrap();
    let plan: Vec<String> = sqlx::query_scalar(AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, COSTS OFF) SELECT count(*) FROM {table}"
    )))
    .fetch_all(&mut conn)
    .await
    .unwrap();
    let plan = plan.join("\n");
    assert!(plan.contains("Workers Launched: 2"), "{plan}");
    conn.close().await.unwrap();
    pg.sql(&format!("DROP TABLE {table}"));
}

#[tokio::test]
async fn receive_wal_holds_a_walsender_until_dropped() {
    let pg = postgres::shared();
    let receiver = pg.receive_wal(postgres::SUPERUSER, postgres::SUPERUSER_PASSWORD);
    let pid = receiver.walsender_pid();
    assert_eq!(
        pg.sql(&format!(
            "SELECT backend_type, usename FROM pg_stat_activity WHERE pid = {pid}"
        )),
        "walsender|postgres"
    );
    assert!(!pg.alive(pid), "a walsender is not a client backend");
    drop(receiver);
    wait_for("walsender to exit", || {
        pg.sql(&format!(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = {pid}"
        )) == "0"
    });
}

#[tokio::test]
async fn pause_stalls_the_cluster_and_resume_recovers_it() {
    let pg = Postgres::start(PostgresOptions::default());
    let mut conn = pg
        .connect(
            postgres::SUPERUSER,
            postgres::SUPERUSER_PASSWORD,
            "postgres",
        )
        .await;
    let backend: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut conn)
        .await
        .unwrap();

    pg.pause();
    assert_eq!(process_state(pg.server_pid().unwrap()), Some('T'));
    assert_eq!(process_state(backend as u32), Some('T'));
    let mut query = tokio::spawn(async move {
        let one: i32 = sqlx::query_scalar("SELECT 1")
            .fetch_one(&mut conn)
            .await
            .unwrap();
        (one, conn)
    });
    assert!(
        tokio::time::timeout(Duration::from_secs(1), &mut query)
            .await
            .is_err(),
        "a paused cluster must not answer"
    );
    let opts = pg.connect_options(
        postgres::SUPERUSER,
        postgres::SUPERUSER_PASSWORD,
        "postgres",
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), sqlx::ConnectOptions::connect(&opts))
            .await
            .is_err(),
        "a paused cluster must not accept logins"
    );

    pg.resume();
    let (one, conn) = tokio::time::timeout(Duration::from_secs(10), query)
        .await
        .expect("resumed cluster answers")
        .unwrap();
    assert_eq!(one, 1);
    conn.close().await.unwrap();
    assert_eq!(pg.sql("SELECT 2"), "2");

    // Dropping a paused cluster still stops it.
    pg.pause();
    let (pid, dir) = (pg.server_pid().unwrap(), pg.dir().to_owned());
    let started = Instant::now();
    drop(pg);
    assert!(started.elapsed() < Duration::from_secs(8), "fast shutdown");
    assert!(!server_running(pid, &dir));
    assert!(!dir.exists());
}

#[tokio::test]
async fn restart_keeps_port_and_roles_and_drop_removes_everything() {
    let mut pg = Postgres::start(PostgresOptions::default());
    pg.create_role("app1", "p1", "");
    let mut before = pg.connect("app1", "p1", "postgres").await;
    let port = pg.port();
    let first_pid = pg.server_pid().unwrap();

    pg.restart();

    assert_eq!(pg.port(), port);
    assert_ne!(pg.server_pid(), Some(first_pid));
    assert!(
        sqlx::query("SELECT 1").execute(&mut before).await.is_err(),
        "a connection from before the restart must be dead"
    );
    let mut after = pg.connect("app1", "p1", "postgres").await;
    after.execute("SELECT 1").await.unwrap();
    after.close().await.unwrap();
    assert!(
        pg.log().contains("database system is shut down"),
        "{}",
        pg.log()
    );

    pg.stop();
    assert_eq!(pg.server_pid(), None);
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    assert!(pg.dir().join("data").exists(), "stop keeps the data");
    pg.restart();
    assert_eq!(
        pg.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'app1'"),
        "1"
    );

    let dir = pg.dir().to_owned();
    let pid = pg.server_pid().expect("server running");
    drop(pg);
    assert!(!server_running(pid, &dir), "server must stop on drop");
    assert!(
        TcpStream::connect(("127.0.0.1", port)).is_err(),
        "port must refuse after drop"
    );
    assert!(!dir.exists(), "dir must be removed on drop");
}

/// The shared cluster is a static that is never dropped; killing the test
/// process outright must still stop it and remove its directory.
#[test]
fn cluster_does_not_outlive_killed_test_process() {
    orphans::assert_server_dies_with_killed_process(
        "throwaway_postgres::child_process_holding_shared_cluster",
        "postgres",
    );
}

/// Helper for `cluster_does_not_outlive_killed_test_process`, run in a child
/// process; does nothing when run directly. It pauses the cluster, the
/// hardest case for the wrapper.
#[test]
#[ignore = "helper process for cluster_does_not_outlive_killed_test_process"]
fn child_process_holding_shared_cluster() {
    if !orphans::in_helper_process() {
        return;
    }
    let pg = postgres::shared();
    pg.pause();
    orphans::report_server(pg.server_pid().unwrap(), pg.dir());
    // The parent kills this process long before this sleep ends.
    std::thread::sleep(Duration::from_secs(60));
}

fn sqlstate(err: &sqlx::Error) -> Option<String> {
    err.as_database_error()?.code().map(|c| c.into_owned())
}

/// Whether `pid` is still this harness's server using `dir`.
fn server_running(pid: u32, dir: &Path) -> bool {
    orphans::server_running("postgres", pid, dir)
}

fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
