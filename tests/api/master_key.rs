//! The master key: a key file outside the data dir (a mounted secret), refused when others may
//! read it; a start with the wrong key refused at once, with a message; `dbkill rotate-master-key`
//! re-seals every secret so db users and access keys keep working, refuses while a service uses
//! the data dir, and an interrupted rotation is finished by the next start.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use reqwest::Method;
use serde_json::json;

use crate::helpers::app::{ADMIN_PASSWORD, Resp, TestApp, spawn_app, spawn_app_with};
use crate::helpers::fixtures::{DbUserSetup, KillCtx, idle, killer_ctx, new_victim, usable};
use crate::helpers::serve::{ServeProcess, serve_refusal};
use crate::helpers::signed::{AccessKey, ToSign, sign};
use crate::helpers::store_backend::store_rows;
use crate::support::mariadb::shared;

const KILLER_GRANTS: &str = "PROCESS, CONNECTION ADMIN";

fn write_key(path: &Path, byte: u8) {
    std::fs::write(path, hex::encode([byte; 32])).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

fn rotate(data_dir: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dbkill"));
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("DBKILL_") {
            cmd.env_remove(key);
        }
    }
    cmd.arg("rotate-master-key")
        .arg("--data-dir")
        .arg(data_dir)
        .current_dir(data_dir.parent().unwrap())
        .envs(
            crate::helpers::store_backend::store_url_for_data_dir(data_dir)
                .map(|url| ("DBKILL_STORE_URL", url)),
        )
        .envs(env.iter().copied())
        .output()
        .expect("run dbkill rotate-master-key")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Every sealed value in the store, by table and row.
async fn sealed_values(data_dir: &Path) -> Vec<(String, String)> {
    let mut all = vec![];
    for sql in [
        "SELECT 'db_users:' || id AS k, sealed_password AS v FROM db_users",
        "SELECT 'access_keys:' || access AS k, sealed_secret AS v FROM access_keys",
    ] {
        for row in store_rows(data_dir, sql, &[]).await {
            all.push((row[0].clone().unwrap(), row[1].clone().unwrap()));
        }
    }
    all.sort();
    all
}

async fn admin_user_id(app: &TestApp) -> String {
    let r = app.try_login("admin", ADMIN_PASSWORD, None).await;
    r.body["token"]["user"]["id"].as_str().unwrap().to_owned()
}

/// A GET signed with an access key, as the SDKs sign it.
async fn signed_get(app: &TestApp, access: &str, secret: &str, project: &str, path: &str) -> Resp {
    let key = AccessKey {
        access: access.to_owned(),
        secret: secret.to_owned(),
    };
    sign(
        app,
        &key,
        ToSign::new(Method::GET, path, project, Vec::new()),
    )
    .send(app)
    .await
}

/// Lists the sessions of `ctx`'s killer through its db user: its password opened.
async fn lists(app: &TestApp, ctx: &KillCtx) {
    let listed = ctx.list(app, &format!("user={}", ctx.killer)).await;
    assert!(listed["count"].as_u64().unwrap() >= 1, "{listed}");
}

#[tokio::test]
async fn a_key_file_outside_the_data_dir_is_used_guarded_and_a_wrong_key_cannot_start() {
    let secrets = tempfile::tempdir().unwrap();
    let key_file = secrets.path().join("dbkill-master-key");
    write_key(&key_file, 0x21);
    let app = spawn_app_with(|raw| raw.master_key_file = Some(key_file.clone())).await;
    let s = DbUserSetup::new(&app).await;
    app.expect(
        Method::POST,
        &s.db_users_path(),
        Some(s.registration()),
        200,
    )
    .await;
    assert!(
        !app.data_path().join("master.key").exists(),
        "no key beside the secrets it seals"
    );

    let key = key_file.to_str().unwrap().to_owned();
    let app = app
        .restart_after(|data| {
            let log = data.parent().unwrap().join("refused.log");
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o640)).unwrap();
            let (status, out) = serve_refusal(data, &log, &[("DBKILL_MASTER_KEY_FILE", &key)]);
            assert!(!status.success(), "{out}");
            assert!(
                out.contains("lets group or others read it") && out.contains(&key),
                "{out}"
            );
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();

            let other = data.parent().unwrap().join("other-key");
            write_key(&other, 0x22);
            let (status, out) = serve_refusal(
                data,
                &log,
                &[("DBKILL_MASTER_KEY_FILE", other.to_str().unwrap())],
            );
            assert!(!status.success(), "{out}");
            assert!(
                out.contains("is not the key this store's secrets are sealed with"),
                "{out}"
            );
            assert!(!out.contains("listening"), "refused before serving: {out}");
            let (status, out) = serve_refusal(
                data,
                &log,
                &[("DBKILL_MASTER_KEY", &hex::encode([0x22u8; 32]))],
            );
            assert!(
                !status.success() && out.contains("DBKILL_MASTER_KEY"),
                "{out}"
            );
        })
        .await;
    // The right key still opens everything.
    let listed = app.expect(Method::GET, &s.db_users_path(), None, 200).await;
    let id = listed["db_users"][0]["db_user_id"].as_str().unwrap();
    app.expect(
        Method::GET,
        &format!(
            "/v3/{}/instances/{}/processes?db_user_id={id}",
            s.project, s.instance
        ),
        None,
        200,
    )
    .await;
}

#[tokio::test]
async fn rotation_re_seals_every_secret_and_db_users_and_access_keys_keep_working() {
    let app = spawn_app().await;
    let db = shared();
    let first = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let second = killer_ctx(&app, db, KILLER_GRANTS, &[]).await;
    let admin = admin_user_id(&app).await;
    let credential = app
        .expect(
            Method::POST,
            "/v3.0/OS-CREDENTIAL/credentials",
            Some(json!({"credential": {"user_id": admin, "description": "rotation"}})),
            201,
        )
        .await;
    let access = credential["credential"]["access"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = credential["credential"]["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let data = app.data_path();
    let key_file = data.join("master.key");
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let refused = rotate(&data, &[]);
    assert!(!refused.status.success(), "rotation while serving");
    assert!(
        text(&refused).contains("stop it before rotating"),
        "{}",
        text(&refused)
    );

    let before = sealed_values(&data).await;
    assert_eq!(before.len(), 3, "{before:?}");
    let mut rotated = None;
    let app = app
        .restart_after(|data| rotated = Some(rotate(data, &[])))
        .await;
    let rotated = rotated.unwrap();
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert!(
        text(&rotated).contains("re-sealed 2 db user passwords and 1 access key secrets"),
        "{}",
        text(&rotated)
    );
    let new_key = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_key.trim(), old_key.trim());
    assert_eq!(
        std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(!data.join("master.key.new").exists());
    let after = sealed_values(&data).await;
    for ((row, old), (same_row, new)) in before.iter().zip(&after) {
        assert_eq!(row, same_row);
        assert_ne!(old, new, "{row} was re-sealed");
    }

    // Right after the rotation, and after one more restart.
    works_after_rotation(&app, &[&first, &second], &access, &secret).await;
    let app = app.restart().await;
    works_after_rotation(&app, &[&first, &second], &access, &secret).await;
}

/// Every db user lists, the first kills, and the access key signs.
async fn works_after_rotation(app: &TestApp, ctxs: &[&KillCtx], access: &str, secret: &str) {
    for ctx in ctxs {
        lists(app, ctx).await;
    }
    let db = shared();
    let victim = new_victim(db, "rotvictim");
    let (mut conn, id) = idle(db, &victim, None).await;
    let report = ctxs[0].kill(app, json!({"user": victim})).await;
    assert_eq!(report["killed"][0]["id"], id.to_string(), "{report}");
    assert!(!usable(&mut conn).await);
    let path = format!("/v3/{}/instances", ctxs[1].project);
    let signed = signed_get(app, access, secret, &ctxs[1].project, &path).await;
    assert_eq!(signed.status.as_u16(), 200, "{}", signed.text);
}

#[tokio::test]
async fn an_interrupted_rotation_is_finished_by_the_next_start() {
    let app = spawn_app().await;
    let ctx = killer_ctx(&app, shared(), KILLER_GRANTS, &[]).await;
    let data = app.data_path();
    let key_file = data.join("master.key");
    let pending: PathBuf = data.join("master.key.new");
    let old_key = std::fs::read_to_string(&key_file).unwrap();
    let mut new_key = String::new();
    // A crash after the store was re-sealed, before the new key replaced the old: the old key
    // file, and the new key beside it.
    let app = app
        .restart_after(|data| {
            assert!(rotate(data, &[]).status.success());
            new_key = std::fs::read_to_string(&key_file).unwrap();
            std::fs::rename(&key_file, &pending).unwrap();
            std::fs::write(&key_file, &old_key).unwrap();
            std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        })
        .await;
    lists(&app, &ctx).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_key);
    assert!(!pending.exists(), "the rotation was finished");

    // A crash before the commit: the store is on the key file's key; the stray new key goes.
    let app = app.restart_after(|_| write_key(&pending, 0x33)).await;
    lists(&app, &ctx).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_key);
    assert!(!pending.exists(), "the unused key was removed");

    // A key from DBKILL_MASTER_KEY cannot be rewritten: rotation refuses and changes nothing.
    let before = sealed_values(&data).await;
    let app = app
        .restart_after(|data| {
            let out = rotate(data, &[("DBKILL_MASTER_KEY", new_key.trim())]);
            assert!(!out.status.success());
            assert!(text(&out).contains("master_key_file"), "{}", text(&out));
        })
        .await;
    assert_eq!(sealed_values(&data).await, before);
    lists(&app, &ctx).await;
}

/// On a shared store the data dir's lock keeps only this replica's service away: a rotation
/// also refuses while any replica's heartbeat is live (it would keep the old key), names it, and
/// changes nothing; once that replica stopped cleanly it goes through, and the replica started
/// again with the new key opens its db user.
#[tokio::test]
async fn rotation_on_a_shared_store_refuses_while_a_replica_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (serving, rotating) = (dir.path().join("r1"), dir.path().join("rotator"));
    crate::helpers::store_backend::share_store(&[&serving, &rotating]);
    std::fs::create_dir(&rotating).unwrap();
    let key_file = dir.path().join("shared.key");
    write_key(&key_file, 0x44);
    let env = [("DBKILL_MASTER_KEY_FILE", key_file.to_str().unwrap())];
    let log = dir.path().join("r1.log");
    let mut r1 = ServeProcess::start(&serving, &log, &env).await;
    let killer = r1.register_killer(shared()).await;
    let processes = format!(
        "{}/processes?db_user_id={}",
        killer.instance_path, killer.db_user_id
    );
    let old_key = std::fs::read_to_string(&key_file).unwrap();

    let refused = rotate(&rotating, &env);
    assert!(!refused.status.success(), "{}", text(&refused));
    let r1_name = crate::helpers::store_backend::replica_name_for_data_dir(&serving);
    assert!(
        text(&refused).contains(&r1_name) && text(&refused).contains("nothing was changed"),
        "{}",
        text(&refused)
    );
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    r1.expect(&killer.token, Method::GET, &processes, None, 200)
        .await;

    r1.sigterm().await;
    let rotated = rotate(&rotating, &env);
    assert!(rotated.status.success(), "{}", text(&rotated));
    assert!(
        text(&rotated).contains("re-sealed 1 db user passwords"),
        "{}",
        text(&rotated)
    );
    assert_ne!(std::fs::read_to_string(&key_file).unwrap(), old_key);
    let r1 = ServeProcess::start(&serving, &log, &env).await;
    let token = r1.login().await;
    r1.expect(&token, Method::GET, &processes, None, 200).await;
}
