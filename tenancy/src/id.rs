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

/// A tenant's display name: 1–200 characters after trimming, with nothing invisible that could
/// make it look like another name or reorder the text around it where it is shown.
///
/// Refused: control characters (category Cc), the bidirectional marks, embeddings, overrides
/// and isolates (U+061C, U+200E, U+200F, U+202A–U+202E, U+2066–U+2069), line and paragraph
/// separators (U+2028, U+2029), invisible format characters (U+200B, U+2060–U+2064,
/// U+206A–U+206F, U+FEFF, U+FFF9–U+FFFB) and noncharacters. The zero-width joiner and
/// non-joiner (U+200D, U+200C) are allowed: scripts such as Persian and Devanagari, and emoji
/// sequences, need them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TenantName(String);

impl TenantName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let trimmed = raw.trim();
        // Counted as sent, surrounding white space included, so that the limit is the one the
        // API documents (a JSON Schema `maxLength` counts every character).
        if trimmed.is_empty() || raw.chars().count() > Self::MAX_CHARS {
            return Err(InvalidInput::new(
                "name",
                "must be 1 to 200 characters long",
            ));
        }
        if let Some((c, kind)) = trimmed.chars().find_map(|c| hidden_kind(c).map(|k| (c, k))) {
            return Err(InvalidInput::new(
                "name",
                format!("must not contain {kind} (found U+{:04X})", u32::from(c)),
            ));
        }
        Ok(TenantName(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What kind of hidden character `c` is, when it is one a name must not contain.
fn hidden_kind(c: char) -> Option<&'static str> {
    let cp = u32::from(c);
    if c.is_control() {
        Some("control characters")
    } else if matches!(cp, 0x061C | 0x200E | 0x200F | 0x202A..=0x202E | 0x2066..=0x2069) {
        Some("bidirectional control characters")
    } else if matches!(cp, 0x2028 | 0x2029) {
        Some("line or paragraph separators")
    } else if matches!(
        cp,
        0x200B | 0x2060..=0x2064 | 0x206A..=0x206F | 0xFEFF | 0xFFF9..=0xFFFB
    ) {
        Some("invisible formatting characters")
    } else if (0xFDD0..=0xFDEF).contains(&cp) || cp & 0xFFFE == 0xFFFE {
        // U+FDD0–U+FDEF and the last two code points of every plane (U+FFFE, U+1FFFF, …).
        Some("Unicode noncharacters")
    } else {
        None
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

/// The tenant owner's e-mail address, stored with its domain lowercased.
///
/// Accepted: `local@domain` where
/// - the local part is 1–64 characters of ASCII letters, digits and ``.!#$%*+/=?^_{|}~-``,
///   with no leading, trailing or doubled dot. Quoted local parts, non-ASCII local parts and
///   the characters HTML gives a meaning to (`<`, `>`, `"`, `'`, `&`, backquote) are refused:
///   the address is shown in pages and mail headers, and such addresses are rare enough for an
///   owner contact that refusing them costs less than trusting every place to escape them.
/// - the domain is a DNS name of at least two labels, each 1–63 characters of `[a-z0-9-]`
///   (any case) not starting or ending with `-`, at most 253 characters in all. An
///   internationalised domain (`bücher.example`) must be given in the ASCII form mail servers
///   use (`xn--bcher-kva.example`); the refusal names that form. IP addresses and `[…]`
///   literals are refused.
/// - nothing else: no white space anywhere, the address is taken as sent.
///
/// Only ASCII is accepted so that the API's documented pattern states exactly what is
/// accepted; the conversion an international domain needs is one the refusal spells out.
///
/// The structure is checked once more by the `email_address` crate (RFC 5322 dot-atom,
/// without display names or domain literals) on the final form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OwnerEmail(String);

impl OwnerEmail {
    pub const MAX_LEN: usize = 254;
    pub const MAX_LOCAL_LEN: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let err = |reason: String| Err(InvalidInput::new("owner_email", reason));
        if raw.is_empty() || raw.chars().count() > Self::MAX_LEN {
            return err("must be 1 to 254 characters long".to_owned());
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not contain spaces or control characters".to_owned());
        }
        let Some((local, domain)) = raw.rsplit_once('@') else {
            return err("must contain '@'".to_owned());
        };
        if local.is_empty() || local.contains('@') {
            return err("must have exactly one '@' with a local part before it".to_owned());
        }
        if local.len() > Self::MAX_LOCAL_LEN {
            return err("must have a local part (before '@') of at most 64 characters".to_owned());
        }
        if let Some(c) = local.chars().find(|&c| !is_local_part_char(c)) {
            return err(format!(
                "must not contain '{}' before '@': only letters a-z, digits and \
                 .!#$%*+/=?^_{{|}}~- are accepted there",
                c.escape_debug()
            ));
        }
        if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return err(
                "must not start or end its local part with '.', nor contain '..'".to_owned(),
            );
        }
        let domain = match dns_name(domain) {
            Ok(domain) => domain,
            Err(reason) => return err(format!("must have a valid domain: {reason}")),
        };
        if !raw.is_ascii() {
            return err(format!(
                "must give an international domain in its ASCII form: {local}@{domain}"
            ));
        }
        if !domain.contains('.') {
            return err("must have a dotted domain such as example.com".to_owned());
        }
        let address = format!("{local}@{domain}");
        if address.len() > Self::MAX_LEN {
            return err("must be at most 254 characters long in its ASCII form".to_owned());
        }
        let options = email_address::Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        if let Err(e) = email_address::EmailAddress::parse_with_options(&address, options) {
            return err(format!("is not a valid address: {e}"));
        }
        Ok(OwnerEmail(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Characters accepted in an e-mail local part: RFC 5322 `atext` without the ones HTML and
/// mail headers give a meaning to.
fn is_local_part_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ".!#$%*+/=?^_{|}~-".contains(c)
}

/// `raw` as a lowercased ASCII DNS name (internationalised labels converted to their `xn--`
/// form), or why it is not one.
fn dns_name(raw: &str) -> Result<String, String> {
    // The WHATWG host parser percent-decodes and maps many characters; anything ASCII but
    // letters, digits, '-' and '.' is refused before it can be rewritten into something else.
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!("'{}' is not allowed in a domain", c.escape_debug()));
    }
    let host = url::Host::parse(raw).map_err(|e| e.to_string())?;
    let url::Host::Domain(name) = host else {
        return Err("an IP address is not a domain".to_owned());
    };
    check_dns_labels(&name)?;
    Ok(name)
}

/// The DNS limits on an ASCII host name: at most 253 characters; labels of 1–63 characters of
/// `[a-z0-9-]` that neither start nor end with `-`.
fn check_dns_labels(name: &str) -> Result<(), String> {
    if name.len() > 253 {
        return Err(format!("'{name}' is longer than 253 characters"));
    }
    for label in name.split('.') {
        if label.is_empty() {
            return Err(format!(
                "'{name}' has an empty label ('..' or a leading or trailing '.')"
            ));
        }
        if label.len() > 63 {
            return Err(format!("'{name}' has a label longer than 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!(
                "'{name}' has a label with characters other than letters, digits and '-'"
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(format!("'{name}' has a label that starts or ends with '-'"));
        }
    }
    Ok(())
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

/// A web origin a tenant's publishable keys are accepted from, stored exactly as a browser
/// sends it in the `Origin` header: parsed and serialised by the WHATWG URL rules (the `url`
/// crate), so the scheme and host are lowercased, an IPv6 host is bracketed and compressed, and
/// the scheme's default port is dropped (`https://a.example:443` is `https://a.example`). Two
/// spellings of one origin are equal. An internationalised host must be given in its ASCII
/// `xn--` form (the refusal names it), so that the API's documented pattern is exact.
///
/// On top of the URL rules, refused with a message naming the problem: schemes other than
/// `http` and `https`; user info; a path other than `/`; a query or fragment (even empty);
/// wildcards; percent-encoding, spaces (surrounding ones too) and control characters; a port
/// that is empty, not
/// plain digits (`:+443`), has a leading zero (`:0443`), is over 65535 or is 0; IPv4
/// addresses not written as four decimal numbers (`https://127.1`) or out of range
/// (`https://999.999.999.999`); host names with an empty label, a label over 63 characters,
/// a label with characters other than `[a-z0-9-]` or starting or ending with `-`, or over 253
/// characters in all.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Origin(String);

impl Origin {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let text = raw;
        let err = |problem: &str| {
            Err(InvalidInput::new(
                "allowed_origins",
                format!("'{}' {problem}", text.escape_debug()),
            ))
        };
        if text.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return err("must not contain spaces or control characters");
        }
        if text.contains('*') {
            return err("must not contain a wildcard '*'; list each origin");
        }
        let Some((scheme, rest)) = text.split_once("://") else {
            return err("must look like https://app.example.com");
        };
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return err("must use http or https");
        }
        // The URL rules treat '\' like '/' in http(s) URLs.
        let authority_end = rest.find(['/', '\\', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        if authority.contains('@') {
            return err("must not contain user info (a name or password before '@')");
        }
        if authority.contains('%') {
            return err("must not contain percent-encoding");
        }
        let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
        if !matches!(&tail[..path_end], "" | "/") {
            return err("must not have a path");
        }
        match tail[path_end..].chars().next() {
            Some('?') => return err("must not have a query"),
            Some(_) => return err("must not have a fragment"),
            None => {}
        }
        let (host_text, port_text) = match split_port(authority) {
            Ok(parts) => parts,
            Err(problem) => return err(problem),
        };
        if host_text.is_empty() {
            return err("has no host");
        }
        if let Some(port) = port_text
            && let Err(problem) = check_port(port)
        {
            return err(&problem);
        }

        let url = match url::Url::parse(text) {
            Ok(url) => url,
            Err(e) => return err(&format!("is not a valid origin: {e}")),
        };
        if !host_text.is_ascii() {
            return err(&format!(
                "has an international host name: give it in its ASCII form, as browsers send \
                 it: {}",
                url.origin().ascii_serialization()
            ));
        }
        // Belt and braces: the raw checks above already refused each of these.
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
            || url.path() != "/"
            || url.query().is_some()
            || url.fragment().is_some()
        {
            return err("must be only a scheme, a host and an optional port");
        }
        match url.host() {
            Some(url::Host::Domain(name)) => {
                if let Err(problem) = check_dns_labels(name) {
                    return err(&format!("has an invalid host: {problem}"));
                }
            }
            Some(url::Host::Ipv4(address)) => {
                // `127.1`, `0x7f.0.0.1` and `2130706433` all mean 127.0.0.1 to the URL rules;
                // only the form everyone reads the same way is accepted.
                if host_text != address.to_string() {
                    return err("must write an IPv4 address as four decimal numbers (192.0.2.1)");
                }
            }
            Some(url::Host::Ipv6(_)) => {}
            None => return err("has no host"),
        }
        Ok(Origin(url.origin().ascii_serialization()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Splits an origin's authority into its host text and, when a ':' follows the host, its
/// port text (possibly empty).
fn split_port(authority: &str) -> Result<(&str, Option<&str>), &'static str> {
    if authority.starts_with('[') {
        let Some(close) = authority.find(']') else {
            return Err("has an IPv6 address without its closing ']'");
        };
        let (host, after) = authority.split_at(close + 1);
        match after.strip_prefix(':') {
            Some(port) => Ok((host, Some(port))),
            None if after.is_empty() => Ok((host, None)),
            None => Err("has text after its IPv6 address"),
        }
    } else {
        Ok(match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        })
    }
}

/// A port as written: plain digits, no leading zero, 1–65535. The URL rules would read
/// `:0443` as 443; refusing it keeps what is stored the same as what was typed, give or take
/// the default port.
fn check_port(port: &str) -> Result<(), String> {
    if port.is_empty() {
        return Err("has an empty port after ':'".to_owned());
    }
    if !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("has a port '{port}' that is not a plain number"));
    }
    if port.len() > 1 && port.starts_with('0') {
        return Err(format!("has a port '{port}' with a leading zero"));
    }
    match port.parse::<u16>() {
        Ok(0) => Err("has port 0, which no browser can connect to".to_owned()),
        Ok(_) => Ok(()),
        Err(_) => Err(format!("has a port '{port}' over 65535")),
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
    fn origins_are_stored_as_browsers_send_them() {
        for (raw, stored) in [
            ("HTTPS://App.Example.com", "https://app.example.com"),
            ("https://a.com", "https://a.com"),
            ("https://a.com:443", "https://a.com"),
            ("https://a.com/", "https://a.com"),
            ("https://a.com:443/", "https://a.com"),
            ("http://a.com:80", "http://a.com"),
            ("http://a.com:443", "http://a.com:443"),
            ("https://a.com:80", "https://a.com:80"),
            ("http://localhost:3000", "http://localhost:3000"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[0:0:0:0:0:0:0:1]", "https://[::1]"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://x.com:65535", "https://x.com:65535"),
            ("https://a-b.c-d.example", "https://a-b.c-d.example"),
        ] {
            let origin = Origin::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(origin.as_str(), stored, "{raw:?}");
        }
    }

    #[test]
    fn two_spellings_of_one_origin_are_equal() {
        assert_eq!(
            Origin::parse("https://a.com").unwrap(),
            Origin::parse("https://A.com:443/").unwrap()
        );
        assert_ne!(
            Origin::parse("https://a.com").unwrap(),
            Origin::parse("http://a.com").unwrap()
        );
    }

    #[test]
    fn every_bad_origin_is_refused_with_a_message_naming_its_problem() {
        let long_label = format!("https://{}.com", "a".repeat(64));
        let long_host = format!("https://{}.com", vec!["a".repeat(60); 5].join("."));
        for (bad, problem) in [
            ("example.com", "must look like"),
            ("https:x.com", "must look like"),
            ("ftp://x.com", "http or https"),
            ("javascript://x.com", "http or https"),
            ("https://x.com/path", "path"),
            ("https://x.com//", "path"),
            ("https://x.com\\path", "path"),
            ("https://x.com?", "query"),
            ("https://x.com/?a=1", "query"),
            ("https://x.com#", "fragment"),
            ("https://x.com/#top", "fragment"),
            ("https://*.x.com", "wildcard"),
            ("*", "wildcard"),
            ("https://u@x.com", "user info"),
            ("https://u:p@x.com", "user info"),
            ("https://x.com:0", "port 0"),
            ("https://x.com:+443", "not a plain number"),
            ("https://x.com:-1", "not a plain number"),
            ("https://x.com:0443", "leading zero"),
            ("https://x.com:65536", "over 65535"),
            ("https://x.com:", "empty port"),
            ("https://x..com", "empty label"),
            ("https://.x.com", "empty label"),
            ("https://x.com.", "empty label"),
            (long_label.as_str(), "longer than 63"),
            (long_host.as_str(), "longer than 253"),
            ("https://x_y.com", "letters, digits and '-'"),
            ("https://-x-.com", "starts or ends with '-'"),
            ("https://999.999.999.999", "invalid IPv4"),
            ("https://127.1", "four decimal numbers"),
            ("https://0x7f.0.0.1", "four decimal numbers"),
            ("https://2130706433", "four decimal numbers"),
            ("https://[::1", "closing ']'"),
            ("https://[::1]x", "after its IPv6"),
            ("https://[::g]", "not a valid origin"),
            ("https://", "no host"),
            ("https://:443", "no host"),
            ("https://x%2ecom", "percent-encoding"),
            ("https://ex ample.com", "spaces"),
            ("https://ex\tample.com", "spaces"),
            ("https://ex\u{202E}ample.com", "not a valid origin"),
            ("  https://a.com  ", "spaces"),
            (
                "https://bücher.example",
                "ASCII form, as browsers send it: https://xn--bcher-kva.example",
            ),
            (
                "https://BÜCHER.example:8443",
                "https://xn--bcher-kva.example:8443",
            ),
        ] {
            let err = Origin::parse(bad).expect_err(bad);
            assert_eq!(err.field, "allowed_origins");
            assert!(
                err.reason.contains(problem),
                "{bad:?} should be refused for {problem:?}, got {:?}",
                err.reason
            );
            let shown = bad.trim().escape_debug().to_string();
            assert!(
                err.reason.contains(&shown),
                "{:?} names the value",
                err.reason
            );
        }
    }

    /// What the WHATWG URL rules make of `raw` as an origin, when they accept it at all.
    fn browser_origin(raw: &str) -> Option<String> {
        url::Url::parse(raw.trim())
            .ok()
            .map(|u| u.origin().ascii_serialization())
    }

    proptest! {
        #[test]
        fn an_accepted_origin_reparses_to_itself_and_is_the_browser_serialisation(
            raw in prop_oneof![
                // Mostly valid host names, some with non-ASCII labels, ports or a '/'.
                "(https?|HTTPS?)://[a-zA-Z0-9ü-]{1,8}(\\.[a-zA-Z0-9ü-]{1,8}){0,2}(:[0-9]{1,5})?/?",
                // IPv4-like and IPv6-like hosts.
                "https?://[0-9]{1,3}(\\.[0-9]{1,3}){0,3}(:[0-9]{1,5})?",
                "https?://\\[(::)?[0-9a-f]{1,4}(:[0-9a-f]{1,4}){0,3}(::)?\\](:[0-9]{1,5})?",
                // Noise: other schemes, user info, wildcards, odd ports, paths, queries.
                "(https?|HTTPS?|ftp)://(\\[[0-9a-f:]{2,8}\\]|[a-zA-Z0-9ü._%@*-]{0,20})(:[0-9+-]{0,6})?(/|/x|\\?|#)?",
            ]
        ) {
            if let Ok(origin) = Origin::parse(&raw) {
                prop_assert_eq!(Origin::parse(origin.as_str()), Ok(origin.clone()));
                prop_assert_eq!(browser_origin(&raw), Some(origin.as_str().to_owned()));
            }
        }

        #[test]
        fn origins_built_from_valid_parts_are_accepted_as_browsers_serialise_them(
            https in any::<bool>(),
            labels in proptest::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4),
            tld in "[a-z]{2,6}",
            port in proptest::option::of(1u16..),
        ) {
            // An `xn--` label must be valid punycode; these are not meant to be.
            prop_assume!(!labels.iter().any(|l| l.starts_with("xn--")));
            let scheme = if https { "https" } else { "http" };
            let host = format!("{}.{tld}", labels.join("."));
            let raw = match port {
                Some(port) => format!("{scheme}://{host}:{port}"),
                None => format!("{scheme}://{host}"),
            };
            let origin = Origin::parse(&raw).unwrap();
            let default_port = if https { 443 } else { 80 };
            let expected = match port {
                Some(port) if port != default_port => format!("{scheme}://{host}:{port}"),
                _ => format!("{scheme}://{host}"),
            };
            prop_assert_eq!(origin.as_str(), expected.as_str());
            prop_assert_eq!(browser_origin(&raw), Some(expected));
            prop_assert_eq!(Origin::parse(origin.as_str()), Ok(origin.clone()));
        }
    }

    #[test]
    fn emails_are_stored_with_a_lowercase_ascii_domain() {
        for (raw, stored) in [
            ("ops@acme.io", "ops@acme.io"),
            ("Boss@Patchy.IO", "Boss@patchy.io"),
            (
                "first.last+tag@mail.acme.example",
                "first.last+tag@mail.acme.example",
            ),
            ("a!#$%*+/=?^_{|}~-z@x.co", "a!#$%*+/=?^_{|}~-z@x.co"),
            ("ops@xn--bcher-kva.example", "ops@xn--bcher-kva.example"),
            ("ops@a-b.x1.example", "ops@a-b.x1.example"),
        ] {
            let email = OwnerEmail::parse(raw).unwrap_or_else(|e| panic!("{raw:?}: {e}"));
            assert_eq!(email.as_str(), stored, "{raw:?}");
        }
    }

    #[test]
    fn every_bad_email_is_refused_with_a_message_naming_its_problem() {
        let long_label = format!("ops@{}.com", "a".repeat(64));
        // Within 254 characters as typed, over 253 once each `ü` label is `xn--tda`.
        let long_domain = format!("o@{}", vec!["ü"; 84].join("."));
        let long_local = format!("{}@x.com", "a".repeat(65));
        for (bad, problem) in [
            ("", "1 to 254"),
            ("ops", "'@'"),
            ("@acme.io", "local part"),
            ("a@b@c.io", "exactly one '@'"),
            ("o ps@acme.io", "spaces"),
            ("ops@acme", "dotted domain"),
            ("<script>@x.co", "'<'"),
            ("a>b@x.co", "'>'"),
            ("\"quoted\"@x.co", "'\\\"'"),
            ("o'brien@x.co", "'\\''"),
            ("a&b@x.co", "'&'"),
            ("a`b@x.co", "'`'"),
            ("é@x.co", "'é'"),
            (".a@x.co", "'.'"),
            ("a.@x.co", "'.'"),
            ("a..b@x.co", "'..'"),
            (long_local.as_str(), "at most 64"),
            ("a@-x-.co", "starts or ends with '-'"),
            ("a@x-.co", "starts or ends with '-'"),
            ("a@x..co", "empty label"),
            ("a@x.co.", "empty label"),
            ("a@x_y.co", "'_'"),
            ("a@x%41.co", "'%'"),
            ("a@[127.0.0.1]", "'['"),
            ("a@127.0.0.1", "IP address"),
            (long_label.as_str(), "longer than 63"),
            (long_domain.as_str(), "longer than 253"),
            (" ops@acme.io ", "spaces"),
            (
                "ops@bücher.example",
                "ASCII form: ops@xn--bcher-kva.example",
            ),
        ] {
            let err = OwnerEmail::parse(bad).expect_err(bad);
            assert_eq!(err.field, "owner_email");
            assert!(
                err.reason.contains(problem),
                "{bad:?} should be refused for {problem:?}, got {:?}",
                err.reason
            );
        }
    }

    #[test]
    fn names_keep_joiners_that_scripts_and_emoji_need() {
        for ok in [
            "Acme Corp",
            "  Padded  ",
            "می\u{200C}خواهم",
            "क्\u{200D}ष",
            "👩\u{200D}💻 Studio",
            "Ünïcödé ✓",
        ] {
            let name = TenantName::parse(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(name.as_str(), ok.trim());
        }
    }

    #[test]
    fn names_with_hidden_characters_are_refused_naming_the_character() {
        for (bad, problem) in [
            ("", "1 to 200"),
            ("   ", "1 to 200"),
            ("a\u{7}b", "control characters (found U+0007)"),
            ("a\nb", "control characters (found U+000A)"),
            ("a\u{85}b", "control characters (found U+0085)"),
            (
                "evil\u{202E}txt.exe",
                "bidirectional control characters (found U+202E)",
            ),
            (
                "a\u{202A}b",
                "bidirectional control characters (found U+202A)",
            ),
            (
                "a\u{2066}b",
                "bidirectional control characters (found U+2066)",
            ),
            (
                "a\u{2069}b",
                "bidirectional control characters (found U+2069)",
            ),
            (
                "a\u{200E}b",
                "bidirectional control characters (found U+200E)",
            ),
            (
                "a\u{200F}b",
                "bidirectional control characters (found U+200F)",
            ),
            (
                "a\u{061C}b",
                "bidirectional control characters (found U+061C)",
            ),
            ("a\u{2028}b", "line or paragraph separators (found U+2028)"),
            ("a\u{2029}b", "line or paragraph separators (found U+2029)"),
            (
                "a\u{200B}b",
                "invisible formatting characters (found U+200B)",
            ),
            (
                "a\u{FEFF}b",
                "invisible formatting characters (found U+FEFF)",
            ),
            (
                "a\u{2060}b",
                "invisible formatting characters (found U+2060)",
            ),
            (
                "a\u{2064}b",
                "invisible formatting characters (found U+2064)",
            ),
            (
                "a\u{FFF9}b",
                "invisible formatting characters (found U+FFF9)",
            ),
            (
                "a\u{FFFB}b",
                "invisible formatting characters (found U+FFFB)",
            ),
            ("a\u{FDD0}b", "noncharacters (found U+FDD0)"),
            ("a\u{FFFE}b", "noncharacters (found U+FFFE)"),
            ("a\u{1FFFF}b", "noncharacters (found U+1FFFF)"),
            ("a\u{10FFFF}b", "noncharacters (found U+10FFFF)"),
        ] {
            let err = TenantName::parse(bad).expect_err(bad);
            assert_eq!(err.field, "name");
            assert!(
                err.reason.contains(problem),
                "{bad:?} should be refused for {problem:?}, got {:?}",
                err.reason
            );
        }
        assert!(TenantName::parse(&"n".repeat(200)).is_ok());
        assert!(TenantName::parse(&"n".repeat(201)).is_err());
    }
}
