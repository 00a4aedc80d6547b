//! Liveness, readiness and the OpenAPI document: the public router, without tenant
//! resolution.

use std::time::Duration;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use service::ApiError;
use service::openapi::ServedDocument;
use tenancy::ports::TenantFilter;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// How long readiness waits for the registry before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
        .routes(routes!(metrics))
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

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct HealthStatus {
    /// `ok`.
    pub status: &'static str,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/healthz", tag = "health", security(()),
    responses((status = 200, description = "The process is up", body = HealthStatus)))]
pub async fn healthz() -> Json<HealthStatus> {
    Json(HealthStatus { status: "ok" })
}

/// Readiness: the registry answers a one-item query in time.
#[utoipa::path(get, path = "/readyz", tag = "health", security(()),
    responses(
        (status = 200, description = "The registry answers", body = HealthStatus),
        (status = 503, description = "The registry does not answer", body = service::error::ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> Result<Json<HealthStatus>, ApiError> {
    let filter = TenantFilter {
        limit: 1,
        ..TenantFilter::default()
    };
    let answer = tokio::time::timeout(
        READINESS_TIMEOUT,
        state.backend.registry.list_tenants(&filter),
    )
    .await;
    match answer {
        Ok(Ok(_)) => Ok(Json(HealthStatus { status: "ok" })),
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "not ready: the registry does not answer");
            Err(not_ready())
        }
        Err(_) => Err(not_ready()),
    }
}

/// The cause names files and hosts: it is logged, never sent.
fn not_ready() -> ApiError {
    ApiError::Unavailable("not ready: the registry does not answer; see the server log".into())
}

/// The OpenAPI 3.1 description of every route this server serves.
#[utoipa::path(get, path = "/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI document", content_type = "application/json",
        body = Object)))]
pub async fn openapi_json(Extension(document): Extension<ServedDocument>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.json(),
    )
}
