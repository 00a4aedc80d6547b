//! The OpenAPI document, generated from the handlers' `#[utoipa::path]` annotations: this
//! module's [`ControlPlaneApi`] (tenants, health) merged with the API-key routes' own document.
//! Every operator route requires the `operator_token` bearer scheme; the health routes opt out.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::{ErrorBody, ErrorDetail};
use crate::routes::{api_keys, health, tenants};

/// Name of the bearer security scheme in the document.
pub const OPERATOR_TOKEN_SCHEME: &str = "operator_token";

#[derive(OpenApi)]
#[openapi(
    info(title = "Spotlight control plane", description = "Tenant lifecycle API: onboarding, \
        suspension, offboarding and API keys. Every error has the body \
        `{\"error\": {\"code\", \"message\", \"details\"?}}`. POSTs honour `Idempotency-Key`."),
    paths(
        tenants::create_tenant,
        tenants::list_tenants,
        tenants::get_tenant,
        tenants::update_tenant,
        tenants::delete_tenant,
        tenants::suspend_tenant,
        tenants::resume_tenant,
        tenants::retry_tenant,
        health::healthz,
        health::readyz,
        health::openapi_json,
    ),
    components(schemas(
        ErrorBody,
        ErrorDetail,
        tenants::CreateTenantRequest,
        tenants::UpdateTenantRequest,
        tenants::TenantView,
        tenants::TenantResources,
        tenants::TenantDetail,
        tenants::TenantList,
        health::HealthStatus,
    )),
    modifiers(&OperatorToken),
    security(("operator_token" = [])),
    tags(
        (name = "tenants", description = "Tenant lifecycle"),
        (name = "health", description = "Liveness, readiness, this document (no token needed)"),
    )
)]
pub struct ControlPlaneApi;

/// Declares the operator bearer scheme referenced by the global security requirement.
struct OperatorToken;

impl Modify for OperatorToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            OPERATOR_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token (SPOTLIGHT_OPERATOR_TOKEN or {data_dir}/operator-token)"))
                    .build(),
            ),
        );
    }
}

/// The whole document: tenants and health, plus the API-key routes.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ControlPlaneApi::openapi();
    doc.merge(api_keys::ApiKeysApi::openapi());
    doc
}
