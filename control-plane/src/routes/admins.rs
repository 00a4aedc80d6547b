//! Tenant admins: the people who manage one tenant through the data plane's admin routes.
//!
//! ```text
//! POST   /tenants/{id}/admins                  invite an admin (an active tenant only)
//! GET    /tenants/{id}/admins                  list the tenant's admins
//! DELETE /tenants/{id}/admins/{admin}          remove one (by e-mail or admin id)
//! POST   /tenants/{id}/admins/{admin}/token    mint an ID token (embedded backend only)
//! ```
//!
//! Every route is for operators (the app applies the operator bearer check) and goes through
//! the `Identity` port, whose every lookup is keyed by the tenant in the path: an admin of
//! another tenant is 404 `admin_not_found`, exactly like one that never existed.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tenancy::ports::{AdminEmail, AdminRef, AdminUser};
use tenancy::{ErrorKind, TenantId, TenantRecord, TenantStatus};
use time::OffsetDateTime;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::error::{ApiError, ApiResult, ErrorBody, ErrorCode};
use crate::extract::{ApiJson, ApiPath, TenantPath};
use crate::idempotency::IdempotentRequest;
use crate::routes::tenants::{TenantIdParam, tenant_port_error};

/// The admin routes, each registered with its OpenAPI entry.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite_admin, list_admins))
        .routes(routes!(remove_admin))
        .routes(routes!(mint_admin_token))
}

/// `POST /tenants/{id}/admins`.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteAdminRequest {
    /// The admin's e-mail address (the rules of a tenant's `owner_email`, compared without
    /// case). One address administers one tenant.
    #[schema(schema_with = crate::routes::tenants::dto::schema::owner_email)]
    pub email: String,
}

/// One admin of one tenant.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminView {
    /// The admin's id (the `sub` of its tokens).
    pub admin_id: String,
    pub tenant: String,
    pub email: String,
    #[serde(with = "time::serde::rfc3339")]
    pub invited_at: OffsetDateTime,
}

impl From<AdminUser> for AdminView {
    fn from(a: AdminUser) -> Self {
        AdminView {
            admin_id: a.id.to_string(),
            tenant: a.tenant.to_string(),
            email: a.email.to_string(),
            invited_at: a.invited_at,
        }
    }
}

/// `GET /tenants/{id}/admins`: by e-mail.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminList {
    pub admins: Vec<AdminView>,
}

/// A minted ID token. No `Debug`: the body is a credential.
#[derive(Serialize, utoipa::ToSchema)]
pub struct AdminToken {
    /// An RS256 ID token, sent by the admin as `Authorization: Bearer …` to the data plane.
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// The `{admin}` segment (the `{id}` before it is read by [`TenantPath`]).
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AdminPath {
    /// The admin's id (1–128 letters, digits and `-`) or e-mail address (as `owner_email`
    /// accepts it: the pattern is an id or `owner_email`'s pattern).
    #[param(
        pattern = r"^([A-Za-z0-9-]{1,128}|[A-Za-z0-9!#$%*+/=?^_{|}~-]{1,32}(\.[A-Za-z0-9!#$%*+/=?^_{|}~-]{1,15}){0,2}@([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,3}(([1-9]|0[0-9-])[0-9-]{0,29})?[A-Za-z]([A-Za-z0-9-]{0,29}[A-Za-z0-9])?)$",
        min_length = 1,
        max_length = 254
    )]
    admin: String,
}

/// Invites an admin to an active tenant: creates the admin's user (whose tenant can never
/// change) and its record. On the aws backend Cognito sends the invitation e-mail.
#[utoipa::path(
    post,
    path = "/tenants/{id}/admins",
    tag = "admins",
    params(TenantIdParam),
    request_body = InviteAdminRequest,
    responses(
        (status = 201, description = "The invited admin", body = AdminView),
        (status = 400, description = "`invalid_request`: bad tenant id or e-mail", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_not_active`; `admin_exists`: the address already administers this or another tenant", body = ErrorBody),
    )
)]
pub async fn invite_admin(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
    ApiJson(request): ApiJson<InviteAdminRequest>,
) -> ApiResult<(StatusCode, Json<AdminView>)> {
    let email = AdminEmail::parse(&request.email)?;
    refuse_unless_active(&tenant(&state, &id).await?, "cannot be given admins")?;
    idempotent.begin();
    let admin = match identity(&state).invite_admin(&id, &email).await {
        Ok(admin) => admin,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            return Err(ApiError::conflict(ErrorCode::AdminExists, e.message()));
        }
        Err(e) => return Err(e.into()),
    };
    // Offboarding may have begun between the check above and the invitation, and removed the
    // tenant's admins before this one existed: look again, and take the invitation back
    // rather than leave an admin of a tenant on its way out. (An offboarding that begins
    // after this look lists the tenant's admins later still, so it removes this one itself.)
    if let Err(refused) =
        refuse_unless_active(&tenant(&state, &id).await?, "cannot be given admins")
    {
        identity(&state)
            .remove_admin(&id, &AdminRef::Id(admin.id.clone()))
            .await?;
        return Err(refused);
    }
    tracing::info!(tenant = %id, admin = %admin.id, "admin invited");
    Ok((StatusCode::CREATED, Json(admin.into())))
}

/// Lists a tenant's admins, by e-mail. Works in every state of the tenant.
#[utoipa::path(
    get,
    path = "/tenants/{id}/admins",
    tag = "admins",
    params(TenantIdParam),
    responses(
        (status = 200, description = "The tenant's admins", body = AdminList),
        (status = 400, description = "`invalid_request`: bad tenant id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    )
)]
pub async fn list_admins(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
) -> ApiResult<Json<AdminList>> {
    tenant(&state, &id).await?;
    let admins = identity(&state).list_admins(&id).await?;
    Ok(Json(AdminList {
        admins: admins.into_iter().map(AdminView::from).collect(),
    }))
}

/// Removes an admin of the tenant: its user is disabled (it can no longer sign in) and its
/// record is gone (tokens already handed out are refused from now on).
#[utoipa::path(
    delete,
    path = "/tenants/{id}/admins/{admin}",
    tag = "admins",
    params(TenantIdParam, AdminPath),
    responses(
        (status = 200, description = "The removed admin", body = AdminView),
        (status = 400, description = "`invalid_request`: bad tenant id, e-mail or admin id", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`, `admin_not_found`", body = ErrorBody),
    )
)]
pub async fn remove_admin(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiPath(path): ApiPath<AdminPath>,
) -> ApiResult<Json<AdminView>> {
    let who = AdminRef::parse(&path.admin)?;
    tenant(&state, &id).await?;
    let removed = identity(&state)
        .remove_admin(&id, &who)
        .await
        .map_err(|e| admin_port_error(&id, &who, e))?;
    tracing::info!(tenant = %id, admin = %removed.id, "admin removed");
    Ok(Json(removed.into()))
}

/// Mints an ID token for an admin of an active tenant, signed by the embedded backend's
/// issuer, so the whole product works with no cloud. On the aws backend tokens come from
/// signing in to Cognito: 400 `minting_unsupported`.
#[utoipa::path(
    post,
    path = "/tenants/{id}/admins/{admin}/token",
    tag = "admins",
    params(TenantIdParam, AdminPath),
    responses(
        (status = 201, description = "A token for the admin", body = AdminToken,
            headers(("Cache-Control" = String, description = "`no-store`: the body holds a credential"))),
        (status = 400, description = "`invalid_request`: bad tenant id, e-mail or admin id; `minting_unsupported`: this backend's tokens come from Cognito sign-in", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`, `admin_not_found`", body = ErrorBody),
        (status = 409, description = "`tenant_not_active`", body = ErrorBody),
    )
)]
pub async fn mint_admin_token(
    State(state): State<AppState>,
    idempotent: IdempotentRequest,
    TenantPath(id): TenantPath,
    ApiPath(path): ApiPath<AdminPath>,
) -> ApiResult<Response> {
    let who = AdminRef::parse(&path.admin)?;
    if !state.provisioner.backend().capabilities.mints_admin_tokens {
        return Err(ApiError::BadRequest {
            code: ErrorCode::MintingUnsupported,
            message: "this backend does not mint admin tokens: an admin gets one by signing \
                      in to the Cognito user pool"
                .to_owned(),
            details: None,
        });
    }
    refuse_unless_active(&tenant(&state, &id).await?, "cannot issue admin tokens")?;
    idempotent.begin();
    let minted = identity(&state)
        .mint_token(&id, &who)
        .await
        .map_err(|e| admin_port_error(&id, &who, e))?;
    let body = AdminToken {
        token: minted.token.clone(),
        expires_at: minted.expires_at,
    };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn identity(state: &AppState) -> &std::sync::Arc<dyn tenancy::ports::Identity> {
    &state.provisioner.backend().identity
}

async fn tenant(state: &AppState, id: &TenantId) -> ApiResult<TenantRecord> {
    state
        .registry()
        .get_tenant(id)
        .await
        .map_err(|e| tenant_port_error(id, e))
}

/// 409 `tenant_not_active` unless the tenant is active.
fn refuse_unless_active(tenant: &TenantRecord, refused: &str) -> ApiResult<()> {
    if tenant.status == TenantStatus::Active {
        return Ok(());
    }
    Err(ApiError::Conflict {
        code: ErrorCode::TenantNotActive,
        message: format!("tenant '{}' is {} and {refused}", tenant.id, tenant.status),
        details: Some(serde_json::json!({ "status": tenant.status.as_str() })),
    })
}

/// 404 `admin_not_found` for an admin the tenant does not have.
fn admin_port_error(id: &TenantId, who: &AdminRef, e: tenancy::Error) -> ApiError {
    if e.kind() == ErrorKind::NotFound {
        ApiError::NotFound {
            code: ErrorCode::AdminNotFound,
            message: format!("tenant '{id}' has no admin '{who}'"),
        }
    } else {
        e.into()
    }
}

#[cfg(test)]
mod tests {
    use crate::routes::tenants::dto::schema::OWNER_EMAIL_PATTERN;

    /// The `{admin}` pattern is written out (an attribute takes a literal): it must stay an id
    /// or exactly `owner_email`'s pattern.
    #[test]
    fn the_admin_segment_pattern_is_an_id_or_the_owner_email_pattern() {
        let doc = serde_json::to_value(crate::openapi::document()).unwrap();
        let params = &doc["paths"]["/tenants/{id}/admins/{admin}"]["delete"]["parameters"];
        let admin = params
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "admin")
            .expect("the admin parameter");
        let email = OWNER_EMAIL_PATTERN
            .trim_start_matches('^')
            .trim_end_matches('$');
        assert_eq!(
            admin["schema"]["pattern"],
            format!("^([A-Za-z0-9-]{{1,128}}|{email})$")
        );
        assert_eq!(admin["required"], true);
    }
}
