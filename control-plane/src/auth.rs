//! Operator authentication: every route except the public ones ([`PUBLIC_PATHS`]) requires
//! `Authorization: Bearer <operator token>`.
//!
//! The presented token is compared with the configured one in constant time, over SHA-256
//! digests of both, so neither the content nor the length of the real token leaks through
//! timing. A missing, malformed or wrong token gets the same 401 body.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::ApiError;
use crate::routes::health;
use crate::state::AppState;

/// Paths anyone may call: liveness, readiness and the API description.
pub const PUBLIC_PATHS: [&str; 3] = [health::HEALTHZ, health::READYZ, health::OPENAPI_JSON];

/// Middleware: lets public paths through, checks the operator token on everything else.
pub async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if PUBLIC_PATHS.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    match bearer_token(request.headers()) {
        Some(presented) if tokens_match(presented, state.operator_token.expose_secret()) => {
            next.run(request).await
        }
        // Missing, malformed and wrong tokens get one answer: nothing tells a caller which
        // of them it got wrong.
        _ => unauthorized().into_response(),
    }
}

/// The one 401 of every refused request.
fn unauthorized() -> ApiError {
    ApiError::Unauthorized(
        "a valid operator token is required as 'Authorization: Bearer <token>'".to_owned(),
    )
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// Constant-time equality of two tokens, independent of where they first differ and of their
/// lengths.
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
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_exact_token_matches() {
        assert!(tokens_match("spo_abc", "spo_abc"));
        assert!(!tokens_match("spo_abd", "spo_abc"));
        assert!(!tokens_match("spo_ab", "spo_abc"));
        assert!(!tokens_match("", ""));
    }

    #[test]
    fn bearer_token_needs_the_bearer_scheme_and_a_token() {
        let mut headers = HeaderMap::new();
        assert_eq!(bearer_token(&headers), None);
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Bearer t0k"),
        );
        assert_eq!(bearer_token(&headers), Some("t0k"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer t0k"),
        );
        assert_eq!(bearer_token(&headers), Some("t0k"));
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Basic t0k"));
        assert_eq!(bearer_token(&headers), None);
        headers.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer "));
        assert_eq!(bearer_token(&headers), None);
    }
}
