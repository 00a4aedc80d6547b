//! [`RsaSigner`]: an RS256 signing key with its public JWK — the embedded token issuer's key,
//! and what tests use to craft tokens a verifier must refuse.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use jsonwebtoken::jwk::{Jwk, JwkSet, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;

use crate::error::{Error, Result};

/// An RSA key pair that signs JWTs under one `kid`.
pub struct RsaSigner {
    kid: String,
    key: EncodingKey,
    public: Jwk,
    pkcs8: Vec<u8>,
}

impl std::fmt::Debug for RsaSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RsaSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl RsaSigner {
    /// A fresh 2048-bit key (aws-lc-rs), named `kid`.
    pub fn generate(kid: &str) -> Result<Self> {
        use aws_lc_rs::encoding::AsDer;
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
            .map_err(|e| Error::unavailable(format!("generating an RSA signing key: {e}")))?;
        let der = pair
            .as_der()
            .map_err(|e| Error::unavailable(format!("encoding the RSA signing key: {e}")))?;
        Self::from_pkcs8(kid, der.as_ref())
    }

    /// The key in `pkcs8` (unencrypted PKCS#8 DER), named `kid`.
    /// Errors: `Invalid` when it is not an RSA private key.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self> {
        let pem = format!(
            "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            STANDARD.encode(pkcs8)
        );
        let key = EncodingKey::from_rsa_pem(pem.as_bytes())
            .map_err(|e| Error::invalid(format!("signing key {kid} is not an RSA key: {e}")))?;
        let mut public = Jwk::from_encoding_key(&key, Algorithm::RS256)
            .map_err(|e| Error::invalid(format!("signing key {kid}: no public key: {e}")))?;
        public.common.key_id = Some(kid.to_owned());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        public.common.key_algorithm = Some(KeyAlgorithm::RS256);
        Ok(RsaSigner {
            kid: kid.to_owned(),
            key,
            public,
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// The key in `pkcs8`, named by its RFC 7638 thumbprint: the same key always has the
    /// same `kid`, and a new key a new one.
    pub fn with_thumbprint_kid(pkcs8: &[u8]) -> Result<Self> {
        let unnamed = Self::from_pkcs8("", pkcs8)?;
        let kid = unnamed
            .public
            .thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256);
        Self::from_pkcs8(&kid, pkcs8)
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The private key as PKCS#8 DER (what the embedded issuer keeps on disk).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The public key as a JWKS document of one key.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: vec![self.public.clone()],
        }
    }

    /// `claims` signed RS256 under this key's `kid`.
    pub fn sign(&self, claims: &impl Serialize) -> Result<String> {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.kid.clone());
        self.sign_with_header(&header, claims)
    }

    /// `claims` signed with this key under any header (a foreign `kid`, for one). The
    /// algorithm must be an RSA one.
    pub fn sign_with_header(&self, header: &Header, claims: &impl Serialize) -> Result<String> {
        jsonwebtoken::encode(header, claims, &self.key)
            .map_err(|e| Error::invalid(format!("signing a token with key {}: {e}", self.kid)))
    }
}
