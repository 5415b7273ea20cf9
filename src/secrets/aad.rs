//! The associated data each sealed secret is bound to: its row. A sealed value copied to another
//! row no longer opens.

use crate::domain::DbUserId;

/// A db user's sealed password.
pub fn db_user_password_aad(id: &DbUserId) -> String {
    format!("db_users:{id}:password")
}

/// An access key's sealed secret key.
pub fn access_key_secret_aad(access: &str) -> String {
    format!("access_keys:{access}:secret")
}

/// The master key's check value (see `keyring`).
pub const KEY_CHECK_AAD: &str = "keyring:check";
