//! Instances: register without connecting, list with paging, get, delete (db users go with it).

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::spawn_app;
use crate::helpers::errors::{assert_das_error, assert_das_error_says};

#[tokio::test]
async fn instance_life_cycle() {
    let app = spawn_app().await;
    let p = app.create_project("inst").await;
    // Nothing listens on port 1, and registering must not try to connect.
    let body = json!({"name": "orders", "datastore_type": "MariaDB", "host": "127.0.0.1", "port": 1,
                      "protected_users": ["root", "repl"], "admin_port": 3307});
    let id = app.create_instance(&p, body).await;
    assert_eq!(id.len(), 36);
    assert!(id.ends_with("in01"), "{id}");
    let pg = app
        .create_instance(&p, json!({"name": "pg", "datastore_type": "postgresql", "host": "db.internal", "port": 5432}))
        .await;
    assert!(pg.ends_with("in03"), "{pg}");

    let got = app
        .expect(Method::GET, &format!("/v3/{p}/instances/{id}"), None, 200)
        .await;
    assert_eq!(
        got["instance"],
        json!({"instance_id": id, "name": "orders", "datastore_type": "mariadb", "host": "127.0.0.1",
               "port": 1, "protected_users": ["root", "repl"], "admin_port": 3307,
               "tls_mode": "preferred", "tls_ca_set": false, "default_db_user_id": null})
    );
    let all = app
        .expect(Method::GET, &format!("/v3/{p}/instances"), None, 200)
        .await;
    assert_eq!(all["total"], 2);
    let page = app
        .expect(
            Method::GET,
            &format!("/v3/{p}/instances?offset=1&limit=1"),
            None,
            200,
        )
        .await;
    assert_eq!(page["total"], 2);
    assert_eq!(page["instances"].as_array().unwrap().len(), 1);
    assert_eq!(page["instances"][0]["instance_id"], pg.as_str());

    let del = app
        .expect(
            Method::DELETE,
            &format!("/v3/{p}/instances/{id}"),
            None,
            200,
        )
        .await;
    assert_eq!(del, json!({"result": "OK"}));
    for method in [Method::GET, Method::DELETE] {
        let r = app
            .admin_call(method, &format!("/v3/{p}/instances/{id}"), None)
            .await;
        assert_das_error(&r, 400, "DAS.200114");
    }
}

#[tokio::test]
async fn instances_of_another_project_are_unknown_here() {
    let app = spawn_app().await;
    let a = app.create_project("ia").await;
    let b = app.create_project("ib").await;
    let id = app
        .create_instance(
            &a,
            json!({"name": "x", "datastore_type": "mysql", "host": "h", "port": 3306}),
        )
        .await;
    for path in [
        format!("/v3/{b}/instances/{id}"),
        format!("/v3/{a}/instances/{}", "x".repeat(65)),
    ] {
        let r = app.admin_call(Method::GET, &path, None).await;
        assert_das_error(&r, 400, "DAS.200114");
    }
}

#[tokio::test]
async fn instance_bodies_are_validated_field_by_field() {
    let app = spawn_app().await;
    let p = app.create_project("iv").await;
    let cases = [
        (
            json!({"datastore_type": "mysql", "host": "h", "port": 1}),
            "DAS.200100",
            "name",
        ),
        (
            json!({"name": "n", "host": "h", "port": 1}),
            "DAS.200100",
            "datastore_type",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "port": 1}),
            "DAS.200100",
            "host",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "h"}),
            "DAS.200100",
            "port",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "h", "port": 0}),
            "DAS.200100",
            "port",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "a b", "port": 1}),
            "DAS.200100",
            "host",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "h", "port": 1, "protected_users": [""]}),
            "DAS.200100",
            "protected_users[0]",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "h", "port": 1, "admin_port": "x"}),
            "DAS.200100",
            "admin_port",
        ),
        (
            json!({"name": "n", "datastore_type": "mysql", "host": "h", "port": 1, "protected_user": []}),
            "DAS.200100",
            "protected_user",
        ),
        (
            json!({"name": "n", "datastore_type": "sqlserver", "host": "h", "port": 1}),
            "DAS.200107",
            "datastore_type",
        ),
    ];
    for (body, code, field) in cases {
        let r = app
            .admin_call(Method::POST, &format!("/v3/{p}/instances"), Some(body))
            .await;
        assert_das_error_says(&r, 400, code, field);
    }
    let listed = app
        .expect(Method::GET, &format!("/v3/{p}/instances"), None, 200)
        .await;
    assert_eq!(listed["total"], 0);
}
