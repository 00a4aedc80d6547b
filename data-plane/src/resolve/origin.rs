//! Origin lockdown: a publishable key works only from a browser origin its tenant allows; a
//! secret key only from a server, with no `Origin` at all.
//!
//! A browser sends its origin serialised (lowercase scheme and host, no default port, no
//! path), which is exactly how a tenant's allowed origins are stored ([`tenancy::Origin`]),
//! so the header is compared to them byte for byte: `null`, a look-alike host, another
//! scheme, port or spelling all fail. An empty allow-list allows no browser origin.

use service::{ApiError, ErrorCode};
use tenancy::{ApiKeyKind, Origin};

/// The origin a request may be answered to (its CORS allow header), `None` for a server-side
/// caller; or 403 `origin_not_allowed`.
pub fn check(
    kind: ApiKeyKind,
    origin: Option<&str>,
    allowed: &[Origin],
) -> Result<Option<Origin>, ApiError> {
    let refuse = |message: String| ApiError::Forbidden {
        code: ErrorCode::OriginNotAllowed,
        message,
    };
    match (kind, origin) {
        (ApiKeyKind::Secret, None) => Ok(None),
        (ApiKeyKind::Secret, Some(_)) => Err(refuse(
            "a secret API key is for servers and is refused from a browser; use a publishable key".to_owned(),
        )),
        (ApiKeyKind::Publishable, None) => Err(refuse(
            "a publishable API key works only from a browser origin its tenant allows, and this request has no Origin".to_owned(),
        )),
        (ApiKeyKind::Publishable, Some(raw)) => match allowed.iter().find(|o| o.as_str() == raw) {
            Some(origin) => Ok(Some(origin.clone())),
            None => Err(refuse(format!("origin {raw:?} is not among the tenant's allowed origins"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowed() -> Vec<Origin> {
        vec![Origin::parse("https://app.acme.io").unwrap()]
    }

    #[test]
    fn publishable_keys_work_from_allowed_origins_only() {
        let ok = check(
            ApiKeyKind::Publishable,
            Some("https://app.acme.io"),
            &allowed(),
        )
        .unwrap();
        assert_eq!(ok.unwrap().as_str(), "https://app.acme.io");
        for foreign in [
            "null",
            "https://app.acme.io.evil.com",
            "https://evil-app.acme.io",
            "http://app.acme.io",
            "https://app.acme.io:8443",
            "https://app.acme.io/",
            "https://APP.acme.io",
            "https://app.acme.io:443",
            " https://app.acme.io",
            "",
        ] {
            assert!(
                check(ApiKeyKind::Publishable, Some(foreign), &allowed()).is_err(),
                "{foreign:?} was allowed"
            );
        }
        assert!(check(ApiKeyKind::Publishable, None, &allowed()).is_err());
        assert!(
            check(ApiKeyKind::Publishable, Some("https://app.acme.io"), &[]).is_err(),
            "an empty list allows none"
        );
    }

    #[test]
    fn secret_keys_serve_servers_only() {
        assert_eq!(check(ApiKeyKind::Secret, None, &allowed()).unwrap(), None);
        assert!(check(ApiKeyKind::Secret, Some("https://app.acme.io"), &allowed()).is_err());
    }
}
