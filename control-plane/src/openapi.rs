//! The OpenAPI document, generated from the routes themselves: every feature module registers
//! each handler together with its `#[utoipa::path]` annotation through `utoipa-axum`'s
//! `OpenApiRouter`, so a route cannot exist without its entry, nor the reverse. [`split`] turns
//! the operator and the public routers (`crate::routes`) into axum `Router`s and one document
//! on [`ControlPlaneApi`], and adds to the document what the app's layers answer on every
//! route of a kind (`document_operator`, [`document_layers`]); each annotation lists only
//! what its own handler answers. What the common stack answers is added by
//! [`service::openapi`]; the rest here is the control plane's own.
//!
//! Every operator route requires the `operator_token` bearer scheme; the health routes opt out.

use axum::Router;
use service::openapi::{add_common_errors, add_error, operations};
use utoipa::openapi::Required;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::error::ErrorBody;
use crate::routes;
use crate::state::AppState;

/// Name of the bearer security scheme in the document.
pub const OPERATOR_TOKEN_SCHEME: &str = "operator_token";

/// What the document says before any route adds to it: info, tags, the security scheme.
#[derive(OpenApi)]
#[openapi(
    info(title = "Spotlight control plane", description = "Tenant lifecycle API: onboarding, \
        suspension, offboarding and API keys. Every error has the body \
        `{\"error\": {\"code\", \"message\", \"details\"?}}`. POSTs honour `Idempotency-Key`."),
    components(schemas(ErrorBody)),
    modifiers(&OperatorToken),
    security(("operator_token" = [])),
    tags(
        (name = "tenants", description = "Tenant lifecycle"),
        (name = "api-keys", description = "Tenant API keys: issue, list, revoke, introspect"),
        (name = "admins", description = "Tenant admins: invite, list, remove; tokens on the embedded backend"),
        (name = "identity", description = "End-user identity: the public keys (or JWKS URL) a tenant's own users' tokens are verified with"),
        (name = "health", description = "Liveness, readiness, this document (no token needed)"),
        (name = "metrics", description = "Prometheus metrics (operator token)"),
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

/// The control plane's routers, before the app's layers, and the document describing both.
pub struct Api {
    /// The routes that need the operator token; `crate::app` guards this router.
    pub operator: Router<AppState>,
    /// The routes anyone may call.
    pub public: Router<AppState>,
    /// The whole document, layers included.
    pub document: utoipa::openapi::OpenApi,
}

/// The routers and the document that describes them, layers included: what operator auth
/// answers is documented on exactly the routes of the router it guards.
pub fn split() -> Api {
    let (operator, mut operator_document) = routes::operator().split_for_parts();
    document_operator(&mut operator_document);
    let (public, public_document) = routes::public().split_for_parts();
    let mut document = ControlPlaneApi::openapi();
    document.merge(operator_document);
    document.merge(public_document);
    document_layers(&mut document);
    Api {
        operator,
        public,
        document,
    }
}

/// The whole document, as `/openapi.json` serves it (built from the same routes as `crate::app`).
pub fn document() -> utoipa::openapi::OpenApi {
    split().document
}

/// Adds what operator auth answers to every operation of the operator router: 401
/// `unauthorized`; every such route reaches the backend, so also 503 `unavailable`
/// (retryable) and 500 `internal`.
fn document_operator(document: &mut utoipa::openapi::OpenApi) {
    for (_, operation) in operations(document) {
        add_error(
            operation,
            401,
            "`unauthorized`: missing or wrong operator token",
        );
        add_error(
            operation,
            503,
            "`unavailable`: the backend is temporarily unavailable, or the server is \
             shutting down; retry",
        );
        add_error(
            operation,
            500,
            "`internal`: an unexpected failure; the cause is logged, never sent",
        );
    }
}

/// Adds what `crate::app`'s other layers answer, to every operation they apply to:
///
/// - `Idempotency-Key` (every POST): the header parameter, 400 `invalid_idempotency_key`,
///   409 `idempotency_key_in_use`, 422 `idempotency_key_reused`, 503 when the outcome could
///   not be recorded, and 413 (the body is read to fingerprint it);
/// - the common stack ([`service::openapi::add_common_errors`]): 408, and for a JSON body
///   400 `invalid_json`, 413 and 415.
///
/// A status the handler documents already keeps its entry; the layer's cause is appended to its
/// description.
pub fn document_layers(document: &mut utoipa::openapi::OpenApi) {
    for (is_post, operation) in operations(document) {
        if is_post {
            add_idempotency(operation);
        }
        add_common_errors(operation, is_post);
    }
}

fn add_idempotency(operation: &mut Operation) {
    let key = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(
            "Executes this POST at most once per key: a retry with the same key and request \
             replays the first answer (`Idempotent-Replayed: true`). 1–255 visible ASCII \
             characters.",
        ))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::idempotency::IdempotencyKey::MAX_LEN))
                .pattern(Some("^[\\x21-\\x7E]+$")),
        ))
        .build();
    operation.parameters.get_or_insert_with(Vec::new).push(key);
    add_error(
        operation,
        400,
        "`invalid_idempotency_key`: the `Idempotency-Key` is not 1–255 visible ASCII characters",
    );
    add_error(
        operation,
        409,
        "`idempotency_key_in_use`: a request with this `Idempotency-Key` is still running",
    );
    add_error(
        operation,
        422,
        "`idempotency_key_reused`: this `Idempotency-Key` was used for a different request",
    );
    add_error(
        operation,
        503,
        "`unavailable`: the request was executed but its outcome could not be recorded; retry \
         with the same `Idempotency-Key` to get it",
    );
}
