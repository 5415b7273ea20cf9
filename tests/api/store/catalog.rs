//! Instances and db users on both backends.

use dbkill::domain::{DatastoreType, DbUserId, InstanceId, ProjectId, TlsMode};
use dbkill::store::{DbUserFilter, InstanceRecord, Page, Store, StoreError};

use super::{Backend, both};

both!(
    instances_round_trip,
    db_users_round_trip,
    concurrent_db_user_registrations_all_land
);

/// A MariaDB instance of `project`, not yet stored.
pub fn instance(project: &ProjectId, name: &str) -> InstanceRecord {
    InstanceRecord {
        id: InstanceId::new_random("in01"),
        project_id: project.clone(),
        name: name.into(),
        datastore_type: DatastoreType::Mariadb,
        host: "127.0.0.1".into(),
        port: 3306,
        protected_users: vec!["root".into()],
        admin_port: None,
        tls_mode: TlsMode::Preferred,
        tls_ca: None,
        default_db_user_id: None,
    }
}

/// A stored instance in a new project.
pub async fn stored_instance(s: &dyn Store) -> InstanceRecord {
    let project = s
        .create_project(&crate::support::postgres::unique_name("p"))
        .await
        .unwrap();
    let i = instance(&project.id, "i");
    s.insert_instance(&i).await.unwrap();
    i
}

async fn instances_round_trip(b: Backend) {
    let s = b.store();
    let p = s.create_project("p").await.unwrap();
    let mut first = instance(&p.id, "first");
    first.admin_port = Some(3307);
    first.tls_mode = TlsMode::VerifyCa;
    first.tls_ca = Some("-----BEGIN CERTIFICATE-----".into());
    s.insert_instance(&first).await.unwrap();
    assert!(matches!(
        s.insert_instance(&first).await,
        Err(StoreError::Conflict)
    ));
    let second = instance(&p.id, "second");
    super::next_millisecond().await;
    s.insert_instance(&second).await.unwrap();
    assert_eq!(
        s.get_instance(&p.id, &first.id).await.unwrap(),
        Some(first.clone())
    );
    let other = s.create_project("q").await.unwrap();
    assert_eq!(s.get_instance(&other.id, &first.id).await.unwrap(), None);

    let (page, total) = s
        .list_instances(
            &p.id,
            Page {
                offset: 1,
                limit: 5,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, page.len()), (2, 1));
    assert_eq!(page[0].id, second.id);
    let (all, _) = s.list_instances(&p.id, Page::ALL).await.unwrap();
    assert_eq!(all, [first.clone(), second.clone()]);

    let mut changed = first.clone();
    changed.name = "renamed".into();
    changed.port = 3310;
    changed.protected_users = vec![];
    changed.admin_port = None;
    changed.default_db_user_id = Some(DbUserId::new_random());
    assert!(s.update_instance(&changed).await.unwrap());
    assert_eq!(
        s.get_instance(&p.id, &first.id).await.unwrap(),
        Some(changed)
    );
    let mut elsewhere = second.clone();
    elsewhere.project_id = other.id.clone();
    assert!(
        !s.update_instance(&elsewhere).await.unwrap(),
        "another project's instance"
    );

    assert!(s.delete_instance(&p.id, &first.id).await.unwrap());
    assert!(!s.delete_instance(&p.id, &first.id).await.unwrap());
    assert_eq!(s.list_instances(&p.id, Page::ALL).await.unwrap().1, 1);
}

async fn db_users_round_trip(b: Backend) {
    let s = b.store();
    let i = stored_instance(s.as_ref()).await;
    let app = s
        .upsert_db_user(&i.id, "app", &|id| format!("v1-{id}"))
        .await
        .unwrap();
    super::next_millisecond().await;
    let ops = s
        .upsert_db_user(&i.id, "ops", &|id| format!("v1-{id}"))
        .await
        .unwrap();
    // The same name again: the same row, a new password.
    let again = s
        .upsert_db_user(&i.id, "app", &|id| format!("v2-{id}"))
        .await
        .unwrap();
    assert_eq!(again, app);
    let got = s.get_db_user(&app).await.unwrap().unwrap();
    assert_eq!(
        (got.username.as_str(), got.sealed_password, got.instance_id),
        ("app", format!("v2-{app}"), i.id.clone())
    );

    let (all, total) = s
        .list_db_users(&i.id, &DbUserFilter::default(), Page::ALL)
        .await
        .unwrap();
    assert_eq!(total, 2);
    assert_eq!(
        all.iter().map(|u| u.id.clone()).collect::<Vec<_>>(),
        [app.clone(), ops.clone()]
    );
    let by_name = DbUserFilter {
        id: None,
        username: Some("ops".into()),
    };
    let (found, total) = s.list_db_users(&i.id, &by_name, Page::ALL).await.unwrap();
    assert_eq!((total, found[0].id.clone()), (1, ops.clone()));
    let by_id = DbUserFilter {
        id: Some(app.clone()),
        username: None,
    };
    assert_eq!(
        s.list_db_users(&i.id, &by_id, Page::ALL).await.unwrap().1,
        1
    );
    let (second_page, total) = s
        .list_db_users(
            &i.id,
            &DbUserFilter::default(),
            Page {
                offset: 1,
                limit: 1,
            },
        )
        .await
        .unwrap();
    assert_eq!((total, second_page[0].id.clone()), (2, ops.clone()));

    assert!(matches!(
        s.update_db_user(&ops, "app", "x").await,
        Err(StoreError::Conflict)
    ));
    assert!(s.update_db_user(&ops, "ops2", "sealed").await.unwrap());
    let got = s.get_db_user(&ops).await.unwrap().unwrap();
    assert_eq!(
        (got.username.as_str(), got.sealed_password.as_str()),
        ("ops2", "sealed")
    );
    assert!(
        !s.update_db_user(&DbUserId::new_random(), "x", "y")
            .await
            .unwrap()
    );

    // The instance's default goes with the db user it named.
    let mut with_default = i.clone();
    with_default.default_db_user_id = Some(ops.clone());
    s.update_instance(&with_default).await.unwrap();
    assert!(s.delete_db_user(&ops).await.unwrap());
    assert!(!s.delete_db_user(&ops).await.unwrap());
    let after = s.get_instance(&i.project_id, &i.id).await.unwrap().unwrap();
    assert_eq!(after.default_db_user_id, None);

    // Db users go with their instance.
    s.delete_instance(&i.project_id, &i.id).await.unwrap();
    assert!(s.get_db_user(&app).await.unwrap().is_none());
}

/// Registrations read and then write; run side by side, each must still land, and a name
/// registered twice at once is one row.
async fn concurrent_db_user_registrations_all_land(b: Backend) {
    let s = b.store();
    let i = stored_instance(s.as_ref()).await;
    let registrations = (0..64).map(|n| {
        let (s, instance) = (s.clone(), i.id.clone());
        let name = format!("user{}", n % 32);
        tokio::spawn(async move {
            s.upsert_db_user(&instance, &name, &|id| format!("sealed-{id}"))
                .await
        })
    });
    for registration in registrations.collect::<Vec<_>>() {
        registration.await.unwrap().unwrap();
    }
    let (users, total) = s
        .list_db_users(&i.id, &DbUserFilter::default(), Page::ALL)
        .await
        .unwrap();
    assert_eq!((users.len(), total), (32, 32));
}
