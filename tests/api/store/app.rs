//! The service on a PostgreSQL store: it serves, replicas see each other's writes, replicas
//! starting at once on an empty store all start, and a replica with another master key refuses
//! to start, naming DBKILL_MASTER_KEY.

use dbkill::config::{RawSettings, Settings};
use dbkill::startup::Application;
use reqwest::Method;
use secrecy::ExposeSecret;

use super::fresh_database;
use crate::helpers::app::{ADMIN_PASSWORD, spawn_app_with};

fn key(byte: u8) -> String {
    hex::encode([byte; 32])
}

fn replica_settings(url: &str, master_key: &str, dir: &std::path::Path) -> Settings {
    Settings::validate(RawSettings {
        listen: "127.0.0.1:0".into(),
        data_dir: dir.join("data"),
        admin_password: Some(ADMIN_PASSWORD.into()),
        store_url: Some(url.into()),
        master_key: Some(master_key.into()),
        ..RawSettings::default()
    })
    .unwrap()
}

#[tokio::test]
async fn replicas_on_one_postgres_store_see_each_others_writes() {
    let url = fresh_database().expose_secret().to_owned();
    let a = spawn_app_with(|raw| {
        raw.store_url = Some(url.clone());
        raw.master_key = Some(key(1));
    })
    .await;
    let b = spawn_app_with(|raw| {
        raw.store_url = Some(url.clone());
        raw.master_key = Some(key(1));
    })
    .await;
    let project = a.create_project("shared").await;
    let ann = b.create_user("ann", "Passw0rd!Passw0rd").await;
    b.bind(&project, &ann, "viewer").await;
    // A token issued by A works on B.
    let token = a.login("ann", "Passw0rd!Passw0rd", Some(&project)).await;
    let r = b
        .call(
            Method::GET,
            &format!("/v3/{project}/instances"),
            &token,
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
}

#[tokio::test]
async fn replicas_starting_at_once_on_an_empty_store_all_start() {
    let url = fresh_database();
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let build = |i: usize| {
        Application::build(replica_settings(
            url.expose_secret(),
            &key(7),
            dirs[i].path(),
        ))
    };
    // Side by side in one task: each waits on the store in turn (migrations, key check, admin).
    let (a, b, c) = tokio::join!(build(0), build(1), build(2));
    for started in [a, b, c] {
        started.expect("every replica starts");
    }
}

#[tokio::test]
async fn a_replica_with_another_master_key_refuses_to_start() {
    let url = fresh_database();
    let first = tempfile::tempdir().unwrap();
    let _a = Application::build(replica_settings(url.expose_secret(), &key(1), first.path()))
        .await
        .unwrap();
    let second = tempfile::tempdir().unwrap();
    let refused = Application::build(replica_settings(
        url.expose_secret(),
        &key(2),
        second.path(),
    ))
    .await
    .err()
    .expect("another key refuses to start");
    let msg = format!("{refused:#}");
    assert!(msg.contains("DBKILL_MASTER_KEY"), "{msg}");
    assert!(msg.contains("is not the key"), "{msg}");
    // The right key still starts.
    let third = tempfile::tempdir().unwrap();
    Application::build(replica_settings(url.expose_secret(), &key(1), third.path()))
        .await
        .unwrap();
}

/// Two first starts at once with different keys: whichever records its check value first
/// wins, the other refuses (it re-reads the recorded value rather than trusting its own).
#[tokio::test]
async fn of_two_first_starts_with_different_keys_one_refuses() {
    let url = fresh_database();
    let (one, two) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = tokio::join!(
        Application::build(replica_settings(url.expose_secret(), &key(1), one.path())),
        Application::build(replica_settings(url.expose_secret(), &key(2), two.path())),
    );
    let refused: Vec<String> = [a.err(), b.err()]
        .into_iter()
        .flatten()
        .map(|e| format!("{e:#}"))
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("DBKILL_MASTER_KEY"), "{}", refused[0]);
}
