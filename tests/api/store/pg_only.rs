//! What only the PostgreSQL store has: migrations that several replicas run at once, the change
//! notifications the replicas' caches listen to, and the pool's bounds.

use std::time::Duration;

use dbkill::domain::Role;
use dbkill::store::{IdentityStore, NewUser, PgStore, Store, TokenRecord};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgListener;

use super::catalog::stored_instance;
use super::fresh_database;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_replicas_opening_an_empty_database_at_once_all_migrate_it() {
    let url = fresh_database();
    let opens = (0..3).map(|_| {
        let url = url.clone();
        tokio::spawn(async move { PgStore::open(&url).await })
    });
    let mut stores = vec![];
    for open in opens.collect::<Vec<_>>() {
        stores.push(open.await.unwrap().expect("every replica opens the store"));
    }
    let applied: Vec<(i64, bool)> =
        sqlx::query_as("SELECT version, success FROM _sqlx_migrations ORDER BY version")
            .fetch_all(stores[0].pool())
            .await
            .unwrap();
    assert_eq!(applied, [(1, true), (2, true), (3, true), (4, true)]);
    // Each works on the one schema.
    for (n, store) in stores.iter().enumerate() {
        store.create_project(&format!("p{n}")).await.unwrap();
    }
    assert_eq!(stores[2].list_projects().await.unwrap().len(), 3);
}

#[tokio::test]
async fn the_pool_names_itself_and_bounds_every_statement() {
    let url = fresh_database();
    let store = PgStore::open(&url).await.unwrap();
    let (name, timeout): (String, String) = sqlx::query_as(
        "SELECT current_setting('application_name'), current_setting('statement_timeout')",
    )
    .fetch_one(store.pool())
    .await
    .unwrap();
    assert_eq!((name.as_str(), timeout.as_str()), ("dbkill-store", "5s"));
    assert_eq!(store.pool().options().get_max_connections(), 10);
    // A statement past the timeout is cancelled by the server, and said to be unwritable.
    let e = sqlx::query("SELECT pg_sleep(6)")
        .execute(store.pool())
        .await
        .unwrap_err();
    let e = dbkill::store::StoreError::from(e);
    assert!(matches!(e, dbkill::store::StoreError::Unwritable(_)), "{e}");
}

#[tokio::test]
async fn an_unreachable_store_fails_to_open_without_showing_its_password() {
    // Nothing listens on port 1.
    let url = SecretString::from("postgres://dbkill:s3cret-pw@127.0.0.1:1/meta");
    let started = std::time::Instant::now();
    let e = PgStore::open(&url).await.err().expect("cannot open");
    assert!(started.elapsed() < Duration::from_secs(15));
    let shown = format!("{e} {e:?}");
    assert!(!shown.contains("s3cret-pw"), "{shown}");
}

/// The next notification on the listener, or `None` after `wait`.
async fn next(listener: &mut PgListener, wait: Duration) -> Option<String> {
    match tokio::time::timeout(wait, listener.recv()).await {
        Ok(n) => Some(n.unwrap().payload().to_owned()),
        Err(_) => None,
    }
}

/// Every notification until the channel is quiet for a while, in order.
async fn drain(listener: &mut PgListener) -> Vec<String> {
    let mut got = vec![];
    while let Some(table) = next(listener, Duration::from_millis(400)).await {
        got.push(table);
    }
    got
}

#[tokio::test]
async fn changes_to_cached_tables_notify_every_listener() {
    let url = fresh_database();
    let store = PgStore::open(&url).await.unwrap();
    let s: &dyn Store = &store;
    let mut listener = PgListener::connect(url.expose_secret()).await.unwrap();
    listener.listen("dbkill_changes").await.unwrap();

    let i = stored_instance(s).await;
    let user = s
        .create_user(NewUser {
            name: "u",
            password_hash: "h",
            is_global_admin: false,
        })
        .await
        .unwrap();
    s.bind_role(&i.project_id, &user.id, Role::Viewer)
        .await
        .unwrap();
    let db_user = s
        .upsert_db_user(&i.id, "app", &|_| "x".into())
        .await
        .unwrap();
    let mut setup = drain(&mut listener).await;
    setup.sort();
    assert_eq!(
        setup,
        [
            "db_users",
            "instances",
            "projects",
            "role_bindings",
            "users"
        ]
    );

    // Issuing a token (whose insert also deletes expired ones, here none) stays quiet.
    let now = dbkill::clock::now_ms();
    let token = TokenRecord {
        hash: "h1".into(),
        user_id: user.id.clone(),
        project_id: None,
        issued_at: now,
        expires_at: now + 60_000,
    };
    s.insert_token(&token).await.unwrap();
    assert_eq!(drain(&mut listener).await, Vec::<String>::new());
    // So does a statement that changes nothing.
    s.unbind_role(&i.project_id, &user.id, Role::Admin)
        .await
        .unwrap();
    assert!(!s.delete_token("no-such").await.unwrap());
    assert_eq!(drain(&mut listener).await, Vec::<String>::new());

    s.unbind_role(&i.project_id, &user.id, Role::Viewer)
        .await
        .unwrap();
    assert_eq!(drain(&mut listener).await, ["role_bindings"]);
    assert!(s.delete_token("h1").await.unwrap());
    assert_eq!(drain(&mut listener).await, ["tokens"]);
    assert!(s.delete_db_user(&db_user).await.unwrap());
    assert_eq!(drain(&mut listener).await, ["db_users"]);
    // Deleting an instance notifies for the db users that go with it, too.
    s.upsert_db_user(&i.id, "ops", &|_| "x".into())
        .await
        .unwrap();
    drain(&mut listener).await;
    s.delete_instance(&i.project_id, &i.id).await.unwrap();
    let mut gone = drain(&mut listener).await;
    gone.sort();
    assert_eq!(gone, ["db_users", "instances"]);
}
