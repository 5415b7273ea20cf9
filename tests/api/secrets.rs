//! Secrets never leak (responses, logs, SQLite files), and a restart keeps everything.

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::{logs, spawn_app};
use crate::helpers::fixtures::DbUserSetup;

fn files_contain(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut hits = vec![];
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            if bytes.windows(needle.len()).any(|w| w == needle) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}

#[tokio::test]
async fn db_user_passwords_never_leak_and_survive_a_restart() {
    let app = spawn_app().await;
    let s = DbUserSetup::new(&app).await;
    let (p, i, user, password) = (&s.project, &s.instance, &s.username, s.password.as_str());
    let base = s.db_users_path();
    let mut bodies = vec![];
    let reg = app
        .admin_call(Method::POST, &base, Some(s.registration()))
        .await;
    bodies.push(reg.text.clone());
    let id = reg.body["db_user_id"].as_str().unwrap().to_owned();
    for path in [
        base.clone(),
        format!("{base}/{id}"),
        format!("/v3/{p}/instances/{i}"),
        "/openapi.json".into(),
    ] {
        bodies.push(app.admin_call(Method::GET, &path, None).await.text);
    }
    let wrong = app
        .admin_call(
            Method::PUT,
            &format!("{base}/{id}"),
            Some(json!({"db_username": user, "db_user_password": format!("{password}-wrong")})),
        )
        .await;
    bodies.push(wrong.text);
    for b in &bodies {
        assert!(!b.contains(password), "a response holds the password: {b}");
    }
    assert!(
        !logs().text().contains(password),
        "the log holds the password"
    );
    assert!(
        !logs().text().contains(&app.admin_token),
        "the log holds a token"
    );

    let data = app.data_path();
    let token = app.admin_token.clone();
    let app = app.restart().await;
    assert!(
        files_contain(&data, password.as_bytes()).is_empty(),
        "plain password on disk"
    );
    assert!(
        files_contain(&data, token.as_bytes()).is_empty(),
        "plain token on disk"
    );

    // Tokens, instances and db users survive the restart.
    let listed = app.call(Method::GET, &base, &token, None).await;
    assert_eq!(listed.status.as_u16(), 200, "{}", listed.text);
    assert_eq!(listed.body["db_users"][0]["db_user_id"], id.as_str());
    let inst = app
        .call(Method::GET, &format!("/v3/{p}/instances/{i}"), &token, None)
        .await;
    assert_eq!(inst.status.as_u16(), 200);
    // The sealed password still opens after the restart: listing sessions logs in with it.
    let sessions = app
        .call(
            Method::GET,
            &format!("/v3/{p}/instances/{i}/processes?db_user_id={id}&user={user}"),
            &token,
            None,
        )
        .await;
    assert_eq!(sessions.status.as_u16(), 200, "{}", sessions.text);
    assert!(
        sessions.body["count"].as_u64().unwrap() >= 1,
        "its own lifeline is listed: {}",
        sessions.text
    );
    let again = app
        .expect(Method::POST, &base, Some(s.registration()), 200)
        .await;
    assert_eq!(again["db_user_id"], id.as_str());
}
