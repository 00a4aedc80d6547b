//! HTTP routes, one module per feature, each owning its router, merged here on the document's
//! base ([`crate::openapi::ControlPlaneApi`]); `crate::app` splits the result into the axum
//! `Router` and the OpenAPI document.

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::openapi::ControlPlaneApi;
use crate::state::AppState;

pub mod admins;
pub mod api_keys;
pub mod drift;
pub mod health;
pub mod tenants;

/// Every route of the control plane with its OpenAPI entry, before the app's layers.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ControlPlaneApi::openapi())
        .merge(tenants::router())
        .merge(api_keys::router())
        .merge(drift::router())
        .merge(admins::router())
        .merge(health::router())
}
