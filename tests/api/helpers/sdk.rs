//! Running a script of `tests/sdk/` with the Python of the venv that `scripts/test` makes (it holds
//! Huawei's official `huaweicloudsdkdas`), signed with an access key of the admin.

use std::path::PathBuf;
use std::process::{Command, Output};

use super::app::{ADMIN_PASSWORD, TestApp};
use super::signed::{AccessKey, access_key};

/// The venv's Python: `$DBKILL_SDK_PYTHON`, else `target/sdk-venv/bin/python`.
pub fn sdk_python() -> PathBuf {
    let path = std::env::var_os("DBKILL_SDK_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/sdk-venv/bin/python")
        });
    assert!(
        path.exists(),
        "{} is missing: run scripts/test, which creates the Python venv with huaweicloudsdkdas",
        path.display()
    );
    path
}

pub async fn admin_user_id(app: &TestApp) -> String {
    let r = app.try_login("admin", ADMIN_PASSWORD, None).await;
    r.body["token"]["user"]["id"].as_str().unwrap().to_owned()
}

/// A new access key of the admin, for the SDK to sign with.
pub async fn admin_access_key(app: &TestApp) -> AccessKey {
    let admin_id = admin_user_id(app).await;
    access_key(app, &app.admin_token, &admin_id).await
}

/// Runs `tests/sdk/<script>` with `env` (off the async runtime) and asserts that it succeeded
/// and printed `OK`; its output otherwise.
pub async fn run_sdk_script(script: &str, env: Vec<(&'static str, String)>) {
    let python = sdk_python();
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/sdk")
        .join(script);
    let out: Output = tokio::task::spawn_blocking(move || {
        Command::new(python).arg(path).envs(env).output().unwrap()
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "SDK script {script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK");
}
