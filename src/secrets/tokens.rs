//! Bearer tokens: 32 random bytes shown once as `dbk_<base64url>`, stored only as SHA-256 hex.
//! They carry full entropy, so a fast hash is enough and keeps every request cheap.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).expect("the OS random source is available");
    buf
}

pub fn generate_token() -> String {
    format!("dbk_{}", URL_SAFE_NO_PAD.encode(random_bytes(32)))
}

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_and_hash_stably() {
        let a = generate_token();
        let b = generate_token();
        assert_ne!(a, b);
        assert!(a.starts_with("dbk_") && a.len() > 40);
        assert_eq!(hash_token(&a), hash_token(&a));
        assert_eq!(hash_token(&a).len(), 64);
        assert!(!hash_token(&a).contains(&a[4..]));
    }
}
