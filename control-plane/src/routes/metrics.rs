//! `GET /metrics`: the control plane's Prometheus metrics (`service::metrics`), on the operator
//! router, so it takes the operator token like every operator route.

use axum::extract::State;
use axum::response::Response;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(metrics))
}

/// Prometheus metrics in the text exposition format: requests by route pattern, method and
/// status, and latency by route.
#[utoipa::path(get, path = "/metrics", tag = "metrics",
    responses((status = 200, description = "The metrics, as OpenMetrics text",
        content_type = "application/openmetrics-text", body = String)))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    service::metrics::exposition(&state.metrics)
}
