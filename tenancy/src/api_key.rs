//! API keys: format (kind prefix, random body, checksum), keyed hashing, and resolution.
//!
//! Being completed; the public surface below is what the control plane builds on.

/// HMAC-SHA-256 under the server pepper: what the registry stores instead of a key.
pub struct KeyHasher {
    pepper: Vec<u8>,
}

impl KeyHasher {
    pub fn new(pepper: impl Into<Vec<u8>>) -> Self {
        KeyHasher { pepper: pepper.into() }
    }

    pub fn pepper_len(&self) -> usize {
        self.pepper.len()
    }
}

impl std::fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHasher([redacted])")
    }
}
