//! The life of a db user and of the instance it belongs to: a real login proves the credentials
//! before anything is stored, the password is sealed to its row, and the engines drop a db user's
//! driver whenever its credentials change or go, then open the new lifeline right away.

use secrecy::SecretString;

use super::{DbUserAccess, InstanceAccess, Services};
use crate::domain::{DbUserDatastore, DbUserId, Role};
use crate::engine::{Target, TargetTls, check_login};
use crate::error::{DasError, DasResult, Problem};
use crate::secrets::db_user_password_aad;
use crate::store::{DbUserFilter, InstanceRecord, Page, StoreError};

/// A db user's name and password as a caller gives them.
pub struct DbUserCredentials {
    pub username: String,
    pub password: SecretString,
}

impl Services {
    /// RegisterDbUser (admin): checks the login, stores the sealed password (replacing the
    /// password of a db user of the same name) and opens its lifeline.
    #[tracing::instrument(skip_all, fields(instance = %access.instance().id))]
    pub async fn register_db_user(
        &self,
        access: &InstanceAccess,
        datastore: DbUserDatastore,
        creds: DbUserCredentials,
    ) -> DasResult<DbUserId> {
        access.project().require(Role::Admin)?;
        let instance = access.instance();
        if !datastore.fits(instance.datastore_type) {
            return Err(DasError::UnsupportedDatastore);
        }
        self.check_login(instance, &creds).await?;
        let sealer = self.sealer.clone();
        let password = creds.password;
        let id = self
            .store
            .upsert_db_user(&instance.id, &creds.username, &move |id: &DbUserId| {
                sealer.seal(&password, &db_user_password_aad(id))
            })
            .await?;
        self.renew_lifeline(instance, &id).await?;
        Ok(id)
    }

    /// UpdateDbUser (admin): a new name and password, checked by a login first.
    #[tracing::instrument(skip_all, fields(db_user = %access.db_user().id))]
    pub async fn update_db_user(
        &self,
        access: &DbUserAccess,
        creds: DbUserCredentials,
    ) -> DasResult<()> {
        access.require(Role::Admin)?;
        self.check_login(access.instance(), &creds).await?;
        let id = &access.db_user().id;
        let sealed = self.sealer.seal(&creds.password, &db_user_password_aad(id));
        match self
            .store
            .update_db_user(id, &creds.username, &sealed)
            .await
        {
            Ok(_) => self.renew_lifeline(access.instance(), id).await,
            Err(StoreError::Conflict) => Err(DasError::bad(
                "db_username",
                Problem::Invalid("registered already as another db user".into()),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// DeleteDbUser (admin): the credentials and the driver go.
    #[tracing::instrument(skip_all, fields(db_user = %access.db_user().id))]
    pub async fn delete_db_user(&self, access: &DbUserAccess) -> DasResult<()> {
        access.require(Role::Admin)?;
        self.store.delete_db_user(&access.db_user().id).await?;
        self.engines.evict(&access.db_user().id);
        Ok(())
    }

    /// Deletes an instance (admin) with its db users' credentials and drivers; its kill
    /// history stays.
    #[tracing::instrument(skip_all, fields(instance = %access.instance().id))]
    pub async fn delete_instance(&self, access: &InstanceAccess) -> DasResult<()> {
        access.project().require(Role::Admin)?;
        let instance = access.instance();
        let (db_users, _) = self
            .store
            .list_db_users(&instance.id, &DbUserFilter::default(), Page::ALL)
            .await?;
        self.store
            .delete_instance(&instance.project_id, &instance.id)
            .await?;
        for u in db_users {
            self.engines.evict(&u.id);
        }
        Ok(())
    }

    async fn check_login(
        &self,
        instance: &InstanceRecord,
        creds: &DbUserCredentials,
    ) -> DasResult<()> {
        let target = Target {
            datastore: instance.datastore_type,
            host: instance.host.clone(),
            port: instance.port,
            username: creds.username.clone(),
            password: creds.password.clone(),
            tls: TargetTls::new(instance.tls_mode, instance.tls_ca.as_deref()),
        };
        Ok(check_login(&target, self.engines.timeouts()).await?)
    }

    /// Drops the driver built on the old credentials and opens one on the stored ones.
    async fn renew_lifeline(&self, instance: &InstanceRecord, id: &DbUserId) -> DasResult<()> {
        self.engines.evict(id);
        if let Some(record) = self.store.get_db_user(id).await? {
            self.warm(instance, &record);
        }
        Ok(())
    }
}
