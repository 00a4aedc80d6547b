//! HTTP routes, one module per feature, each owning its router, merged here into two routers:
//! [`operator`] (every route that needs the operator token) and [`public`] (the health routes
//! and the document). `crate::openapi::split` turns them into axum `Router`s and the one
//! OpenAPI document; `crate::app` guards the operator router and merges the two.

use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

pub mod admins;
pub mod api_keys;
pub mod drift;
pub mod identity;
pub mod metrics;
pub mod tenants;
pub mod usage;

/// Every route that needs the operator token, with its OpenAPI entry, before the app's layers.
pub fn operator() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tenants::router())
        .merge(api_keys::router())
        .merge(drift::router())
        .merge(admins::router())
        .merge(metrics::router())
        .merge(identity::router())
        .merge(usage::router())
}

/// Every route anyone may call: liveness, readiness and the API document.
pub fn public() -> OpenApiRouter<AppState> {
    service::health::router()
}

impl axum::extract::FromRef<AppState> for service::health::Readiness {
    fn from_ref(state: &AppState) -> service::health::Readiness {
        service::health::Readiness(state.registry().clone())
    }
}
