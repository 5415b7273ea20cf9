//! Human passwords as Argon2id PHC strings. Logins of unknown users are verified against a dummy
//! hash so that they take as long as a wrong password.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing with default params")
        .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Holds the dummy hash used to equalise timing for unknown users.
pub struct PasswordHasher {
    dummy: String,
}

impl Default for PasswordHasher {
    fn default() -> Self {
        Self {
            dummy: hash_password("dbkill-timing-equaliser"),
        }
    }
}

impl PasswordHasher {
    /// Verifies `password` against `phc`, or burns the same time when there is no user.
    pub fn check(&self, password: &str, phc: Option<&str>) -> bool {
        match phc {
            Some(phc) => verify_password(password, phc),
            None => {
                let _ = verify_password(password, &self.dummy);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
        let hasher = PasswordHasher::default();
        assert!(!hasher.check("correct horse", None));
        assert!(hasher.check("correct horse", Some(&h)));
    }
}
