//! Sealing of stored idempotent responses.
//!
//! A stored response is replayed verbatim to retries for the idempotency TTL, and some
//! responses carry secrets shown only once (a newly issued API key). Their bodies are therefore
//! stored sealed — AES-256-GCM under a key derived from the server pepper, bound to the
//! idempotency key and the request fingerprint — so the registry never holds them in clear and
//! a body cannot be replayed under another key.

use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Derivation label: changing it (or the pepper) makes earlier sealed responses unreadable.
const LABEL: &[u8] = b"spotlight/control-plane/idempotent-response/v1";
const NONCE_LEN: usize = 12;

pub struct ResponseSealer {
    cipher: Aes256Gcm,
}

impl ResponseSealer {
    /// Derives the sealing key from the server pepper (HMAC-SHA-256 over a fixed label), so the
    /// pepper itself is never used as a cipher key.
    pub fn from_pepper(pepper: &[u8]) -> Self {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(pepper).expect("HMAC accepts keys of any length");
        mac.update(LABEL);
        let key = mac.finalize().into_bytes();
        ResponseSealer {
            cipher: Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key)),
        }
    }

    /// `nonce || ciphertext`, with `context` as associated data.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ciphertext = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// The plaintext, or `None` when the bytes were not sealed by this pepper for `context`.
    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Option<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context,
                },
            )
            .ok()
    }
}

impl std::fmt::Debug for ResponseSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseSealer([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_hide_the_body_and_open_only_in_their_context() {
        let sealer = ResponseSealer::from_pepper(b"pepper");
        let body = br#"{"key":"spk_sec_secretvalue"}"#;
        let sealed = sealer.seal(b"key-1\nfp", body);
        assert!(!sealed.windows(11).any(|w| w == b"secretvalue"));
        assert_eq!(
            sealer.open(b"key-1\nfp", &sealed).as_deref(),
            Some(&body[..])
        );
        assert_eq!(sealer.open(b"key-2\nfp", &sealed), None);
        assert_eq!(
            ResponseSealer::from_pepper(b"other").open(b"key-1\nfp", &sealed),
            None
        );
        assert_eq!(sealer.open(b"key-1\nfp", &sealed[..5]), None);
    }
}
