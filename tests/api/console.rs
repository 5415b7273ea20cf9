//! The web console: its files are served without credentials under a strict CSP, and in Debian's
//! headless Chromium (driven by `tests/browser/console.mjs`) a DBA signs in, sees real sessions of
//! the throwaway mariadbd, selects two, kills them through the dry-run confirmation — and on the
//! server exactly those two are gone and the history names `console:admin`.

use std::path::PathBuf;

use reqwest::{Method, StatusCode};

use crate::helpers::app::spawn_app;
use crate::helpers::browser::{
    admin_console_env, assert_png, console_kills, project_name, repo, run_scenario,
};
use crate::helpers::fixtures::{
    KillSetup, idle, ids_of, left_server, new_database, new_victim, usable,
};

#[tokio::test]
async fn console_files_need_no_credentials_and_carry_a_strict_policy() {
    let app = spawn_app().await;
    for (path, content_type, marker) in [
        ("/console", "text/html; charset=utf-8", "<!doctype html>"),
        ("/console/", "text/html; charset=utf-8", "<!doctype html>"),
        (
            "/console/index.html",
            "text/html; charset=utf-8",
            "<!doctype html>",
        ),
        (
            "/console/app.js",
            "text/javascript; charset=utf-8",
            "from './api.js'",
        ),
        (
            "/console/state.js",
            "text/javascript; charset=utf-8",
            "export const state",
        ),
        (
            "/console/i18n.js",
            "text/javascript; charset=utf-8",
            "export const I18N",
        ),
        (
            "/console/api.js",
            "text/javascript; charset=utf-8",
            "X-Dbkill-Console",
        ),
        (
            "/console/dom.js",
            "text/javascript; charset=utf-8",
            "createTextNode",
        ),
        (
            "/console/sessions.js",
            "text/javascript; charset=utf-8",
            "/processes",
        ),
        (
            "/console/kill-dialog.js",
            "text/javascript; charset=utf-8",
            "dry_run: true",
        ),
        (
            "/console/rules.js",
            "text/javascript; charset=utf-8",
            "query-kill-process-task",
        ),
        (
            "/console/rule-form.js",
            "text/javascript; charset=utf-8",
            "preview-session-for-kill-process-task",
        ),
        (
            "/console/ask.js",
            "text/javascript; charset=utf-8",
            "showModal",
        ),
        (
            "/console/history.js",
            "text/javascript; charset=utf-8",
            "query-kill-process-history",
        ),
        ("/console/style.css", "text/css; charset=utf-8", ":root"),
        ("/console/favicon.svg", "image/svg+xml", "<svg"),
    ] {
        let r = app.raw_request(Method::GET, path, None, &[], None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.text);
        assert_eq!(r.headers["content-type"], content_type, "{path}");
        assert!(r.text.contains(marker), "{path}: {}", r.text);
        assert_eq!(r.headers["cache-control"], "no-cache", "{path}");
        assert_eq!(r.headers["x-content-type-options"], "nosniff", "{path}");
        let csp = r.headers["content-security-policy"].to_str().unwrap();
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
    }

    // Only the known files: anything else is the JSON 404 of every unknown route, including a
    // name that decodes to a path outside the assets.
    for path in [
        "/console/nope.js",
        "/console/%2E%2E%2FCargo.toml",
        "/console/app.js/x",
    ] {
        let r = app.raw_request(Method::GET, path, None, &[], None).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
        assert_eq!(r.code(), "APIGW.0101", "{path}: {}", r.text);
    }
    let r = app
        .raw_request(Method::POST, "/console", None, &[], Some(b"{}".to_vec()))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert_eq!(r.code(), "APIGW.0101");
}

#[tokio::test]
async fn in_a_browser_a_dba_kills_exactly_the_two_sessions_selected() {
    let KillSetup { app, db, ctx } = KillSetup::new("PROCESS, CONNECTION ADMIN").await;
    let project_name = project_name(&app, &ctx.project).await;
    let user = new_victim(db, "console");
    let database = new_database(db, "shop");
    let mut victims = Vec::new();
    for _ in 0..4 {
        victims.push(idle(db, &user, Some(&database)).await);
    }
    // Two that are not neighbours in the table.
    let mut chosen = [victims[0].1, victims[2].1];
    let mut spared = vec![victims[1].1, victims[3].1];
    chosen.sort_unstable();
    spared.sort_unstable();

    let screenshot: PathBuf = repo().join("target/console.png");
    let confirm_shot = screenshot.with_file_name("console-confirm.png");
    // Screenshots of an earlier run must not pass for this one's.
    for shot in [&screenshot, &confirm_shot] {
        let _ = std::fs::remove_file(shot);
    }
    let victims_env = format!("{},{}", chosen[0], chosen[1]);
    let mut env = admin_console_env(&app, &project_name);
    env.extend([
        ("DBKILL_CONSOLE_INSTANCE", "maria"),
        ("DBKILL_CONSOLE_VICTIMS", &victims_env),
        ("DBKILL_CONSOLE_FILTER_USER", &user),
        ("DBKILL_CONSOLE_EXPECT_ROWS", "4"),
        ("DBKILL_CONSOLE_SCREENSHOT", screenshot.to_str().unwrap()),
    ]);
    run_scenario("console.mjs", &env).await;

    // On the server: exactly the two chosen sessions are gone, the other two still work.
    for (conn, id) in &mut victims {
        if chosen.contains(id) {
            assert!(
                left_server(db, *id).await,
                "session {id} was selected but is alive"
            );
            assert!(
                !usable(conn).await,
                "the client of session {id} still works"
            );
        } else {
            assert!(db.alive(*id), "session {id} was not selected but is gone");
            assert!(
                usable(conn).await,
                "session {id} was not selected but broke"
            );
        }
    }
    let listed = ctx.list(&app, &format!("user={user}&limit=100")).await;
    assert_eq!(ids_of(&listed["processes"]), spared, "{listed}");

    let history = ctx.history(&app, "page_size=100").await;
    assert_eq!(history["total_count"], 2, "{history}");
    let chosen = chosen.map(|id| id as i64);
    assert_eq!(console_kills(&history, &user), chosen, "{history}");

    for shot in [&screenshot, &confirm_shot] {
        assert_png(shot);
    }
}
