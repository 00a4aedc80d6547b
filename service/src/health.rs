//! Liveness, readiness and the OpenAPI document: the public routes both services serve
//! unguarded, each registered with its OpenAPI entry.
//!
//! A service's state gives readiness its registry through [`FromRef`] into [`Readiness`],
//! and the served document reaches `/openapi.json` as an [`Extension`] (the service builds it
//! from the very router that serves the routes).

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRef, State};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::Serialize;
use tenancy::ports::{Registry, TenantFilter};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::openapi::ServedDocument;

/// How long readiness waits for the registry before calling it unavailable.
const READINESS_TIMEOUT: Duration = Duration::from_secs(2);

/// What readiness checks: the registry (`tenants-metadata`) answers.
#[derive(Clone)]
pub struct Readiness(pub Arc<dyn Registry>);

/// `/healthz`, `/readyz` and `/openapi.json`, for a service whose state yields [`Readiness`].
pub fn router<S>() -> OpenApiRouter<S>
where
    S: Clone + Send + Sync + 'static,
    Readiness: FromRef<S>,
{
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(openapi_json))
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
pub async fn readyz(State(Readiness(registry)): State<Readiness>) -> ApiResult<Json<HealthStatus>> {
    let filter = TenantFilter {
        limit: 1,
        ..TenantFilter::default()
    };
    match tokio::time::timeout(READINESS_TIMEOUT, registry.list_tenants(&filter)).await {
        Ok(Ok(_)) => Ok(Json(HealthStatus { status: "ok" })),
        Ok(Err(e)) => Err(not_ready(&e.to_string())),
        Err(_) => Err(not_ready("the registry did not answer in time")),
    }
}

/// The 503 of `/readyz`. The route needs no token and the cause names files and database
/// errors, so the cause is logged and the answer says only that the service is not ready.
fn not_ready(cause: &str) -> ApiError {
    tracing::warn!(cause, "not ready: the registry does not answer");
    ApiError::Unavailable("not ready: the registry does not answer; see the server log".to_owned())
}

/// The OpenAPI 3.1 description of every route this server serves: the document built from
/// the same router that serves the routes.
#[utoipa::path(get, path = "/openapi.json", tag = "health", security(()),
    responses((status = 200, description = "OpenAPI document", content_type = "application/json",
        body = Object)))]
pub async fn openapi_json(Extension(document): Extension<ServedDocument>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        document.json(),
    )
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[tokio::test]
    async fn not_ready_says_nothing_of_the_cause() {
        let cause = "unable to open database file: /srv/spotlight/data/registry.sqlite";
        let response = not_ready(cause).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(body.contains("\"unavailable\""), "{body}");
        assert!(!body.contains("sqlite") && !body.contains("/srv"), "{body}");
    }
}
