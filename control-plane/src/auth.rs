//! Operator authentication: `Authorization: Bearer <operator token>` on every operator route.
//!
//! It is applied per router, not by path: [`require_operator`] is a `route_layer` on the
//! router of operator routes (`crate::routes::operator`), so a route is guarded because it is
//! on that router, and the public routes (`crate::routes::public`: liveness, readiness, the
//! API document) are on a router without it. An unknown path belongs to neither and gets the
//! JSON 404 whatever token it carries; the route table it would reveal is public in
//! `/openapi.json` anyway.
//!
//! The presented token is compared with the configured one in constant time
//! ([`service::auth`], which the data plane's `/metrics` uses too). A missing, malformed or
//! wrong token gets the same 401 body.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use secrecy::ExposeSecret;
use service::auth::{bearer_token, tokens_match};

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
