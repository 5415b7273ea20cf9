//! Which master key a store is sealed with, and changing it.
//!
//! The store keeps a check value: a constant sealed under the key its secrets are sealed with.
//! A start whose key does not open it stops at once, with a message, instead of serving db users
//! whose passwords no longer open.
//!
//! Replicas sharing a PostgreSQL store must all start with the same key (`DBKILL_MASTER_KEY`):
//! the first to start on an empty store records the check value, and any replica whose key does
//! not open it refuses to start.
//!
//! `dbkill rotate-master-key` runs while the service is stopped: the data dir's lock says so
//! for this replica, and on a shared store it refuses while any replica's heartbeat is live (a
//! running one would keep opening and sealing secrets with the old key). It writes the new key
//! beside the key file (`<file>.new`, synced), re-seals every secret and the check value in one durable
//! transaction, then renames the new key over the old. A crash before the commit leaves the
//! store on the old key (the stale `.new` is removed at the next start); a crash after it leaves
//! the old key file and a `.new` that opens the check value: the next start (or rotation)
//! finishes the rename. At no point is a secret sealed under a key that is not on disk.

use anyhow::{Context, bail};
use secrecy::SecretString;

use crate::config::Settings;
use crate::config::StoreLocation;
use crate::data_dir;
use crate::secrets::{
    KEY_CHECK_AAD, KeySource, MasterKey, Sealer, access_key_secret_aad, db_user_password_aad,
    discard_pending, promote_pending, write_pending,
};
use crate::store::{self, KeyringStore, Resealed, SecretOwner, Store};

/// What the check value seals.
const CHECK_PLAINTEXT: &str = "dbkill master key check v1";

fn aad(owner: &SecretOwner) -> String {
    match owner {
        SecretOwner::DbUserPassword(id) => db_user_password_aad(id),
        SecretOwner::AccessKeySecret(access) => access_key_secret_aad(access),
    }
}

fn opens_check(sealer: &Sealer, check: &str) -> bool {
    sealer.open(check, KEY_CHECK_AAD).is_ok()
}

fn seal_check(sealer: &Sealer) -> String {
    sealer.seal(&SecretString::from(CHECK_PLAINTEXT), KEY_CHECK_AAD)
}

fn wrong_key(source: &KeySource) -> anyhow::Error {
    anyhow::anyhow!(
        "the master key from {} is not the key this store's secrets are sealed with; start with \
         the key the store was last used (or rotated) with (replicas sharing a store all need \
         the same key: set DBKILL_MASTER_KEY to it on each)",
        source.describe()
    )
}

/// The sealer of the store's key: the configured key, or the new key of a rotation that
/// committed but did not finish (which this finishes).
pub async fn open(store: &dyn KeyringStore, source: &KeySource) -> anyhow::Result<Sealer> {
    let loaded = source.load()?;
    let current = Sealer::new(&loaded.current);
    let Some(check) = store.key_check().await? else {
        return first_open(store, source, current).await;
    };
    if opens_check(&current, &check) {
        if let Some(file) = source.key_file() {
            discard_pending(file).context("cannot remove an unfinished rotation's key")?;
        }
        return Ok(current);
    }
    match (loaded.pending, source.key_file()) {
        (Some(pending), Some(file)) if opens_check(&Sealer::new(&pending), &check) => {
            promote_pending(file).with_context(|| {
                format!(
                    "cannot finish the interrupted key rotation of {}",
                    file.display()
                )
            })?;
            tracing::warn!(
                "finished a master key rotation that was interrupted after the store was re-sealed"
            );
            Ok(Sealer::new(&pending))
        }
        _ => Err(wrong_key(source)),
    }
}

/// A store without a check value (new, or from before dbkill kept one): the key must open
/// what is sealed; then the check value is recorded.
async fn first_open(
    store: &dyn KeyringStore,
    source: &KeySource,
    sealer: Sealer,
) -> anyhow::Result<Sealer> {
    if let Some(secret) = store.sealed_secrets().await?.first()
        && sealer.open(&secret.sealed, &aad(&secret.owner)).is_err()
    {
        return Err(wrong_key(source));
    }
    store.init_key_check(&seal_check(&sealer)).await?;
    // Another replica may have recorded its own check value first (the insert above then
    // changed nothing): the recorded one decides.
    match store.key_check().await? {
        Some(check) if opens_check(&sealer, &check) => {}
        _ => return Err(wrong_key(source)),
    }
    if let Some(file) = source.key_file() {
        discard_pending(file)?;
    }
    Ok(sealer)
}

/// What a rotation re-sealed.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Rotated {
    pub db_user_passwords: usize,
    pub access_key_secrets: usize,
}

/// Seals every secret of `store` under a new key and makes it the key of `source`.
pub async fn rotate(store: &dyn KeyringStore, source: &KeySource) -> anyhow::Result<Rotated> {
    let Some(key_file) = source.key_file() else {
        bail!(
            "the master key comes from DBKILL_MASTER_KEY, which dbkill cannot rewrite: keep it in \
             a file (master_key_file) to rotate it"
        );
    };
    let old = open(store, source).await?;
    let new_key = MasterKey::generate();
    let new = Sealer::new(&new_key);
    let mut rotated = Rotated::default();
    let mut resealed = Vec::new();
    for secret in store.sealed_secrets().await? {
        let aad = aad(&secret.owner);
        let plain = old.open(&secret.sealed, &aad).map_err(|e| {
            anyhow::anyhow!("{:?} does not open: {e}; nothing was changed", secret.owner)
        })?;
        match secret.owner {
            SecretOwner::DbUserPassword(_) => rotated.db_user_passwords += 1,
            SecretOwner::AccessKeySecret(_) => rotated.access_key_secrets += 1,
        }
        resealed.push(Resealed {
            new: new.seal(&plain, &aad),
            old: secret.sealed,
            owner: secret.owner,
        });
    }
    write_pending(key_file, &new_key).with_context(|| {
        format!(
            "cannot write the new key beside {} (nothing was changed)",
            key_file.display()
        )
    })?;
    if let Err(e) = store.reseal(&resealed, &seal_check(&new)).await {
        let _ = discard_pending(key_file);
        return Err(anyhow::Error::from(e).context("re-sealing failed; nothing was changed"));
    }
    promote_pending(key_file).with_context(|| {
        format!(
            "the store is sealed under the new key but it could not replace {}; the next start \
             finishes the rotation",
            key_file.display()
        )
    })?;
    Ok(rotated)
}

/// `dbkill rotate-master-key`: rotates the key of the store `settings` name, which no other
/// dbkill process may be using: the data dir's lock keeps this replica's service away, and the
/// live heartbeats every other replica of a shared store. Each replica is started again with
/// the new key.
pub async fn rotate_master_key(settings: &Settings) -> anyhow::Result<Rotated> {
    if matches!(settings.store, StoreLocation::Embedded) {
        anyhow::ensure!(
            settings.data_dir.join("dbkill.db").exists(),
            "no store in data dir {}",
            settings.data_dir.display()
        );
    }
    let _lock = data_dir::lock(&settings.data_dir, "rotating the master key")?;
    let store = store::open(&settings.store, &settings.data_dir)
        .await
        .with_context(|| format!("cannot open {}", settings.store.describe()))?;
    let source = KeySource::new(
        settings.master_key.as_ref(),
        settings.master_key_file.as_deref(),
        &settings.data_dir,
    );
    let rotated = rotate_when_no_replica_runs(&*store.store(), store.keyring(), &source).await;
    store.close().await;
    rotated
}

/// Replicas running on the store would keep opening secrets, and sealing new ones, with the old
/// key: every db user's password would fail to open on them. The rotation waits for all of them
/// to stop, and says so if one started while it ran.
async fn rotate_when_no_replica_runs(
    replicas: &dyn Store,
    keyring: &dyn KeyringStore,
    source: &KeySource,
) -> anyhow::Result<Rotated> {
    let running = replicas
        .live_replicas()
        .await
        .context("cannot read which replicas run on the store; nothing was changed")?;
    if !running.is_empty() {
        bail!(
            "replicas are running on this store: {}; stop every replica (SIGTERM) before \
             rotating the master key (one killed without a clean stop counts as running until \
             its heartbeat expires, lease_ttl_ms); nothing was changed",
            running.join(", ")
        );
    }
    let rotated = rotate(keyring, source).await?;
    let started = replicas.live_replicas().await.unwrap_or_default();
    if !started.is_empty() {
        bail!(
            "the master key was rotated, but replicas started while it ran: {}; they still hold \
             the old key: restart each with the new one",
            started.join(", ")
        );
    }
    Ok(rotated)
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;
    use crate::store::fixtures::stored_instance;
    use crate::store::{CatalogStore, SqliteStore};

    fn source(byte: u8) -> KeySource {
        KeySource::Value(SecretString::from(hex::encode([byte; 32])))
    }

    /// A store with one db user whose password is sealed under `byte`'s key, and no check
    /// value: a store from before dbkill kept one.
    async fn old_store(dir: &std::path::Path, byte: u8) -> SqliteStore {
        let store = SqliteStore::open(dir).await.unwrap();
        let instance = stored_instance(&store).await;
        let sealer = Sealer::new(&MasterKey::from_bytes([byte; 32]));
        store
            .upsert_db_user(&instance.id, "app", &|id| {
                sealer.seal(&SecretString::from("pw"), &db_user_password_aad(id))
            })
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_store_without_a_check_value_is_opened_only_by_the_key_of_its_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let store = old_store(dir.path(), 1).await;
        let err = open(&store, &source(2)).await.err().unwrap().to_string();
        assert!(err.contains("is not the key"), "{err}");
        assert!(
            store.key_check().await.unwrap().is_none(),
            "nothing recorded"
        );
        let sealer = open(&store, &source(1)).await.unwrap();
        let check = store.key_check().await.unwrap().unwrap();
        assert_eq!(
            sealer.open(&check, KEY_CHECK_AAD).unwrap().expose_secret(),
            CHECK_PLAINTEXT
        );
        // From now on the check value decides, even with no secret left to try.
        assert!(open(&store, &source(2)).await.is_err());
    }

    #[tokio::test]
    async fn rotation_needs_a_key_file_and_re_seals_everything_under_the_new_key() {
        let dir = tempfile::tempdir().unwrap();
        let store = old_store(dir.path(), 1).await;
        assert!(
            rotate(&store, &source(1)).await.is_err(),
            "env keys cannot be rewritten"
        );
        let key_file = dir.path().join("k");
        std::fs::write(&key_file, hex::encode([1u8; 32])).unwrap();
        std::fs::set_permissions(
            &key_file,
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o600),
        )
        .unwrap();
        let file = KeySource::File(key_file.clone());
        let rotated = rotate(&store, &file).await.unwrap();
        assert_eq!(
            rotated,
            Rotated {
                db_user_passwords: 1,
                access_key_secrets: 0
            }
        );
        assert!(
            open(&store, &source(1)).await.is_err(),
            "the old key is gone"
        );
        let sealer = open(&store, &file).await.unwrap();
        let secret = &store.sealed_secrets().await.unwrap()[0];
        assert_eq!(
            sealer
                .open(&secret.sealed, &aad(&secret.owner))
                .unwrap()
                .expose_secret(),
            "pw"
        );
    }
}
