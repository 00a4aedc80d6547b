//! The operator's bearer token, as every service checks it: `Authorization: Bearer <token>`,
//! compared in constant time over SHA-256 digests of both, so neither the content nor the
//! length of the real token leaks through timing.

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
pub fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Constant-time equality of two tokens, independent of where they first differ and of their
/// lengths. An empty expected token matches nothing.
pub fn tokens_match(presented: &str, expected: &str) -> bool {
    if expected.is_empty() {
        return false;
    }
    let a = Sha256::digest(presented.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(tokens_match("spo_abc", "spo_abc"));
        assert!(!tokens_match("spo_abd", "spo_abc"));
        assert!(!tokens_match("spo_ab", "spo_abc"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn the_scheme_is_case_insensitive_and_an_empty_token_is_none() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer tok"),
        );
        assert_eq!(bearer_token(&headers), Some("tok"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic tok"));
        assert_eq!(bearer_token(&headers), None);
    }
}
