//! Where a tenant's keys may be fetched from: [`JwksUrl`], checked when it is registered, and
//! [`FetchPolicy`], which the fetch applies again to the URL and to every address its host
//! resolves to.
//!
//! The URL is the tenant's to choose, so the platform must not become a way to reach what
//! only it can reach: the cloud's metadata service (169.254.169.254), the private network,
//! its own loopback services. Checking the URL at registration is not enough — a public name
//! can resolve to a private address at fetch time — so the fetch resolves the name itself and
//! connects only to addresses this policy permits.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

/// The longest JWKS URL accepted.
pub const MAX_URL_CHARS: usize = 2048;

/// Which addresses a tenant's JWKS may be fetched from.
///
/// The default permits public addresses only, over `https`. `allow_loopback` also permits
/// loopback addresses (and plain `http` to them), so tests can serve keys from 127.0.0.1; it
/// exists for tests only and no setting read from the environment turns it on.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    pub allow_loopback: bool,
}

impl FetchPolicy {
    /// Public addresses over `https` only: what every deployment uses.
    pub const PUBLIC_ONLY: FetchPolicy = FetchPolicy {
        allow_loopback: false,
    };

    /// Also loopback, over `http` or `https`. Tests only.
    pub const LOOPBACK_FOR_TESTS: FetchPolicy = FetchPolicy {
        allow_loopback: true,
    };

    /// Whether a connection to `ip` may be made.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || (self.allow_loopback && is_loopback(ip))
    }

    /// Whether `raw` may be fetched: a URL of at most 2048 visible ASCII characters, `https`
    /// (plain `http` only to loopback, and only when loopback is allowed), without user
    /// info or fragment, whose host is a domain name other than `localhost` or a permitted
    /// IP address. Errors: why not, for a person.
    pub fn check_url(&self, raw: &str) -> Result<url::Url, String> {
        if raw.is_empty() || raw.chars().count() > MAX_URL_CHARS {
            return Err(format!("must be 1 to {MAX_URL_CHARS} characters long"));
        }
        if !raw.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(
                "may contain only visible ASCII characters: no spaces, and an \
                        international host in its xn-- form"
                    .to_owned(),
            );
        }
        let url = url::Url::parse(raw).map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(format!("{raw:?} must not contain user info"));
        }
        if url.fragment().is_some() {
            return Err(format!("{raw:?} must not have a fragment"));
        }
        let loopback = match url.host() {
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.');
                let local = name == "localhost" || name.ends_with(".localhost");
                if local && !self.allow_loopback {
                    return Err(format!(
                        "{raw:?} names localhost: keys are fetched only from public hosts"
                    ));
                }
                local
            }
            Some(url::Host::Ipv4(ip)) => self.check_ip(raw, IpAddr::V4(ip))?,
            Some(url::Host::Ipv6(ip)) => self.check_ip(raw, IpAddr::V6(ip))?,
            None => return Err(format!("{raw:?} has no host")),
        };
        match url.scheme() {
            "https" => Ok(url),
            "http" if loopback && self.allow_loopback => Ok(url),
            _ => Err(format!(
                "{raw:?} must use https: keys fetched in the clear could be replaced by \
                 anyone on the way"
            )),
        }
    }

    /// Whether `ip` may be a URL's host; `Ok(true)` for a (permitted) loopback address.
    fn check_ip(&self, raw: &str, ip: IpAddr) -> Result<bool, String> {
        if self.permits(ip) {
            Ok(is_loopback(ip))
        } else {
            Err(format!(
                "{raw:?} names {ip}, a private, loopback, link-local or otherwise \
                 non-public address: keys are fetched only from public hosts"
            ))
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `ip` is a globally reachable unicast address: none of loopback, private
/// (RFC 1918, unique local), link-local (the cloud metadata service among them), shared
/// (carrier-grade NAT), unspecified, broadcast, multicast, documentation, benchmarking or
/// reserved ranges, nor an IPv6 form embedding such an IPv4 address (mapped, compatible,
/// NAT64).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (b == 18 || b == 19))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let segments = ip.segments();
    // NAT64 (64:ff9b::/96) reaches the IPv4 address in its last 32 bits.
    if segments[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let [.., hi, lo] = segments;
        return is_public_v4(Ipv4Addr::from((u32::from(hi) << 16) | u32::from(lo)));
    }
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        // ::/96, the deprecated IPv4-compatible form.
        || segments[..6] == [0; 6]
        // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local.
        || (segments[0] & 0xfe00) == 0xfc00
        || (segments[0] & 0xffc0) == 0xfe80
        || (segments[0] & 0xffc0) == 0xfec0
        // 2001:db8::/32 documentation.
        || (segments[0] == 0x2001 && segments[1] == 0x0db8))
}

/// A tenant's JWKS URL, checked against [`FetchPolicy`] when it was registered. The fetch
/// checks it again, with the verifier's own policy, and every address it resolves to.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JwksUrl(String);

impl JwksUrl {
    /// `raw`, if `policy` permits fetching from it. Errors: why not.
    pub fn parse(raw: &str, policy: &FetchPolicy) -> Result<JwksUrl, String> {
        policy.check_url(raw)?;
        Ok(JwksUrl(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JwksUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored URL is read with loopback allowed: it passed the registering deployment's check
/// (which a test deployment relaxes), and every fetch checks it again under the verifier's
/// own policy, which is where loopback is refused in earnest.
impl TryFrom<String> for JwksUrl {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, Self::Error> {
        JwksUrl::parse(&raw, &FetchPolicy::LOOPBACK_FOR_TESTS)
    }
}

impl From<JwksUrl> for String {
    fn from(url: JwksUrl) -> Self {
        url.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_https_urls_are_accepted_by_default() {
        let policy = FetchPolicy::PUBLIC_ONLY;
        for ok in [
            "https://auth.example.com/.well-known/jwks.json",
            "HTTPS://Auth.Example.com:8443/keys?tenant=a",
            "https://8.8.8.8/jwks.json",
            "https://[2606:4700::1111]/jwks.json",
        ] {
            assert!(
                policy.check_url(ok).is_ok(),
                "{ok}: {:?}",
                policy.check_url(ok)
            );
        }
        for (bad, why) in [
            ("http://auth.example.com/jwks.json", "must use https"),
            ("https://10.0.0.8/jwks.json", "non-public address"),
            ("https://192.168.1.1/jwks.json", "non-public address"),
            ("https://172.16.0.1/jwks.json", "non-public address"),
            (
                "https://169.254.169.254/latest/meta-data",
                "non-public address",
            ),
            ("https://127.0.0.1/jwks.json", "non-public address"),
            ("https://0x7f.1/jwks.json", "non-public address"),
            ("https://2130706433/jwks.json", "non-public address"),
            ("https://0.0.0.0/jwks.json", "non-public address"),
            ("https://100.64.0.1/jwks.json", "non-public address"),
            ("https://[::1]/jwks.json", "non-public address"),
            ("https://[::]/jwks.json", "non-public address"),
            ("https://[fe80::1]/jwks.json", "non-public address"),
            ("https://[fd00::1]/jwks.json", "non-public address"),
            ("https://[::ffff:10.0.0.1]/jwks.json", "non-public address"),
            (
                "https://[64:ff9b::a9fe:a9fe]/jwks.json",
                "non-public address",
            ),
            ("https://localhost/jwks.json", "names localhost"),
            ("https://keys.localhost./jwks.json", "names localhost"),
            ("https://user:pw@auth.example.com/jwks.json", "user info"),
            ("https://auth.example.com/jwks.json#x", "fragment"),
            ("https://auth.example.com/jwks.json ", "visible ASCII"),
            ("https://bücher.example/jwks.json", "visible ASCII"),
            ("ftp://auth.example.com/jwks.json", "must use https"),
            ("not a url", "visible ASCII"),
            ("", "1 to 2048"),
        ] {
            let refused = policy.check_url(bad).expect_err(bad);
            assert!(refused.contains(why), "{bad}: {refused}");
        }
    }

    #[test]
    fn loopback_over_http_needs_the_test_policy() {
        let url = "http://127.0.0.1:5000/jwks.json";
        assert!(FetchPolicy::PUBLIC_ONLY.check_url(url).is_err());
        assert!(FetchPolicy::LOOPBACK_FOR_TESTS.check_url(url).is_ok());
        assert!(
            FetchPolicy::LOOPBACK_FOR_TESTS
                .check_url("http://localhost:5000/jwks.json")
                .is_ok()
        );
        // Loopback is the only exception: private addresses and plain http elsewhere stay out.
        assert!(
            FetchPolicy::LOOPBACK_FOR_TESTS
                .check_url("http://10.0.0.1/jwks.json")
                .is_err()
        );
        assert!(
            FetchPolicy::LOOPBACK_FOR_TESTS
                .check_url("http://auth.example.com/jwks.json")
                .is_err()
        );
        assert!(!FetchPolicy::default().allow_loopback);
    }

    #[test]
    fn resolved_addresses_are_judged_like_literal_ones() {
        let public: IpAddr = "93.184.215.14".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(FetchPolicy::PUBLIC_ONLY.permits(public));
        assert!(!FetchPolicy::PUBLIC_ONLY.permits(metadata));
        assert!(!FetchPolicy::PUBLIC_ONLY.permits(loopback));
        assert!(FetchPolicy::LOOPBACK_FOR_TESTS.permits(loopback));
        assert!(!FetchPolicy::LOOPBACK_FOR_TESTS.permits(metadata));
    }
}
