//! Sealed credentials: AES-256-GCM under the master key, a fresh random nonce per seal, and the
//! owning row as associated data so a ciphertext cannot be moved to another row.
//! Envelope: `v1:<base64 nonce>:<base64 ciphertext+tag>`.

use aes_gcm::Aes256Gcm;
use aes_gcm::aead::{Aead, KeyInit, Nonce, Payload};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use secrecy::{ExposeSecret, SecretString};

use super::{MasterKey, random_bytes};

#[derive(Clone)]
pub struct Sealer {
    cipher: Aes256Gcm,
}

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not open under this master key (wrong key or moved row)")]
    Open,
}

impl Sealer {
    pub fn new(key: &MasterKey) -> Self {
        let cipher = Aes256Gcm::new_from_slice(key.bytes()).expect("32-byte key");
        Self { cipher }
    }

    pub fn seal(&self, plaintext: &SecretString, aad: &str) -> String {
        let nonce_bytes = random_bytes(12);
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce_bytes.as_slice()).expect("12-byte nonce");
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext.expose_secret().as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of a short value cannot fail");
        format!("v1:{}:{}", B64.encode(nonce_bytes), B64.encode(ct))
    }

    pub fn open(&self, sealed: &str, aad: &str) -> Result<SecretString, SealError> {
        let mut parts = sealed.split(':');
        let (Some("v1"), Some(n), Some(c), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(SealError::Malformed);
        };
        let nonce_bytes = B64.decode(n).map_err(|_| SealError::Malformed)?;
        let nonce = Nonce::<Aes256Gcm>::try_from(nonce_bytes.as_slice())
            .map_err(|_| SealError::Malformed)?;
        let ct = B64.decode(c).map_err(|_| SealError::Malformed)?;
        let pt = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: &ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| SealError::Open)?;
        String::from_utf8(pt)
            .map(SecretString::from)
            .map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(byte: u8) -> Sealer {
        Sealer::new(&MasterKey::from_bytes([byte; 32]))
    }

    #[test]
    fn round_trip_and_fresh_nonces() {
        let s = sealer(1);
        let secret = SecretString::from("hunter2-password");
        let a = s.seal(&secret, "row1");
        let b = s.seal(&secret, "row1");
        assert_ne!(a, b, "nonce must differ per seal");
        assert!(!a.contains("hunter2"));
        assert_eq!(
            s.open(&a, "row1").unwrap().expose_secret(),
            "hunter2-password"
        );
    }

    #[test]
    fn wrong_row_or_key_or_tampering_fails() {
        let s = sealer(1);
        let sealed = s.seal(&SecretString::from("pw"), "row1");
        assert!(matches!(s.open(&sealed, "row2"), Err(SealError::Open)));
        assert!(matches!(
            sealer(2).open(&sealed, "row1"),
            Err(SealError::Open)
        ));
        let mut tampered = sealed.clone();
        tampered.pop();
        tampered.push(if sealed.ends_with('A') { 'B' } else { 'A' });
        assert!(s.open(&tampered, "row1").is_err());
        assert!(matches!(
            s.open("v2:a:b", "row1"),
            Err(SealError::Malformed)
        ));
    }
}
