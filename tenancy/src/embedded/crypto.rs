//! AES-256-GCM sealing used for wrapped tenant keys and encrypted item payloads.
//!
//! Sealed form: `nonce (12 bytes) || ciphertext || tag (16 bytes)`. Nonces are random; a key
//! seals far fewer than 2^32 messages per process lifetime in this backend's use.

use aes_gcm::aead::rand_core::RngCore;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::error::{Error, Result};

pub(crate) const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;

/// 32 bytes of key material. Never printed.
#[derive(Clone)]
pub(crate) struct SecretKey([u8; KEY_LEN]);

impl SecretKey {
    pub(crate) fn random() -> Self {
        let mut bytes = [0u8; KEY_LEN];
        OsRng.fill_bytes(&mut bytes);
        SecretKey(bytes)
    }

    pub(crate) fn from_slice(bytes: &[u8]) -> Option<Self> {
        <[u8; KEY_LEN]>::try_from(bytes).ok().map(SecretKey)
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// A sub-key for one purpose: HMAC-SHA-256 of `purpose` under this key.
    pub(crate) fn derive(&self, purpose: &[u8]) -> SecretKey {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.0).expect("HMAC accepts any key length");
        mac.update(purpose);
        SecretKey(mac.finalize().into_bytes().into())
    }

    fn cipher(&self) -> Aes256Gcm {
        Aes256Gcm::new(&self.0.into())
    }

    /// Encrypts `plaintext`, binding `aad`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher()
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| Error::unavailable("AES-GCM encryption failed"))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Decrypts what [`SecretKey::seal`] produced; `None` when it does not authenticate under
    /// this key and `aad`.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher()
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .ok()
    }
}

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_data_opens_only_with_the_same_key_and_aad() {
        let key = SecretKey::random();
        let sealed = key.seal(b"hello", b"ctx").unwrap();
        assert_eq!(key.open(&sealed, b"ctx").as_deref(), Some(&b"hello"[..]));
        assert!(key.open(&sealed, b"other").is_none());
        assert!(SecretKey::random().open(&sealed, b"ctx").is_none());
        assert!(key.open(&sealed[..5], b"ctx").is_none());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_from_their_parent() {
        let key = SecretKey::random();
        let a = key.derive(b"a");
        assert_eq!(a.as_bytes(), key.derive(b"a").as_bytes());
        assert_ne!(a.as_bytes(), key.derive(b"b").as_bytes());
        assert_ne!(a.as_bytes(), key.as_bytes());
    }
}
