//! End-user identity: how a tenant tells the data plane who its own users are.
//!
//! A tenant's backend signs a short-lived JWT for each of its signed-in users (`sub` = the
//! user's id in the tenant's system, `exp` required); the browser SDK hands it to the data
//! plane, which verifies it with the keys the tenant registered through the control plane —
//! so targeting and analytics rest on user ids the tenant vouches for, not on whatever a
//! browser claims.
//!
//! [`EndUserIdentity`] is that registration, checked once when it is made ([`IdentitySpec`]
//! in, a value that can only hold usable public keys out) and stored on the tenant record.
//! Either the keys themselves ([`IdentityKey`], at most [`MAX_KEYS`]) or the URL of the
//! tenant's JWKS ([`JwksUrl`], fetched under a [`FetchPolicy`]); optionally the `iss` and
//! `aud` every token must carry.

mod key;
mod url;

pub use key::{
    IdentityKey, KeyAlg, MAX_KID_CHARS, MAX_PEM_CHARS, MAX_RSA_BITS, MIN_RSA_BITS, PublicJwk,
};
pub use url::{FetchPolicy, JwksUrl, MAX_URL_CHARS, is_public};

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::InvalidInput;

/// The most keys one tenant may register: enough for a rotation (old, current, next) in
/// each of a few environments, and a bound on what every token check may have to scan.
pub const MAX_KEYS: usize = 10;

/// The most characters of `issuer` and `audience`.
pub const MAX_CLAIM_CHARS: usize = 1024;

/// Where a tenant's signing keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityKeys {
    /// Registered keys, by unique `kid`: nothing is fetched, and rotating a key means
    /// registering the new set.
    Keys(Vec<IdentityKey>),
    /// The tenant's JWKS, fetched (and cached) by the data plane: the tenant rotates keys
    /// without calling the platform.
    JwksUrl(JwksUrl),
}

/// A tenant's end-user identity configuration, checked: every key is the public half of an
/// RSA (≥ 2048 bits, RS256) or EC P-256 (ES256) key, kids are unique, the JWKS URL is one
/// the [`FetchPolicy`] permits. Stored on [`crate::TenantRecord::identity`]; a stored value is
/// checked again when read (the URL with loopback allowed, see [`JwksUrl`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "StoredIdentity", into = "StoredIdentity")]
pub struct EndUserIdentity {
    keys: IdentityKeys,
    issuer: Option<String>,
    audience: Option<String>,
}

/// What a registration asks for, as it arrived: exactly one of `keys` (JSON values, each a
/// JWK or a PEM entry, see [`IdentityKey::from_json`]) and `jwks_url`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IdentitySpec {
    pub keys: Option<Vec<Value>>,
    pub jwks_url: Option<String>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
}

impl EndUserIdentity {
    /// Checks `spec`, the URL under `policy`. Errors: the first problem found, naming its
    /// field (`keys`, `jwks_url`, `issuer`, `audience`) and, for a key, its position and
    /// member (`keys[1] (kid "k2"): n: …`).
    pub fn new(spec: IdentitySpec, policy: &FetchPolicy) -> Result<Self, InvalidInput> {
        let keys = match (spec.keys, spec.jwks_url) {
            (Some(_), Some(_)) => {
                return Err(InvalidInput::new(
                    "keys",
                    "give either keys or jwks_url, not both",
                ));
            }
            (None, None) => {
                return Err(InvalidInput::new(
                    "keys",
                    "give either keys (the public keys themselves) or jwks_url (where to \
                     fetch them)",
                ));
            }
            (Some(raw), None) => IdentityKeys::Keys(parse_keys(&raw)?),
            (None, Some(url)) => IdentityKeys::JwksUrl(
                JwksUrl::parse(&url, policy).map_err(|e| InvalidInput::new("jwks_url", e))?,
            ),
        };
        Ok(EndUserIdentity {
            keys,
            issuer: claim("issuer", spec.issuer)?,
            audience: claim("audience", spec.audience)?,
        })
    }

    pub fn keys(&self) -> &IdentityKeys {
        &self.keys
    }

    /// The registered key named `kid`, if keys are registered and one has that `kid`.
    pub fn key(&self, kid: &str) -> Option<&IdentityKey> {
        match &self.keys {
            IdentityKeys::Keys(keys) => keys.iter().find(|k| k.kid() == kid),
            IdentityKeys::JwksUrl(_) => None,
        }
    }

    /// The `iss` every token must carry, when one is configured.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// The value every token's `aud` must be (or contain), when one is configured.
    pub fn audience(&self) -> Option<&str> {
        self.audience.as_deref()
    }
}

/// The most entries of a fetched JWKS that are looked at.
pub const MAX_FETCHED_KEYS: usize = 64;

/// The keys of a tenant's fetched JWKS that its users' tokens may be signed with, by `kid`:
/// each entry that passes the same checks as a registered key (a `kid`, RSA ≥ 2048 bits or
/// EC P-256, public only, `use` `sig` and `alg` matching when given). Entries that do not are
/// skipped — a JWKS may also publish encryption keys — and a `kid` named twice is dropped,
/// since which of its keys is meant cannot be told. The [`jwt::KeySelection`] for
/// [`jwt::RemoteJwks::with_selection`].
///
/// [`jwt::KeySelection`]: crate::jwt::KeySelection
/// [`jwt::RemoteJwks::with_selection`]: crate::jwt::RemoteJwks::with_selection
pub fn jwks_keys(values: &[Value]) -> HashMap<String, jsonwebtoken::DecodingKey> {
    let mut seen: HashMap<String, Option<IdentityKey>> = HashMap::new();
    for value in values.iter().take(MAX_FETCHED_KEYS) {
        if let Ok(key) = IdentityKey::from_json(value) {
            seen.entry(key.kid().to_owned())
                .and_modify(|slot| *slot = None)
                .or_insert(Some(key));
        }
    }
    seen.into_iter()
        .filter_map(|(kid, key)| key.map(|k| (kid, k.decoding_key())))
        .collect()
}

fn parse_keys(raw: &[Value]) -> Result<Vec<IdentityKey>, InvalidInput> {
    check_count(raw.len())?;
    let mut keys: Vec<IdentityKey> = Vec::with_capacity(raw.len());
    for (i, value) in raw.iter().enumerate() {
        let key = IdentityKey::from_json(value).map_err(|e| {
            let named = value
                .get("kid")
                .and_then(Value::as_str)
                .map(|kid| format!(" (kid {:?})", kid.escape_debug().to_string()))
                .unwrap_or_default();
            InvalidInput::new("keys", format!("keys[{i}]{named}: {e}"))
        })?;
        keys.push(key);
        check_unique(&keys)?;
    }
    Ok(keys)
}

fn check_count(count: usize) -> Result<(), InvalidInput> {
    if count == 0 || count > MAX_KEYS {
        return Err(InvalidInput::new(
            "keys",
            format!("must hold 1 to {MAX_KEYS} keys, not {count}"),
        ));
    }
    Ok(())
}

/// The last key's `kid` is none of the others'.
fn check_unique(keys: &[IdentityKey]) -> Result<(), InvalidInput> {
    let Some((last, others)) = keys.split_last() else {
        return Ok(());
    };
    match others.iter().position(|k| k.kid() == last.kid()) {
        None => Ok(()),
        Some(first) => Err(InvalidInput::new(
            "keys",
            format!(
                "keys[{}]: kid {:?} is also the kid of keys[{first}]; each key needs its own kid",
                others.len(),
                last.kid()
            ),
        )),
    }
}

/// `issuer` or `audience`: absent, or 1–1024 characters without control characters.
fn claim(field: &'static str, value: Option<String>) -> Result<Option<String>, InvalidInput> {
    let Some(value) = value else {
        return Ok(None);
    };
    if value.is_empty() || value.chars().count() > MAX_CLAIM_CHARS {
        return Err(InvalidInput::new(
            field,
            format!("must be 1 to {MAX_CLAIM_CHARS} characters long"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(InvalidInput::new(
            field,
            "must not contain control characters",
        ));
    }
    Ok(Some(value))
}

/// The stored form: `{"keys": [...]}` or `{"jwks_url": "..."}`, with `issuer` and `audience`.
#[derive(Serialize, Deserialize)]
struct StoredIdentity {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    keys: Option<Vec<IdentityKey>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jwks_url: Option<JwksUrl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    audience: Option<String>,
}

impl TryFrom<StoredIdentity> for EndUserIdentity {
    type Error = InvalidInput;
    fn try_from(stored: StoredIdentity) -> Result<Self, Self::Error> {
        let keys = match (stored.keys, stored.jwks_url) {
            (Some(keys), None) => {
                // Each key passed its own checks while it was read; the set's rules must too.
                check_count(keys.len())?;
                for end in 2..=keys.len() {
                    check_unique(&keys[..end])?;
                }
                IdentityKeys::Keys(keys)
            }
            (None, Some(url)) => IdentityKeys::JwksUrl(url),
            _ => {
                return Err(InvalidInput::new(
                    "keys",
                    "a stored identity holds either keys or jwks_url",
                ));
            }
        };
        Ok(EndUserIdentity {
            keys,
            issuer: claim("issuer", stored.issuer)?,
            audience: claim("audience", stored.audience)?,
        })
    }
}

impl From<EndUserIdentity> for StoredIdentity {
    fn from(identity: EndUserIdentity) -> Self {
        let (keys, jwks_url) = match identity.keys {
            IdentityKeys::Keys(keys) => (Some(keys), None),
            IdentityKeys::JwksUrl(url) => (None, Some(url)),
        };
        StoredIdentity {
            keys,
            jwks_url,
            issuer: identity.issuer,
            audience: identity.audience,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::jwt::RsaSigner;

    fn rsa_jwk(kid: &str) -> Value {
        serde_json::to_value(&RsaSigner::generate(kid).unwrap().jwks().keys[0]).unwrap()
    }

    fn spec_with_keys(keys: Vec<Value>) -> IdentitySpec {
        IdentitySpec {
            keys: Some(keys),
            ..IdentitySpec::default()
        }
    }

    fn refused(spec: IdentitySpec) -> InvalidInput {
        EndUserIdentity::new(spec, &FetchPolicy::PUBLIC_ONLY).unwrap_err()
    }

    #[test]
    fn registered_keys_are_stored_as_public_jwks_and_read_back_equal() {
        let (_, ec) = key::tests::ec_public();
        let identity = EndUserIdentity::new(
            IdentitySpec {
                keys: Some(vec![rsa_jwk("rsa-1"), ec]),
                jwks_url: None,
                issuer: Some("https://auth.acme.example".to_owned()),
                audience: Some("spotlight".to_owned()),
            },
            &FetchPolicy::PUBLIC_ONLY,
        )
        .unwrap();
        assert_eq!(identity.key("rsa-1").unwrap().alg(), KeyAlg::RS256);
        assert_eq!(identity.key("ec-1").unwrap().alg(), KeyAlg::ES256);
        assert!(identity.key("other").is_none());
        let stored = serde_json::to_value(&identity).unwrap();
        assert_eq!(stored["keys"][0]["kid"], "rsa-1");
        assert_eq!(stored["issuer"], "https://auth.acme.example");
        assert!(stored.get("jwks_url").is_none(), "{stored}");
        let read: EndUserIdentity = serde_json::from_value(stored).unwrap();
        assert_eq!(read, identity);
    }

    #[test]
    fn a_jwks_url_is_stored_as_given() {
        let identity = EndUserIdentity::new(
            IdentitySpec {
                jwks_url: Some("https://auth.acme.example/.well-known/jwks.json".to_owned()),
                ..IdentitySpec::default()
            },
            &FetchPolicy::PUBLIC_ONLY,
        )
        .unwrap();
        let stored = serde_json::to_value(&identity).unwrap();
        assert_eq!(
            stored,
            json!({"jwks_url": "https://auth.acme.example/.well-known/jwks.json"})
        );
        assert_eq!(
            serde_json::from_value::<EndUserIdentity>(stored).unwrap(),
            identity
        );
    }

    #[test]
    fn each_refusal_names_its_field() {
        let neither = refused(IdentitySpec::default());
        assert_eq!(neither.field, "keys");
        let both = refused(IdentitySpec {
            keys: Some(vec![rsa_jwk("a")]),
            jwks_url: Some("https://a.example/jwks".to_owned()),
            ..IdentitySpec::default()
        });
        assert!(both.reason.contains("not both"), "{both}");

        let empty = refused(spec_with_keys(vec![]));
        assert!(empty.reason.contains("1 to 10 keys"), "{empty}");
        let many = refused(spec_with_keys(vec![json!({}); MAX_KEYS + 1]));
        assert!(many.reason.contains("not 11"), "{many}");

        let key = rsa_jwk("same");
        let duplicate = refused(spec_with_keys(vec![key.clone(), key]));
        assert_eq!(duplicate.field, "keys");
        assert!(
            duplicate
                .reason
                .starts_with("keys[1]: kid \"same\" is also the kid of keys[0]"),
            "{duplicate}"
        );

        let oct = refused(spec_with_keys(vec![
            rsa_jwk("ok"),
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
        ]));
        assert!(
            oct.reason
                .starts_with("keys[1] (kid \"hmac\"): kty: symmetric"),
            "{oct}"
        );

        let url = refused(IdentitySpec {
            jwks_url: Some("http://auth.acme.example/jwks".to_owned()),
            ..IdentitySpec::default()
        });
        assert_eq!(url.field, "jwks_url");

        for field in ["issuer", "audience"] {
            for bad in ["", "line\nbreak"] {
                let mut spec = spec_with_keys(vec![rsa_jwk("k")]);
                match field {
                    "issuer" => spec.issuer = Some(bad.to_owned()),
                    _ => spec.audience = Some(bad.to_owned()),
                }
                assert_eq!(refused(spec).field, field);
            }
        }
    }

    #[test]
    fn a_fetched_set_yields_only_usable_keys_and_no_ambiguous_kid() {
        let (_, ec) = key::tests::ec_public();
        let twice = rsa_jwk("twice");
        let keys = jwks_keys(&[
            rsa_jwk("good"),
            ec,
            json!({"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"}),
            json!({"kty": "RSA", "kid": "tiny", "n": "AQAB", "e": "AQAB"}),
            twice.clone(),
            twice,
            json!("not a key"),
        ]);
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["ec-1", "good"]);
        assert_eq!(keys["good"].family(), jsonwebtoken::AlgorithmFamily::Rsa);
        assert_eq!(keys["ec-1"].family(), jsonwebtoken::AlgorithmFamily::Ec);
    }

    #[test]
    fn a_stored_identity_that_breaks_the_rules_does_not_read() {
        let key =
            serde_json::to_value(IdentityKey::from_json(&rsa_jwk("twice")).unwrap().jwk()).unwrap();
        let twice = json!({"keys": [key.clone(), key.clone()]});
        assert!(serde_json::from_value::<EndUserIdentity>(twice).is_err());
        let both = json!({"keys": [key], "jwks_url": "https://a.example/jwks"});
        assert!(serde_json::from_value::<EndUserIdentity>(both).is_err());
        assert!(serde_json::from_value::<EndUserIdentity>(json!({"keys": []})).is_err());
        assert!(serde_json::from_value::<EndUserIdentity>(json!({})).is_err());
    }
}
