//! Everything secret: the master key and the sealed (AES-256-GCM) credentials it protects, API
//! tokens (shown once, stored as SHA-256), and human passwords (Argon2id).

mod aad;
mod master_key;
mod passwords;
mod sealing;
mod tokens;

pub use aad::{KEY_CHECK_AAD, access_key_secret_aad, db_user_password_aad};
pub use master_key::{
    KeySource, LoadedKeys, MasterKey, MasterKeyError, discard_pending, promote_pending,
    write_pending, write_private,
};
pub use passwords::{PasswordHasher, hash_password, verify_password};
pub use sealing::{SealError, Sealer};
pub use tokens::{generate_token, hash_token, random_bytes};
