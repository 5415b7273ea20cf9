//! Human passwords as Argon2id PHC strings. Every hash runs in one memory block that the service
//! allocates once and reuses (behind a lock): a fresh block per login would be kept by the
//! allocator in each thread arena that ran one, so memory would grow with every parallel login.
//! Logins of unknown users are verified against a dummy hash so that they take as long as a
//! wrong password.

use std::sync::Mutex;

use argon2::{ARGON2ID_IDENT, Algorithm, Argon2, Block, Params, PasswordHash, Version};
use phc::{Output, ParamsString, Salt};
use subtle::ConstantTimeEq;

use super::random_bytes;

/// OWASP's Argon2id option of 7 MiB and 5 passes: as strong as 19 MiB × 2, at a third of the
/// memory the service keeps resident.
const M_COST_KIB: u32 = 7 * 1024;
const T_COST: u32 = 5;
/// Hashes asking for more memory than this are refused rather than computed.
const MAX_M_COST_KIB: u32 = 64 * 1024;

fn params() -> Params {
    Params::new(M_COST_KIB, T_COST, 1, None).expect("constant Argon2 parameters are valid")
}

static MEMORY: Mutex<Vec<Block>> = Mutex::new(Vec::new());

fn compute(params: &Params, password: &[u8], salt: &[u8], out: &mut [u8]) -> bool {
    let mut memory = MEMORY
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let blocks = params.block_count();
    if memory.len() < blocks {
        memory.resize(blocks, Block::new());
    }
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone())
        .hash_password_into_with_memory(password, salt, out, &mut memory[..blocks])
        .is_ok()
}

pub fn hash_password(password: &str) -> String {
    let params = params();
    let salt = random_bytes(16);
    let mut out = [0u8; 32];
    assert!(
        compute(&params, password.as_bytes(), &salt, &mut out),
        "Argon2id with valid params"
    );
    PasswordHash {
        algorithm: ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(&params).expect("params encode"),
        salt: Some(Salt::new(&salt).expect("16-byte salt")),
        hash: Some(Output::new(&out).expect("32-byte output")),
    }
    .to_string()
}

pub fn verify_password(password: &str, phc: &str) -> bool {
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    if hash.algorithm != ARGON2ID_IDENT || params.m_cost() > MAX_M_COST_KIB {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    compute(&params, password.as_bytes(), salt.as_ref(), &mut out)
        && bool::from(out.as_slice().ct_eq(expected.as_ref()))
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
    use argon2::{PasswordHasher as _, PasswordVerifier};

    use super::*;

    #[test]
    fn argon2id_round_trip() {
        let h = hash_password("correct horse");
        assert!(h.starts_with("$argon2id$v=19$m=7168,t=5,p=1$"), "{h}");
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("wrong horse", &h));
        assert!(!verify_password("x", "not a phc string"));
        let hasher = PasswordHasher::default();
        assert!(!hasher.check("correct horse", None));
        assert!(hasher.check("correct horse", Some(&h)));
    }

    #[test]
    fn hashes_agree_with_the_reference_implementation() {
        // Ours verify with argon2's own verifier, and argon2's (default 19 MiB) verify with ours.
        let ours = hash_password("pw-123456");
        assert!(
            Argon2::default()
                .verify_password(b"pw-123456", ours.as_str())
                .is_ok()
        );
        let theirs = Argon2::default()
            .hash_password_with_salt(b"pw-123456", b"0123456789abcdef")
            .unwrap()
            .to_string();
        assert!(verify_password("pw-123456", &theirs));
        assert!(!verify_password("pw-1234567", &theirs));
    }

    #[test]
    fn absurd_memory_costs_are_refused_not_computed() {
        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify_password("x", huge));
    }
}
