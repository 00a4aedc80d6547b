//! Platform JWTs, shared by every `Identity` adapter: [`TokenVerifier`] checks an ID token
//! with `jsonwebtoken` (RS256 only) against a [`KeySource`]; [`RsaSigner`] signs them (the
//! embedded issuer, and tests crafting tokens that must be refused).
//!
//! The claims follow Cognito's ID tokens, so one verifier serves both adapters: `iss`, `aud`
//! (the app client id), `sub`, `email`, `token_use` (`id`), `custom:tenantId`, `iat`, `exp`
//! and optionally `nbf` and `cognito:groups` (the groups of the user pool the user is in,
//! which the data plane's `jwt_group` admin strategy reads).

mod jwks;
mod signer;

pub use jwks::{
    GuardedResolver, HttpClient, KeySelection, KeySource, RemoteJwks, check_url as check_jwks_url,
    guarded_http_client, http_client, resolve,
};
pub use signer::RsaSigner;

use jsonwebtoken::errors::ErrorKind as JwtErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::ports::identity::{AdminEmail, AdminId, VerifiedAdmin};

/// The claim naming an admin's tenant (Cognito's custom attribute).
pub const TENANT_CLAIM: &str = "custom:tenantId";

/// The claim listing the user's groups (Cognito's).
pub const GROUPS_CLAIM: &str = "cognito:groups";

/// The group the embedded issuer puts every admin it mints a token for in, and the data
/// plane's default admin group: so the `jwt_group` strategy works on the embedded default
/// as it does on a Cognito pool whose admins are in that group.
pub const DEFAULT_ADMIN_GROUP: &str = "spotlight-admins";

/// Seconds of clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of a platform ID token, as the embedded issuer writes them (Cognito writes
/// more; the verifier reads only these).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub aud: String,
    pub sub: String,
    pub email: String,
    pub token_use: String,
    #[serde(rename = "custom:tenantId")]
    pub tenant: String,
    pub iat: i64,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(
        rename = "cognito:groups",
        default,
        skip_serializing_if = "Vec::is_empty"
    )]
    pub groups: Vec<String>,
}

/// What a token must say to be accepted: who issued it and for which app client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRules {
    pub issuer: String,
    pub audience: String,
}

/// Verifies platform ID tokens against [`TokenRules`] and the issuer's public keys.
pub struct TokenVerifier {
    rules: TokenRules,
    keys: KeySource,
}

/// What the verifier reads from a token's payload: only the claims it checks itself (the
/// library checks `iss`, `aud`, `exp`, `nbf`).
#[derive(Deserialize)]
struct Checked {
    sub: String,
    #[serde(default)]
    email: Option<String>,
    #[serde(default)]
    token_use: Option<String>,
    #[serde(rename = "custom:tenantId", default)]
    tenant: Option<String>,
    exp: i64,
    #[serde(rename = "cognito:groups", default)]
    groups: Vec<String>,
}

impl TokenVerifier {
    pub fn new(rules: TokenRules, keys: KeySource) -> Self {
        TokenVerifier { rules, keys }
    }

    pub fn rules(&self) -> &TokenRules {
        &self.rules
    }

    /// The verified claims of `token`. Errors: `AccessDenied` naming what was wrong (not a
    /// JWT, not RS256, unknown key, bad signature, expired, not yet valid, wrong issuer or
    /// audience, not an ID token, no tenant or e-mail); `Unavailable` when the keys cannot be
    /// fetched.
    pub async fn verify(&self, token: &str) -> Result<VerifiedAdmin> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| refused(&e))?;
        if header.alg != Algorithm::RS256 {
            return Err(denied(format!(
                "it is signed with {:?}; only RS256 is accepted",
                header.alg
            )));
        }
        let kid = header
            .kid
            .ok_or_else(|| denied("its header names no signing key (kid)".to_owned()))?;
        let key = self.keys.key(&kid).await?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.rules.issuer]);
        validation.set_audience(&[&self.rules.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        let data =
            jsonwebtoken::decode::<Checked>(token, &key, &validation).map_err(|e| refused(&e))?;
        let claims = data.claims;
        if claims.token_use.as_deref() != Some("id") {
            return Err(denied(format!(
                "it is not an ID token (token_use is {:?}, expected \"id\")",
                claims.token_use.unwrap_or_default()
            )));
        }
        let tenant = claims
            .tenant
            .ok_or_else(|| denied(format!("it names no tenant ({TENANT_CLAIM})")))
            .and_then(|t| {
                TenantId::parse(&t).map_err(|e| denied(format!("its {TENANT_CLAIM}: {e}")))
            })?;
        let email = claims
            .email
            .ok_or_else(|| denied("it names no e-mail".to_owned()))
            .and_then(|e| AdminEmail::parse(&e).map_err(|e| denied(format!("its {e}"))))?;
        let subject = AdminId::parse(&claims.sub).map_err(|e| denied(format!("its sub: {e}")))?;
        let expires_at = OffsetDateTime::from_unix_timestamp(claims.exp)
            .map_err(|_| denied("its exp is out of range".to_owned()))?;
        Ok(VerifiedAdmin {
            subject,
            email,
            tenant,
            expires_at,
            groups: claims.groups,
        })
    }
}

fn denied(reason: String) -> Error {
    Error::access_denied(format!("token refused: {reason}"))
}

fn refused(e: &jsonwebtoken::errors::Error) -> Error {
    denied(match e.kind() {
        JwtErrorKind::ExpiredSignature => "it has expired (exp)".to_owned(),
        JwtErrorKind::ImmatureSignature => "it is not valid yet (nbf)".to_owned(),
        JwtErrorKind::InvalidIssuer => "it was issued by another issuer (iss)".to_owned(),
        JwtErrorKind::InvalidAudience => "it is for another app client (aud)".to_owned(),
        JwtErrorKind::InvalidSignature => "its signature does not verify".to_owned(),
        JwtErrorKind::InvalidAlgorithm => "its algorithm is not RS256".to_owned(),
        JwtErrorKind::MissingRequiredClaim(c) => format!("it has no {c} claim"),
        _ => format!("it is not a well-formed JWT ({e})"),
    })
}
