//! The MySQL flavors against recorded rows: no MySQL server can run here, so the rows below are
//! what MySQL 8.0 returns for the listing query (performance_schema.processlist ⋈ threads ⋈
//! INNODB_TRX), value types as the binary/text protocol delivers them.

use mysql_async::Value;

use super::*;
use crate::planner::{Protections, SkipReason, protection_of};

fn b(s: &str) -> Value {
    Value::Bytes(s.as_bytes().to_vec())
}

#[test]
fn versions_pick_the_right_source() {
    assert_eq!(
        Flavor::detect("10.11.19-MariaDB-0+deb12u1"),
        Flavor::MariaDb
    );
    assert_eq!(Flavor::detect("5.5.5-10.6.12-MariaDB"), Flavor::MariaDb);
    assert_eq!(Flavor::detect("8.0.36"), Flavor::MySqlPerfSchema);
    assert_eq!(Flavor::detect("8.0.22-log"), Flavor::MySqlPerfSchema);
    assert_eq!(Flavor::detect("8.0.21"), Flavor::MySqlInfoSchema);
    assert_eq!(Flavor::detect("8.4.3"), Flavor::MySqlPerfSchema);
    assert_eq!(Flavor::detect("9.1.0"), Flavor::MySqlPerfSchema);
    assert_eq!(Flavor::detect("5.7.44-log"), Flavor::MySqlPerfSchema);
    assert_eq!(Flavor::detect("5.7.38"), Flavor::MySqlInfoSchema);
    assert_eq!(
        Flavor::MySqlPerfSchema.fallback(),
        Some(Flavor::MySqlInfoSchema)
    );
    assert_eq!(Flavor::MariaDb.fallback(), None);
}

#[test]
fn mysql8_sql_reads_performance_schema_joined_to_threads() {
    let sql = Flavor::MySqlPerfSchema.list_sql(&Prefilter::default());
    assert!(sql.contains("FROM performance_schema.processlist p"));
    assert!(sql.contains("JOIN performance_schema.threads t ON t.PROCESSLIST_ID = p.ID"));
    assert!(sql.contains("t.TYPE = 'FOREGROUND'"));
    assert!(!sql.contains("ORDER BY"), "callers sort in memory: {sql}");
    assert!(!sql.contains("WHERE"));
    // MariaDB lists with SHOW FULL PROCESSLIST, whatever the prefilter.
    let ids = [SessionId(1)];
    let by_ids = Prefilter {
        ids: Some(&ids),
        user: Some("app"),
        database: None,
    };
    assert_eq!(Flavor::MariaDb.list_sql(&by_ids), "SHOW FULL PROCESSLIST");
    assert_eq!(Flavor::MariaDb.presence_sql(&ids), "SHOW FULL PROCESSLIST");
    assert!(
        Flavor::MySqlInfoSchema
            .list_sql(&Prefilter::default())
            .contains("information_schema.PROCESSLIST")
    );
    let presence = Flavor::MySqlPerfSchema.presence_sql(&[SessionId(7), SessionId(9)]);
    assert_eq!(
        presence,
        "SELECT ID, COMMAND, INFO FROM performance_schema.processlist WHERE ID IN (7,9)"
    );
    assert!(Flavor::trx_sql(&[SessionId(3)]).ends_with("WHERE trx_mysql_thread_id IN (3)"));
}

#[test]
fn prefilters_quote_their_literals() {
    let ids = [SessionId(1), SessionId(2)];
    let by_ids = Prefilter {
        ids: Some(&ids),
        ..Default::default()
    };
    assert!(
        Flavor::MySqlInfoSchema
            .list_sql(&by_ids)
            .ends_with(" WHERE p.ID IN (1,2)")
    );
    let none = Prefilter {
        ids: Some(&[]),
        ..Default::default()
    };
    assert!(
        Flavor::MySqlInfoSchema
            .list_sql(&none)
            .contains("p.ID IN (NULL)")
    );
    let hostile = Prefilter {
        user: Some("a'b\\c"),
        database: Some("x' OR '1'='1"),
        ..Default::default()
    };
    let sql = Flavor::MySqlPerfSchema.list_sql(&hostile);
    assert!(sql.contains(r"p.USER = 'a\'b\\c'"), "{sql}");
    assert!(sql.contains(r"p.DB = 'x\' OR \'1\'=\'1'"), "{sql}");
}

/// Recorded MySQL 8.0 rows: a client, the event scheduler, a replica SQL thread (system user /
/// Connect), an idle SYSTEM_USER DBA session, and a background row.
fn recorded_mysql8_rows() -> Vec<Vec<Value>> {
    vec![
        vec![
            Value::UInt(5),
            b("event_scheduler"),
            b("localhost"),
            Value::NULL,
            b("Daemon"),
            Value::Int(4260107),
            b("Waiting on empty queue"),
            Value::NULL,
            Value::Int(1),
            Value::NULL,
        ],
        vec![
            Value::UInt(11),
            b("system user"),
            b(""),
            Value::NULL,
            b("Connect"),
            Value::Int(120),
            b("Replica has read all relay log; waiting for more updates"),
            Value::NULL,
            Value::Int(1),
            Value::NULL,
        ],
        vec![
            Value::UInt(11212),
            b("aaa"),
            b("10.0.0.5:51234"),
            b("example"),
            b("Query"),
            Value::Int(12),
            b("User sleep"),
            b("SELECT SLEEP(100)"),
            Value::Int(1),
            Value::Int(30),
        ],
        vec![
            Value::UInt(11213),
            b("dba"),
            b("10.0.0.9:40000"),
            b("mysql"),
            b("Sleep"),
            Value::Int(3),
            b(""),
            Value::NULL,
            Value::Int(1),
            Value::NULL,
        ],
        vec![
            Value::UInt(11214),
            b("aaa"),
            b("10.0.0.5:51240"),
            Value::NULL,
            b("Sleep"),
            Value::Int(0),
            b(""),
            Value::NULL,
            Value::Int(0),
            Value::NULL,
        ],
    ]
}

#[test]
fn recorded_mysql8_rows_decode_into_sessions() {
    let sessions: Vec<Session> = recorded_mysql8_rows()
        .iter()
        .filter_map(|r| decode_session(r))
        .collect();
    assert_eq!(sessions.len(), 5);
    let client = &sessions[2];
    assert_eq!(client.id, SessionId(11212));
    assert_eq!(client.user, "aaa");
    assert_eq!(client.host, "10.0.0.5:51234");
    assert_eq!(client.database.as_deref(), Some("example"));
    assert_eq!(client.command, "Query");
    assert_eq!(client.time, 12);
    assert_eq!(client.state, "User sleep");
    assert_eq!(client.sql.as_deref(), Some("SELECT SLEEP(100)"));
    assert_eq!(client.foreground, Some(true));
    assert_eq!(sessions[4].foreground, Some(false));
    assert_eq!(sessions[4].database, None);

    let p = Protections::default();
    let reasons: Vec<Option<SkipReason>> = sessions.iter().map(|s| protection_of(s, &p)).collect();
    assert_eq!(
        reasons,
        vec![
            Some(SkipReason::SystemThread),
            Some(SkipReason::SystemThread),
            None,
            None,
            Some(SkipReason::SystemThread)
        ]
    );
}

#[test]
fn text_protocol_rows_and_signed_mariadb_ids_decode_too() {
    let row = vec![
        b("42"),
        b("app"),
        b("localhost:5000"),
        b(""),
        b("Sleep"),
        b("7"),
        Value::NULL,
        Value::NULL,
        Value::NULL,
        b("0"),
    ];
    let s = decode_session(&row).unwrap();
    assert_eq!(
        (s.id, s.time, s.database, s.foreground),
        (SessionId(42), 7, None, None)
    );
    let negative = vec![
        Value::Int(-1),
        b("x"),
        b(""),
        Value::NULL,
        b("Sleep"),
        Value::Int(0),
        Value::NULL,
        Value::NULL,
        Value::NULL,
        Value::NULL,
    ];
    assert!(decode_session(&negative).is_none());
    assert!(decode_session(&[Value::UInt(1)]).is_none());
}

#[test]
fn transaction_rows_decode() {
    assert_eq!(
        decode_trx(&[Value::UInt(5), Value::Int(42)]),
        Some((SessionId(5), 42))
    );
    assert_eq!(
        decode_trx(&[Value::UInt(5), Value::NULL]),
        Some((SessionId(5), 0))
    );
    assert_eq!(decode_trx(&[Value::UInt(5)]), None);
}

/// A row of MariaDB 10.11's `SHOW FULL PROCESSLIST` (text protocol): the ninth column is
/// Progress, which must not be read as a thread type.
fn recorded_mariadb_show_row(id: &str, progress: &str) -> Vec<Value> {
    vec![
        b(id),
        b("app"),
        b("127.0.0.1:40312"),
        b("shop"),
        b("Query"),
        b("4"),
        b("User sleep"),
        b("SELECT SLEEP(100)"),
        b(progress),
    ]
}

#[test]
fn mariadb_show_processlist_rows_decode_without_a_thread_type() {
    for progress in ["0.000", "1.000", "1"] {
        let row = recorded_mariadb_show_row("77", progress);
        let s = Flavor::MariaDb.decode(&row).unwrap();
        assert_eq!(
            (s.id, s.user.as_str(), s.database.as_deref(), s.time),
            (SessionId(77), "app", Some("shop"), 4)
        );
        assert_eq!(s.sql.as_deref(), Some("SELECT SLEEP(100)"));
        assert_eq!(s.foreground, None, "progress {progress}");
        assert_eq!(
            Flavor::MariaDb.decode_presence(&row),
            Some((
                SessionId(77),
                "Query".to_owned(),
                Some("SELECT SLEEP(100)".to_owned())
            ))
        );
    }
    // MySQL's presence rows are (id, command, info).
    assert_eq!(
        Flavor::MySqlPerfSchema.decode_presence(&[Value::UInt(9), b("Sleep"), Value::NULL]),
        Some((SessionId(9), "Sleep".to_owned(), None))
    );
    // The same row read as MySQL's would take "1" for a foreground flag.
    let row = recorded_mariadb_show_row("78", "1");
    assert_eq!(
        Flavor::MySqlInfoSchema.decode(&row).unwrap().foreground,
        Some(true)
    );
}
