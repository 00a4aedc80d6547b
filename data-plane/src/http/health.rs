//! The public router, without tenant resolution: the shared health routes
//! ([`service::health`]) and `/metrics`, which takes the operator token instead.

use axum::extract::{FromRef, State};
use service::ApiError;
use service::health::Readiness;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    service::health::router().routes(routes!(metrics))
}

impl FromRef<AppState> for Readiness {
    fn from_ref(state: &AppState) -> Readiness {
        Readiness(state.backend.registry.clone())
    }
}

/// Prometheus metrics in the text exposition format: requests by route pattern, method and
/// status, latency by route, tenant resolutions by cache outcome, events by tenant and outcome,
/// outbox records folded and the outbox's lag. Needs the operator token: its labels name
/// tenants.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    security(("operator_token" = [])),
    responses(
        (status = 200, description = "The metrics, as OpenMetrics text",
            content_type = "application/openmetrics-text", body = String),
        (status = 401, description = "`unauthorized`: no or a wrong operator token", body = service::error::ErrorBody),
    ))]
pub async fn metrics(
    State(state): State<AppState>,
    headers: axum::http::HeaderMap,
) -> Result<axum::response::Response, ApiError> {
    let token = state
        .operator_token
        .get()
        .map(|t| secrecy::ExposeSecret::expose_secret(t).to_owned())
        .unwrap_or_default();
    service::metrics::check_operator(&headers, &token)?;
    Ok(service::metrics::exposition(&state.metrics))
}
