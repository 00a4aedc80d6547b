//! The data plane's OpenAPI document, generated from the routes themselves (each handler is
//! registered with its `#[utoipa::path]` through `utoipa-axum`), plus what the layers answer
//! on every route of a kind: tenant resolution on every `/v1` route, the admin check on the
//! admin routes, and the common stack ([`service::openapi`]).

use axum::Router;
use service::error::ErrorBody;
use service::openapi::{add_common_errors, add_error, operations};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

pub const API_KEY_SCHEME: &str = "api_key";
pub const ADMIN_TOKEN_SCHEME: &str = "admin_token";
pub const OPERATOR_TOKEN_SCHEME: &str = "operator_token";

#[derive(OpenApi)]
#[openapi(
    info(title = "Spotlight data plane", description = "Each tenant's SDK traffic (content for a \
        page, event batches) and its admins' content and analytics. Every request is resolved \
        to one tenant from its API key (`X-Api-Key`) alone. Every error has the body \
        `{\"error\": {\"code\", \"message\", \"details\"?}}`."),
    components(schemas(ErrorBody, crate::events::batch::WireEvent)),
    modifiers(&Schemes),
    security(("api_key" = [])),
    tags(
        (name = "sdk", description = "What the browser SDK calls"),
        (name = "admin", description = "The tenant's content and admins (secret key, or publishable key with an admin token)"),
        (name = "analytics", description = "Aggregates: funnels, selector health, overview"),
        (name = "insights", description = "Written summaries whose every number is a cited fact"),
        (name = "series", description = "The tenant's own business metrics (sign-ups, revenue, …): upload and read back"),
        (name = "health", description = "Liveness, readiness, this document (no key needed)"),
        (name = "hosting", description = "The browser SDK's versioned bundles and manifest (public, no key)"),
        (name = "metrics", description = "Prometheus metrics (the operator token)"),
    )
)]
pub struct DataPlaneApi;

struct Schemes;

impl Modify for Schemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Api-Key",
                "The tenant's API key: publishable (browsers, from an allowed origin) or secret \
                 (servers, without an Origin)",
            ))),
        );
        components.add_security_scheme(
            OPERATOR_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("The operator token (the control plane's)"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            ADMIN_TOKEN_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A platform admin token of the key's tenant (with a publishable key)",
                    ))
                    .build(),
            ),
        );
    }
}

/// The routers, before the app's layers, and the document describing them.
pub struct Api {
    /// Content for a page: tenant resolution by header.
    pub sdk: Router<AppState>,
    /// Event batches: tenant resolution by header or beacon body.
    pub beacon: Router<AppState>,
    /// Content management and analytics: tenant resolution, then the admin check.
    pub admin: Router<AppState>,
    pub public: Router<AppState>,
    pub document: utoipa::openapi::OpenApi,
}

pub fn split() -> Api {
    let mut document = DataPlaneApi::openapi();
    let (sdk, mut sdk_doc) = super::sdk::router().split_for_parts();
    let (beacon, mut beacon_doc) = super::sdk::beacon_router().split_for_parts();
    let (admin, mut admin_doc) = super::admin::router().split_for_parts();
    let (public, public_doc) = super::health::router()
        .merge(super::hosting::router())
        .split_for_parts();
    document_tenant(&mut sdk_doc, false);
    document_tenant(&mut beacon_doc, true);
    document_tenant(&mut admin_doc, false);
    document_admin(&mut admin_doc);
    for part in [sdk_doc, beacon_doc, admin_doc, public_doc] {
        document.merge(part);
    }
    for (is_post, operation) in operations(&mut document) {
        add_common_errors(operation, is_post);
    }
    close_tagged_unions(&mut document);
    for (_, operation) in operations(&mut document) {
        optional_if_match(operation);
    }
    Api {
        sdk,
        beacon,
        admin,
        public,
        document,
    }
}

pub fn document() -> utoipa::openapi::OpenApi {
    split().document
}

/// What tenant resolution answers on every route behind it.
fn document_tenant(document: &mut utoipa::openapi::OpenApi, reads_body: bool) {
    for (_, operation) in operations(document) {
        add_error(
            operation,
            401,
            "`unauthorized`: no API key, or a malformed, unknown, revoked or expired one, or an \
             offboarded tenant",
        );
        add_error(
            operation,
            403,
            "`origin_not_allowed`: a publishable key without an allowed Origin, or a secret key \
             from a browser; `tenant_suspended`",
        );
        add_error(
            operation,
            429,
            "`rate_limited`: the tenant is over its request rate; see `Retry-After`",
        );
        add_error(
            operation,
            503,
            "`tenant_provisioning` (with `Retry-After`), `tenant_failed`, or `unavailable`: \
             the backend is temporarily unavailable",
        );
        add_error(
            operation,
            500,
            "`internal`: an unexpected failure; the cause is logged, never sent",
        );
        if reads_body {
            add_error(
                operation,
                413,
                "`payload_too_large`: the batch is over 512 KiB",
            );
        }
    }
}

/// The admin routes also take a platform admin token.
fn document_admin(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::security::SecurityRequirement;
    for (_, operation) in operations(document) {
        operation.security = Some(vec![
            SecurityRequirement::new(API_KEY_SCHEME, Vec::<String>::new()),
            SecurityRequirement::new(API_KEY_SCHEME, Vec::<String>::new())
                .add(ADMIN_TOKEN_SCHEME, Vec::<String>::new()),
        ]);
        add_error(
            operation,
            401,
            "a publishable key without a valid admin token of its tenant",
        );
    }
}

/// Tagged enums that refuse unknown fields (`#[serde(deny_unknown_fields)]`): utoipa closes
/// structs that do (`additionalProperties: false`), but not the variants of a tagged enum, so
/// the document would admit fields the server refuses.
const CLOSED_UNIONS: [&str; 2] = ["TraitRule", "Question"];

fn close_tagged_unions(document: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::{AdditionalProperties, Schema};
    let Some(components) = document.components.as_mut() else {
        return;
    };
    for name in CLOSED_UNIONS {
        if let Some(RefOr::T(Schema::OneOf(union))) = components.schemas.get_mut(name) {
            for variant in &mut union.items {
                if let RefOr::T(Schema::Object(object)) = variant {
                    object.additional_properties =
                        Some(Box::new(AdditionalProperties::FreeForm(false)));
                }
            }
        }
    }
}

/// `If-Match` is documented as an optional header, so that its absence can be answered as
/// documented (`428 precondition_required` on changes of content, create-only on progress); a
/// `String` parameter would be required, and an `Option<String>` one nullable, which a header
/// cannot be.
fn optional_if_match(operation: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::Required;
    use utoipa::openapi::path::ParameterIn;
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in == ParameterIn::Header && parameter.name == "If-Match" {
            parameter.required = Required::False;
        }
    }
}
