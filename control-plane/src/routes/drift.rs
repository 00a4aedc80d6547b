//! `GET /tenants/{id}/drift`: the tenant's resources compared with its record and plan
//! (the provisioner's [`provisioner::drift`] report, as is). Reads only; repairing is
//! `provisioner reconcile --repair`.

use axum::Json;
use axum::extract::State;
use provisioner::drift::DriftReport;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, ErrorBody};
use crate::extract::TenantPath;
use crate::routes::tenants::{TenantIdParam, tenant_error};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_drift))
}

/// The tenant's drift: every missing, changed or extra resource, with what was expected and
/// what was found. `checked` is false while a run is changing the tenant's resources.
#[utoipa::path(get, path = "/tenants/{id}/drift", tag = "tenants", params(TenantIdParam),
    responses(
        (status = 200, description = "The tenant's drift report (empty `findings`: none)", body = DriftReport),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    ))]
pub async fn get_drift(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<DriftReport>> {
    let report = state
        .provisioner
        .drift(&id)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    Ok(Json(report))
}
