//! Validated identifiers and small value types of a tenant: [`TenantId`], [`Tier`],
//! [`TenantName`], [`OwnerEmail`], [`Origin`].
//!
//! Each is parsed from outside input once and can never hold an invalid value afterwards.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;

/// A tenant's id: lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double
/// hyphen. Every AWS name derived from it (tables, alias, role) is therefore valid.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantId(String);

impl TenantId {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 40;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let err = |reason: &str| Err(InvalidInput::new("id", reason));
        if raw.len() < Self::MIN_LEN || raw.len() > Self::MAX_LEN {
            return err("must be 3 to 40 characters long");
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return err("may contain only lowercase letters a-z, digits and '-'");
        }
        if raw.starts_with('-') || raw.ends_with('-') {
            return err("must not start or end with '-'");
        }
        if raw.contains("--") {
            return err("must not contain '--'");
        }
        Ok(TenantId(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TenantId {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantId::parse(&value)
    }
}

impl From<TenantId> for String {
    fn from(id: TenantId) -> Self {
        id.0
    }
}

impl std::str::FromStr for TenantId {
    type Err = InvalidInput;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        TenantId::parse(s)
    }
}

/// Isolation tier. `enterprise` tenants' data-plane handles run under the tenant's own role.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    #[default]
    Standard,
    Enterprise,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Standard => "standard",
            Tier::Enterprise => "enterprise",
        }
    }
}

/// A tenant's display name: 1–200 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantName(String);

impl TenantName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.chars().count() > 200 {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 200 characters long",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(InvalidInput::new(
                "name",
                "must not contain control characters",
            ));
        }
        Ok(TenantName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for TenantName {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TenantName::parse(&value)
    }
}

impl From<TenantName> for String {
    fn from(v: TenantName) -> Self {
        v.0
    }
}

/// The tenant owner's e-mail address, checked for shape (one `@`, a dotted domain, no spaces,
/// at most 254 characters) and lowercased in the domain part.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerEmail(String);

impl OwnerEmail {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let err = |reason: &str| Err(InvalidInput::new("owner_email", reason));
        let raw = raw.trim();
        if raw.is_empty() || raw.len() > 254 {
            return err("must be 1 to 254 characters long");
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not contain spaces");
        }
        let Some((local, domain)) = raw.split_once('@') else {
            return err("must contain '@'");
        };
        if local.is_empty() || domain.contains('@') {
            return err("must have exactly one '@' with a local part before it");
        }
        let labels: Vec<&str> = domain.split('.').collect();
        if labels.len() < 2 || labels.iter().any(|l| l.is_empty()) {
            return err("must have a dotted domain such as example.com");
        }
        Ok(OwnerEmail(format!(
            "{local}@{}",
            domain.to_ascii_lowercase()
        )))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OwnerEmail {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        OwnerEmail::parse(&value)
    }
}

impl From<OwnerEmail> for String {
    fn from(v: OwnerEmail) -> Self {
        v.0
    }
}

/// A web origin a tenant's publishable keys are accepted from: `http` or `https`, a host, an
/// optional port, and nothing else (no path, query, user info or wildcard). Stored lowercased,
/// the form browsers send in the `Origin` header.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Origin(String);

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let err = |reason: String| Err(InvalidInput::new("allowed_origins", reason));
        let lower = raw.trim().to_ascii_lowercase();
        let Some((scheme, rest)) = lower.split_once("://") else {
            return err(format!("'{raw}' must look like https://app.example.com"));
        };
        if scheme != "http" && scheme != "https" {
            return err(format!("'{raw}' must use http or https"));
        }
        let (host, port) = match rest.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || rest.starts_with('[') => (h, Some(p)),
            _ => (rest, None),
        };
        let host_ok = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
            && !host.starts_with(['.', '-'])
            && !host.ends_with(['.', '-']);
        if !host_ok {
            return err(format!(
                "'{raw}' has no valid host (no path, wildcard or user info)"
            ));
        }
        if let Some(p) = port
            && (p.is_empty() || p.parse::<u16>().map(|p| p == 0).unwrap_or(true))
        {
            return err(format!("'{raw}' has an invalid port"));
        }
        Ok(Origin(lower))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Origin {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Origin::parse(&value)
    }
}

impl From<Origin> for String {
    fn from(v: Origin) -> Self {
        v.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn tenant_id_accepts_the_documented_shape() {
        for ok in ["abc", "acme-corp", "a1-b2-c3", &"a".repeat(40)] {
            assert!(TenantId::parse(ok).is_ok(), "{ok} should parse");
        }
    }

    #[test]
    fn tenant_id_refuses_every_documented_bad_shape() {
        let long = "a".repeat(41);
        for bad in [
            "",
            "ab",
            long.as_str(),
            "Acme",
            "acmé",
            "../x",
            "a--b",
            "-ab",
            "ab-",
            "a b",
            "a_b",
        ] {
            assert!(TenantId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn any_parsed_tenant_id_obeys_the_rules(raw in "\\PC{0,48}") {
            if let Ok(id) = TenantId::parse(&raw) {
                let s = id.as_str();
                prop_assert!((3..=40).contains(&s.len()));
                prop_assert!(s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'));
                prop_assert!(!s.starts_with('-') && !s.ends_with('-') && !s.contains("--"));
            }
        }

        #[test]
        fn ids_built_from_the_alphabet_round_trip(raw in "[a-z0-9]{1,10}(-[a-z0-9]{1,9}){0,2}") {
            prop_assume!(raw.len() >= 3);
            let id = TenantId::parse(&raw).unwrap();
            prop_assert_eq!(id.as_str(), raw.as_str());
        }
    }

    #[test]
    fn origins_are_normalised_and_checked() {
        assert_eq!(
            Origin::parse("HTTPS://App.Example.com").unwrap().as_str(),
            "https://app.example.com"
        );
        assert!(Origin::parse("http://localhost:3000").is_ok());
        for bad in [
            "example.com",
            "ftp://x.com",
            "https://x.com/path",
            "https://*.x.com",
            "https://x.com:0",
            "https://u@x.com",
        ] {
            assert!(Origin::parse(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(OwnerEmail::parse("ops@acme.io").is_ok());
        for bad in [
            "",
            "ops",
            "@acme.io",
            "ops@acme",
            "a@b@c.io",
            "o ps@acme.io",
        ] {
            assert!(OwnerEmail::parse(bad).is_err(), "{bad} should be refused");
        }
    }
}
