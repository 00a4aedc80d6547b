//! Which content a page and a user get: URL patterns and trait rules.
//!
//! A pattern is matched against the page's host and path (never its query or fragment, which
//! carry per-visit noise), with `*` standing for any run of characters. A pattern starting
//! with `/` or `*` matches the path on any host; one starting with a host name matches
//! `host/path`.

use serde_json::{Map, Value};

use super::model::{Targeting, TraitRule};

/// The longest pattern, in bytes.
pub const MAX_PATTERN_LEN: usize = 500;

/// A checked URL pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlPattern {
    pattern: String,
    with_host: bool,
}

impl UrlPattern {
    pub fn parse(raw: &str) -> Result<UrlPattern, &'static str> {
        if raw.is_empty() || raw.len() > MAX_PATTERN_LEN {
            return Err("must be 1 to 500 characters long");
        }
        if raw.chars().any(|c| c.is_control() || c.is_whitespace()) {
            return Err("must not contain spaces or control characters");
        }
        if raw.contains("://") {
            return Err("names a host and a path (app.example.com/path), without a scheme");
        }
        if raw.contains('?') || raw.contains('#') {
            return Err("matches the host and path only: leave out '?' and '#'");
        }
        let with_host = !(raw.starts_with('/') || raw.starts_with('*'));
        let before_path = &raw[..raw.find('/').unwrap_or(raw.len())];
        if !with_host && before_path.contains('.') {
            return Err(
                "host wildcards (*.example.com) are not supported: name the host, or start with / or *",
            );
        }
        if with_host && !raw.contains('/') {
            return Err(
                "a host must be followed by a path (app.example.com/ or app.example.com/*)",
            );
        }
        Ok(UrlPattern {
            pattern: if with_host {
                lowercase_host(raw)
            } else {
                raw.to_owned()
            },
            with_host,
        })
    }

    /// Whether the page at `host` and `path` matches.
    pub fn matches(&self, host: &str, path: &str) -> bool {
        if self.with_host {
            let subject = format!("{}{}", host.to_ascii_lowercase(), path);
            glob(self.pattern.as_bytes(), subject.as_bytes())
        } else {
            glob(self.pattern.as_bytes(), path.as_bytes())
        }
    }
}

/// `host/path` with the host lower-cased: host names are case-insensitive, paths are not.
fn lowercase_host(raw: &str) -> String {
    let split = raw.find('/').unwrap_or(raw.len());
    format!("{}{}", raw[..split].to_ascii_lowercase(), &raw[split..])
}

/// Wildcard match where `*` is any run of bytes: linear in practice, with one backtrack point
/// (the last `*` seen), so a hostile pattern cannot make it exponential.
fn glob(pattern: &[u8], subject: &[u8]) -> bool {
    let (mut p, mut s) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while s < subject.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, s));
            p += 1;
        } else if p < pattern.len() && pattern[p] == subject[s] {
            p += 1;
            s += 1;
        } else if let Some((star_p, star_s)) = star {
            p = star_p + 1;
            s = star_s + 1;
            star = Some((star_p, star_s + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

/// Whether content with `targeting` shows on the page at `host`/`path` to a user with
/// `traits` (`None`: anonymous). Patterns that do not parse never match (they cannot be
/// published, so this only guards stored data).
pub fn shows(
    targeting: &Targeting,
    host: &str,
    path: &str,
    traits: Option<&Map<String, Value>>,
) -> bool {
    let patterns: Vec<UrlPattern> = targeting
        .urls
        .iter()
        .filter_map(|raw| UrlPattern::parse(raw).ok())
        .collect();
    shows_parsed(&patterns, &targeting.traits, host, path, traits)
}

/// [`shows`] with the URL patterns parsed beforehand (`patterns`: those of the targeting's
/// URLs that parse) and its trait `rules`.
pub fn shows_parsed(
    patterns: &[UrlPattern],
    rules: &[TraitRule],
    host: &str,
    path: &str,
    traits: Option<&Map<String, Value>>,
) -> bool {
    if !patterns.iter().any(|pattern| pattern.matches(host, path)) {
        return false;
    }
    if rules.is_empty() {
        return true;
    }
    let Some(traits) = traits else {
        return false;
    };
    rules.iter().all(|rule| holds(rule, traits))
}

fn holds(rule: &TraitRule, traits: &Map<String, Value>) -> bool {
    let claim = traits.get(rule.name());
    match rule {
        TraitRule::Eq { value, .. } => claim == Some(value),
        TraitRule::Neq { value, .. } => claim != Some(value),
        TraitRule::In { values, .. } => claim.is_some_and(|c| values.contains(c)),
        TraitRule::Exists { .. } => claim.is_some(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;

    fn matches(pattern: &str, host: &str, path: &str) -> bool {
        UrlPattern::parse(pattern).unwrap().matches(host, path)
    }

    #[test]
    fn patterns_match_the_path_or_the_host_and_path() {
        assert!(matches("/billing", "a.io", "/billing"));
        assert!(!matches("/billing", "a.io", "/billing/invoices"));
        assert!(matches("/billing*", "a.io", "/billing/invoices"));
        assert!(matches("/docs/*/edit", "a.io", "/docs/42/edit"));
        assert!(!matches("/docs/*/edit", "a.io", "/docs/42/view"));
        assert!(matches("*", "a.io", "/anything"));
        assert!(matches(
            "App.Example.com/settings/*",
            "app.example.com",
            "/settings/team"
        ));
        assert!(!matches(
            "app.example.com/settings/*",
            "evil.com",
            "/settings/team"
        ));
        assert!(
            !matches("/Billing", "a.io", "/billing"),
            "paths are case-sensitive"
        );
    }

    #[test]
    fn malformed_patterns_are_refused_with_a_reason() {
        for bad in [
            "",
            "https://a.io/x",
            "/a?b=1",
            "/a#top",
            "a b",
            "app.example.com",
        ] {
            assert!(UrlPattern::parse(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(UrlPattern::parse(&format!("/{}", "a".repeat(500))).is_err());
    }

    #[test]
    fn trait_rules_need_a_user_and_every_rule_to_hold() {
        let targeting: Targeting = serde_json::from_value(json!({
            "urls": ["*"],
            "traits": [
                {"op": "eq", "trait": "plan", "value": "pro"},
                {"op": "in", "trait": "role", "values": ["admin", "owner"]},
                {"op": "exists", "trait": "email"},
                {"op": "neq", "trait": "beta", "value": true}
            ]
        }))
        .unwrap();
        let user = json!({"plan": "pro", "role": "owner", "email": "a@b.c"});
        assert!(shows(&targeting, "a.io", "/", user.as_object()));
        assert!(
            !shows(&targeting, "a.io", "/", None),
            "anonymous users get no trait-targeted content"
        );
        for (claim, value) in [
            ("plan", json!("free")),
            ("role", json!("viewer")),
            ("beta", json!(true)),
        ] {
            let mut other = user.as_object().unwrap().clone();
            other.insert(claim.to_owned(), value);
            assert!(
                !shows(&targeting, "a.io", "/", Some(&other)),
                "{claim} should not match"
            );
        }
    }

    proptest! {
        /// The glob agrees with a slow, obviously right matcher on small alphabets.
        #[test]
        fn glob_agrees_with_a_reference(pattern in "[ab*]{0,8}", subject in "[ab]{0,10}") {
            fn reference(p: &[u8], s: &[u8]) -> bool {
                match p.first() {
                    None => s.is_empty(),
                    Some(b'*') => (0..=s.len()).any(|i| reference(&p[1..], &s[i..])),
                    Some(c) => s.first() == Some(c) && reference(&p[1..], &s[1..]),
                }
            }
            prop_assert_eq!(glob(pattern.as_bytes(), subject.as_bytes()), reference(pattern.as_bytes(), subject.as_bytes()));
        }
    }
}
