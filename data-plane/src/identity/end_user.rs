//! End-user tokens: the proof, made by a tenant's own backend, that a browser's user is who
//! the SDK says.
//!
//! A tenant registers public keys (or a JWKS URL) through the control plane
//! ([`EndUserIdentity`]); its backend signs a short-lived JWT for each signed-in user, and the
//! SDK sends it along. [`EndUserVerifier::verify`] turns that token into an [`EndUser`] — the
//! verified `sub` and every claim, for trait targeting — or an [`EndUserRefusal`] saying why
//! not, for the 401 body. The rules, each because a forged identity must not get through:
//!
//! - the header's `alg` is `RS256` or `ES256` **and** the algorithm of the key its `kid`
//!   names: `none` is never accepted, and neither is `HS256` — otherwise a token "signed" with
//!   the tenant's *public* RSA key as an HMAC secret would verify;
//! - `kid` is required and must name a key of the tenant (no trying every key);
//! - `exp` is required, `nbf` honoured, both with [`LEEWAY_SECS`] of clock skew, against the
//!   `now` the caller passes (so the check is the caller's clock, and testable);
//! - `iss` and `aud` must match when the tenant configured them;
//! - `sub` is 1–256 characters without control characters: it becomes a user id in the
//!   tenant's analytics.
//!
//! A JWKS URL is fetched through [`tenancy::jwt::RemoteJwks`] with the guarded client: `https`
//! only, the URL checked again under this verifier's [`FetchPolicy`], the host resolved by the
//! client itself and refused if any address is private, loopback or link-local (DNS can point
//! a public name anywhere), at most 256 KiB, 10 s, no redirects. Each URL's keys are cached in
//! a bounded LRU for [`VerifierSettings::jwks_max_age`] (so a key the tenant withdrew stops
//! working within that time), and a `kid` the set does not hold refetches at most once per
//! [`VerifierSettings::jwks_min_refetch`], so made-up `kid`s cannot make the platform hammer
//! a tenant's server.

use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{AlgorithmFamily, DecodingKey, Validation};
use lru::LruCache;
use serde_json::{Map, Value};
use tenancy::end_user::{EndUserIdentity, FetchPolicy, IdentityKeys, JwksUrl, KeyAlg, jwks_keys};
use tenancy::jwt::{HttpClient, LEEWAY_SECS, RemoteJwks, guarded_http_client};
use time::OffsetDateTime;

/// The longest token read; real ones are well under 2 KiB.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// The most characters of an end user's id (`sub`).
pub const MAX_SUBJECT_CHARS: usize = 256;

/// How the verifier reaches tenants' JWKS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifierSettings {
    /// Which hosts keys may be fetched from. [`FetchPolicy::PUBLIC_ONLY`] in every deployment;
    /// tests that serve keys from 127.0.0.1 use [`FetchPolicy::LOOPBACK_FOR_TESTS`].
    pub fetch: FetchPolicy,
    /// How many tenants' JWKS are kept (least recently used first out).
    pub jwks_cache_entries: NonZeroUsize,
    /// How long fetched keys are trusted before they are fetched again.
    pub jwks_max_age: Duration,
    /// The shortest time between two fetches of one JWKS caused by unknown `kid`s.
    pub jwks_min_refetch: Duration,
}

impl Default for VerifierSettings {
    fn default() -> Self {
        VerifierSettings {
            fetch: FetchPolicy::PUBLIC_ONLY,
            jwks_cache_entries: NonZeroUsize::new(1024).expect("non-zero"),
            jwks_max_age: Duration::from_secs(600),
            jwks_min_refetch: Duration::from_secs(30),
        }
    }
}

/// A verified end user of a tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct EndUser {
    /// The token's `sub`: the user's id in the tenant's own system.
    pub id: String,
    /// Every claim of the token (`sub`, `exp` and the tenant's own, such as a plan or a
    /// role), for targeting content by user traits.
    pub claims: Map<String, Value>,
    /// The token's `exp`: the identity is good until then.
    pub expires_at: OffsetDateTime,
}

/// Why a token was refused, for code to branch on (most callers answer 401 for all but
/// [`RefusalReason::KeysUnavailable`], which retrying may cure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RefusalReason {
    /// Not three base64url parts with a JSON header, or too large.
    Malformed,
    /// `alg` is not RS256 or ES256, or not the algorithm of the key `kid` names.
    Algorithm,
    /// No `kid`, or one the tenant has no key for.
    UnknownKey,
    /// The signature does not verify: tampered with, or signed by another key.
    Signature,
    /// Past `exp` (beyond the leeway).
    Expired,
    /// Before `nbf` (beyond the leeway).
    NotYetValid,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `aud` does not name the configured audience.
    Audience,
    /// A required claim (`exp`, `sub`) is absent.
    MissingClaim,
    /// A claim has the wrong type or an impossible value.
    InvalidClaim,
    /// `sub` is not 1–256 characters without control characters.
    Subject,
    /// The tenant's JWKS could not be fetched (or may not be fetched from where it is).
    KeysUnavailable,
}

/// A refused token: why, and a message for a person (the body of the 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct EndUserRefusal {
    reason: RefusalReason,
    message: String,
}

impl EndUserRefusal {
    fn new(reason: RefusalReason, why: impl std::fmt::Display) -> Self {
        EndUserRefusal {
            reason,
            message: format!("end-user token refused: {why}"),
        }
    }

    pub fn reason(&self) -> RefusalReason {
        self.reason
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether the refusal is the platform's or the tenant's server's trouble rather than
    /// the token's: the same token may verify later (a 503 rather than a 401).
    pub fn is_unavailable(&self) -> bool {
        self.reason == RefusalReason::KeysUnavailable
    }
}

/// Verifies end-user tokens of any tenant against that tenant's [`EndUserIdentity`]. One per
/// process: it holds the HTTP client and the cache of fetched JWKS. `Send + Sync`.
pub struct EndUserVerifier {
    settings: VerifierSettings,
    http: HttpClient,
    /// Each JWKS URL's keys, with when its entry was made.
    remote: Mutex<LruCache<JwksUrl, (Arc<RemoteJwks>, Instant)>>,
}

impl std::fmt::Debug for EndUserVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndUserVerifier")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl EndUserVerifier {
    /// A verifier fetching JWKS as `settings` say. Errors: `Unavailable` when the TLS client
    /// cannot be set up.
    pub fn new(settings: VerifierSettings) -> tenancy::Result<Self> {
        Ok(EndUserVerifier {
            settings,
            http: guarded_http_client(settings.fetch)?,
            remote: Mutex::new(LruCache::new(settings.jwks_cache_entries)),
        })
    }

    pub fn settings(&self) -> &VerifierSettings {
        &self.settings
    }

    /// The end user `token` proves, under the tenant's `identity`, at `now`. Errors: why the
    /// token is refused (see the module documentation for the rules).
    pub async fn verify(
        &self,
        identity: &EndUserIdentity,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<EndUser, EndUserRefusal> {
        let header = Header::parse(token)?;
        let key = self.key(identity, &header).await?;
        let mut validation = Validation::new(header.alg.jwt_algorithm());
        // The claims are checked below, against the caller's `now`.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
            .map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => EndUserRefusal::new(
                    RefusalReason::Signature,
                    "its signature does not verify with the key its kid names",
                ),
                jsonwebtoken::errors::ErrorKind::InvalidAlgorithm
                | jsonwebtoken::errors::ErrorKind::InvalidAlgorithmName => EndUserRefusal::new(
                    RefusalReason::Algorithm,
                    format!("its algorithm does not fit its key ({e})"),
                ),
                _ => EndUserRefusal::new(
                    RefusalReason::Malformed,
                    format!("it is not a well-formed JWT ({e})"),
                ),
            })?
            .claims;
        check_claims(identity, claims, now)
    }

    /// The key `header.kid` names, if its algorithm is `header.alg`.
    async fn key(
        &self,
        identity: &EndUserIdentity,
        header: &Header,
    ) -> Result<DecodingKey, EndUserRefusal> {
        let (key, key_alg) = match identity.keys() {
            IdentityKeys::Keys(_) => {
                let key = identity.key(&header.kid).ok_or_else(|| {
                    EndUserRefusal::new(
                        RefusalReason::UnknownKey,
                        format!(
                            "its kid {:?} names no key the tenant registered",
                            header.kid
                        ),
                    )
                })?;
                (key.decoding_key(), key.alg())
            }
            IdentityKeys::JwksUrl(url) => {
                let remote = self.remote(url)?;
                let key = remote.key(&header.kid).await.map_err(|e| {
                    if e.kind() == tenancy::ErrorKind::AccessDenied {
                        EndUserRefusal::new(
                            RefusalReason::UnknownKey,
                            format!("its kid {:?} names no key of the tenant's JWKS", header.kid),
                        )
                    } else {
                        EndUserRefusal::new(
                            RefusalReason::KeysUnavailable,
                            format!("the tenant's keys could not be fetched: {}", e.message()),
                        )
                    }
                })?;
                // `jwks_keys` keeps RSA (RS256) and P-256 (ES256) keys only.
                let alg = match key.family() {
                    AlgorithmFamily::Rsa => KeyAlg::RS256,
                    _ => KeyAlg::ES256,
                };
                (key, alg)
            }
        };
        if key_alg != header.alg {
            return Err(EndUserRefusal::new(
                RefusalReason::Algorithm,
                format!(
                    "it is signed {} but its kid {:?} names an {key_alg} key",
                    header.alg, header.kid
                ),
            ));
        }
        Ok(key)
    }

    /// The cached keys of `url`, made anew when missing or older than the maximum age. The URL
    /// is checked under this verifier's policy first: a stored URL was checked under the
    /// registering deployment's, which a test deployment relaxes.
    fn remote(&self, url: &JwksUrl) -> Result<Arc<RemoteJwks>, EndUserRefusal> {
        self.settings.fetch.check_url(url.as_str()).map_err(|e| {
            EndUserRefusal::new(
                RefusalReason::KeysUnavailable,
                format!("the tenant's JWKS URL may not be fetched: {e}"),
            )
        })?;
        let mut cache = lock(&self.remote);
        if let Some((remote, made)) = cache.get(url)
            && made.elapsed() < self.settings.jwks_max_age
        {
            return Ok(remote.clone());
        }
        let remote = Arc::new(RemoteJwks::with_selection(
            url.as_str(),
            self.http.clone(),
            self.settings.jwks_min_refetch,
            jwks_keys,
        ));
        cache.put(url.clone(), (remote.clone(), Instant::now()));
        Ok(remote)
    }
}

/// A lock that a panic elsewhere cannot make unusable: the cache holds no invariant a
/// half-done update could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What the verifier reads from a token's header before choosing a key.
struct Header {
    alg: KeyAlg,
    kid: String,
}

impl Header {
    /// The header of `token`, read by hand so that `alg: none`, HS256 and other algorithms
    /// are refused by name before anything else happens.
    fn parse(token: &str) -> Result<Header, EndUserRefusal> {
        let malformed = |why: &str| EndUserRefusal::new(RefusalReason::Malformed, why);
        if token.len() > MAX_TOKEN_BYTES {
            return Err(malformed("it is larger than 16 KiB"));
        }
        let mut parts = token.split('.');
        let (Some(header), Some(_), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("it is not a JWT (three dot-separated parts)"));
        };
        let header: Map<String, Value> = URL_SAFE_NO_PAD
            .decode(header)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or_else(|| malformed("its header is not base64url-encoded JSON"))?;
        let alg = match header.get("alg") {
            Some(Value::String(alg)) => KeyAlg::parse(alg).ok_or_else(|| {
                EndUserRefusal::new(
                    RefusalReason::Algorithm,
                    format!("it is signed with {alg:?}; only RS256 and ES256 are accepted"),
                )
            })?,
            _ => {
                return Err(EndUserRefusal::new(
                    RefusalReason::Algorithm,
                    "its header names no algorithm (alg)",
                ));
            }
        };
        let kid = match header.get("kid") {
            Some(Value::String(kid)) => kid.clone(),
            _ => {
                return Err(EndUserRefusal::new(
                    RefusalReason::UnknownKey,
                    "its header names no signing key (kid)",
                ));
            }
        };
        Ok(Header { alg, kid })
    }
}

/// The verified claims of a token whose signature holds.
fn check_claims(
    identity: &EndUserIdentity,
    claims: Map<String, Value>,
    now: OffsetDateTime,
) -> Result<EndUser, EndUserRefusal> {
    let now = now.unix_timestamp();
    let leeway = i64::try_from(LEEWAY_SECS).unwrap_or(i64::MAX);
    let exp = numeric_date(&claims, "exp")?.ok_or_else(|| {
        EndUserRefusal::new(
            RefusalReason::MissingClaim,
            "it has no exp claim: end-user tokens must expire",
        )
    })?;
    if exp.saturating_add(leeway) < now {
        return Err(EndUserRefusal::new(
            RefusalReason::Expired,
            "it has expired (exp)",
        ));
    }
    if let Some(nbf) = numeric_date(&claims, "nbf")?
        && now.saturating_add(leeway) < nbf
    {
        return Err(EndUserRefusal::new(
            RefusalReason::NotYetValid,
            "it is not valid yet (nbf)",
        ));
    }
    if let Some(issuer) = identity.issuer()
        && claims.get("iss").and_then(Value::as_str) != Some(issuer)
    {
        return Err(EndUserRefusal::new(
            RefusalReason::Issuer,
            format!("its iss is not {issuer:?}"),
        ));
    }
    if let Some(audience) = identity.audience() {
        let named = match claims.get("aud") {
            Some(Value::String(aud)) => aud == audience,
            Some(Value::Array(auds)) => auds.iter().any(|a| a.as_str() == Some(audience)),
            _ => false,
        };
        if !named {
            return Err(EndUserRefusal::new(
                RefusalReason::Audience,
                format!("its aud does not name {audience:?}"),
            ));
        }
    }
    let id = match claims.get("sub") {
        None => {
            return Err(EndUserRefusal::new(
                RefusalReason::MissingClaim,
                "it has no sub claim naming the user",
            ));
        }
        Some(Value::String(sub)) => sub.clone(),
        Some(_) => {
            return Err(EndUserRefusal::new(
                RefusalReason::Subject,
                "its sub is not a string",
            ));
        }
    };
    if id.is_empty() || id.chars().count() > MAX_SUBJECT_CHARS || id.chars().any(char::is_control) {
        return Err(EndUserRefusal::new(
            RefusalReason::Subject,
            format!(
                "its sub must be 1 to {MAX_SUBJECT_CHARS} characters without control characters"
            ),
        ));
    }
    let expires_at = OffsetDateTime::from_unix_timestamp(exp)
        .map_err(|_| EndUserRefusal::new(RefusalReason::InvalidClaim, "its exp is out of range"))?;
    Ok(EndUser {
        id,
        claims,
        expires_at,
    })
}

/// A NumericDate claim (seconds since the epoch, fractions allowed) in whole seconds, if
/// present. Errors: present but not a finite number.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, EndUserRefusal> {
    let Some(value) = claims.get(name) else {
        return Ok(None);
    };
    let seconds = value
        .as_i64()
        .or_else(|| {
            value
                .as_f64()
                .filter(|f| f.is_finite() && f.abs() < 1e15)
                .map(|f| f.floor() as i64)
        })
        .ok_or_else(|| {
            EndUserRefusal::new(
                RefusalReason::InvalidClaim,
                format!("its {name} is not a number of seconds"),
            )
        })?;
    Ok(Some(seconds))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use jsonwebtoken::{Algorithm, EncodingKey};
    use serde_json::json;
    use tenancy::end_user::IdentitySpec;
    use tenancy::jwt::RsaSigner;

    use super::*;

    /// The `now` every test verifies at: a fixed instant, so nothing depends on the clock.
    fn now() -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(1_900_000_000).unwrap()
    }

    fn claims(sub: &str) -> Value {
        let t = now().unix_timestamp();
        json!({
            "sub": sub,
            "iss": "https://auth.acme.example",
            "aud": "spotlight",
            "iat": t,
            "exp": t + 600,
            "plan": "pro",
        })
    }

    /// An ES256 key: its signing key and public JWK.
    struct EcKey {
        encoding: EncodingKey,
        jwk: Value,
    }

    fn ec_key(kid: &str) -> EcKey {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref();
        EcKey {
            encoding: EncodingKey::from_ec_der(pkcs8.as_ref()),
            jwk: json!({
                "kty": "EC", "crv": "P-256", "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
                "y": URL_SAFE_NO_PAD.encode(&point[33..]),
            }),
        }
    }

    fn rsa_jwk(signer: &RsaSigner) -> Value {
        serde_json::to_value(&signer.jwks().keys[0]).unwrap()
    }

    fn es256(key: &EcKey, kid: &str, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, &key.encoding).unwrap()
    }

    struct Fixture {
        rsa: RsaSigner,
        ec: EcKey,
        identity: EndUserIdentity,
        verifier: EndUserVerifier,
    }

    fn fixture() -> Fixture {
        let rsa = RsaSigner::generate("rsa-1").unwrap();
        let ec = ec_key("ec-1");
        let identity = EndUserIdentity::new(
            IdentitySpec {
                keys: Some(vec![rsa_jwk(&rsa), ec.jwk.clone()]),
                jwks_url: None,
                issuer: Some("https://auth.acme.example".to_owned()),
                audience: Some("spotlight".to_owned()),
            },
            &FetchPolicy::PUBLIC_ONLY,
        )
        .unwrap();
        Fixture {
            rsa,
            ec,
            identity,
            verifier: EndUserVerifier::new(VerifierSettings::default()).unwrap(),
        }
    }

    impl Fixture {
        async fn verify(&self, token: &str) -> Result<EndUser, EndUserRefusal> {
            self.verifier.verify(&self.identity, token, now()).await
        }

        async fn refusal(&self, token: &str) -> RefusalReason {
            match self.verify(token).await {
                Ok(user) => panic!("accepted {user:?}"),
                Err(refusal) => {
                    assert!(
                        refusal.message().starts_with("end-user token refused: "),
                        "{refusal}"
                    );
                    refusal.reason()
                }
            }
        }
    }

    #[tokio::test]
    async fn a_valid_rs256_token_gives_the_user_and_every_claim() {
        let fx = fixture();
        let user = fx
            .verify(&fx.rsa.sign(&claims("user-42")).unwrap())
            .await
            .unwrap();
        assert_eq!(user.id, "user-42");
        assert_eq!(user.claims["plan"], "pro");
        assert_eq!(user.expires_at, now() + time::Duration::seconds(600));
    }

    #[tokio::test]
    async fn a_valid_es256_token_gives_the_user() {
        let fx = fixture();
        let user = fx
            .verify(&es256(&fx.ec, "ec-1", &claims("user-7")))
            .await
            .unwrap();
        assert_eq!(user.id, "user-7");
        // An audience array that names the configured one is accepted too.
        let mut many = claims("user-8");
        many["aud"] = json!(["other", "spotlight"]);
        assert!(fx.verify(&es256(&fx.ec, "ec-1", &many)).await.is_ok());
    }

    fn segment(value: &Value) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(value).unwrap())
    }

    #[tokio::test]
    async fn alg_none_and_other_algorithms_are_refused() {
        let fx = fixture();
        let none = format!(
            "{}.{}.",
            segment(&json!({"alg": "none", "kid": "rsa-1"})),
            segment(&claims("user-1"))
        );
        assert_eq!(fx.refusal(&none).await, RefusalReason::Algorithm);
        let mut rs512 = jsonwebtoken::Header::new(Algorithm::RS512);
        rs512.kid = Some("rsa-1".to_owned());
        let token = fx.rsa.sign_with_header(&rs512, &claims("user-1")).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Algorithm);
        let headerless = format!(
            "{}.{}.sig",
            segment(&json!({"kid": "rsa-1"})),
            segment(&claims("u"))
        );
        assert_eq!(fx.refusal(&headerless).await, RefusalReason::Algorithm);
    }

    #[tokio::test]
    async fn hs256_signed_with_the_rsa_public_key_is_refused() {
        let fx = fixture();
        // The classic confusion: the public key, which anyone may have, as an HMAC secret.
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(fx.rsa.pkcs8()).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(spki.as_ref())
        );
        for secret in [pem.as_bytes(), spki.as_ref()] {
            let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
            header.kid = Some("rsa-1".to_owned());
            let token =
                jsonwebtoken::encode(&header, &claims("admin"), &EncodingKey::from_secret(secret))
                    .unwrap();
            assert_eq!(fx.refusal(&token).await, RefusalReason::Algorithm);
        }
    }

    #[tokio::test]
    async fn an_algorithm_other_than_its_keys_is_refused() {
        let fx = fixture();
        // ES256 under the RSA key's kid, and RS256 under the EC key's.
        let token = es256(&fx.ec, "rsa-1", &claims("user-1"));
        assert_eq!(fx.refusal(&token).await, RefusalReason::Algorithm);
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("ec-1".to_owned());
        let token = fx.rsa.sign_with_header(&header, &claims("user-1")).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Algorithm);
    }

    #[tokio::test]
    async fn a_tampered_payload_or_another_key_fails_the_signature() {
        let fx = fixture();
        let token = fx.rsa.sign(&claims("user-1")).unwrap();
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{}.{}", parts[0], segment(&claims("admin")), parts[2]);
        assert_eq!(fx.refusal(&forged).await, RefusalReason::Signature);
        let impostor = RsaSigner::generate("rsa-1").unwrap();
        let token = impostor.sign(&claims("user-1")).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Signature);
        assert_eq!(fx.refusal("not.a.jwt").await, RefusalReason::Malformed);
        assert_eq!(fx.refusal("two.parts").await, RefusalReason::Malformed);
    }

    #[tokio::test]
    async fn exp_is_required_and_exp_and_nbf_are_honoured_with_leeway() {
        let fx = fixture();
        let t = now().unix_timestamp();
        let leeway = LEEWAY_SECS as i64;
        let with = |name: &str, value: Value| {
            let mut c = claims("user-1");
            c[name] = value;
            fx.rsa.sign(&c).unwrap()
        };
        assert_eq!(
            fx.refusal(&with("exp", json!(t - leeway - 1))).await,
            RefusalReason::Expired
        );
        assert!(fx.verify(&with("exp", json!(t - leeway + 1))).await.is_ok());
        assert_eq!(
            fx.refusal(&with("nbf", json!(t + leeway + 1))).await,
            RefusalReason::NotYetValid
        );
        assert!(fx.verify(&with("nbf", json!(t + leeway - 1))).await.is_ok());
        assert_eq!(
            fx.refusal(&with("exp", json!("tomorrow"))).await,
            RefusalReason::InvalidClaim
        );
        let mut no_exp = claims("user-1");
        no_exp.as_object_mut().unwrap().remove("exp");
        let token = fx.rsa.sign(&no_exp).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::MissingClaim);
    }

    #[tokio::test]
    async fn a_configured_issuer_and_audience_must_match() {
        let fx = fixture();
        let mut wrong_iss = claims("user-1");
        wrong_iss["iss"] = json!("https://evil.example");
        let token = fx.rsa.sign(&wrong_iss).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Issuer);
        let mut wrong_aud = claims("user-1");
        wrong_aud["aud"] = json!(["other"]);
        let token = fx.rsa.sign(&wrong_aud).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Audience);
        let mut no_aud = claims("user-1");
        no_aud.as_object_mut().unwrap().remove("aud");
        let token = fx.rsa.sign(&no_aud).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Audience);

        // Without a configured issuer or audience, neither is looked at.
        let open = EndUserIdentity::new(
            IdentitySpec {
                keys: Some(vec![rsa_jwk(&fx.rsa)]),
                ..IdentitySpec::default()
            },
            &FetchPolicy::PUBLIC_ONLY,
        )
        .unwrap();
        let token = fx.rsa.sign(&wrong_iss).unwrap();
        assert!(fx.verifier.verify(&open, &token, now()).await.is_ok());
    }

    #[tokio::test]
    async fn an_unknown_or_missing_kid_is_refused() {
        let fx = fixture();
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("rotated-out".to_owned());
        let token = fx.rsa.sign_with_header(&header, &claims("user-1")).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::UnknownKey);
        header.kid = None;
        let token = fx.rsa.sign_with_header(&header, &claims("user-1")).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::UnknownKey);
    }

    #[tokio::test]
    async fn sub_is_required_and_must_be_a_printable_id() {
        let fx = fixture();
        let mut no_sub = claims("x");
        no_sub.as_object_mut().unwrap().remove("sub");
        let token = fx.rsa.sign(&no_sub).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::MissingClaim);
        let too_long = "u".repeat(MAX_SUBJECT_CHARS + 1);
        for bad in ["", "line\nbreak", too_long.as_str()] {
            let token = fx.rsa.sign(&claims(bad)).unwrap();
            assert_eq!(fx.refusal(&token).await, RefusalReason::Subject, "{bad:?}");
        }
        let mut number = claims("x");
        number["sub"] = json!(42);
        let token = fx.rsa.sign(&number).unwrap();
        assert_eq!(fx.refusal(&token).await, RefusalReason::Subject);
        let longest = "ü".repeat(MAX_SUBJECT_CHARS);
        assert!(
            fx.verify(&fx.rsa.sign(&claims(&longest)).unwrap())
                .await
                .is_ok()
        );
    }

    /// Serves `body` at `/jwks.json` on 127.0.0.1; returns the URL and the request count.
    async fn serve_jwks(body: Value) -> (String, Arc<AtomicUsize>) {
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().route(
            "/jwks.json",
            axum::routing::get(move || {
                let counted = counted.clone();
                let body = body.clone();
                async move {
                    counted.fetch_add(1, Ordering::SeqCst);
                    axum::Json(body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (url, hits)
    }

    fn url_identity(url: &str) -> EndUserIdentity {
        EndUserIdentity::new(
            IdentitySpec {
                jwks_url: Some(url.to_owned()),
                ..IdentitySpec::default()
            },
            &FetchPolicy::LOOPBACK_FOR_TESTS,
        )
        .unwrap()
    }

    #[tokio::test]
    async fn a_loopback_jwks_serves_keys_only_with_the_test_setting() {
        let rsa = RsaSigner::generate("rsa-remote").unwrap();
        let ec = ec_key("ec-remote");
        let jwks = json!({"keys": [
            rsa_jwk(&rsa),
            ec.jwk.clone(),
            {"kty": "oct", "kid": "hmac", "k": "c2VjcmV0"},
        ]});
        let (url, hits) = serve_jwks(jwks).await;
        let identity = url_identity(&url);

        let relaxed = EndUserVerifier::new(VerifierSettings {
            fetch: FetchPolicy::LOOPBACK_FOR_TESTS,
            ..VerifierSettings::default()
        })
        .unwrap();
        let token = rsa.sign(&claims("remote-user")).unwrap();
        let user = relaxed.verify(&identity, &token, now()).await.unwrap();
        assert_eq!(user.id, "remote-user");
        let token = es256(&ec, "ec-remote", &claims("remote-ec"));
        assert_eq!(
            relaxed.verify(&identity, &token, now()).await.unwrap().id,
            "remote-ec"
        );
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the set is fetched once and cached"
        );
        // A kid the set holds only as a symmetric key is no key at all.
        let mut header = jsonwebtoken::Header::new(Algorithm::RS256);
        header.kid = Some("hmac".to_owned());
        let token = rsa.sign_with_header(&header, &claims("u")).unwrap();
        let refused = relaxed.verify(&identity, &token, now()).await.unwrap_err();
        assert_eq!(refused.reason(), RefusalReason::UnknownKey, "{refused}");

        let strict = EndUserVerifier::new(VerifierSettings::default()).unwrap();
        let before = hits.load(Ordering::SeqCst);
        let token = rsa.sign(&claims("remote-user")).unwrap();
        let refused = strict.verify(&identity, &token, now()).await.unwrap_err();
        assert_eq!(
            refused.reason(),
            RefusalReason::KeysUnavailable,
            "{refused}"
        );
        assert!(refused.is_unavailable());
        assert_eq!(hits.load(Ordering::SeqCst), before, "nothing was fetched");
    }

    #[tokio::test]
    async fn a_jwks_name_resolving_to_loopback_is_refused_without_the_test_setting() {
        let rsa = RsaSigner::generate("rsa-remote").unwrap();
        let (url, hits) = serve_jwks(json!({"keys": [rsa_jwk(&rsa)]})).await;
        let identity = url_identity(&url.replace("127.0.0.1", "localhost"));
        let token = rsa.sign(&claims("u")).unwrap();
        let strict = EndUserVerifier::new(VerifierSettings::default()).unwrap();
        let refused = strict.verify(&identity, &token, now()).await.unwrap_err();
        assert_eq!(
            refused.reason(),
            RefusalReason::KeysUnavailable,
            "{refused}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_unreachable_jwks_is_keys_unavailable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        drop(listener);
        let relaxed = EndUserVerifier::new(VerifierSettings {
            fetch: FetchPolicy::LOOPBACK_FOR_TESTS,
            ..VerifierSettings::default()
        })
        .unwrap();
        let rsa = RsaSigner::generate("k").unwrap();
        let token = rsa.sign(&claims("u")).unwrap();
        let refused = relaxed
            .verify(&url_identity(&url), &token, now())
            .await
            .unwrap_err();
        assert_eq!(
            refused.reason(),
            RefusalReason::KeysUnavailable,
            "{refused}"
        );
    }

    #[test]
    fn the_verifier_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync + 'static>() {}
        shared::<EndUserVerifier>();
        shared::<EndUserRefusal>();
    }
}
