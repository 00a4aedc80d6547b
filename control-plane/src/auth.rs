//! Operator authentication: `Authorization: Bearer <operator token>` on every operator route.
//!
//! It is applied per router, not by path: [`require_operator`] is a `route_layer` on the
//! router of operator routes (`crate::routes::operator`), so a route is guarded because it is
//! on that router, and the public routes (`crate::routes::public`: liveness, readiness, the
//! API document) are on a router without it. An unknown path belongs to neither and gets the
//! JSON 404 whatever token it carries; the route table it would reveal is public in
//! `/openapi.json` anyway.
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
use crate::state::AppState;

/// Middleware for the operator routes: lets a request with the operator token through.
pub async fn require_operator(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
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
