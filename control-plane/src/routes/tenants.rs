//! Tenant lifecycle routes: onboard, list, show, update, suspend/resume, retry, offboard.
//!
//! Every input is validated before any side effect; a bad id in a path is a 400 before any
//! port is called. Responses are [`TenantView`]s, never the stored record as is.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use provisioner::NewTenant;
use serde::{Deserialize, Serialize};
use tenancy::ports::TenantFilter;
use tenancy::{
    ErrorKind, Failure, JournalEntry, Origin, OwnerEmail, ResourceArns, ResourceNames, TenantId,
    TenantName, TenantRecord, TenantStatus, Tier, Transition,
};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiJson, ApiQuery, TenantPath};
use crate::state::AppState;

/// Journal entries shown by `GET /tenants/{id}`.
const JOURNAL_LIMIT: u32 = 20;
/// Page size of `GET /tenants` when no limit is given, and the largest one accepted.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// Attempts of a read-modify-write that lost an optimistic-concurrency race.
const UPDATE_ATTEMPTS: usize = 5;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route(
            "/tenants/{id}",
            get(get_tenant).patch(update_tenant).delete(delete_tenant),
        )
        .route("/tenants/{id}/suspend", post(suspend_tenant))
        .route("/tenants/{id}/resume", post(resume_tenant))
        .route("/tenants/{id}/retry", post(retry_tenant))
}

// ---------------------------------------------------------------------------------------------
// DTOs

/// `POST /tenants` body. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double hyphen.
    #[schema(example = "acme")]
    pub id: Option<String>,
    /// Display name, 1–200 characters.
    #[schema(example = "Acme Corp")]
    pub name: Option<String>,
    #[schema(example = "ops@acme.io")]
    pub owner_email: Option<String>,
    /// Defaults to `standard`.
    pub tier: Option<Tier>,
    /// Origins the tenant's publishable keys are accepted from (`https://app.example.com`).
    pub allowed_origins: Option<Vec<String>>,
}

impl CreateTenantRequest {
    /// Every field checked; the first invalid one is reported with its name.
    fn validate(self) -> Result<NewTenant, ApiError> {
        let id = TenantId::parse(&required("id", self.id)?)?;
        let name = TenantName::parse(&required("name", self.name)?)?;
        let owner_email = OwnerEmail::parse(&required("owner_email", self.owner_email)?)?;
        let allowed_origins = parse_origins(self.allowed_origins.unwrap_or_default())?;
        Ok(NewTenant {
            id,
            name,
            owner_email,
            tier: self.tier.unwrap_or_default(),
            allowed_origins,
        })
    }
}

/// `PATCH /tenants/{id}` body: every field optional; unknown fields (including `id`, `tier`
/// and `status`, which cannot be patched) are refused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    pub name: Option<String>,
    pub owner_email: Option<String>,
    /// Replaces the whole list.
    pub allowed_origins: Option<Vec<String>>,
}

struct TenantChanges {
    name: Option<TenantName>,
    owner_email: Option<OwnerEmail>,
    allowed_origins: Option<Vec<Origin>>,
}

impl UpdateTenantRequest {
    fn validate(self) -> Result<TenantChanges, ApiError> {
        Ok(TenantChanges {
            name: self.name.as_deref().map(TenantName::parse).transpose()?,
            owner_email: self
                .owner_email
                .as_deref()
                .map(OwnerEmail::parse)
                .transpose()?,
            allowed_origins: self.allowed_origins.map(parse_origins).transpose()?,
        })
    }
}

impl TenantChanges {
    /// Applies the changes; returns whether anything differs from what is stored.
    fn apply(&self, record: &mut TenantRecord) -> bool {
        let before = (
            record.name.clone(),
            record.owner_email.clone(),
            record.allowed_origins.clone(),
        );
        if let Some(name) = &self.name {
            record.name = name.clone();
        }
        if let Some(email) = &self.owner_email {
            record.owner_email = email.clone();
        }
        if let Some(origins) = &self.allowed_origins {
            record.allowed_origins = origins.clone();
        }
        before
            != (
                record.name.clone(),
                record.owner_email.clone(),
                record.allowed_origins.clone(),
            )
    }
}

fn required(field: &'static str, value: Option<String>) -> Result<String, ApiError> {
    value.ok_or_else(|| tenancy::InvalidInput::new(field, "is required").into())
}

fn parse_origins(raw: Vec<String>) -> Result<Vec<Origin>, ApiError> {
    let mut origins: Vec<Origin> = Vec::with_capacity(raw.len());
    for r in &raw {
        let origin = Origin::parse(r)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[schema(example = "acme")]
    pub id: String,
    pub name: String,
    pub owner_email: String,
    pub tier: Tier,
    pub allowed_origins: Vec<String>,
    pub status: TenantStatus,
    /// Why the last provisioning run failed, while the tenant is `failed`.
    pub failure: Option<Failure>,
    pub resources: TenantResources,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version; grows with every change.
    pub version: u64,
}

/// The tenant's resources: their deterministic names, and the identifiers the backend
/// assigned (set as provisioning creates them, cleared as offboarding removes them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantResources {
    pub names: ResourceNames,
    pub arns: ResourceArns,
}

impl From<TenantRecord> for TenantView {
    fn from(r: TenantRecord) -> Self {
        TenantView {
            id: r.id.as_str().to_owned(),
            name: r.name.as_str().to_owned(),
            owner_email: r.owner_email.as_str().to_owned(),
            tier: r.tier,
            allowed_origins: r
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            status: r.status,
            failure: r.failure,
            resources: TenantResources {
                names: r.resources,
                arns: r.arns,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// `GET /tenants/{id}`: the tenant and the newest entries of its provisioning journal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantDetail {
    #[serde(flatten)]
    pub tenant: TenantView,
    /// Up to 20 newest entries, oldest first.
    pub journal: Vec<JournalEntry>,
}

/// One page of tenants in id order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<String>,
}

/// `?wait=true` on requests that start a provisioning run.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Wait (at most `SPOTLIGHT_WAIT_TIMEOUT_SECS`) for the run to end.
    #[param(value_type = Option<bool>)]
    pub wait: Option<String>,
}

impl WaitParams {
    fn wait(&self) -> Result<bool, ApiError> {
        match self.wait.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(invalid_param(
                "wait",
                format!("must be true or false, not '{other}'"),
            )),
        }
    }
}

/// `GET /tenants` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only tenants in this status.
    #[param(value_type = Option<TenantStatus>)]
    pub status: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
}

impl ListParams {
    fn filter(&self) -> Result<TenantFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|s| {
                TenantStatus::parse(s)
                    .ok_or_else(|| invalid_param("status", format!("unknown status '{s}'")))
            })
            .transpose()?;
        let limit = match self.limit.as_deref() {
            None => DEFAULT_PAGE,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(invalid_param(
                        "limit",
                        format!("must be a number from 1 to {MAX_PAGE}"),
                    ));
                }
            },
        };
        let after = self
            .after
            .as_deref()
            .map(|a| TenantId::parse(a).map_err(|e| invalid_param("after", e.reason)))
            .transpose()?;
        Ok(TenantFilter {
            status,
            after,
            limit,
        })
    }
}

fn invalid_param(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::from(tenancy::InvalidInput::new(field, reason))
}

// ---------------------------------------------------------------------------------------------
// Handlers

/// Onboard a tenant: records it as `requested` and provisions its tables, key and role in
/// the background.
#[utoipa::path(post, path = "/tenants", tag = "tenants", params(WaitParams), request_body = CreateTenantRequest,
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 413, description = "Body over SPOTLIGHT_MAX_BODY_BYTES", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 201, description = "Provisioned and active (`?wait=true`)", body = TenantView),
        (status = 200, description = "Provisioning failed and was rolled back (`?wait=true`)", body = TenantView),
        (status = 202, description = "Accepted; provisioning runs in the background", body = TenantView,
            headers(("Location" = String, description = "/tenants/{id}"))),
        (status = 400, description = "Invalid body", body = ErrorBody),
        (status = 409, description = "`tenant_exists`, or an Idempotency-Key still in use", body = ErrorBody),
        (status = 422, description = "Idempotency-Key reused for a different request", body = ErrorBody),
    ))]
pub async fn create_tenant(
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WaitParams>,
    ApiJson(body): ApiJson<CreateTenantRequest>,
) -> ApiResult<Response> {
    let wait = params.wait()?;
    let new = body.validate()?;
    let id = new.id.clone();
    let record = state.provisioner.request(new).await.map_err(|e| match e {
        provisioner::Error::Port(p) if p.kind() == ErrorKind::AlreadyExists => ApiError::conflict(
            "tenant_exists",
            format!("a tenant with id '{id}' exists (or existed: ids of offboarded tenants are not reused)"),
        ),
        other => tenant_error(&id, other),
    })?;
    state.runs.start_provision(&id);
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
    let mut response = (status, Json(TenantView::from(record))).into_response();
    if let Ok(location) = HeaderValue::from_str(&format!("/tenants/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// List tenants in id order, optionally by status.
#[utoipa::path(get, path = "/tenants", tag = "tenants", params(ListParams),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 200, description = "One page of tenants", body = TenantList),
        (status = 400, description = "Invalid status, limit or cursor", body = ErrorBody),
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
#[utoipa::path(get, path = "/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 200, description = "The tenant", body = TenantDetail),
        (status = 400, description = "Invalid id", body = ErrorBody),
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
#[utoipa::path(patch, path = "/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "Tenant id")),
    request_body = UpdateTenantRequest,
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 413, description = "Body over SPOTLIGHT_MAX_BODY_BYTES", body = ErrorBody),
        (status = 415, description = "Body is not application/json", body = ErrorBody),
        (status = 200, description = "The updated tenant", body = TenantView),
        (status = 400, description = "Invalid id or body", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_deleted`: offboarded tenants cannot change", body = ErrorBody),
    ))]
pub async fn update_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiJson(body): ApiJson<UpdateTenantRequest>,
) -> ApiResult<Json<TenantView>> {
    let changes = body.validate()?;
    let registry = state.registry();
    for _ in 0..UPDATE_ATTEMPTS {
        let mut record = registry
            .get_tenant(&id)
            .await
            .map_err(|e| tenant_port_error(&id, e))?;
        if matches!(
            record.status,
            TenantStatus::Deprovisioning | TenantStatus::Deleted
        ) {
            return Err(ApiError::Conflict {
                code: "tenant_deleted",
                message: format!(
                    "tenant '{id}' is {} and can no longer be changed",
                    record.status
                ),
                details: Some(serde_json::json!({ "status": record.status.as_str() })),
            });
        }
        if !changes.apply(&mut record) {
            return Ok(Json(record.into()));
        }
        record.updated_at = OffsetDateTime::now_utc();
        match registry.update_tenant(&record, &[]).await {
            Ok(stored) => return Ok(Json(stored.into())),
            Err(e) if e.kind() == ErrorKind::ConditionFailed => continue,
            Err(e) => return Err(tenant_port_error(&id, e)),
        }
    }
    Err(ApiError::conflict(
        "concurrent_update",
        format!("tenant '{id}' kept changing under this update; retry it"),
    ))
}

/// Suspend an active tenant: its data-plane traffic is refused until resumed.
#[utoipa::path(post, path = "/tenants/{id}/suspend", tag = "tenants", params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 400, description = "Invalid tenant id in the path", body = ErrorBody),
        (status = 200, description = "The suspended tenant", body = TenantView),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only active tenants can be suspended", body = ErrorBody),
    ))]
pub async fn suspend_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantView>> {
    transition(&state, &id, Transition::Suspend, "suspended by an operator").await
}

/// Resume a suspended tenant.
#[utoipa::path(post, path = "/tenants/{id}/resume", tag = "tenants", params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 400, description = "Invalid tenant id in the path", body = ErrorBody),
        (status = 200, description = "The active tenant", body = TenantView),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only suspended tenants can be resumed", body = ErrorBody),
    ))]
pub async fn resume_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantView>> {
    transition(&state, &id, Transition::Resume, "resumed by an operator").await
}

async fn transition(
    state: &AppState,
    id: &TenantId,
    transition: Transition,
    detail: &str,
) -> ApiResult<Json<TenantView>> {
    for _ in 0..UPDATE_ATTEMPTS {
        match state.provisioner.transition(id, transition, detail).await {
            Ok(record) => return Ok(Json(record.into())),
            Err(provisioner::Error::Port(e)) if e.kind() == ErrorKind::ConditionFailed => continue,
            Err(e) => return Err(tenant_error(id, e)),
        }
    }
    Err(ApiError::conflict(
        "concurrent_update",
        format!("tenant '{id}' kept changing; retry the request"),
    ))
}

/// Retry provisioning of a failed tenant (in the background).
#[utoipa::path(post, path = "/tenants/{id}/retry", tag = "tenants",
    params(("id" = String, Path, description = "Tenant id"), WaitParams),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 400, description = "Invalid tenant id in the path", body = ErrorBody),
        (status = 202, description = "Provisioning restarted", body = TenantView),
        (status = 201, description = "Provisioned and active (`?wait=true`)", body = TenantView),
        (status = 200, description = "Failed again (`?wait=true`)", body = TenantView),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`illegal_transition`: only failed tenants can be retried", body = ErrorBody),
    ))]
pub async fn retry_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiQuery(params): ApiQuery<WaitParams>,
) -> ApiResult<Response> {
    let wait = params.wait()?;
    let record = state
        .provisioner
        .retry(&id)
        .await
        .map_err(|e| tenant_error(&id, e))?;
    state.runs.start_provision(&id);
    respond_to_run(&state, record, wait).await
}

/// Offboard a tenant: its API keys stop working, its resources are deleted, and a tombstone
/// stays (its id is never reused). A provisioning run under way is superseded. Idempotent.
#[utoipa::path(delete, path = "/tenants/{id}", tag = "tenants", params(("id" = String, Path, description = "Tenant id")),
    responses(
        (status = 401, description = "Missing or wrong operator token", body = ErrorBody),
        (status = 400, description = "Invalid tenant id in the path", body = ErrorBody),
        (status = 200, description = "The deleted tenant's tombstone", body = TenantView),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    ))]
pub async fn delete_tenant(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<TenantView>> {
    // Checked first so an unknown id is a 404 and starts no run.
    state
        .registry()
        .get_tenant(&id)
        .await
        .map_err(|e| tenant_port_error(&id, e))?;
    let record = state.runs.offboard(&id).await.map_err(|e| match e {
        ApiError::NotFound { .. } => ApiError::tenant_not_found(id.as_str()),
        other => other,
    })?;
    Ok(Json(record.into()))
}

/// A provisioner failure about tenant `id`; a missing tenant is `tenant_not_found`.
fn tenant_error(id: &TenantId, e: provisioner::Error) -> ApiError {
    match e {
        provisioner::Error::Port(p) => tenant_port_error(id, p),
        other => other.into(),
    }
}

fn tenant_port_error(id: &TenantId, e: tenancy::Error) -> ApiError {
    if e.kind() == ErrorKind::NotFound {
        ApiError::tenant_not_found(id.as_str())
    } else {
        e.into()
    }
}
