//! One public key a tenant registers to sign its end users' tokens: [`IdentityKey`], parsed
//! from a JWK or a PEM `SubjectPublicKeyInfo` and checked before it is ever stored.
//!
//! Only what a verifier can use safely is accepted: RSA of 2048 to 8192 bits (RS256) and EC
//! P-256 (ES256), public halves only. Everything else is refused with a message saying what
//! to give instead — a symmetric (`oct`) key above all: HS256 would let anyone holding the
//! secret, including the platform, mint any user's token. A key is always stored and shown as
//! the same normalised JWK whatever form it was given in.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Signature algorithms an end-user token may use, one per key type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum KeyAlg {
    /// RSASSA-PKCS1-v1_5 with SHA-256, on an RSA key of at least 2048 bits.
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
}

impl KeyAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyAlg::RS256 => "RS256",
            KeyAlg::ES256 => "ES256",
        }
    }

    /// The algorithm named `raw` in a JWT or JWK header, if it is one of these.
    pub fn parse(raw: &str) -> Option<KeyAlg> {
        match raw {
            "RS256" => Some(KeyAlg::RS256),
            "ES256" => Some(KeyAlg::ES256),
            _ => None,
        }
    }

    /// The same algorithm in `jsonwebtoken`'s terms.
    pub fn jwt_algorithm(self) -> Algorithm {
        match self {
            KeyAlg::RS256 => Algorithm::RS256,
            KeyAlg::ES256 => Algorithm::ES256,
        }
    }
}

impl std::fmt::Display for KeyAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The public numbers of a key, as decoded and checked.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Material {
    /// Modulus and exponent, big-endian without leading zero octets.
    Rsa { n: Vec<u8>, e: Vec<u8> },
    /// The affine coordinates of a point on P-256.
    P256 { x: [u8; 32], y: [u8; 32] },
}

/// A checked public signing key with its `kid`. Serialised as its normalised JWK
/// ([`PublicJwk`]); deserialised through the same checks as a registered key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "PublicJwk", try_from = "Value")]
pub struct IdentityKey {
    kid: String,
    material: Material,
}

/// A key as it is stored and shown: a public JWK with its `kid`, `alg` and `use`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicJwk {
    /// `RSA` or `EC`.
    pub kty: String,
    pub kid: String,
    pub alg: KeyAlg,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub key_use: String,
    /// RSA: the modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA: the public exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
    /// EC: always `P-256`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC: the point's x coordinate (base64url, 32 octets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC: the point's y coordinate (base64url, 32 octets).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
}

/// The most characters of a `kid`.
pub const MAX_KID_CHARS: usize = 128;
/// The longest PEM text read.
pub const MAX_PEM_CHARS: usize = 8192;
/// RSA modulus sizes accepted, in bits: below 2048 is breakable, above 8192 is refused by the
/// verifier (and would make every verification slow).
pub const MIN_RSA_BITS: usize = 2048;
pub const MAX_RSA_BITS: usize = 8192;

/// Members that only a private (or symmetric) JWK has.
const PRIVATE_MEMBERS: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

impl IdentityKey {
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm tokens signed with this key may use.
    pub fn alg(&self) -> KeyAlg {
        match self.material {
            Material::Rsa { .. } => KeyAlg::RS256,
            Material::P256 { .. } => KeyAlg::ES256,
        }
    }

    /// The key for `jsonwebtoken`'s signature check.
    pub fn decoding_key(&self) -> DecodingKey {
        match &self.material {
            Material::Rsa { n, e } => DecodingKey::from_rsa_raw_components(n, e),
            Material::P256 { x, y } => {
                // The uncompressed SEC1 point, which is what the EC verifier takes.
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(x);
                point.extend_from_slice(y);
                DecodingKey::from_ec_der(&point)
            }
        }
    }

    /// The normalised public JWK.
    pub fn jwk(&self) -> PublicJwk {
        let b64 = |bytes: &[u8]| URL_SAFE_NO_PAD.encode(bytes);
        match &self.material {
            Material::Rsa { n, e } => PublicJwk {
                kty: "RSA".to_owned(),
                kid: self.kid.clone(),
                alg: KeyAlg::RS256,
                key_use: "sig".to_owned(),
                n: Some(b64(n)),
                e: Some(b64(e)),
                crv: None,
                x: None,
                y: None,
            },
            Material::P256 { x, y } => PublicJwk {
                kty: "EC".to_owned(),
                kid: self.kid.clone(),
                alg: KeyAlg::ES256,
                key_use: "sig".to_owned(),
                n: None,
                e: None,
                crv: Some("P-256".to_owned()),
                x: Some(b64(x)),
                y: Some(b64(y)),
            },
        }
    }

    /// One entry of a registration's `keys`: a public JWK (`kty` `RSA` or `EC`, with `kid`;
    /// members such as `x5c` or `key_ops` are ignored), or `{"kid", "pem", "alg"?}` with a PEM
    /// `PUBLIC KEY`. Errors: what is wrong, starting with the member at fault.
    pub fn from_json(value: &Value) -> Result<IdentityKey, String> {
        let Value::Object(members) = value else {
            return Err("must be a JSON object: a public JWK, or {\"kid\", \"pem\"}".to_owned());
        };
        if members.contains_key("pem") {
            Self::from_pem_entry(members)
        } else {
            Self::from_jwk(members)
        }
    }

    fn from_jwk(members: &Map<String, Value>) -> Result<IdentityKey, String> {
        let kty = required_str(members, "kty")?;
        if kty == "oct" {
            return Err(
                "kty: symmetric (oct) keys are refused: HS256 shares the signing secret \
                        with every verifier; register the public half of an RSA (RS256) or \
                        EC P-256 (ES256) key"
                    .to_owned(),
            );
        }
        if let Some(private) = PRIVATE_MEMBERS.iter().find(|m| members.contains_key(**m)) {
            return Err(format!(
                "{private}: this is a private key; register only its public half (remove \
                 {private:?} and the other private members)"
            ));
        }
        let kid = parse_kid(members)?;
        if let Some(key_use) = members.get("use")
            && key_use.as_str() != Some("sig")
        {
            return Err(format!(
                "use: must be \"sig\" when given, not {key_use}: the key signs tokens"
            ));
        }
        let material = match kty {
            "RSA" => {
                let n = base64url(members, "n")?;
                let e = base64url(members, "e")?;
                rsa_material(n, e)?
            }
            "EC" => {
                let crv = required_str(members, "crv")?;
                if crv != "P-256" {
                    return Err(format!("crv: only P-256 (ES256) is accepted, not {crv:?}"));
                }
                let x = coordinate(members, "x")?;
                let y = coordinate(members, "y")?;
                p256_material(x, y)?
            }
            other => {
                return Err(format!(
                    "kty: {other:?} keys are not accepted; only RSA (RS256) and EC P-256 (ES256)"
                ));
            }
        };
        let key = IdentityKey { kid, material };
        check_declared_alg(members, key.alg())?;
        Ok(key)
    }

    fn from_pem_entry(members: &Map<String, Value>) -> Result<IdentityKey, String> {
        if let Some(other) = members
            .keys()
            .find(|k| !matches!(k.as_str(), "kid" | "pem" | "alg"))
        {
            return Err(format!(
                "{other}: a PEM key takes only \"kid\", \"pem\" and \"alg\""
            ));
        }
        let kid = parse_kid(members)?;
        let pem = required_str(members, "pem")?;
        let der = pem_spki(pem).map_err(|e| format!("pem: {e}"))?;
        let material = spki_material(&der).map_err(|e| format!("pem: {e}"))?;
        let key = IdentityKey { kid, material };
        check_declared_alg(members, key.alg())?;
        Ok(key)
    }
}

impl From<IdentityKey> for PublicJwk {
    fn from(key: IdentityKey) -> Self {
        key.jwk()
    }
}

impl TryFrom<Value> for IdentityKey {
    type Error = String;
    fn try_from(value: Value) -> Result<Self, Self::Error> {
        IdentityKey::from_json(&value)
    }
}

fn required_str<'a>(members: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match members.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(format!("{name}: must be a string, not {other}")),
        None => Err(format!("{name}: is required")),
    }
}

/// 1–128 visible ASCII characters: it travels in every token header and log line.
fn parse_kid(members: &Map<String, Value>) -> Result<String, String> {
    let kid = required_str(members, "kid")?;
    if kid.is_empty() || kid.chars().count() > MAX_KID_CHARS {
        return Err(format!("kid: must be 1 to {MAX_KID_CHARS} characters long"));
    }
    if !kid.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(format!(
            "kid: {:?} may contain only visible ASCII characters (no spaces)",
            kid.escape_debug().to_string()
        ));
    }
    Ok(kid.to_owned())
}

/// A declared `alg` must be the one the key's type allows.
fn check_declared_alg(members: &Map<String, Value>, alg: KeyAlg) -> Result<(), String> {
    match members.get("alg") {
        None => Ok(()),
        Some(Value::String(declared)) if declared == alg.as_str() => Ok(()),
        Some(declared) => Err(format!(
            "alg: this key can only be used with {alg}, not {declared}"
        )),
    }
}

fn base64url(members: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = required_str(members, name)?;
    URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|e| format!("{name}: is not base64url without padding: {e}"))
}

fn coordinate(members: &Map<String, Value>, name: &str) -> Result<[u8; 32], String> {
    base64url(members, name)?
        .try_into()
        .map_err(|bytes: Vec<u8>| {
            format!(
                "{name}: a P-256 coordinate is 32 octets, not {}",
                bytes.len()
            )
        })
}

fn rsa_material(n: Vec<u8>, e: Vec<u8>) -> Result<Material, String> {
    if n.first() == Some(&0) || e.first() == Some(&0) {
        return Err("n, e: must be given in their fewest octets (no leading zero)".to_owned());
    }
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "n: the RSA key has {bits} bits; RS256 needs at least {MIN_RSA_BITS}"
        ));
    }
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "n: the RSA key has {bits} bits; at most {MAX_RSA_BITS} are accepted"
        ));
    }
    if e.is_empty() || e.len() > 4 {
        return Err("e: the public exponent must be 1 to 4 octets (usually AQAB)".to_owned());
    }
    if e.last().is_some_and(|b| b & 1 == 0) || e == [1] {
        return Err("e: the public exponent must be odd and at least 3".to_owned());
    }
    aws_lc_rs::signature::RsaPublicKeyComponents {
        n: n.as_slice(),
        e: e.as_slice(),
    }
    .to_parsed_public_key(&aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256)
    .map_err(|e| format!("n, e: not a usable RSA public key: {e}"))?;
    Ok(Material::Rsa { n, e })
}

fn p256_material(x: [u8; 32], y: [u8; 32]) -> Result<Material, String> {
    let mut point = [0u8; 65];
    point[0] = 0x04;
    point[1..33].copy_from_slice(&x);
    point[33..].copy_from_slice(&y);
    aws_lc_rs::signature::ParsedPublicKey::new(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED,
        point,
    )
    .map_err(|_| "x, y: not a point on the P-256 curve".to_owned())?;
    Ok(Material::P256 { x, y })
}

/// The DER inside a PEM `PUBLIC KEY` block; other blocks are refused by name.
fn pem_spki(pem: &str) -> Result<Vec<u8>, String> {
    const BEGIN: &str = "-----BEGIN PUBLIC KEY-----";
    const END: &str = "-----END PUBLIC KEY-----";
    if pem.chars().count() > MAX_PEM_CHARS {
        return Err(format!("is longer than {MAX_PEM_CHARS} characters"));
    }
    let text = pem.trim();
    if text.contains("PRIVATE KEY-----") {
        return Err("this is a private key; register only its public half \
                    (`openssl pkey -pubout`)"
            .to_owned());
    }
    if text.starts_with("-----BEGIN RSA PUBLIC KEY-----") {
        return Err(
            "is a PKCS#1 RSA PUBLIC KEY; give the SubjectPublicKeyInfo form \
                    (-----BEGIN PUBLIC KEY-----, `openssl rsa -RSAPublicKey_in -pubout`)"
                .to_owned(),
        );
    }
    if text.starts_with("-----BEGIN CERTIFICATE-----") {
        return Err(
            "is a certificate; give its public key (`openssl x509 -pubkey -noout`)".to_owned(),
        );
    }
    let body = text
        .strip_prefix(BEGIN)
        .and_then(|rest| rest.strip_suffix(END))
        .ok_or_else(|| format!("must be one PEM block from {BEGIN} to {END}"))?;
    let compact: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD
        .decode(compact)
        .map_err(|e| format!("the PEM body is not base64: {e}"))
}

/// DER's tag-length-value: the tag, the value, and what follows. Definite lengths only.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 3 || rest.len() < count {
            return None;
        }
        let (bytes, rest) = rest.split_at(count);
        let len = bytes
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, rest)
    };
    (rest.len() >= len).then(|| {
        let (value, rest) = rest.split_at(len);
        (tag, value, rest)
    })
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const BIT_STRING: u8 = 0x03;
const OID: u8 = 0x06;
/// 1.2.840.113549.1.1.1
const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
/// 1.2.840.10045.2.1
const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
/// 1.2.840.10045.3.1.7
const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The key in a DER `SubjectPublicKeyInfo`: RSA or EC P-256 (uncompressed), checked.
fn spki_material(der: &[u8]) -> Result<Material, String> {
    let malformed = || "is not a DER SubjectPublicKeyInfo".to_owned();
    let (tag, spki, rest) = tlv(der).ok_or_else(malformed)?;
    if tag != SEQUENCE || !rest.is_empty() {
        return Err(malformed());
    }
    let (tag, algorithm, rest) = tlv(spki).ok_or_else(malformed)?;
    if tag != SEQUENCE {
        return Err(malformed());
    }
    let (tag, key, tail) = tlv(rest).ok_or_else(malformed)?;
    if tag != BIT_STRING || !tail.is_empty() {
        return Err(malformed());
    }
    let key = match key.split_first() {
        Some((0, bits)) => bits,
        _ => return Err(malformed()),
    };
    let (tag, oid, params) = tlv(algorithm).ok_or_else(malformed)?;
    if tag != OID {
        return Err(malformed());
    }
    if oid == RSA_ENCRYPTION {
        let (tag, numbers, rest) = tlv(key).ok_or_else(malformed)?;
        if tag != SEQUENCE || !rest.is_empty() {
            return Err(malformed());
        }
        let (tag, n, rest) = tlv(numbers).ok_or_else(malformed)?;
        let (tag_e, e, rest) = tlv(rest).ok_or_else(malformed)?;
        if tag != INTEGER || tag_e != INTEGER || !rest.is_empty() {
            return Err(malformed());
        }
        // DER integers are signed: a positive one may carry one leading zero octet.
        let unsigned = |v: &[u8]| v.strip_prefix(&[0]).unwrap_or(v).to_vec();
        rsa_material(unsigned(n), unsigned(e))
    } else if oid == EC_PUBLIC_KEY {
        let (tag, curve, rest) = tlv(params).ok_or_else(malformed)?;
        if tag != OID || !rest.is_empty() {
            return Err(malformed());
        }
        if curve != PRIME256V1 {
            return Err(
                "is an EC key on a curve other than P-256; only P-256 (ES256) is \
                        accepted"
                    .to_owned(),
            );
        }
        match key {
            [0x04, point @ ..] if point.len() == 64 => {
                let (x, y) = point.split_at(32);
                p256_material(
                    x.try_into().map_err(|_| malformed())?,
                    y.try_into().map_err(|_| malformed())?,
                )
            }
            [0x02 | 0x03, ..] => {
                Err("is a compressed EC point; give the uncompressed public key".to_owned())
            }
            _ => Err(malformed()),
        }
    } else {
        Err(
            "is neither an RSA nor an EC key; only RSA (RS256) and EC P-256 (ES256) are \
             accepted"
                .to_owned(),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    use super::*;
    use crate::jwt::RsaSigner;

    fn pem(der: &[u8]) -> String {
        let body = STANDARD.encode(der);
        let lines: Vec<&str> = body
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            lines.join("\n")
        )
    }

    /// A fresh P-256 key's public SPKI DER and JWK.
    pub(crate) fn ec_public() -> (Vec<u8>, Value) {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let spki = pair.public_key().as_der().unwrap().as_ref().to_vec();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "kid": "ec-1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        });
        (spki, jwk)
    }

    fn rsa_jwk(kid: &str) -> Value {
        let signer = RsaSigner::generate(kid).unwrap();
        serde_json::to_value(&signer.jwks().keys[0]).unwrap()
    }

    #[test]
    fn an_rsa_jwk_and_its_pem_are_the_same_key() {
        let signer = RsaSigner::generate("rsa-1").unwrap();
        let jwk = serde_json::to_value(&signer.jwks().keys[0]).unwrap();
        let from_jwk = IdentityKey::from_json(&jwk).unwrap();
        assert_eq!(from_jwk.alg(), KeyAlg::RS256);
        assert_eq!(from_jwk.kid(), "rsa-1");
        let shown = from_jwk.jwk();
        assert_eq!(shown.n.as_deref(), jwk["n"].as_str());
        assert_eq!(shown.e.as_deref(), Some("AQAB"));

        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(signer.pkcs8()).unwrap();
        let spki = pair.public_key().as_der().unwrap();
        let from_pem =
            IdentityKey::from_json(&json!({"kid": "rsa-1", "pem": pem(spki.as_ref())})).unwrap();
        assert_eq!(from_pem, from_jwk);
    }

    #[test]
    fn an_ec_jwk_and_its_pem_are_the_same_key() {
        let (spki, jwk) = ec_public();
        let from_jwk = IdentityKey::from_json(&jwk).unwrap();
        assert_eq!(from_jwk.alg(), KeyAlg::ES256);
        let from_pem =
            IdentityKey::from_json(&json!({"kid": "ec-1", "pem": pem(&spki), "alg": "ES256"}))
                .unwrap();
        assert_eq!(from_pem, from_jwk);
        // The stored form reads back as the same key.
        let stored = serde_json::to_value(&from_jwk).unwrap();
        assert_eq!(stored["kty"], "EC");
        assert_eq!(stored["use"], "sig");
        let read: IdentityKey = serde_json::from_value(stored).unwrap();
        assert_eq!(read, from_jwk);
    }

    fn refusal(value: Value) -> String {
        IdentityKey::from_json(&value).expect_err(&value.to_string())
    }

    #[test]
    fn symmetric_private_and_foreign_keys_are_refused_naming_the_member() {
        let oct = refusal(json!({"kty": "oct", "kid": "h", "k": "c2VjcmV0"}));
        assert!(oct.starts_with("kty: symmetric"), "{oct}");

        let mut private = rsa_jwk("p");
        private["d"] = json!("AQAB");
        assert!(refusal(private).starts_with("d: this is a private key"));

        let okp = refusal(json!({"kty": "OKP", "kid": "e", "crv": "Ed25519", "x": "AA"}));
        assert!(okp.starts_with("kty: \"OKP\""), "{okp}");

        let mut wrong_alg = rsa_jwk("a");
        wrong_alg["alg"] = json!("RS512");
        assert!(refusal(wrong_alg).starts_with("alg: "));

        let mut enc = rsa_jwk("u");
        enc["use"] = json!("enc");
        assert!(refusal(enc).starts_with("use: "));

        let (_, mut p384) = ec_public();
        p384["crv"] = json!("P-384");
        assert!(refusal(p384).starts_with("crv: "));
    }

    #[test]
    fn rsa_keys_below_2048_bits_are_refused() {
        let mut jwk = rsa_jwk("small");
        // The 2048-bit modulus without its last octet: a 2040-bit number.
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        jwk["n"] = json!(URL_SAFE_NO_PAD.encode(&n[..255]));
        let refused = refusal(jwk);
        assert!(
            refused.contains("has 2040 bits; RS256 needs at least 2048"),
            "{refused}"
        );

        let from_pem = refusal(json!({"kid": "x", "pem": pem(&SMALL_RSA_SPKI)}));
        assert!(from_pem.contains("1024 bits"), "{from_pem}");
    }

    #[test]
    fn points_off_the_curve_and_bad_encodings_are_refused() {
        let (_, mut jwk) = ec_public();
        jwk["y"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(refusal(jwk).contains("not a point on the P-256 curve"));

        let (_, mut short) = ec_public();
        short["x"] = json!("AAAA");
        assert!(refusal(short).starts_with("x: a P-256 coordinate is 32 octets"));

        let mut padded = rsa_jwk("pad");
        padded["e"] = json!("AQAB==");
        assert!(refusal(padded).starts_with("e: is not base64url"));

        let kid = refusal(json!({"kty": "RSA", "kid": "has space", "n": "AQAB", "e": "AQAB"}));
        assert!(kid.starts_with("kid: "), "{kid}");
        let missing = refusal(json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}));
        assert_eq!(missing, "kid: is required");
        assert!(refusal(json!(["not", "an", "object"])).starts_with("must be a JSON object"));
    }

    #[test]
    fn pem_blocks_other_than_a_public_key_are_refused_by_name() {
        let private = refusal(json!({
            "kid": "k",
            "pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----"
        }));
        assert!(private.contains("private key"), "{private}");
        let pkcs1 = refusal(json!({
            "kid": "k",
            "pem": "-----BEGIN RSA PUBLIC KEY-----\nAAAA\n-----END RSA PUBLIC KEY-----"
        }));
        assert!(pkcs1.contains("SubjectPublicKeyInfo"), "{pkcs1}");
        let garbage = refusal(json!({"kid": "k", "pem": "hello"}));
        assert!(
            garbage.starts_with("pem: must be one PEM block"),
            "{garbage}"
        );
        let extra = refusal(json!({"kid": "k", "pem": "x", "kty": "RSA"}));
        assert!(extra.starts_with("kty: a PEM key takes only"), "{extra}");
        let (spki, _) = ec_public();
        let mismatch = refusal(json!({"kid": "k", "pem": pem(&spki), "alg": "RS256"}));
        assert!(mismatch.starts_with("alg: this key can only be used with ES256"));
    }

    /// A 1024-bit RSA SubjectPublicKeyInfo (aws-lc-rs no longer generates keys this small).
    const SMALL_RSA_SPKI: [u8; 162] = {
        let mut der = [0u8; 162];
        let head: [u8; 29] = [
            0x30, 0x81, 0x9f, 0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01,
            0x01, 0x01, 0x05, 0x00, 0x03, 0x81, 0x8d, 0x00, 0x30, 0x81, 0x89, 0x02, 0x81, 0x81,
            0x00,
        ];
        let mut i = 0;
        while i < head.len() {
            der[i] = head[i];
            i += 1;
        }
        // A 1024-bit odd modulus (its value does not matter: the size is refused first).
        while i < 29 + 128 {
            der[i] = 0xc5;
            i += 1;
        }
        let tail: [u8; 5] = [0x02, 0x03, 0x01, 0x00, 0x01];
        let mut j = 0;
        while j < tail.len() {
            der[i + j] = tail[j];
            j += 1;
        }
        der
    };
}
