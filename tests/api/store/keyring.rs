//! The master key's check value, re-sealing, and a whole rotation on both backends.

use std::os::unix::fs::PermissionsExt;

use dbkill::domain::UserId;
use dbkill::keyring;
use dbkill::secrets::{KeySource, MasterKey, Sealer, db_user_password_aad};
use dbkill::store::{AccessKeyRecord, KeyringStore, NewUser, Resealed, SecretOwner};
use secrecy::{ExposeSecret, SecretString};

use super::catalog::stored_instance;
use super::{Backend, both};

both!(
    the_check_value_is_recorded_once,
    reseal_replaces_every_secret_or_nothing,
    a_rotation_re_seals_under_a_new_key_that_alone_opens_the_store,
);

async fn the_check_value_is_recorded_once(b: Backend) {
    let k = b.opened.keyring();
    assert_eq!(k.key_check().await.unwrap(), None);
    k.init_key_check("first").await.unwrap();
    k.init_key_check("second").await.unwrap();
    assert_eq!(k.key_check().await.unwrap().as_deref(), Some("first"));
}

async fn stored_secrets(k: &dyn KeyringStore) -> Vec<(SecretOwner, String)> {
    k.sealed_secrets()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.owner, s.sealed))
        .collect()
}

async fn reseal_replaces_every_secret_or_nothing(b: Backend) {
    let s = b.store();
    let k = b.opened.keyring();
    let i = stored_instance(s.as_ref()).await;
    let db_user = s
        .upsert_db_user(&i.id, "app", &|_| "old-pw".into())
        .await
        .unwrap();
    let user = s
        .create_user(NewUser {
            name: "u",
            password_hash: "h",
            is_global_admin: false,
        })
        .await
        .unwrap();
    let key = |user_id: &UserId| AccessKeyRecord {
        access: "AK".into(),
        user_id: user_id.clone(),
        sealed_secret: "old-sk".into(),
        description: String::new(),
        status: "active".into(),
        created_at: 1,
    };
    s.insert_access_key(&key(&user.id)).await.unwrap();
    k.init_key_check("old-check").await.unwrap();
    let before = stored_secrets(k).await;
    assert_eq!(
        before,
        [
            (
                SecretOwner::DbUserPassword(db_user.clone()),
                "old-pw".into()
            ),
            (SecretOwner::AccessKeySecret("AK".into()), "old-sk".into()),
        ]
    );

    let all = [
        Resealed {
            owner: SecretOwner::DbUserPassword(db_user.clone()),
            old: "old-pw".into(),
            new: "new-pw".into(),
        },
        Resealed {
            owner: SecretOwner::AccessKeySecret("AK".into()),
            old: "old-sk".into(),
            new: "new-sk".into(),
        },
    ];
    // Not every secret, or one that changed since it was read: nothing changes.
    assert!(k.reseal(&all[..1], "new-check").await.is_err());
    let mut stale = all.clone();
    stale[1].old = "changed".into();
    assert!(k.reseal(&stale, "new-check").await.is_err());
    assert_eq!(stored_secrets(k).await, before);
    assert_eq!(k.key_check().await.unwrap().as_deref(), Some("old-check"));

    k.reseal(&all, "new-check").await.unwrap();
    assert_eq!(k.key_check().await.unwrap().as_deref(), Some("new-check"));
    let after: Vec<String> = stored_secrets(k)
        .await
        .into_iter()
        .map(|(_, s)| s)
        .collect();
    assert_eq!(after, ["new-pw", "new-sk"]);
}

async fn a_rotation_re_seals_under_a_new_key_that_alone_opens_the_store(b: Backend) {
    let s = b.store();
    let k = b.opened.keyring();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("master.key");
    std::fs::write(&key_file, hex::encode([3u8; 32])).unwrap();
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let source = KeySource::File(key_file.clone());
    let old_key = KeySource::Value(SecretString::from(hex::encode([3u8; 32])));

    let sealer = keyring::open(k, &source).await.unwrap();
    let i = stored_instance(s.as_ref()).await;
    let id = s
        .upsert_db_user(&i.id, "app", &|id| {
            sealer.seal(&SecretString::from("pw"), &db_user_password_aad(id))
        })
        .await
        .unwrap();

    let rotated = keyring::rotate(k, &source).await.unwrap();
    assert_eq!(rotated.db_user_passwords, 1);
    let err = keyring::open(k, &old_key)
        .await
        .err()
        .expect("the old key is refused");
    assert!(err.to_string().contains("DBKILL_MASTER_KEY"), "{err}");
    let new = keyring::open(k, &source).await.unwrap();
    let stored = s.get_db_user(&id).await.unwrap().unwrap();
    let plain = new
        .open(&stored.sealed_password, &db_user_password_aad(&id))
        .unwrap();
    assert_eq!(plain.expose_secret(), "pw");
    let other = Sealer::new(&MasterKey::from_bytes([3u8; 32]));
    assert!(
        other
            .open(&stored.sealed_password, &db_user_password_aad(&id))
            .is_err()
    );
}
