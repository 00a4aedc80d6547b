//! The data plane over HTTP: one [`app`] router that the local binary serves and the Lambda
//! transport hands its events to.
//!
//! - [`tenant`]: tenant resolution (a route layer) and [`tenant::TenantContext`];
//! - [`cors`]: preflights, the allow header, `Vary: Origin`;
//! - [`sdk`]: content for a page, event batches;
//! - [`telemetry`]: the versions SDK requests carry, and the SDK's own failures;
//! - [`hosting`]: the SDK's bundles under `/sdk/` (public, no key);
//! - [`sdk_versions`]: the SDK version a tenant published, and what its pages ran;
//! - [`admin`]: content management and analytics, behind the admin check;
//! - [`mcp`]: the analytics as MCP tools, behind the admin check;
//! - [`health`]: `/healthz`, `/readyz`, `/openapi.json` (from [`service::health`]) and `/metrics`;
//! - [`openapi`]: the routers and the document, from the same registrations;
//! - [`precondition`]: `If-Match` and `ETag` of revisions;
//! - [`error`]: the HTTP answer of the data plane's own errors.

pub mod admin;
pub mod chat;
pub mod cors;
pub mod error;
pub mod health;
pub mod hosting;
pub mod insights;
pub mod mcp;
pub mod openapi;
pub mod precondition;
pub mod sdk;
pub mod sdk_versions;
pub mod series;
pub mod telemetry;
pub mod tenant;

use std::future::Future;

use axum::middleware::from_fn_with_state;
use axum::{Extension, Router};
use service::layers::{self, Stack};
use tokio::net::TcpListener;

use crate::events::batch::MAX_BATCH_BYTES;
use crate::state::AppState;

/// The data plane's router. Layers, outermost first:
///
/// 1. the common stack ([`service::layers::common`]), with the event batch limit as the body
///    limit (a larger batch is a JSON 413);
/// 2. on the `/v1` routes: tenant resolution ([`tenant::resolve`], or [`tenant::beacon`] on
///    the events route), then on the SDK routes the versions they carry
///    ([`telemetry::observe`]) and on the admin routes the admin check
///    ([`admin::require_admin`]).
///
/// Preflights ([`cors::preflight`]) are answered outside all of it.
pub fn app(state: AppState) -> Router {
    let api = openapi::split();
    let sdk = api
        .sdk
        .route_layer(from_fn_with_state(state.clone(), telemetry::observe))
        .route_layer(from_fn_with_state(state.clone(), tenant::resolve));
    let beacon = api
        .beacon
        .route_layer(from_fn_with_state(state.clone(), telemetry::observe))
        .route_layer(from_fn_with_state(state.clone(), tenant::beacon));
    // `/mcp` behind the same two layers as the admin routes (it is not in the document: it
    // speaks JSON-RPC, described by the protocol).
    let admin = api
        .admin
        .merge(mcp::router(state.clone()))
        .route_layer(from_fn_with_state(state.clone(), admin::require_admin))
        .route_layer(from_fn_with_state(state.clone(), tenant::resolve));
    let routes = sdk
        .merge(beacon)
        .merge(admin)
        .merge(api.public)
        .layer(Extension(service::openapi::ServedDocument::new(
            &api.document,
        )));
    let stack = Stack {
        max_body_bytes: MAX_BATCH_BYTES,
        metrics: state.metrics.clone(),
    };
    // Outside the common stack, whose 405 answer would otherwise take every `OPTIONS`.
    layers::common(routes, stack)
        .layer(from_fn_with_state(state.clone(), cors::preflight))
        .with_state(state)
}

/// Serves [`app`] on `listener` until `shutdown` resolves, then lets open requests finish.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let limits = state.settings.server.limits();
    service::server::serve(listener, app(state), limits, shutdown).await
}
