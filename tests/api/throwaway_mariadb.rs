//! Smoke tests for the throwaway-MariaDB harness in `tests/support/mariadb.rs`:
//! if these fail, every database-backed integration test will, so they pin
//! down the harness behaviour those tests rely on.

use std::path::Path;
use std::time::Duration;

use mysql_async::Row;
use mysql_async::prelude::Queryable;

use crate::helpers::orphans::{self, wait_for};
use crate::support::mariadb::{self, MariaDb, MariaDbOptions};

#[tokio::test]
async fn shared_server_runs_queries_and_accepts_created_users() {
    let db = mariadb::shared();
    assert_eq!(db.sql("SELECT 1"), "1");

    let mut root = db.connect("root", "").await;
    let one: Option<i64> = root.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));

    let user = mariadb::unique_name("smoke");
    db.sql(&format!(
        "CREATE USER {user}@'%' IDENTIFIED BY 'pw1';
         CREATE DATABASE {user};
         GRANT ALL ON {user}.* TO {user}@'%'"
    ));
    let mut conn = db.try_connect(&user, "pw1", Some(&user)).await.unwrap();
    let (who, schema): (String, String) = conn
        .query_first("SELECT CURRENT_USER(), DATABASE()")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(who, format!("{user}@%"));
    assert_eq!(schema, user);

    let id = u64::from(conn.id());
    assert_eq!(db.processlist_ids(&user), vec![id]);
    assert!(db.alive(id));

    let denied = db.try_connect(&user, "wrong", None).await;
    assert!(denied.is_err(), "wrong password must be rejected");

    conn.disconnect().await.unwrap();
    // The server removes the session asynchronously after COM_QUIT.
    wait_for("session to disappear", || !db.alive(id));
    assert!(db.processlist_ids(&user).is_empty());
    root.disconnect().await.unwrap();
}

#[test]
fn unique_names_are_distinct_sql_identifiers() {
    let a = mariadb::unique_name("Db-Kill");
    let b = mariadb::unique_name("Db-Kill");
    assert_ne!(a, b);
    for name in [&a, &b] {
        assert!(name.starts_with("db_kill_"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
            "{name}"
        );
    }
}

#[tokio::test]
async fn restart_keeps_port_data_and_accounts() {
    let mut db = MariaDb::start(MariaDbOptions {
        max_connections: 20,
        extra_port: true,
        ..MariaDbOptions::default()
    });
    let extra = db.extra_port().expect("extra port requested");
    assert_eq!(db.sql("SELECT @@extra_port"), extra.to_string());
    assert_eq!(db.sql("SELECT @@max_connections"), "20");
    // The default options turn the event scheduler on, like many production servers.
    assert_eq!(
        db.sql("SELECT COMMAND FROM information_schema.PROCESSLIST WHERE USER = 'event_scheduler'"),
        "Daemon"
    );

    db.sql("CREATE USER app1@'%' IDENTIFIED BY 'p1'");
    let mut before = db.connect("app1", "p1").await;
    let mut via_extra = db.try_connect_extra("app1", "p1", None).await.unwrap();
    via_extra.query_drop("SELECT 1").await.unwrap();
    via_extra.disconnect().await.unwrap();
    let port = db.port();

    db.restart();

    assert_eq!(db.port(), port);
    assert_eq!(db.extra_port(), Some(extra));
    assert!(
        before.query_drop("SELECT 1").await.is_err(),
        "a connection from before the restart must be dead"
    );
    let mut after = db.connect("app1", "p1").await;
    let one: Option<i64> = after.query_first("SELECT 1").await.unwrap();
    assert_eq!(one, Some(1));
    after.disconnect().await.unwrap();
    assert!(db.err_log().contains("Shutdown complete"));

    let dir = db.dir().to_owned();
    let pid = db.server_pid().expect("server running");
    drop(db);
    assert!(!server_running(pid, &dir), "server must stop on drop");
    assert!(!dir.exists(), "data dir must be removed on drop");
}

#[tokio::test]
async fn replica_pair_replicates_from_primary() {
    let (primary, replica) = mariadb::replica_pair();

    let mut conn = replica.connect("root", "").await;
    let status: Row = conn
        .query_first("SHOW SLAVE STATUS")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.get::<String, _>("Slave_IO_Running").unwrap(), "Yes");
    assert_eq!(status.get::<String, _>("Slave_SQL_Running").unwrap(), "Yes");
    conn.disconnect().await.unwrap();

    assert_eq!(
        primary
            .sql("SELECT USER FROM information_schema.PROCESSLIST WHERE COMMAND = 'Binlog Dump'"),
        mariadb::REPL_USER
    );
    assert_eq!(
        primary.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE COMMAND = 'Daemon'"),
        "1",
        "the primary runs the event scheduler"
    );

    primary.sql("CREATE DATABASE shop; CREATE TABLE shop.t (id INT PRIMARY KEY); INSERT INTO shop.t VALUES (42)");
    wait_for("row to replicate", || {
        replica.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'shop'")
            == "1"
            && replica.sql("SELECT id FROM shop.t") == "42"
    });
}

/// The shared server is a static that is never dropped; killing the test
/// process outright must still stop it and remove its data directory.
#[test]
fn server_does_not_outlive_killed_test_process() {
    orphans::assert_server_dies_with_killed_process(
        "throwaway_mariadb::child_process_holding_shared_server",
        "mariadbd",
    );
}

/// Helper for `server_does_not_outlive_killed_test_process`, run in a child
/// process; does nothing when run directly.
#[test]
#[ignore = "helper process for server_does_not_outlive_killed_test_process"]
fn child_process_holding_shared_server() {
    if !orphans::in_helper_process() {
        return;
    }
    let db = mariadb::shared();
    orphans::report_server(db.server_pid().unwrap(), db.dir());
    // The parent kills this process long before this sleep ends.
    std::thread::sleep(Duration::from_secs(60));
}

/// Whether `pid` is still this harness's server using `dir`.
fn server_running(pid: u32, dir: &Path) -> bool {
    orphans::server_running("mariadbd", pid, dir)
}
