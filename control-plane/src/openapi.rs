//! The OpenAPI document, generated from the routes themselves: every feature module registers
//! each handler together with its `#[utoipa::path]` annotation through `utoipa-axum`'s
//! `OpenApiRouter`, so a route cannot exist without its entry, nor the reverse. [`split`] turns
//! the merged router (`crate::routes::router`, on [`ControlPlaneApi`]) into the axum `Router` and the document, and adds to the document what the
//! app's layers answer on every route of a kind ([`document_layers`]); each annotation lists
//! only what its own handler answers.
//!
//! Every operator route requires the `operator_token` bearer scheme; the health routes opt out.

use axum::Router;
use axum::body::Bytes;
use utoipa::openapi::path::{Operation, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, Ref, RefOr, Required};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;

use crate::error::ErrorBody;
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

/// The router and the document that describes it, layers included.
pub fn split(routes: OpenApiRouter<AppState>) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut document) = routes.split_for_parts();
    document_layers(&mut document);
    (router, document)
}

/// The whole document, as `/openapi.json` serves it (built from the same routes as `crate::app`).
pub fn document() -> utoipa::openapi::OpenApi {
    split(crate::routes::router()).1
}

/// The document as `/openapi.json` sends it, serialised once when the app is built.
#[derive(Clone)]
pub struct ServedDocument(Bytes);

impl ServedDocument {
    pub fn new(document: &utoipa::openapi::OpenApi) -> Self {
        let json = serde_json::to_vec(document).expect("the OpenAPI document serialises to JSON");
        ServedDocument(Bytes::from(json))
    }

    pub fn json(&self) -> Bytes {
        self.0.clone()
    }
}

/// Adds what `crate::app`'s layers answer, to every operation they apply to:
///
/// - the listener (every operation): 408 `request_timeout`;
/// - operator auth (every path but `crate::auth::PUBLIC_PATHS`): 401 `unauthorized`; every such
///   route reaches the backend, so also 503 `unavailable` (retryable) and 500 `internal`;
/// - `Idempotency-Key` (every POST): the header parameter, 400 `invalid_idempotency_key`,
///   409 `idempotency_key_in_use`, 422 `idempotency_key_reused`, 503 when the outcome could
///   not be recorded, and 413 (the body is read to fingerprint it);
/// - a JSON body (every operation with a request body): 400 `invalid_json`, 413
///   `payload_too_large`, 415 `unsupported_media_type`.
///
/// A status the handler documents already keeps its entry; the layer's cause is appended to its
/// description.
pub fn document_layers(document: &mut utoipa::openapi::OpenApi) {
    for (path, item) in document.paths.paths.iter_mut() {
        let operator = !crate::auth::PUBLIC_PATHS.contains(&path.as_str());
        let operations = [
            (false, item.get.as_mut()),
            (false, item.put.as_mut()),
            (true, item.post.as_mut()),
            (false, item.delete.as_mut()),
            (false, item.patch.as_mut()),
        ];
        for (is_post, operation) in operations {
            let Some(operation) = operation else { continue };
            add_error(
                operation,
                408,
                "`request_timeout`: the request took longer than `SPOTLIGHT_REQUEST_TIMEOUT_SECS`",
            );
            if operator {
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
            if is_post {
                add_idempotency(operation);
            }
            if operation.request_body.is_some() {
                add_error(
                    operation,
                    400,
                    "`invalid_json`: the body is not JSON of the documented shape",
                );
                add_error(
                    operation,
                    415,
                    "`unsupported_media_type`: the body is not `application/json`",
                );
            }
            if is_post || operation.request_body.is_some() {
                add_error(
                    operation,
                    413,
                    "`payload_too_large`: the body is over `SPOTLIGHT_MAX_BODY_BYTES`",
                );
            }
        }
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

/// Documents `status` with the error body, or appends `cause` to the entry already there.
fn add_error(operation: &mut Operation, status: u16, cause: &str) {
    let responses = &mut operation.responses.responses;
    match responses.get_mut(&status.to_string()) {
        Some(RefOr::T(existing)) => {
            if !existing.description.contains(cause) {
                existing.description = format!("{}; {cause}", existing.description);
            }
        }
        Some(RefOr::Ref(_)) => {}
        None => {
            let mut response = ResponseBuilder::new().description(cause).content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("ErrorBody")))
                    .build(),
            );
            if status == 401 {
                response = response.header(
                    "WWW-Authenticate",
                    HeaderBuilder::new()
                        .schema(ObjectBuilder::new().schema_type(Type::String))
                        .description(Some("`Bearer`"))
                        .build(),
                );
            }
            responses.insert(status.to_string(), RefOr::T(response.build()));
        }
    }
}
