//! Projects, users, role bindings, tokens and access keys on both backends.

use dbkill::domain::{ProjectId, Role, UserId};
use dbkill::store::{AccessKeyRecord, NewUser, StoreError, TokenRecord};

use super::{Backend, both};

both!(
    projects_and_users_round_trip,
    roles_and_tokens_round_trip,
    access_keys_round_trip
);

async fn projects_and_users_round_trip(b: Backend) {
    let s = b.store();
    s.ping().await.unwrap();
    s.probe_write().await.unwrap();
    let p = s.create_project("alpha").await.unwrap();
    super::next_millisecond().await;
    let q = s.create_project("beta").await.unwrap();
    assert!(matches!(
        s.create_project("alpha").await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.get_project(&p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(
        s.get_project_by_name("beta").await.unwrap(),
        Some(q.clone())
    );
    assert_eq!(s.get_project(&ProjectId::new_random()).await.unwrap(), None);
    let names: Vec<String> = s
        .list_projects()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["alpha", "beta"]);

    assert_eq!(s.count_users().await.unwrap(), 0);
    let new = |name| NewUser {
        name,
        password_hash: "hash",
        is_global_admin: name == "root",
    };
    let root = s.create_user(new("root")).await.unwrap();
    s.create_user(new("ann")).await.unwrap();
    assert!(matches!(
        s.create_user(new("ann")).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(s.count_users().await.unwrap(), 2);
    let got = s.get_user(&root.id).await.unwrap().unwrap();
    assert_eq!((got.name.as_str(), got.is_global_admin), ("root", true));
    let ann = s.get_user_by_name("ann").await.unwrap().unwrap();
    assert!(!ann.is_global_admin);
    assert_eq!(ann.password_hash, "hash");
    assert!(s.get_user(&UserId::new_random()).await.unwrap().is_none());
}

async fn roles_and_tokens_round_trip(b: Backend) {
    let s = b.store();
    let p = s.create_project("p").await.unwrap();
    let u = s
        .create_user(NewUser {
            name: "u",
            password_hash: "h",
            is_global_admin: false,
        })
        .await
        .unwrap();
    s.bind_role(&p.id, &u.id, Role::Admin).await.unwrap();
    // Binding twice is no error and no second row.
    s.bind_role(&p.id, &u.id, Role::Admin).await.unwrap();
    s.bind_role(&p.id, &u.id, Role::Viewer).await.unwrap();
    let mut roles = s.roles_of(&u.id).await.unwrap();
    roles.sort_by_key(|(_, r)| r.as_str());
    assert_eq!(
        roles,
        [(p.id.clone(), Role::Admin), (p.id.clone(), Role::Viewer)]
    );
    s.unbind_role(&p.id, &u.id, Role::Admin).await.unwrap();
    assert_eq!(
        s.roles_of(&u.id).await.unwrap(),
        [(p.id.clone(), Role::Viewer)]
    );

    let now = dbkill::clock::now_ms();
    let token = |hash: &str, expires_at| TokenRecord {
        hash: hash.into(),
        user_id: u.id.clone(),
        project_id: Some(p.id.clone()),
        issued_at: now,
        expires_at,
    };
    s.insert_token(&token("old", now - 1)).await.unwrap();
    s.insert_token(&token("live", now + 60_000)).await.unwrap();
    let found = s.find_token("live").await.unwrap().unwrap();
    assert_eq!(
        (found.user_id, found.project_id, found.expires_at),
        (u.id.clone(), Some(p.id.clone()), now + 60_000)
    );
    assert!(
        s.find_token("old").await.unwrap().is_none(),
        "expired tokens are dropped when another is issued"
    );
    assert!(s.delete_token("live").await.unwrap());
    assert!(!s.delete_token("live").await.unwrap());
    assert!(s.find_token("live").await.unwrap().is_none());
}

async fn access_keys_round_trip(b: Backend) {
    let s = b.store();
    let user = |name| NewUser {
        name,
        password_hash: "h",
        is_global_admin: false,
    };
    let a = s.create_user(user("a")).await.unwrap();
    let c = s.create_user(user("c")).await.unwrap();
    let key = |access: &str, owner: &UserId, at| AccessKeyRecord {
        access: access.into(),
        user_id: owner.clone(),
        sealed_secret: format!("sealed-{access}"),
        description: "d".into(),
        status: "active".into(),
        created_at: at,
    };
    s.insert_access_key(&key("AK1", &a.id, 1)).await.unwrap();
    s.insert_access_key(&key("AK2", &a.id, 2)).await.unwrap();
    s.insert_access_key(&key("AK3", &c.id, 3)).await.unwrap();
    assert!(matches!(
        s.insert_access_key(&key("AK1", &c.id, 4)).await,
        Err(StoreError::Conflict)
    ));
    let got = s.get_access_key("AK2").await.unwrap().unwrap();
    assert_eq!(
        (got.user_id, got.sealed_secret.as_str(), got.created_at),
        (a.id.clone(), "sealed-AK2", 2)
    );
    let of_a: Vec<String> = s
        .list_access_keys(Some(&a.id))
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.access)
        .collect();
    assert_eq!(of_a, ["AK1", "AK2"]);
    assert_eq!(s.list_access_keys(None).await.unwrap().len(), 3);
    assert!(s.delete_access_key("AK1").await.unwrap());
    assert!(!s.delete_access_key("AK1").await.unwrap());
    assert!(s.get_access_key("AK1").await.unwrap().is_none());
}
