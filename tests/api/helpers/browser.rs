//! The console's browser scenarios (`tests/browser/*.mjs`): Debian's headless Chromium driven by
//! playwright-core under node, against a service of this test process. A scenario prints
//! `<script>: ok` when it passed.

use std::path::Path;
use std::time::Duration;

use reqwest::Method;
use serde_json::Value;

use super::app::{ADMIN_PASSWORD, TestApp};

const INSTALL_HINT: &str = "run scripts/test: it installs Debian's chromium and runs \
    `npm ci --prefix tests/browser` (playwright-core) before the suite";

pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The name of `project` as the console's project picker shows it.
pub async fn project_name(app: &TestApp, project: &str) -> String {
    let projects = app.expect(Method::GET, "/v3/projects", None, 200).await;
    projects["projects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == project)
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .expect("the test project is listed")
}

/// The environment of a console scenario that signs in as the admin to `app` and picks the
/// project the picker shows as `project_name`; callers add the scenario's own variables.
pub fn admin_console_env<'a>(app: &'a TestApp, project_name: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("DBKILL_CONSOLE_URL", &app.base),
        ("DBKILL_CONSOLE_USER", "admin"),
        ("DBKILL_CONSOLE_PASSWORD", ADMIN_PASSWORD),
        ("DBKILL_CONSOLE_PROJECT", project_name),
    ]
}

/// The session ids of the kills on a kill-history page, ascending; fails the test unless each
/// was the admin's through the console and of `user`.
pub fn console_kills(history: &Value, user: &str) -> Vec<i64> {
    let mut killed: Vec<i64> = history["killed_sessions"]
        .as_array()
        .unwrap_or_else(|| panic!("{history}"))
        .iter()
        .map(|e| {
            assert_eq!(e["killed_source"], "console:admin", "{e}");
            assert_eq!(e["user"], Value::from(user), "{e}");
            e["session_id"].as_i64().unwrap()
        })
        .collect();
    killed.sort_unstable();
    killed
}

/// Runs `tests/browser/<script>` with `env` and answers its standard output; fails the test when
/// the scenario fails or does not end within 180 s.
pub async fn run_scenario(script: &str, env: &[(&str, &str)]) -> String {
    let playwright = repo().join("tests/browser/node_modules/playwright-core");
    assert!(
        playwright.is_dir(),
        "{} is missing: {INSTALL_HINT}",
        playwright.display()
    );
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "/usr/bin/chromium is missing: {INSTALL_HINT}"
    );
    let mut cmd = std::process::Command::new("node");
    cmd.arg(repo().join("tests/browser").join(script))
        .current_dir(repo())
        .envs(env.iter().copied());
    // The service runs on this test's runtime: the browser must be awaited, not waited for.
    let run = tokio::process::Command::from(cmd)
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(180), run)
        .await
        .unwrap_or_else(|_| panic!("{script} finishes within 180 s"))
        .unwrap_or_else(|e| panic!("cannot run node ({e}): {INSTALL_HINT}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "tests/browser/{script} failed ({}):\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(&format!("{script}: ok")),
        "{stdout}\n{stderr}"
    );
    stdout
}

/// Fails the test unless `path` holds a PNG image (a screenshot the scenario took in this run).
pub fn assert_png(path: &Path) {
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", path.display());
}
