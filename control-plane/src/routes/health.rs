//! Liveness, readiness and the OpenAPI document. These three paths need no operator token.

use std::time::Duration;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;
use tenancy::ports::TenantFilter;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::state::AppState;

pub const HEALTHZ: &str = "/healthz";
pub const READYZ: &str = "/readyz";
pub const OPENAPI_JSON: &str = "/openapi.json";

/// How long readiness waits for the registry before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

pub fn router() -> Router<AppState> {
    Router::new()
        .route(HEALTHZ, get(healthz))
        .route(READYZ, get(readyz))
        .route(OPENAPI_JSON, get(openapi_json))
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
        (status = 503, description = "The registry does not answer", body = ErrorBody),
    ))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Json<HealthStatus>> {
    let filter = TenantFilter {
        limit: 1,
        ..TenantFilter::default()
    };
    match tokio::time::timeout(READINESS_TIMEOUT, state.registry().list_tenants(&filter)).await {
        Ok(Ok(_)) => Ok(Json(HealthStatus { status: "ok" })),
        Ok(Err(e)) => Err(ApiError::Unavailable(format!(
            "the registry is not ready: {}",
            e.message()
        ))),
        Err(_) => Err(ApiError::Unavailable(
            "the registry did not answer in time".to_owned(),
        )),
    }
}

/// The OpenAPI 3.1 description of every route this server serves.
#[utoipa::path(get, path = "/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(crate::openapi::document())
}
