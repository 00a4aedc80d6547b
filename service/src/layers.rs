//! The layer stack every Spotlight service puts around its routes, so that both answer the
//! same way where no handler decides: an unknown path, a wrong method, an oversized body, a
//! panic. What is specific to one service (authentication, `Idempotency-Key`) it layers on its
//! own routes before handing the router to [`common`].

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

use std::sync::Arc;

use crate::error::{ApiError, ErrorCode};
use crate::metrics::{self, Metrics};

/// What [`common`] needs from a service.
#[derive(Clone)]
pub struct Stack {
    /// Largest request body accepted, in bytes; larger ones get the JSON 413.
    pub max_body_bytes: usize,
    /// Where every request's route, status and latency is recorded.
    pub metrics: Arc<Metrics>,
}

/// Wraps `router` in the common stack. Layers, outermost first:
///
/// 1. tracing of every request;
/// 2. a panic anywhere below becomes the JSON 500 (`internal`), never a dropped connection;
/// 3. body limit: a declared length over [`Stack::max_body_bytes`] is a 413 at once, a longer
///    streamed body fails the extractor ([`crate::extract::ApiJson`]) with the same 413;
/// 4. innermost, inside routing: the request's route pattern, status and latency recorded in
///    [`Stack::metrics`].
///
/// Unknown paths are a JSON 404 (`not_found`) and known paths with another method a JSON 405
/// (`method_not_allowed`): call this after every route is on `router` (the 405 answer is set
/// on the routes present).
pub fn common<S>(router: Router<S>, stack: Stack) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    let max_body = stack.max_body_bytes;
    router
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Inside routing, so that the route's pattern is known; the fallback's 404s are
        // recorded as `unmatched`.
        .layer(middleware::from_fn_with_state(
            stack.metrics,
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn_with_state(
            max_body,
            refuse_declared_oversize,
        ))
        .layer(CatchPanicLayer::custom(panic_response))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
}

/// The response for a handler that panicked: the one JSON 500 body; the panic message is
/// logged, never sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    ApiError::Internal(format!("a request handler panicked: {message}")).into_response()
}

async fn not_found(request: Request) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::NotFound,
        message: format!("no route for {} {}", request.method(), request.uri().path()),
    }
}

async fn method_not_allowed(request: Request) -> ApiError {
    ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}",
        request.method(),
        request.uri().path()
    ))
}

/// A request whose `Content-Length` exceeds the limit is refused before its body is read.
async fn refuse_declared_oversize(
    State(max): State<usize>,
    request: Request,
    next: Next,
) -> Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > max as u64 => ApiError::PayloadTooLarge(format!(
            "the request body has {len} bytes; at most {max} are accepted"
        ))
        .into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panic_becomes_the_json_500_without_its_message() {
        for panic in [
            Box::new("index out of bounds at /somewhere/secret.rs")
                as Box<dyn std::any::Any + Send>,
            Box::new(String::from("index out of bounds at /somewhere/secret.rs")),
            Box::new(42_u8),
        ] {
            let response = panic_response(panic);
            assert_eq!(
                response.status(),
                axum::http::StatusCode::INTERNAL_SERVER_ERROR
            );
            let body = axum::body::to_bytes(response.into_body(), 4096)
                .await
                .unwrap();
            let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert_eq!(body["error"]["code"], "internal", "{body}");
            assert!(!body.to_string().contains("secret.rs"), "{body}");
        }
    }
}
