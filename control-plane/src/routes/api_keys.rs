//! Tenant API keys: issue, list, revoke, introspect.
//!
//! ```text
//! POST   /tenants/{id}/api-keys            issue a key; the only response that shows it
//! GET    /tenants/{id}/api-keys            list a tenant's keys (never the key or its hash)
//! DELETE /tenants/{id}/api-keys/{key_id}   revoke one key of that tenant (idempotent)
//! POST   /api-keys/introspect              does this key verify right now, and whose is it?
//! ```
//!
//! Every route is for operators (the app applies the operator bearer check). Keys are
//! generated, hashed and resolved by `tenancy::api_key`, the same code the data plane uses.
//!
//! **Rotation** is two calls: issue a new key, deploy it, then revoke the old one. Both keys
//! work in between, so there is no moment without a valid key.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenancy::api_key::{self, ApiKeyId, KeyRejection};
use tenancy::{
    ApiKeyKind, ApiKeyRecord, ErrorKind, RequestId, RevealedKey, TenantId, TenantRecord,
    TenantStatus,
};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, TenantPath};
use crate::idempotency::IdempotentRequest;
use crate::routes::tenants::{TenantIdParam, tenant_port_error};

/// The API-key routes, each registered with its OpenAPI entry, to be merged into the app
/// (which adds operator auth, idempotency and the body limit, and documents them).
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_api_key, list_api_keys))
        .routes(routes!(revoke_api_key))
        .routes(routes!(introspect_api_key))
}

/// `POST /tenants/{id}/api-keys`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    /// `publishable` (browser SDK, allowed origins only) or `secret` (servers).
    pub kind: ApiKeyKind,
    /// RFC 3339 instant from which the key no longer verifies; must be in the future, at most
    /// 10 years ahead. Absent: the key lives until revoked.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// A newly issued key. `key` appears here and nowhere else, ever: store it now.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedApiKey {
    pub key_id: String,
    pub kind: ApiKeyKind,
    /// The full key, shown once.
    pub key: String,
    /// The key's first characters, as listings show them.
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `null`: the key lives until revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub expires_at: Option<OffsetDateTime>,
}

/// A key as listings show it: identity and dates, never the key or its hash.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyView {
    pub key_id: String,
    pub kind: ApiKeyKind,
    pub prefix: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// `null`: the key lives until revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub expires_at: Option<OffsetDateTime>,
    /// `null` while the key is not revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub revoked_at: Option<OffsetDateTime>,
    /// When the data plane last accepted the key (coalesced; introspection does not count);
    /// `null` if never.
    #[serde(with = "time::serde::rfc3339::option")]
    #[schema(required = true)]
    pub last_used_at: Option<OffsetDateTime>,
}

impl From<ApiKeyRecord> for ApiKeyView {
    fn from(r: ApiKeyRecord) -> Self {
        ApiKeyView {
            key_id: r.key_id,
            kind: r.kind,
            prefix: r.prefix,
            created_at: r.created_at,
            expires_at: r.expires_at,
            revoked_at: r.revoked_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// `GET /tenants/{id}/api-keys`: newest first, revoked keys included.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ApiKeyList {
    pub api_keys: Vec<ApiKeyView>,
}

/// `POST /api-keys/introspect`. No `Debug`: the body is a credential.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IntrospectionRequest {
    /// The key to check, as presented to the data plane.
    pub key: String,
}

/// Why a key does not verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InactiveReason {
    /// Wrong prefix, length, alphabet or checksum; no lookup was made.
    Malformed,
    /// Well-formed but never issued (under this deployment's pepper).
    Unknown,
    Revoked,
    Expired,
}

/// Whether a key verifies now, in the manner of OAuth token introspection (RFC 7662).
/// `tenant`, `kind` and `key_id` are present whenever the key was found, active or not.
#[derive(Serialize, utoipa::ToSchema)]
pub struct Introspection {
    pub active: bool,
    /// Present when `active` is false.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub reason: Option<InactiveReason>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub tenant: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub kind: Option<ApiKeyKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key_id: Option<String>,
}

impl Introspection {
    fn found(record: &ApiKeyRecord, reason: Option<InactiveReason>) -> Self {
        Introspection {
            active: reason.is_none(),
            reason,
            tenant: Some(record.tenant.to_string()),
            kind: Some(record.kind),
            key_id: Some(record.key_id.clone()),
        }
    }

    fn not_found(reason: InactiveReason) -> Self {
        Introspection {
            active: false,
            reason: Some(reason),
            tenant: None,
            kind: None,
            key_id: None,
        }
    }
}

/// Issues an API key for a tenant.
///
/// The response is the only place the key ever appears; the registry keeps its keyed hash.
/// Keys may be issued in every state but offboarding (`deprovisioning`, `deleted`): 409
/// `tenant_offboarded`. Whether a key is accepted at request time also depends on the tenant's
/// status (the data plane refuses suspended and provisioning tenants), not only on the key.
///
/// To rotate a key, issue a new one, switch the clients over, then revoke the old one.
#[utoipa::path(
    post,
    path = "/tenants/{id}/api-keys",
    tag = "api-keys",
    params(TenantIdParam),
    request_body = CreateApiKeyRequest,
    responses(
        (status = 201, description = "Key issued; `key` is shown only now", body = CreatedApiKey,
            headers(("Cache-Control" = String, description = "`no-store`: the body holds a credential"))),
        (status = 400, description = "`invalid_request`: bad tenant id, or `expires_at` not within the next 10 years", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_offboarded`", body = ErrorBody),
        (status = 410, description = "`idempotent_response_purged`: a retry of a request whose key has since been revoked (or its tenant offboarded); the secret is not kept", body = ErrorBody),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
    ApiJson(request): ApiJson<CreateApiKeyRequest>,
) -> ApiResult<Response> {
    let now = OffsetDateTime::now_utc();
    if let Some(expires_at) = request.expires_at {
        check_expiry(expires_at, now)?;
    }

    let registry = state.registry();
    let tenant = tenant(&state, &id).await?;
    refuse_if_offboarded(&tenant)?;

    idempotent.begin();
    if let Some(request_id) = idempotent.id() {
        revoke_unseen_keys(&state, &id, &request_id).await?;
    }
    let mut issued = api_key::issue(&state.api_keys, &id, request.kind, now, request.expires_at);
    issued.record.created_by_request = idempotent.id();
    registry.put_api_key(&issued.record).await?;

    // Offboarding moves the tenant to `deprovisioning` before it revokes every key. If that
    // happened between the check above and the write, this key may have missed the sweep:
    // take it back rather than leave a live key on a departing tenant.
    let tenant = self::tenant(&state, &id).await?;
    if let Err(refusal) = refuse_if_offboarded(&tenant) {
        registry
            .revoke_api_key(&id, &issued.record.key_id, OffsetDateTime::now_utc())
            .await?;
        return Err(refusal);
    }

    tracing::info!(tenant = %id, key_id = %issued.record.key_id, kind = issued.record.kind.as_str(), "API key issued");
    idempotent.reveals(RevealedKey {
        tenant: id.clone(),
        key_id: issued.record.key_id.clone(),
    });
    let body = CreatedApiKey {
        key_id: issued.record.key_id.clone(),
        kind: issued.record.kind,
        key: issued.key.expose().to_owned(),
        prefix: issued.record.prefix.clone(),
        created_at: issued.record.created_at,
        expires_at: issued.record.expires_at,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    // The body holds a credential: no cache on the way may keep it.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Lists a tenant's API keys, newest first, revoked ones included. Shows each key's prefix,
/// never the key or its hash. Works for offboarded tenants too (their keys are all revoked).
#[utoipa::path(
    get,
    path = "/tenants/{id}/api-keys",
    tag = "api-keys",
    params(TenantIdParam),
    responses(
        (status = 200, description = "The tenant's keys, newest first", body = ApiKeyList),
        (status = 400, description = "`invalid_request`: bad tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    )
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<ApiKeyList>> {
    tenant(&state, &id).await?;
    let keys = state.registry().list_api_keys(&id).await?;
    Ok(Json(ApiKeyList {
        api_keys: keys.into_iter().map(ApiKeyView::from).collect(),
    }))
}

/// Revokes one API key of a tenant; it stops verifying at once. Revoking a revoked key returns
/// it unchanged (the first revocation time is kept).
///
/// The key must belong to the tenant in the path: another tenant's key id is 404
/// `api_key_not_found`, exactly like a key id that never existed.
#[utoipa::path(
    delete,
    path = "/tenants/{id}/api-keys/{key_id}",
    tag = "api-keys",
    params(TenantIdParam, KeyIdPath),
    responses(
        (status = 200, description = "The revoked key", body = ApiKeyView),
        (status = 400, description = "`invalid_request`: bad tenant or key id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`, `api_key_not_found`", body = ErrorBody),
    )
)]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiPath(path): ApiPath<KeyIdPath>,
) -> ApiResult<Json<ApiKeyView>> {
    let key_id = ApiKeyId::parse(&path.key_id)?;
    tenant(&state, &id).await?;
    let record = match state
        .registry()
        .revoke_api_key(&id, key_id.as_str(), OffsetDateTime::now_utc())
        .await
    {
        Ok(record) => record,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(ApiError::NotFound {
                code: ErrorCode::ApiKeyNotFound,
                message: format!("tenant '{id}' has no API key '{key_id}'"),
            });
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(tenant = %id, key_id = %key_id, "API key revoked");
    Ok(Json(record.into()))
}

/// The `{key_id}` segment (the `{id}` before it is read by [`TenantPath`]), documented as
/// [`ApiKeyId::parse`] accepts it.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct KeyIdPath {
    /// Key id: `key_` and 32 lowercase hex digits.
    #[param(pattern = "^key_[0-9a-f]{32}$", min_length = 36, max_length = 36)]
    key_id: String,
}

/// Checks whether an API key verifies right now, as the data plane would (format, checksum,
/// issued, not revoked, not expired), and whose it is.
///
/// An inactive key is still a 200 with `active: false` and a `reason`. This does not record
/// use of the key, and does not consider the tenant's status (a suspended tenant's key is
/// active here but refused by the data plane).
#[utoipa::path(
    post,
    path = "/api-keys/introspect",
    tag = "api-keys",
    request_body = IntrospectionRequest,
    responses(
        (status = 200, description = "Whether the key verifies now, and whose it is", body = Introspection),
    )
)]
pub async fn introspect_api_key(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<IntrospectionRequest>,
) -> ApiResult<Json<Introspection>> {
    let registry = state.registry().as_ref();
    let now = OffsetDateTime::now_utc();
    let answer = match api_key::resolve(registry, &state.api_keys, &request.key, now).await {
        Ok(record) => Introspection::found(&record, None),
        Err(KeyRejection::Malformed(_)) => Introspection::not_found(InactiveReason::Malformed),
        Err(KeyRejection::Unknown) => Introspection::not_found(InactiveReason::Unknown),
        Err(KeyRejection::Revoked(record)) => {
            Introspection::found(&record, Some(InactiveReason::Revoked))
        }
        Err(KeyRejection::Expired(record)) => {
            Introspection::found(&record, Some(InactiveReason::Expired))
        }
        Err(KeyRejection::Backend(e)) => return Err(e.into()),
    };
    Ok(Json(answer))
}

/// The longest lifetime a key may be given; beyond it, leave `expires_at` out and revoke the
/// key when it is done with.
const MAX_LIFETIME: time::Duration = time::Duration::days(10 * 366);

/// A requested expiry must lie in the future and within [`MAX_LIFETIME`].
fn check_expiry(expires_at: OffsetDateTime, now: OffsetDateTime) -> ApiResult<()> {
    let reason = if expires_at <= now {
        "must be in the future"
    } else if expires_at - now > MAX_LIFETIME {
        "must be at most 10 years in the future (leave it out for a key that lives until revoked)"
    } else {
        return Ok(());
    };
    Err(tenancy::InvalidInput::new("expires_at", reason).into())
}

/// Revokes the live keys an earlier attempt of this very request issued: that attempt's
/// process died before anyone saw their secret (a completed attempt is replayed and never gets
/// here), so nobody can use them, and a live key nobody holds has no business existing.
async fn revoke_unseen_keys(state: &AppState, id: &TenantId, request: &RequestId) -> ApiResult<()> {
    let registry = state.registry();
    let now = OffsetDateTime::now_utc();
    for key in registry.list_api_keys(id).await? {
        if key.created_by_request.as_ref() == Some(request) && key.revoked_at.is_none() {
            registry.revoke_api_key(id, &key.key_id, now).await?;
            tracing::warn!(tenant = %id, key_id = %key.key_id, "revoked an API key whose issuing request died before showing it");
        }
    }
    Ok(())
}

/// The tenant, or 404 `tenant_not_found`.
async fn tenant(state: &AppState, id: &TenantId) -> ApiResult<TenantRecord> {
    state
        .registry()
        .get_tenant(id)
        .await
        .map_err(|e| tenant_port_error(id, e))
}

/// 409 `tenant_offboarded` for a tenant that is being or has been offboarded.
fn refuse_if_offboarded(tenant: &TenantRecord) -> ApiResult<()> {
    match tenant.status {
        TenantStatus::Deprovisioning | TenantStatus::Deleted => Err(ApiError::tenant_offboarded(
            tenant.id.as_str(),
            tenant.status,
            "can no longer be issued API keys",
        )),
        _ => Ok(()),
    }
}
