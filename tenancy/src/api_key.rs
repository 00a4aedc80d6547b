//! API keys: format (kind prefix, random body, checksum), keyed hashing, and resolution.
//!
//! A key reads `spk_{pub|sec}_` + 32 random base62 characters + a 6-character base62 checksum
//! (CRC-32 of everything before it, most significant digit first), 46 characters in all:
//!
//! ```text
//! spk_pub_ 7Hq2…(32)… 0bX9aZ
//! └prefix┘ └─ body ──┘└check┘
//! ```
//!
//! - The checksum lets both planes refuse a mistyped or truncated key without a registry
//!   lookup ([`ApiKey::parse`]). It is not a secret and not a MAC: it detects accidents only.
//! - The registry stores only a keyed hash ([`KeyHasher`]): HMAC-SHA-256 under a server pepper,
//!   so a copy of the registry alone does not let anyone recognise, let alone use, a key.
//! - [`resolve`] is the one path from a presented key to its record; the data plane calls it on
//!   every request and the control plane's introspection endpoint calls it for operators.

use std::fmt;

use hmac::{Hmac, Mac};
use rand::RngExt;
use sha2::Sha256;
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use crate::error::{Error, ErrorKind, InvalidInput};
use crate::id::TenantId;
use crate::ports::Registry;
use crate::record::{ApiKeyKind, ApiKeyRecord};

/// Every key starts with this, then the kind's tag and `_`.
const SCHEME: &str = "spk_";
const BODY_LEN: usize = 32;
const CHECKSUM_LEN: usize = 6;
/// `spk_` + `pub`/`sec` + `_`.
const PREFIX_LEN: usize = 8;
/// How many leading characters [`ApiKey::display_prefix`] shows: the kind prefix and four body
/// characters — enough to tell keys apart in a list, far too few to guess the rest.
const DISPLAY_PREFIX_LEN: usize = 12;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

impl ApiKeyKind {
    /// The full prefix every key of this kind starts with.
    pub fn key_prefix(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "spk_pub_",
            ApiKeyKind::Secret => "spk_sec_",
        }
    }
}

/// A well-formed API key: right prefix, length, alphabet and checksum. Well-formed says nothing
/// about whether the key was ever issued — that takes [`resolve`].
///
/// The value is a credential: neither `Debug` nor any other formatting prints it (only its kind
/// and [`display_prefix`](ApiKey::display_prefix)); [`expose`](ApiKey::expose) hands it out for
/// the one response that shows it to its owner. Equality is constant-time.
pub struct ApiKey {
    kind: ApiKeyKind,
    value: String,
}

impl ApiKey {
    /// The total length of every key.
    pub const LEN: usize = PREFIX_LEN + BODY_LEN + CHECKSUM_LEN;

    /// A new random key of `kind`. The body comes from the thread-local CSPRNG (seeded from the
    /// operating system), 32 base62 characters: about 190 bits.
    pub fn generate(kind: ApiKeyKind) -> ApiKey {
        let mut rng = rand::rng();
        let body: String = (0..BODY_LEN)
            .map(|_| char::from(BASE62[rng.random_range(0..BASE62.len())]))
            .collect();
        ApiKey::assemble(kind, &body)
    }

    /// Prefix + body + the checksum over both.
    fn assemble(kind: ApiKeyKind, body: &str) -> ApiKey {
        let mut key = String::with_capacity(Self::LEN);
        key.push_str(kind.key_prefix());
        key.push_str(body);
        let checksum = encode_checksum(crc32fast::hash(key.as_bytes()));
        key.push_str(&checksum);
        ApiKey { kind, value: key }
    }

    /// Checks a presented key's shape and checksum, without any lookup.
    ///
    /// Errors (field `key`) say which rule failed but never echo the input, which may be a
    /// real key with a typo.
    pub fn parse(raw: &str) -> Result<ApiKey, InvalidInput> {
        let err = |reason: &str| Err(InvalidInput::new("key", reason));
        if !raw.starts_with(SCHEME) {
            return err("is not a Spotlight API key (keys start with spk_pub_ or spk_sec_)");
        }
        let Some(kind) = kind_of(raw) else {
            return err("has an unknown kind (keys start with spk_pub_ or spk_sec_)");
        };
        if raw.len() != Self::LEN {
            return err("has the wrong length (keys are 46 characters long)");
        }
        if !raw.as_bytes()[PREFIX_LEN..]
            .iter()
            .all(u8::is_ascii_alphanumeric)
        {
            return err("contains characters outside 0-9, A-Z, a-z after the prefix");
        }
        // All ASCII from here on, so byte offsets are character boundaries.
        let (signed, checksum) = raw.split_at(PREFIX_LEN + BODY_LEN);
        if decode_checksum(checksum) != Some(crc32fast::hash(signed.as_bytes())) {
            return err("fails its checksum (it was probably mistyped or truncated)");
        }
        Ok(ApiKey {
            kind,
            value: raw.to_owned(),
        })
    }

    pub fn kind(&self) -> ApiKeyKind {
        self.kind
    }

    /// The first 12 characters (`spk_pub_` + 4), stored and listed so that a person can
    /// recognise a key without it being usable.
    pub fn display_prefix(&self) -> &str {
        &self.value[..DISPLAY_PREFIX_LEN]
    }

    /// The full key. Show it to its owner once, at creation, and otherwise only hash it.
    pub fn expose(&self) -> &str {
        &self.value
    }
}

fn kind_of(raw: &str) -> Option<ApiKeyKind> {
    [ApiKeyKind::Publishable, ApiKeyKind::Secret]
        .into_iter()
        .find(|k| raw.starts_with(k.key_prefix()))
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("kind", &self.kind())
            .field("prefix", &self.display_prefix())
            .finish_non_exhaustive()
    }
}

impl PartialEq for ApiKey {
    fn eq(&self, other: &Self) -> bool {
        self.value.as_bytes().ct_eq(other.value.as_bytes()).into()
    }
}

impl Eq for ApiKey {}

/// A CRC-32 as exactly six base62 digits, most significant first (62⁶ > 2³²).
fn encode_checksum(mut value: u32) -> String {
    let mut digits = [b'0'; CHECKSUM_LEN];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(value % 62) as usize];
        value /= 62;
    }
    digits.iter().map(|&b| char::from(b)).collect()
}

/// The inverse of [`encode_checksum`]; `None` for a non-base62 digit or a value above `u32::MAX`.
fn decode_checksum(digits: &str) -> Option<u32> {
    digits.bytes().try_fold(0u32, |acc, b| {
        let digit = BASE62.iter().position(|&c| c == b)? as u32;
        acc.checked_mul(62)?.checked_add(digit)
    })
}

/// A key's public identifier (`key_` + 32 lowercase hex digits, a UUIDv7 so ids sort by
/// creation), used in URLs to list and revoke it. Knowing it grants nothing.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ApiKeyId(String);

impl ApiKeyId {
    pub fn new() -> ApiKeyId {
        ApiKeyId(format!("key_{}", uuid::Uuid::now_v7().simple()))
    }

    /// Errors (field `key_id`) when `raw` is not `key_` + 32 lowercase hex digits.
    pub fn parse(raw: &str) -> Result<ApiKeyId, InvalidInput> {
        let ok = raw.strip_prefix("key_").is_some_and(|hex| {
            hex.len() == 32
                && hex
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        if ok {
            Ok(ApiKeyId(raw.to_owned()))
        } else {
            Err(InvalidInput::new(
                "key_id",
                "must be key_ followed by 32 lowercase hex digits",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for ApiKeyId {
    fn default() -> Self {
        ApiKeyId::new()
    }
}

impl fmt::Display for ApiKeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// HMAC-SHA-256 under the server pepper: what the registry stores instead of a key.
///
/// Both planes must be configured with the same pepper, or keys issued by one will be unknown
/// to the other. Changing the pepper makes every issued key unknown.
pub struct KeyHasher {
    /// The MAC keyed with the pepper, cloned per hash (keying is done once).
    mac: Hmac<Sha256>,
    pepper_len: usize,
}

impl KeyHasher {
    pub fn new(pepper: impl Into<Vec<u8>>) -> Self {
        let pepper = pepper.into();
        // HMAC accepts keys of any length (long ones are hashed first), so this cannot fail.
        let mac = Hmac::<Sha256>::new_from_slice(&pepper).expect("HMAC takes keys of any length");
        KeyHasher {
            mac,
            pepper_len: pepper.len(),
        }
    }

    pub fn pepper_len(&self) -> usize {
        self.pepper_len
    }

    /// The lowercase hex HMAC-SHA-256 of the full key: the registry's lookup value. Deterministic
    /// for a given pepper.
    pub fn hash(&self, key: &ApiKey) -> String {
        let mut mac = self.mac.clone();
        mac.update(key.expose().as_bytes());
        let digest = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(digest.len() * 2);
        for byte in digest {
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
            hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 0x0f)]));
        }
        hex
    }
}

impl fmt::Debug for KeyHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyHasher([redacted])")
    }
}

/// A newly issued key: the key itself (to show once) and the record to store.
#[derive(Debug)]
pub struct IssuedKey {
    pub key: ApiKey,
    pub record: ApiKeyRecord,
}

/// Generates a key of `kind` for `tenant` and the record describing it (not yet stored; the
/// caller puts it with [`Registry::put_api_key`]). `expires_at` is taken as given; callers
/// that accept it from outside check it lies in the future.
pub fn issue(
    hasher: &KeyHasher,
    tenant: &TenantId,
    kind: ApiKeyKind,
    now: OffsetDateTime,
    expires_at: Option<OffsetDateTime>,
) -> IssuedKey {
    let key = ApiKey::generate(kind);
    let record = ApiKeyRecord {
        key_id: ApiKeyId::new().0,
        tenant: tenant.clone(),
        kind,
        prefix: key.display_prefix().to_owned(),
        hash: hasher.hash(&key),
        created_at: now,
        expires_at,
        revoked_at: None,
        last_used_at: None,
        created_by_request: None,
    };
    IssuedKey { key, record }
}

/// Why a presented key does not authenticate.
#[derive(Debug, thiserror::Error)]
pub enum KeyRejection {
    /// Wrong prefix, length, alphabet or checksum. Decided without a registry lookup.
    #[error("malformed API key: {0}")]
    Malformed(InvalidInput),
    /// Well-formed, but no key with this hash was ever issued (or it was issued under another
    /// pepper).
    #[error("unknown API key")]
    Unknown,
    /// Issued and since revoked (explicitly, or by offboarding its tenant).
    #[error("API key {} of tenant {} was revoked", .0.key_id, .0.tenant)]
    Revoked(Box<ApiKeyRecord>),
    /// Issued with an expiry that has passed.
    #[error("API key {} of tenant {} has expired", .0.key_id, .0.tenant)]
    Expired(Box<ApiKeyRecord>),
    /// The registry could not answer; the key may well be valid. Retryable per the error's kind.
    #[error("could not check API key: {0}")]
    Backend(Error),
}

impl KeyRejection {
    /// A stable, machine-readable reason: `malformed`, `unknown`, `revoked`, `expired` or
    /// `backend`.
    pub fn reason(&self) -> &'static str {
        match self {
            KeyRejection::Malformed(_) => "malformed",
            KeyRejection::Unknown => "unknown",
            KeyRejection::Revoked(_) => "revoked",
            KeyRejection::Expired(_) => "expired",
            KeyRejection::Backend(_) => "backend",
        }
    }

    /// The record of the key, when it was found but is not usable.
    pub fn record(&self) -> Option<&ApiKeyRecord> {
        match self {
            KeyRejection::Revoked(r) | KeyRejection::Expired(r) => Some(r),
            _ => None,
        }
    }
}

/// Resolves a presented key to its record if it may authenticate at `now`.
///
/// Checks the shape and checksum first (a malformed key costs no lookup), then looks the keyed
/// hash up, then refuses revoked and expired keys. Does not record use: callers that
/// authenticate traffic call [`Registry::touch_api_key`] themselves (best effort), and
/// inspection (operator introspection) must not count as use.
pub async fn resolve(
    registry: &dyn Registry,
    hasher: &KeyHasher,
    raw: &str,
    now: OffsetDateTime,
) -> Result<ApiKeyRecord, KeyRejection> {
    let key = ApiKey::parse(raw).map_err(KeyRejection::Malformed)?;
    let hash = hasher.hash(&key);
    let record = match registry.api_key_by_hash(&hash).await {
        Ok(record) => record,
        Err(e) if e.kind() == ErrorKind::NotFound => return Err(KeyRejection::Unknown),
        Err(e) => return Err(KeyRejection::Backend(e)),
    };
    // The lookup already matched on the hash; checking again, in constant time, keeps a lax
    // adapter (a prefix or case-insensitive match) from turning into an authentication bypass.
    let same_hash: bool = record.hash.as_bytes().ct_eq(hash.as_bytes()).into();
    if !same_hash || record.kind != key.kind() {
        return Err(KeyRejection::Unknown);
    }
    if record.revoked_at.is_some() {
        return Err(KeyRejection::Revoked(Box::new(record)));
    }
    if !record.is_usable(now) {
        return Err(KeyRejection::Expired(Box::new(record)));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;
    use crate::error::Result;
    use crate::ports::registry::{TenantFilter, TenantPage};
    use crate::record::{IdempotencyClaim, JournalEntry, StoredResponse, TenantRecord};

    const NOW: OffsetDateTime = datetime!(2026-01-01 12:00 UTC);

    fn kind_strategy() -> impl Strategy<Value = ApiKeyKind> {
        prop_oneof![Just(ApiKeyKind::Publishable), Just(ApiKeyKind::Secret)]
    }

    #[test]
    fn generated_keys_have_the_documented_shape_and_parse() {
        for kind in [ApiKeyKind::Publishable, ApiKeyKind::Secret] {
            for _ in 0..200 {
                let key = ApiKey::generate(kind);
                let raw = key.expose();
                assert_eq!(raw.len(), 46);
                assert!(
                    raw.starts_with(kind.key_prefix()),
                    "{kind:?} key must start with {}",
                    kind.key_prefix()
                );
                assert!(raw[8..].bytes().all(|b| b.is_ascii_alphanumeric()));
                let parsed = ApiKey::parse(raw).expect("a generated key parses");
                assert_eq!(parsed.kind(), kind);
                assert_eq!(parsed, key);
            }
        }
    }

    #[test]
    fn generated_keys_differ() {
        let a = ApiKey::generate(ApiKeyKind::Secret);
        let b = ApiKey::generate(ApiKeyKind::Secret);
        assert_ne!(a, b);
        assert_ne!(&a.expose()[8..40], &b.expose()[8..40]);
    }

    #[test]
    fn checksum_digits_round_trip_at_the_extremes() {
        for v in [0, 1, 61, 62, 0xdead_beef, u32::MAX] {
            let encoded = encode_checksum(v);
            assert_eq!(encoded.len(), 6);
            assert_eq!(decode_checksum(&encoded), Some(v));
        }
        // 62^6 - 1 is larger than u32::MAX and must not wrap around to a valid checksum.
        assert_eq!(decode_checksum("zzzzzz"), None);
    }

    #[test]
    fn debug_never_prints_the_key() {
        let key = ApiKey::generate(ApiKeyKind::Secret);
        let printed = format!("{key:?} {key:#?}");
        assert!(!printed.contains(key.expose()), "{printed}");
        assert!(!printed.contains(&key.expose()[12..]), "{printed}");
        assert!(printed.contains(key.display_prefix()), "{printed}");
    }

    #[test]
    fn rejections_do_not_echo_the_key() {
        let key = ApiKey::generate(ApiKeyKind::Secret);
        let mut typo = key.expose().to_owned();
        typo.replace_range(20..21, if &typo[20..21] == "a" { "b" } else { "a" });
        let err = ApiKey::parse(&typo).unwrap_err();
        assert_eq!(err.field, "key");
        assert!(!err.to_string().contains(&typo[8..]), "{err}");
        assert!(err.reason.contains("checksum"), "{err}");
    }

    #[test]
    fn wrong_prefix_length_and_alphabet_are_refused_with_their_reason() {
        let good = ApiKey::generate(ApiKeyKind::Publishable)
            .expose()
            .to_owned();
        let cases = [
            ("", "not a Spotlight API key"),
            ("sk_live_abc", "not a Spotlight API key"),
            (&good.replacen("spk_pub_", "spk_foo_", 1), "unknown kind"),
            (&good[..45], "wrong length"),
            (&format!("{good}0"), "wrong length"),
            (
                &good.replacen("spk_pub_", "spk_pub_é", 1)[..46],
                "outside 0-9",
            ),
            (&format!("{}é{}", &good[..39], &good[41..]), "outside 0-9"),
            (&format!("{}-{}", &good[..20], &good[21..]), "outside 0-9"),
        ];
        for (raw, reason) in cases {
            let err = ApiKey::parse(raw).expect_err(raw);
            assert!(err.reason.contains(reason), "{raw:?}: {err}");
        }
    }

    #[test]
    fn hashes_are_hex_deterministic_and_depend_on_the_pepper() {
        let key = ApiKey::generate(ApiKeyKind::Secret);
        let a = KeyHasher::new(b"pepper-one".to_vec());
        let b = KeyHasher::new(b"pepper-two".to_vec());
        let h = a.hash(&key);
        assert_eq!(h.len(), 64);
        assert!(
            h.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
        );
        assert_eq!(h, a.hash(&ApiKey::parse(key.expose()).unwrap()));
        assert_ne!(h, b.hash(&key));
        assert_ne!(h, a.hash(&ApiKey::generate(ApiKeyKind::Secret)));
    }

    #[test]
    fn hash_matches_the_hmac_sha256_test_vector() {
        // The primitive against RFC 4231 test case 2, then the hasher against the primitive.
        let mut mac = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        mac.update(b"what do ya want for nothing?");
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        let hasher = KeyHasher::new(b"Jefe".to_vec());
        let key = ApiKey::generate(ApiKeyKind::Publishable);
        let mut direct = Hmac::<Sha256>::new_from_slice(b"Jefe").unwrap();
        direct.update(key.expose().as_bytes());
        let want: String = direct
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(hasher.hash(&key), want);
    }

    #[test]
    fn key_ids_parse_and_refuse_other_shapes() {
        let id = ApiKeyId::new();
        assert_eq!(ApiKeyId::parse(id.as_str()).unwrap(), id);
        for bad in [
            "",
            "key_",
            "key_XYZ",
            "spk_pub_0123456789abcdef0123456789abcdef",
            "key_0123456789ABCDEF0123456789abcdef",
        ] {
            assert!(ApiKeyId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn issue_stores_only_the_hash_and_prefix() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let tenant = TenantId::parse("acme").unwrap();
        let issued = issue(&hasher, &tenant, ApiKeyKind::Publishable, NOW, None);
        let record = &issued.record;
        assert_eq!(record.tenant, tenant);
        assert_eq!(record.kind, ApiKeyKind::Publishable);
        assert_eq!(record.prefix, issued.key.display_prefix());
        assert_eq!(record.hash, hasher.hash(&issued.key));
        assert!(ApiKeyId::parse(&record.key_id).is_ok());
        let stored = serde_json::to_string(record).unwrap();
        assert!(!stored.contains(issued.key.expose()));
    }

    proptest! {
        #[test]
        fn assembled_keys_parse_and_keep_their_kind(kind in kind_strategy(), body in "[0-9A-Za-z]{32}") {
            let key = ApiKey::assemble(kind, &body);
            let parsed = ApiKey::parse(key.expose()).unwrap();
            prop_assert_eq!(parsed.kind(), kind);
            prop_assert_eq!(&parsed.expose()[8..40], body.as_str());
            prop_assert!(key.expose().starts_with(parsed.display_prefix()));
        }

        #[test]
        fn any_single_character_change_is_refused(
            kind in kind_strategy(),
            body in "[0-9A-Za-z]{32}",
            position in 0usize..46,
            replacement in proptest::char::range(' ', '~'),
        ) {
            let key = ApiKey::assemble(kind, &body);
            let raw = key.expose();
            prop_assume!(raw.as_bytes()[position] != replacement as u8);
            let mut changed = raw.as_bytes().to_vec();
            changed[position] = replacement as u8;
            let changed = String::from_utf8(changed).unwrap();
            prop_assert!(ApiKey::parse(&changed).is_err(), "{} was accepted", changed);
        }

        #[test]
        fn parse_never_panics_and_accepts_only_the_shape(raw in "\\PC{0,60}") {
            if let Ok(key) = ApiKey::parse(&raw) {
                prop_assert_eq!(key.expose().len(), 46);
                prop_assert!(raw.starts_with("spk_pub_") || raw.starts_with("spk_sec_"));
            }
        }
    }

    /// Just enough of a registry to exercise `resolve`: API keys by hash, a lookup counter,
    /// and an optional failure. Every other method is outside what `resolve` may call.
    #[derive(Default)]
    struct KeysOnly {
        keys: Mutex<HashMap<String, ApiKeyRecord>>,
        lookups: AtomicUsize,
        down: bool,
    }

    #[async_trait]
    impl Registry for KeysOnly {
        async fn create_tenant(&self, _: &TenantRecord, _: &JournalEntry) -> Result<TenantRecord> {
            unreachable!("resolve does not create tenants")
        }
        async fn get_tenant(&self, _: &TenantId) -> Result<TenantRecord> {
            unreachable!("resolve does not read tenants")
        }
        async fn update_tenant(
            &self,
            _: &TenantRecord,
            _: &[JournalEntry],
        ) -> Result<TenantRecord> {
            unreachable!("resolve does not update tenants")
        }
        async fn list_tenants(&self, _: &TenantFilter) -> Result<TenantPage> {
            unreachable!("resolve does not list tenants")
        }
        async fn count_live_tenants(&self) -> Result<u64> {
            unreachable!("resolve does not count tenants")
        }
        async fn append_journal(&self, _: &JournalEntry) -> Result<()> {
            unreachable!("resolve does not journal")
        }
        async fn journal(
            &self,
            _: &TenantId,
            _: Option<uuid::Uuid>,
            _: u32,
        ) -> Result<Vec<JournalEntry>> {
            unreachable!("resolve does not read the journal")
        }
        async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
            self.keys
                .lock()
                .unwrap()
                .insert(key.hash.clone(), key.clone());
            Ok(())
        }
        async fn api_key_by_hash(&self, hash: &str) -> Result<ApiKeyRecord> {
            self.lookups.fetch_add(1, Ordering::SeqCst);
            if self.down {
                return Err(Error::unavailable("registry unreachable"));
            }
            self.keys
                .lock()
                .unwrap()
                .get(hash)
                .cloned()
                .ok_or_else(|| Error::not_found("no such API key"))
        }
        async fn list_api_keys(&self, _: &TenantId) -> Result<Vec<ApiKeyRecord>> {
            unreachable!("resolve does not list keys")
        }
        async fn revoke_api_key(
            &self,
            _: &TenantId,
            _: &str,
            _: OffsetDateTime,
        ) -> Result<ApiKeyRecord> {
            unreachable!("resolve does not revoke keys")
        }
        async fn revoke_all_api_keys(&self, _: &TenantId, _: OffsetDateTime) -> Result<u32> {
            unreachable!("resolve does not revoke keys")
        }
        async fn touch_api_key(&self, _: &str, _: OffsetDateTime) -> Result<()> {
            panic!("resolve must not record use")
        }
        async fn claim_idempotency_key(
            &self,
            _: &str,
            _: &str,
            _: OffsetDateTime,
            _: OffsetDateTime,
            _: time::Duration,
        ) -> Result<IdempotencyClaim> {
            unreachable!("resolve does not touch idempotency records")
        }
        async fn complete_idempotency_key(
            &self,
            _: &str,
            _: &str,
            _: &StoredResponse,
        ) -> Result<()> {
            unreachable!("resolve does not touch idempotency records")
        }
        async fn release_idempotency_key(&self, _: &str, _: &str) -> Result<()> {
            unreachable!("resolve does not touch idempotency records")
        }
        async fn renew_idempotency_claim(&self, _: &str, _: &str, _: OffsetDateTime) -> Result<()> {
            unreachable!("resolve does not touch idempotency records")
        }
        async fn record_usage(
            &self,
            _: &TenantId,
            _: time::Date,
            _: &str,
            _: &crate::ports::UsageDelta,
        ) -> Result<()> {
            unreachable!("resolve does not meter")
        }
        async fn usage(
            &self,
            _: &TenantId,
            _: time::Date,
            _: time::Date,
        ) -> Result<Vec<crate::ports::UsageDay>> {
            unreachable!("resolve does not meter")
        }
    }

    async fn registry_with(
        hasher: &KeyHasher,
        kind: ApiKeyKind,
        expires_at: Option<OffsetDateTime>,
        revoked_at: Option<OffsetDateTime>,
    ) -> (KeysOnly, ApiKey) {
        let registry = KeysOnly::default();
        let mut issued = issue(
            hasher,
            &TenantId::parse("acme").unwrap(),
            kind,
            NOW,
            expires_at,
        );
        issued.record.revoked_at = revoked_at;
        registry.put_api_key(&issued.record).await.unwrap();
        (registry, issued.key)
    }

    #[tokio::test]
    async fn resolve_returns_the_record_of_a_live_key() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let later = NOW + time::Duration::days(1);
        let (registry, key) = registry_with(&hasher, ApiKeyKind::Secret, Some(later), None).await;
        let record = resolve(&registry, &hasher, key.expose(), NOW)
            .await
            .unwrap();
        assert_eq!(record.tenant.as_str(), "acme");
        assert_eq!(record.kind, ApiKeyKind::Secret);
    }

    #[tokio::test]
    async fn resolve_refuses_a_malformed_key_without_a_lookup() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let (registry, key) = registry_with(&hasher, ApiKeyKind::Secret, None, None).await;
        let mut typo = key.expose().to_owned();
        typo.replace_range(30..31, if &typo[30..31] == "Q" { "R" } else { "Q" });
        let rejection = resolve(&registry, &hasher, &typo, NOW).await.unwrap_err();
        assert!(
            matches!(rejection, KeyRejection::Malformed(_)),
            "{rejection:?}"
        );
        assert_eq!(rejection.reason(), "malformed");
        assert_eq!(registry.lookups.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn resolve_calls_a_well_formed_but_never_issued_key_unknown() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let (registry, _) = registry_with(&hasher, ApiKeyKind::Secret, None, None).await;
        let stranger = ApiKey::generate(ApiKeyKind::Secret);
        let rejection = resolve(&registry, &hasher, stranger.expose(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(rejection, KeyRejection::Unknown), "{rejection:?}");
        assert_eq!(registry.lookups.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn keys_hashed_under_another_pepper_are_unknown() {
        let issuer = KeyHasher::new(b"pepper".to_vec());
        let (registry, key) = registry_with(&issuer, ApiKeyKind::Secret, None, None).await;
        let other = KeyHasher::new(b"another pepper".to_vec());
        let rejection = resolve(&registry, &other, key.expose(), NOW)
            .await
            .unwrap_err();
        assert!(matches!(rejection, KeyRejection::Unknown), "{rejection:?}");
    }

    #[tokio::test]
    async fn resolve_refuses_revoked_keys_even_before_their_expiry() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let later = NOW + time::Duration::days(1);
        let (registry, key) =
            registry_with(&hasher, ApiKeyKind::Publishable, Some(later), Some(NOW)).await;
        let rejection = resolve(&registry, &hasher, key.expose(), NOW)
            .await
            .unwrap_err();
        assert_eq!(rejection.reason(), "revoked");
        assert_eq!(rejection.record().map(|r| r.tenant.as_str()), Some("acme"));
    }

    #[tokio::test]
    async fn resolve_refuses_keys_from_the_moment_they_expire() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let (registry, key) = registry_with(&hasher, ApiKeyKind::Secret, Some(NOW), None).await;
        let before = resolve(
            &registry,
            &hasher,
            key.expose(),
            NOW - time::Duration::seconds(1),
        )
        .await;
        assert!(before.is_ok());
        let rejection = resolve(&registry, &hasher, key.expose(), NOW)
            .await
            .unwrap_err();
        assert_eq!(rejection.reason(), "expired");
    }

    #[tokio::test]
    async fn resolve_reports_a_registry_outage_as_a_backend_error_not_as_unknown() {
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let registry = KeysOnly {
            down: true,
            ..KeysOnly::default()
        };
        let key = ApiKey::generate(ApiKeyKind::Secret);
        let rejection = resolve(&registry, &hasher, key.expose(), NOW)
            .await
            .unwrap_err();
        match rejection {
            KeyRejection::Backend(e) => assert!(e.is_retryable()),
            other => panic!("expected a backend error, got {other:?}"),
        }
    }
}
