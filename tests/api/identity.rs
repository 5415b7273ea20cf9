//! Identity: tokens, projects, users, role bindings, scopes and the order of checks.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::helpers::app::{ADMIN_PASSWORD, spawn_app, spawn_app_with, uuid_hex};
use crate::helpers::errors::{assert_das_error, assert_das_error_says};

#[tokio::test]
async fn login_answers_201_with_token_header_and_keystone_body() {
    let app = spawn_app().await;
    let r = app.try_login("admin", ADMIN_PASSWORD, None).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert!(
        r.headers["x-subject-token"]
            .to_str()
            .unwrap()
            .starts_with("dbk_")
    );
    let t = &r.body["token"];
    assert_eq!(t["user"]["name"], "admin");
    assert_eq!(t["methods"], json!(["password"]));
    assert_eq!(t["roles"], json!([{"name": "admin"}]));
    assert!(t.get("project").is_none());
    assert!(t["expires_at"].as_str().unwrap() > t["issued_at"].as_str().unwrap());
}

#[tokio::test]
async fn wrong_password_and_unknown_user_get_the_same_401() {
    let app = spawn_app().await;
    let wrong = app.try_login("admin", "not-the-password", None).await;
    let unknown = app.try_login("nobody", "not-the-password", None).await;
    for r in [&wrong, &unknown] {
        assert_das_error(r, 401, "APIGW.0301");
    }
    assert_eq!(wrong.msg(), unknown.msg());
}

#[tokio::test]
async fn missing_bad_and_revoked_tokens_are_401() {
    let app = spawn_app().await;
    let none = app
        .raw_request(Method::GET, "/v3/projects", None, &[], None)
        .await;
    assert_das_error(&none, 401, "APIGW.0301");
    let bad = app
        .call(Method::GET, "/v3/projects", "dbk_forged", None)
        .await;
    assert_das_error(&bad, 401, "APIGW.0301");

    let token = app.login("admin", ADMIN_PASSWORD, None).await;
    app.call(Method::GET, "/v3/projects", &token, None).await;
    let revoke = app
        .raw_request(
            Method::DELETE,
            "/v3/auth/tokens",
            Some(&token),
            &[("X-Subject-Token", &token)],
            None,
        )
        .await;
    assert_eq!(revoke.status, StatusCode::NO_CONTENT);
    let after = app.call(Method::GET, "/v3/projects", &token, None).await;
    assert_das_error_says(&after, 401, "APIGW.0301", "revoked");
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app_with(|s| s.token_ttl = 1).await;
    let token = app.login("admin", ADMIN_PASSWORD, None).await;
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let r = app.call(Method::GET, "/v3/projects", &token, None).await;
    assert_das_error_says(&r, 401, "APIGW.0301", "expired");
}

#[tokio::test]
async fn projects_and_users_are_created_by_the_global_admin_only() {
    let app = spawn_app().await;
    let name = format!("p{}", &uuid_hex()[..8]);
    let project = app.create_project(&name).await;
    assert_eq!(project.len(), 32);
    let listed = app.expect(Method::GET, "/v3/projects", None, 200).await;
    assert!(
        listed["projects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["id"] == project.as_str())
    );

    let dup = app
        .admin_call(
            Method::POST,
            "/v3/projects",
            Some(json!({"project": {"name": name}})),
        )
        .await;
    assert_das_error(&dup, 409, "IAM.0409");

    let user = app.create_user("alice", "password-123").await;
    assert_eq!(user.len(), 32);
    let dup = app
        .admin_call(
            Method::POST,
            "/v3/users",
            Some(json!({"user": {"name": "alice", "password": "password-456"}})),
        )
        .await;
    assert_das_error(&dup, 409, "IAM.0409");
    let short = app
        .admin_call(
            Method::POST,
            "/v3/users",
            Some(json!({"user": {"name": "bob", "password": "short"}})),
        )
        .await;
    assert_das_error(&short, 400, "DAS.200100");

    // A plain user can neither create projects nor users, and sees only projects it has a role in.
    let alice = app.login("alice", "password-123", None).await;
    let r = app
        .call(
            Method::POST,
            "/v3/projects",
            &alice,
            Some(json!({"project": {"name": "x"}})),
        )
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    let r = app
        .call(
            Method::POST,
            "/v3/users",
            &alice,
            Some(json!({"user": {"name": "carol", "password": "password-123"}})),
        )
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    let r = app.call(Method::GET, "/v3/projects", &alice, None).await;
    assert_eq!(r.body["projects"], json!([]));
    app.bind(&project, &user, "viewer").await;
    let r = app.call(Method::GET, "/v3/projects", &alice, None).await;
    assert_eq!(r.body["projects"][0]["id"], project.as_str());
}

#[tokio::test]
async fn roles_gate_every_action() {
    let app = spawn_app().await;
    let a = app.create_project("proj-a").await;
    let b = app.create_project("proj-b").await;
    let viewer = app.user_with_role(&a, "viewer").await;
    let operator = app.user_with_role(&a, "operator").await;
    let instance =
        json!({"name": "db1", "datastore_type": "mariadb", "host": "127.0.0.1", "port": 3306});

    // Neither a viewer nor an operator can register an instance.
    for token in [&viewer, &operator] {
        let r = app
            .call(
                Method::POST,
                &format!("/v3/{a}/instances"),
                token,
                Some(instance.clone()),
            )
            .await;
        assert_das_error(&r, 403, "APIGW.0302");
    }
    // A viewer cannot register a db user.
    let inst = app.create_instance(&a, instance.clone()).await;
    let r = app
        .call(
            Method::POST,
            &format!("/v3/{a}/instances/{inst}/db-users"),
            &viewer,
            Some(json!({"db_username": "u", "db_user_password": "p", "datastore_type": "MySQL"})),
        )
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    // Both can read project A, neither project B.
    for token in [&viewer, &operator] {
        let r = app
            .call(Method::GET, &format!("/v3/{a}/instances"), token, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        let r = app
            .call(Method::GET, &format!("/v3/{b}/instances"), token, None)
            .await;
        assert_das_error(&r, 403, "APIGW.0302");
    }
    // A project admin may bind roles on its own project only.
    let padmin = app.user_with_role(&a, "admin").await;
    let carol = app.create_user("carol", "password-123").await;
    let r = app
        .call(
            Method::PUT,
            &format!("/v3/projects/{a}/users/{carol}/roles/operator"),
            &padmin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let r = app
        .call(
            Method::PUT,
            &format!("/v3/projects/{b}/users/{carol}/roles/operator"),
            &padmin,
            None,
        )
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    let r = app
        .call(
            Method::DELETE,
            &format!("/v3/projects/{a}/users/{carol}/roles/operator"),
            &padmin,
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    let carol_token = app.login("carol", "password-123", None).await;
    let r = app
        .call(
            Method::GET,
            &format!("/v3/{a}/instances"),
            &carol_token,
            None,
        )
        .await;
    assert_eq!(r.status.as_u16(), 403);
}

#[tokio::test]
async fn a_project_scoped_token_acts_only_in_its_project() {
    let app = spawn_app().await;
    let a = app.create_project("scope-a").await;
    let b = app.create_project("scope-b").await;
    let scoped = app.login("admin", ADMIN_PASSWORD, Some(&a)).await;
    let r = app
        .call(Method::GET, &format!("/v3/{a}/instances"), &scoped, None)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app
        .call(Method::GET, &format!("/v3/{b}/instances"), &scoped, None)
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    // Scoped login body carries the project; scoping by name works too.
    let r = app.try_login("admin", ADMIN_PASSWORD, Some(&a)).await;
    assert_eq!(r.body["token"]["project"]["name"], "scope-a");
    // A user without a role in the project cannot scope a token to it.
    app.create_user("dave", "password-123").await;
    let r = app.try_login("dave", "password-123", Some(&a)).await;
    assert_das_error(&r, 401, "APIGW.0301");
}

#[tokio::test]
async fn checks_run_in_the_contract_order() {
    let app = spawn_app().await;
    let a = app.create_project("order-a").await;
    let viewer = app.user_with_role(&a, "viewer").await;
    // Credentials first: a malformed path without a token is 401.
    let r = app
        .raw_request(Method::GET, "/v3/bad-id!/instances", None, &[], None)
        .await;
    assert_eq!(r.status.as_u16(), 401);
    // Then path syntax.
    let r = app
        .call(Method::GET, "/v3/bad-id!/instances", &viewer, None)
        .await;
    assert_das_error(&r, 400, "DAS.200113");
    // Then the role: no role on an unknown project is 403, not 400.
    let unknown = uuid_hex();
    let r = app
        .call(
            Method::GET,
            &format!("/v3/{unknown}/instances"),
            &viewer,
            None,
        )
        .await;
    assert_das_error(&r, 403, "APIGW.0302");
    // The global admin, who has a role everywhere, learns that it does not exist.
    let r = app
        .admin_call(Method::GET, &format!("/v3/{unknown}/instances"), None)
        .await;
    assert_das_error(&r, 400, "DAS.200113");
    // Role before body validation: a viewer posting garbage is 403.
    let r = app
        .raw_request(
            Method::POST,
            &format!("/v3/{a}/instances"),
            Some(&viewer),
            &[],
            Some(b"{garbage".to_vec()),
        )
        .await;
    assert_eq!(r.status.as_u16(), 403);
    // Bad role names and user ids are parameter errors.
    let r = app
        .admin_call(
            Method::PUT,
            &format!("/v3/projects/{a}/users/{}/roles/root", uuid_hex()),
            None,
        )
        .await;
    assert_das_error(&r, 400, "DAS.200100");
    let r = app
        .admin_call(
            Method::PUT,
            &format!("/v3/projects/{a}/users/NOT-HEX/roles/viewer"),
            None,
        )
        .await;
    assert_das_error(&r, 400, "DAS.200100");
}

#[tokio::test]
async fn a_removed_role_takes_effect_on_the_next_request() {
    let app = spawn_app().await;
    let p = app.create_project("revoke-role").await;
    let name = format!("u{}", &uuid_hex()[..8]);
    let id = app.create_user(&name, "password-123").await;
    app.bind(&p, &id, "viewer").await;
    let token = app.login(&name, "password-123", None).await;
    let path = format!("/v3/{p}/instances");
    assert_eq!(
        app.call(Method::GET, &path, &token, None).await.status,
        StatusCode::OK
    );
    app.expect(
        Method::DELETE,
        &format!("/v3/projects/{p}/users/{id}/roles/viewer"),
        None,
        204,
    )
    .await;
    let r = app.call(Method::GET, &path, &token, None).await;
    assert_das_error(&r, 403, "APIGW.0302");
    app.bind(&p, &id, "viewer").await;
    assert_eq!(
        app.call(Method::GET, &path, &token, None).await.status,
        StatusCode::OK
    );
}
