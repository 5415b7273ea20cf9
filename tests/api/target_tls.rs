//! TLS from dbkill to its targets, against a throwaway mariadbd with a CA of its own that
//! refuses plain connections (`require_secure_transport=ON`): each `tls_mode` does what it says,
//! every connection dbkill opens (login check, lifeline, KILLs) follows it, and a failure at TLS
//! is a 500 DAS.210001 whose message names TLS, in both languages.

use std::sync::OnceLock;
use std::time::Duration;

use dbkill::domain::{DatastoreType, KillType, SessionId, TlsMode};
use dbkill::engine::mysql::MysqlDriver;
use dbkill::engine::{
    KillOrder, KillResult, OwnConnections, SessionDriver, Target, TargetTls, Timeouts,
};
use dbkill::planner::KillStrategy;
use reqwest::Method;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::helpers::app::{TestApp, spawn_app};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};
use crate::helpers::fixtures::{idle, left_server, new_victim, sleeping, usable};
use crate::helpers::pki::TestCa;
use crate::support::mariadb::{MariaDb, MariaDbOptions, ServerTls, shared, unique_name};

struct TlsServer {
    db: MariaDb,
    /// The CA that signed the server's certificate.
    ca_pem: String,
}

/// One server for the tests of this file. Its certificate names `db.internal`, not the address
/// dbkill connects to (127.0.0.1): `verify_ca` accepts it, `verify_identity` must not.
fn tls_server() -> &'static TlsServer {
    static SERVER: OnceLock<TlsServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let files = tempfile::tempdir().unwrap();
        let ca = TestCa::new("dbkill test CA");
        let identity = ca.server(files.path(), &["db.internal"]);
        let db = MariaDb::start(MariaDbOptions {
            event_scheduler: false,
            tls: Some(ServerTls {
                ca: ca.write(files.path(), "ca.pem"),
                cert: identity.cert,
                key: identity.key,
                require_secure_transport: true,
            }),
            // Per-account connection counts (information_schema.USER_STATISTICS).
            extra_args: vec!["--userstat=ON".into()],
            ..Default::default()
        });
        // mariadbd read the files at start; they need not outlive this.
        TlsServer {
            db,
            ca_pem: ca.pem(),
        }
    })
}

const KILLER_PASSWORD: &str = "killer-pw";

/// A fresh killer account on `db`, and a project with an instance of `db` described by `tls`
/// (merged into the instance's body).
async fn instance(app: &TestApp, db: &MariaDb, tls: Value) -> (String, String, String) {
    let killer = unique_name("tlskiller");
    db.sql(&format!(
        "CREATE USER '{killer}'@'%' IDENTIFIED BY '{KILLER_PASSWORD}'; \
         GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%'"
    ));
    let project = app.create_project(&unique_name("p")).await;
    let mut body = json!({"name": "tls", "datastore_type": "mariadb", "host": db.host(),
                          "port": db.port()});
    body.as_object_mut()
        .unwrap()
        .extend(tls.as_object().unwrap().clone());
    let instance = app.create_instance(&project, body).await;
    (project, instance, killer)
}

async fn register(
    app: &TestApp,
    project: &str,
    instance: &str,
    killer: &str,
) -> crate::helpers::app::Resp {
    app.admin_call(
        Method::POST,
        &format!("/v3/{project}/instances/{instance}/db-users"),
        Some(json!({"db_username": killer, "db_user_password": KILLER_PASSWORD, "datastore_type": "MySQL"})),
    )
    .await
}

#[tokio::test]
async fn verify_ca_registers_lists_and_kills_on_a_server_that_requires_tls() {
    let server = tls_server();
    let db = &server.db;
    let app = spawn_app().await;
    let (p, i, killer) = instance(
        &app,
        db,
        json!({"tls_mode": "verify_ca", "tls_ca": server.ca_pem}),
    )
    .await;
    let got = app
        .expect(Method::GET, &format!("/v3/{p}/instances/{i}"), None, 200)
        .await;
    assert_eq!(got["instance"]["tls_mode"], "verify_ca");
    assert_eq!(got["instance"]["tls_ca_set"], true);
    assert!(
        !got.to_string().contains("BEGIN CERTIFICATE"),
        "the CA is never returned: {got}"
    );

    let reg = register(&app, &p, &i, &killer).await;
    assert_eq!(reg.status.as_u16(), 200, "{}", reg.text);
    let db_user = reg.body["db_user_id"].as_str().unwrap().to_owned();

    let victim = new_victim(db, "tlsvictim");
    let (task, id) = sleeping(db, &victim, None).await;
    let listed = app
        .expect(
            Method::GET,
            &format!("/v3/{p}/instances/{i}/processes?db_user_id={db_user}&user={victim}"),
            None,
            200,
        )
        .await;
    assert_eq!(listed["count"], 1, "{listed}");
    let report = app
        .expect(
            Method::DELETE,
            &format!("/v3/{p}/instances/{i}/process"),
            Some(json!({"db_user_id": db_user, "user": victim})),
            200,
        )
        .await;
    assert_eq!(report["killed"][0]["id"], id.to_string(), "{report}");
    assert!(left_server(db, id).await, "the victim died");
    assert!(task.await.unwrap().1.is_err(), "its statement was cut off");
    // dbkill's own connections got in, over TLS: the server takes no other kind.
    let theirs = db.sql(&format!(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = '{killer}'"
    ));
    assert_eq!(theirs, "1", "the lifeline stays open");
}

#[tokio::test]
async fn required_works_without_a_ca_and_preferred_uses_tls_when_offered() {
    let server = tls_server();
    let app = spawn_app().await;
    for tls in [json!({"tls_mode": "required"}), json!({})] {
        let (p, i, killer) = instance(&app, &server.db, tls.clone()).await;
        let reg = register(&app, &p, &i, &killer).await;
        assert_eq!(reg.status.as_u16(), 200, "{tls}: {}", reg.text);
        let db_user = reg.body["db_user_id"].as_str().unwrap();
        app.expect(
            Method::GET,
            &format!("/v3/{p}/instances/{i}/processes?db_user_id={db_user}"),
            None,
            200,
        )
        .await;
    }
}

#[tokio::test]
async fn disabled_against_a_server_that_requires_tls_names_tls_not_the_password() {
    let server = tls_server();
    let app = spawn_app().await;
    let (p, i, killer) = instance(&app, &server.db, json!({"tls_mode": "disabled"})).await;
    let reg = register(&app, &p, &i, &killer).await;
    assert_das_error_says(&reg, 500, "DAS.210001", "requires TLS");
    assert!(reg.msg().contains("tls_mode"), "{}", reg.msg());
    let zh = app
        .raw_request(
            Method::POST,
            &format!("/v3/{p}/instances/{i}/db-users"),
            Some(&app.admin_token),
            &[("X-Language", "zh-cn")],
            Some(
                serde_json::to_vec(&json!({"db_username": killer,
                    "db_user_password": KILLER_PASSWORD, "datastore_type": "MySQL"}))
                .unwrap(),
            ),
        )
        .await;
    assert_das_error_says(&zh, 500, "DAS.210001", "TLS");
    assert!(zh.msg().contains("实例要求"), "{}", zh.msg());
    // A wrong password is still a wrong password.
    let wrong = app
        .admin_call(
            Method::POST,
            &format!("/v3/{p}/instances/{i}/db-users"),
            Some(json!({"db_username": killer, "db_user_password": "nope", "datastore_type": "MySQL"})),
        )
        .await;
    assert_das_error(&wrong, 400, "DAS.210002");
}

#[tokio::test]
async fn a_certificate_that_fails_verification_is_refused_naming_tls() {
    let server = tls_server();
    let app = spawn_app().await;
    let stranger = TestCa::new("another CA").pem();
    let (p, i, killer) = instance(
        &app,
        &server.db,
        json!({"tls_mode": "verify_ca", "tls_ca": stranger}),
    )
    .await;
    let reg = register(&app, &p, &i, &killer).await;
    assert_das_error_says(&reg, 500, "DAS.210001", "TLS");
    assert!(reg.msg().contains("UnknownIssuer"), "{}", reg.msg());

    // The right CA, but the certificate names db.internal, not 127.0.0.1.
    let (p, i, killer) = instance(
        &app,
        &server.db,
        json!({"tls_mode": "verify_identity", "tls_ca": server.ca_pem}),
    )
    .await;
    let reg = register(&app, &p, &i, &killer).await;
    assert_das_error_says(&reg, 500, "DAS.210001", "TLS");
    assert!(reg.msg().contains("db.internal"), "{}", reg.msg());
}

#[tokio::test]
async fn required_against_a_server_without_tls_names_tls() {
    let app = spawn_app().await;
    let (p, i, killer) = instance(&app, shared(), json!({"tls_mode": "required"})).await;
    let reg = register(&app, &p, &i, &killer).await;
    assert_das_error_says(&reg, 500, "DAS.210001", "does not offer it");
}

#[tokio::test]
async fn changing_tls_mode_replaces_the_connections() {
    let server = tls_server();
    let app = spawn_app().await;
    let (p, i, killer) = instance(&app, &server.db, json!({"tls_mode": "required"})).await;
    let reg = register(&app, &p, &i, &killer).await;
    assert_eq!(reg.status.as_u16(), 200, "{}", reg.text);
    let db_user = reg.body["db_user_id"].as_str().unwrap().to_owned();
    let list = format!("/v3/{p}/instances/{i}/processes?db_user_id={db_user}");
    app.expect(Method::GET, &list, None, 200).await;

    // The lifeline opened over TLS would still answer; the change must replace it.
    let instance_path = format!("/v3/{p}/instances/{i}");
    app.expect(
        Method::PUT,
        &instance_path,
        Some(json!({"tls_mode": "disabled"})),
        200,
    )
    .await;
    let r = app.admin_call(Method::GET, &list, None).await;
    assert_das_error_says(&r, 500, "DAS.210001", "requires TLS");

    app.expect(
        Method::PUT,
        &instance_path,
        Some(json!({"tls_mode": "verify_ca", "tls_ca": server.ca_pem})),
        200,
    )
    .await;
    app.expect(Method::GET, &list, None, 200).await;
    let got = app.expect(Method::GET, &instance_path, None, 200).await;
    assert_eq!(
        (&got["instance"]["tls_mode"], &got["instance"]["tls_ca_set"]),
        (&json!("verify_ca"), &json!(true))
    );
}

#[tokio::test]
async fn tls_settings_are_checked_before_they_are_stored() {
    let app = spawn_app().await;
    let p = app.create_project(&unique_name("p")).await;
    let base = json!({"name": "x", "datastore_type": "mariadb", "host": "h", "port": 3306});
    let ca = TestCa::new("ca").pem();
    let key = rcgen::KeyPair::generate().unwrap().serialize_pem();
    for (extra, says) in [
        (json!({"tls_mode": "sometimes"}), "tls_mode"),
        (json!({"tls_mode": 3}), "tls_mode"),
        (
            json!({"tls_mode": "verify_ca", "tls_ca": "not pem"}),
            "tls_ca",
        ),
        (
            json!({"tls_mode": "verify_ca", "tls_ca": format!("{ca}{key}")}),
            "PrivateKey",
        ),
        (json!({"tls_mode": "required", "tls_ca": ca}), "verify_ca"),
        (
            json!({"tls_mode": "verify_ca", "tls_ca": "x".repeat(70_000)}),
            "tls_ca",
        ),
    ] {
        let mut body = base.clone();
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let r = app
            .admin_call(Method::POST, &format!("/v3/{p}/instances"), Some(body))
            .await;
        assert_das_error_says(&r, 400, "DAS.200100", says);
    }
    let pg = app
        .admin_call(
            Method::POST,
            &format!("/v3/{p}/instances"),
            Some(
                json!({"name": "pg", "datastore_type": "postgresql", "host": "h", "port": 5432,
                        "tls_mode": "verify_identity"}),
            ),
        )
        .await;
    assert_das_error_says(&pg, 400, "DAS.200100", "postgresql");

    // PUT checks the instance as it would be: a CA stays only with a mode that verifies.
    let id = app
        .create_instance(
            &p,
            json!({"name": "x", "datastore_type": "mariadb", "host": "h",
                                    "port": 3306, "tls_mode": "verify_ca", "tls_ca": ca}),
        )
        .await;
    let path = format!("/v3/{p}/instances/{id}");
    let r = app
        .admin_call(Method::PUT, &path, Some(json!({"tls_mode": "required"})))
        .await;
    assert_das_error_says(&r, 400, "DAS.200100", "tls_ca");
    let r = app
        .admin_call(Method::PUT, &path, Some(json!({"datastore_type": "mysql"})))
        .await;
    assert_das_error_says(&r, 400, "DAS.200100", "datastore_type");
    app.expect(
        Method::PUT,
        &path,
        Some(
            json!({"tls_mode": "required", "tls_ca": null, "name": "renamed", "admin_port": 3307}),
        ),
        200,
    )
    .await;
    let got = app.expect(Method::GET, &path, None, 200).await;
    assert_eq!(
        got["instance"],
        json!({"instance_id": id, "name": "renamed", "datastore_type": "mariadb", "host": "h",
               "port": 3306, "protected_users": [], "admin_port": 3307, "tls_mode": "required",
               "tls_ca_set": false, "default_db_user_id": null})
    );
    app.expect(Method::PUT, &path, Some(json!({"admin_port": null})), 200)
        .await;
    let got = app.expect(Method::GET, &path, None, 200).await;
    assert!(got["instance"].get("admin_port").is_none(), "{got}");
}

/// (connections, of them over TLS, logins refused) of `user` since the server started.
fn connections_of(db: &MariaDb, user: &str) -> (u64, u64, u64) {
    let row = db.sql(&format!(
        "SELECT TOTAL_CONNECTIONS, TOTAL_SSL_CONNECTIONS, ACCESS_DENIED \
         FROM information_schema.USER_STATISTICS WHERE USER = '{user}'"
    ));
    let n: Vec<u64> = row.split_whitespace().map(|v| v.parse().unwrap()).collect();
    (n[0], n[1], n[2])
}

#[tokio::test]
async fn kill_batches_spread_over_several_connections_go_over_tls() {
    let server = tls_server();
    let db = &server.db;
    let killer = unique_name("tlsexec");
    db.sql(&format!(
        "CREATE USER '{killer}'@'%' IDENTIFIED BY 'pw'; \
         GRANT PROCESS, CONNECTION ADMIN ON *.* TO '{killer}'@'%'"
    ));
    let victim = new_victim(db, "tlsbatch");
    let mut conns = vec![];
    for _ in 0..6 {
        conns.push(idle(db, &victim, None).await);
    }
    let ids: Vec<SessionId> = conns.iter().map(|(_, id)| SessionId(*id)).collect();
    let target = Target {
        datastore: DatastoreType::Mariadb,
        host: db.host().into(),
        port: db.port(),
        username: killer.clone(),
        password: SecretString::from("pw".to_owned()),
        tls: TargetTls::new(TlsMode::VerifyCa, Some(&server.ca_pem)),
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(5),
        statement: Duration::from_secs(10),
    };
    let driver = MysqlDriver::new(target, db.port(), timeouts, OwnConnections::default());
    let later = Instant::now() + Duration::from_secs(60);
    let no_starts = std::collections::HashMap::new();
    let order = KillOrder {
        ids: &ids,
        started: &no_starts,
        kill_type: KillType::Connection,
        // The lifeline and two helper connections, two KILLs each.
        strategy: KillStrategy::Parallel {
            connections: 3,
            batch: 2,
        },
        stop_sending: later,
        give_up: later,
    };
    let results = driver.execute(&order).await;
    assert!(
        results
            .iter()
            .all(|(_, r)| matches!(r, KillResult::Accepted(_))),
        "{results:?}"
    );
    for (conn, id) in conns.iter_mut() {
        assert!(!usable(conn).await, "{id} should be dead");
    }
    // The lifeline and both helpers logged in, all over TLS (verify_ca's first handshake, refused
    // by dbkill for the name, never reached a login).
    let (total, tls, denied) = connections_of(db, &killer);
    assert!(total >= 3, "{total} connections");
    assert_eq!(
        (tls, denied),
        (total, 0),
        "every connection was TLS, none refused"
    );
}
