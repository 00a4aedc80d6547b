//! Spotlight's control plane: the tenant lifecycle HTTP API.
//!
//! - [`config`]: control-plane settings (`SPOTLIGHT_*`), on top of the provisioner's; secrets.
//! - [`error`]: the one failure-to-HTTP mapping (`{"error": {code, message, details?}}`).
//! - [`extract`]: JSON, query and tenant-path extractors whose rejections use that mapping.
//! - [`state`]: what every handler shares, and how it is assembled.
//! - [`auth`]: operator bearer-token check.
//! - [`idempotency`]: `Idempotency-Key` on every POST.
//! - [`sealing`]: stored idempotent responses are sealed under a key derived from the pepper.
//! - [`routes`]: `tenants`, `api_keys`, `health` (with `/openapi.json`), each its own router,
//!   every route registered together with its OpenAPI entry.
//! - [`openapi`]: merges those routers and splits them into the `Router` and the document.
//! - [`server`]: the HTTP/1.1 listener and its limits (header-read, idle and request timeouts,
//!   connection bound).
//!
//! [`app`] is the one router and [`serve`] the one way to serve it: the binary, the tests and
//! the benchmarks all go through both.
//!
//! The background runs (one per tenant, resumed at start-up, reconciled periodically, drained
//! on stop) are the provisioner's [`provisioner::RunTracker`], held in [`AppState::runs`]; this
//! crate holds only the HTTP around them.

pub mod auth;
pub mod config;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod openapi;
pub mod routes;
pub mod sealing;
pub mod server;
pub mod state;

use std::future::Future;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

pub use config::ControlPlaneSettings;
pub use error::{ApiError, ApiResult};
pub use state::AppState;

/// The control plane's router. Layers, outermost first:
///
/// 1. tracing of every request;
/// 2. a panic anywhere below becomes the JSON 500 (`internal`), never a dropped connection;
/// 3. body limit (`SPOTLIGHT_MAX_BODY_BYTES`): a declared length over it is a 413 at once,
///    a longer streamed body fails the extractor with the same 413;
/// 4. operator auth on everything but `/healthz`, `/readyz` and `/openapi.json`;
/// 5. `Idempotency-Key` handling on POSTs.
///
/// Unknown paths are a JSON 404, known paths with another method a JSON 405. The routes and
/// the document `/openapi.json` serves come from one [`routes::router`].
pub fn app(state: AppState) -> Router {
    let max_body = state.settings.max_body_bytes.as_usize();
    let (routes, document) = openapi::split(routes::router());
    routes
        .layer(Extension(openapi::ServedDocument::new(&document)))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent_post,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
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
        .with_state(state)
}

/// Serves [`app`] on `listener` with the settings' [`server::ServerLimits`] until `shutdown`
/// resolves, then stops accepting and lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.server_limits();
    server::serve(listener, app(state), limits, shutdown).await
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
        code: "not_found",
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
