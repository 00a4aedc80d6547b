//! Tenant lifecycle routes: onboard, list, show, update, suspend/resume, retry, offboard.
//!
//! Every input is validated before any side effect; a bad id in a path is a 400 before any
//! port is called. Responses are [`TenantView`]s, never the stored record as is.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use provisioner::OperatorTransition;
use tenancy::{ErrorKind, TenantId, TenantRecord, TenantStatus};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode, IntoApiError, ProvisionerResultExt};
use crate::extract::{ApiJson, ApiQuery, TenantPath};
use crate::idempotency::IdempotentRequest;
use crate::state::AppState;

pub(crate) mod dto;

pub use dto::{
    CreateTenantRequest, ListParams, TenantDetail, TenantIdParam, TenantList, TenantResources,
    TenantView, UpdateTenantRequest, WaitParams,
};

/// Journal entries shown by `GET /tenants/{id}`.
const JOURNAL_LIMIT: u32 = 20;

/// The tenant routes, each registered with its OpenAPI entry. The app adds operator auth,
/// idempotency and the body limit, and the document the answers those give
/// (`crate::openapi::split`); each annotation lists what its handler itself can answer.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_tenant, list_tenants))
        .routes(routes!(get_tenant, update_tenant, delete_tenant))
        .routes(routes!(suspend_tenant))
        .routes(routes!(resume_tenant))
        .routes(routes!(retry_tenant))
}

/// Onboard a tenant: records it as `requested` and provisions its tables, key and role in
/// the background.
#[utoipa::path(post, path = "/tenants", tag = "tenants", params(WaitParams), request_body = CreateTenantRequest,
    responses(
        (status = 201, description = "Provisioned and active (`?wait=true`)", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 200, description = "Provisioning failed and was rolled back (`?wait=true`)", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 202, description = "Accepted; provisioning runs in the background", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 400, description = "`invalid_request`: a missing or invalid field (`details.field`), or an invalid `wait`", body = ErrorBody),
        (status = 409, description = "`tenant_exists`: the id is taken (ids of offboarded tenants are never reused)", body = ErrorBody),
        (status = 503, description = "`quota_exceeded`: the tenant's tables, role or key would exceed an account quota (`details`: `resource`, `quota`, `in_use`, `needed`, `live_tenants`, `setting`); nothing was written or created", body = ErrorBody),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<CreateTenantRequest>,
) -> ApiResult<Response> {
    let wait = params.wait()?;
    let new = body.validate(idempotent.id())?;
    let id = new.id.clone();
    idempotent.begin();
    let record = match state.provisioner.request(new).await {
        Ok(record) => {
            state.runs.provision_after_current(&id).await;
            record
        }
        Err(provisioner::Error::Port(p)) if p.kind() == ErrorKind::AlreadyExists => {
            let existing = state
                .provisioner
                .record(&id)
                .await
                .map_err(|e| tenant_error(&id, e))?;
            if existing.created_by_request.is_none()
                || existing.created_by_request != idempotent.id()
            {
                return Err(ApiError::conflict(
                    ErrorCode::TenantExists,
                    format!(
                        "a tenant with id '{id}' exists (or existed: ids of offboarded tenants are not reused)"
                    ),
                ));
            }
            // This very request created the tenant before its process died: its outcome is
            // the tenant. Its run is resumed by whoever takes in-flight tenants over (this
            // process at start-up, or the periodic check once the run's lease runs out), not
            // started here, which could supersede a run another process is driving.
            tracing::info!(tenant = %id, "a retried onboarding request found the tenant it created");
            existing
        }
        Err(other) => return Err(tenant_error(&id, other)),
    };
    respond_to_run(&state, record, wait).await
}

/// 202 at once, or (`wait`) after the run ended or the wait timed out: 201 when active, 200
/// when failed, 202 when still running.
async fn respond_to_run(state: &AppState, record: TenantRecord, wait: bool) -> ApiResult<Response> {
    let id = record.id.clone();
    let record = if wait
        && state
            .runs
            .wait_for(&id, state.settings.wait_timeout())
            .await
    {
        state
            .registry()
            .get_tenant(&id)
            .await
            .map_err(|e| tenant_port_error(&id, e))?
    } else {
        record
    };
    let status = match record.status {
        TenantStatus::Active if wait => StatusCode::CREATED,
        TenantStatus::Failed if wait => StatusCode::OK,
        _ => StatusCode::ACCEPTED,
    };
    Ok(with_location(
        (status, Json(TenantView::from(record))).into_response(),
        &id,
    ))
}

/// List tenants in id order, optionally by status.
#[utoipa::path(get, path = "/tenants", tag = "tenants", params(ListParams),
    responses(
        (status = 200, description = "One page of tenants", body = TenantList),
        (status = 400, description = "`invalid_request`: invalid `status`, `limit` or `after`, or an unknown parameter", body = ErrorBody),
    ))]
pub async fn list_tenants(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<TenantList>> {
    let filter = params.filter()?;
    let page = state.registry().list_tenants(&filter).await?;
    Ok(Json(TenantList {
        tenants: page.tenants.into_iter().map(TenantView::from).collect(),
        next: page.next.map(String::from),
    }))
}

/// A tenant with the newest entries of its provisioning journal.
#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", params(TenantIdParam),
    responses(
        (status = 200, description = "The tenant", body = TenantDetail),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    ))]
pub async fn get_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantDetail>> {
    let report = state
        .provisioner
        .status(&id, JOURNAL_LIMIT)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    Ok(Json(TenantDetail {
        tenant: report.record.into(),
        journal: report.journal,
    }))
}

/// Change a tenant's name, owner e-mail or allowed origins.
#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants", params(TenantIdParam),
    request_body = UpdateTenantRequest,
    responses(
        (status = 200, description = "The updated tenant", body = TenantView),
        (status = 400, description = "`invalid_request`: invalid tenant id or field (`details.field`)", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_offboarded`: tenants being or already offboarded cannot change; \
            `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn update_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiJson(body): ApiJson<UpdateTenantRequest>,
) -> ApiResult<Json<TenantView>> {
    let changes = body.validate()?;
    let record = state
        .provisioner
        .update_details(&id, &changes)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    Ok(Json(record.into()))
}

/// Suspend an active tenant: its data-plane traffic is refused until resumed.
#[utoipa::path(post, path = "/tenants/{id}/suspend", tag = "tenants", params(TenantIdParam),
    responses(
        (status = 200, description = "The suspended tenant", body = TenantView),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only active tenants can be suspended; \
            `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn suspend_tenant(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantView>> {
    transition(
        &state,
        &idempotent,
        &id,
        OperatorTransition::Suspend,
        "suspended by an operator",
    )
    .await
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/tenants/{id}/resume", tag = "tenants", params(TenantIdParam),
    responses(
        (status = 200, description = "The active tenant", body = TenantView),
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only suspended tenants can be resumed; \
            `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn resume_tenant(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantView>> {
    transition(
        &state,
        &idempotent,
        &id,
        OperatorTransition::Resume,
        "resumed by an operator",
    )
    .await
}

async fn transition(
    state: &AppState,
    idempotent: &IdempotentRequest,
    id: &TenantId,
    transition: OperatorTransition,
    detail: &str,
) -> ApiResult<Json<TenantView>> {
    existing(state, id).await?;
    idempotent.begin();
    let record = state
        .provisioner
        .transition(id, transition, detail)
        .await
        .map_err(|e| tenant_error(id, e))?;
    Ok(Json(record.into()))
}

/// Retry provisioning of a failed tenant (in the background).
#[utoipa::path(post, path = "/tenants/{id}/retry", tag = "tenants",
    params(TenantIdParam, WaitParams),
    responses(
        (status = 202, description = "Provisioning restarted", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 201, description = "Provisioned and active (`?wait=true`)", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 200, description = "Failed again (`?wait=true`)", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 400, description = "`invalid_request`: invalid tenant id or `wait`", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only failed tenants can be retried; \
            `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn retry_tenant(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
    ApiQuery(params): ApiQuery<WaitParams>,
) -> ApiResult<Response> {
    let wait = params.wait()?;
    existing(&state, &id).await?;
    idempotent.begin();
    let record = state
        .provisioner
        .retry(&id)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    state.runs.provision_after_current(&id).await;
    respond_to_run(&state, record, wait).await
}

/// Offboard a tenant: its API keys stop working, its resources are deleted, and a tombstone
/// stays (its id is never reused). A provisioning run under way is superseded. Idempotent.
///
/// Waits at most `SPOTLIGHT_WAIT_TIMEOUT_SECS` for offboarding to finish: 200 with the
/// tombstone then; otherwise 202 with the tenant as it is now (`deprovisioning`) and
/// `Location`, and offboarding carries on in the background (`GET` it, or `DELETE` again).
#[utoipa::path(delete, path = "/tenants/{id}", tag = "tenants", params(TenantIdParam),
    responses(
        (status = 400, description = "`invalid_request`: invalid tenant id", body = ErrorBody),
        (status = 200, description = "The deleted tenant's tombstone", body = TenantView),
        (status = 202, description = "Offboarding goes on in the background after the wait ran out; the tenant is `deprovisioning`", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: an upgrading tenant cannot be offboarded yet; \
            `concurrent_update`: the tenant changed meanwhile, retry", body = ErrorBody),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Response> {
    let finished = state
        .runs
        .offboard(&id, state.settings.wait_timeout())
        .await
        .api()?;
    match finished {
        Some(tombstone) => Ok(Json(TenantView::from(tombstone)).into_response()),
        None => {
            let current = state
                .provisioner
                .record(&id)
                .await
                .map_err(|e| tenant_error(&id, e))?;
            Ok(with_location(
                (StatusCode::ACCEPTED, Json(TenantView::from(current))).into_response(),
                &id,
            ))
        }
    }
}

/// The tenant, or 404 `tenant_not_found`: the last check before a request's first write.
async fn existing(state: &AppState, id: &TenantId) -> ApiResult<TenantRecord> {
    state
        .provisioner
        .record(id)
        .await
        .map_err(|e| tenant_error(id, e))
}

/// Adds `Location: /tenants/{id}`.
fn with_location(mut response: Response, id: &TenantId) -> Response {
    if let Ok(location) = HeaderValue::from_str(&format!("/tenants/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}

/// A provisioner failure about tenant `id`; a missing tenant is `tenant_not_found`.
pub(crate) fn tenant_error(id: &TenantId, e: provisioner::Error) -> ApiError {
    match e {
        provisioner::Error::Port(p) => tenant_port_error(id, p),
        other => other.into_api_error(),
    }
}

/// A port failure about tenant `id`; a missing tenant is `tenant_not_found`.
pub(crate) fn tenant_port_error(id: &TenantId, e: tenancy::Error) -> ApiError {
    if e.kind() == ErrorKind::NotFound {
        ApiError::tenant_not_found(id.as_str())
    } else {
        e.into()
    }
}
