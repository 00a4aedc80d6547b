//! Spotlight's control plane: the tenant lifecycle HTTP API.
//!
//! What every Spotlight service shares — the error body and its codes, the JSON extractors,
//! the common layer stack, the HTTP/1.1 listener, shutdown, tracing, secret files and the
//! API-key pepper — is the `service` crate's; this crate holds the control plane's own:
//!
//! - [`config`]: control-plane settings (`SPOTLIGHT_*`), on top of the provisioner's; the
//!   operator token and the pepper, resolved through [`service::secrets`].
//! - [`error`]: the shared [`ApiError`] mapping, re-exported, and the HTTP answer of the
//!   provisioner's errors.
//! - [`extract`]: the tenant-path extractor (and the shared JSON, query and path ones).
//! - [`state`]: what every handler shares, and how it is assembled.
//! - [`auth`]: operator bearer-token check, a `route_layer` on the operator router.
//! - [`idempotency`]: `Idempotency-Key` on every POST.
//! - [`sealing`]: stored idempotent responses are sealed under a key derived from the pepper.
//! - [`routes`]: `tenants`, `api_keys`, `drift`, `admins`, `identity` (the operator router) and
//!   the health routes of `service::health` (with `/openapi.json`; the public router), each its
//!   own router, every route registered together with its OpenAPI entry.
//! - [`openapi`]: splits those routers into axum `Router`s and the document.
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
pub mod state;

use std::future::Future;

use axum::middleware;
use axum::{Extension, Router};
use service::layers::{self, Stack};
use tokio::net::TcpListener;

pub use config::ControlPlaneSettings;
pub use error::{ApiError, ApiResult};
pub use state::AppState;

/// The control plane's router. Layers, outermost first:
///
/// 1. the common stack ([`service::layers::common`]): tracing, a panic as the JSON 500, the
///    body limit (`SPOTLIGHT_MAX_BODY_BYTES`), JSON 404 for unknown paths and 405 for wrong
///    methods;
/// 2. on the operator routes only (a `route_layer` of their router): operator auth, then
///    `Idempotency-Key` handling on POSTs. `/healthz`, `/readyz` and `/openapi.json` are on
///    the public router, without them.
///
/// The routes and the document `/openapi.json` serves come from one [`openapi::split`].
pub fn app(state: AppState) -> Router {
    let api = openapi::split();
    let operator = api
        .operator
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            idempotency::idempotent_post,
        ))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_operator,
        ));
    let routes =
        operator
            .merge(api.public)
            .layer(Extension(service::openapi::ServedDocument::new(
                &api.document,
            )));
    let stack = Stack {
        max_body_bytes: state.settings.max_body_bytes.as_usize(),
        metrics: state.metrics.clone(),
    };
    layers::common(routes, stack).with_state(state)
}

/// Serves [`app`] on `listener` with the settings' [`service::server::ServerLimits`] until
/// `shutdown` resolves, then stops accepting and lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.server_limits();
    service::server::serve(listener, app(state), limits, shutdown).await
}
