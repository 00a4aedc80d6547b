//! OpenAPI helpers every service's document needs: the document served as bytes, and the
//! error answers that [`crate::layers`], [`crate::extract`] and [`crate::server`] give on
//! every route of a kind, added to each operation they apply to, so that no handler's
//! annotation has to repeat them. Each service's own document (its paths, security schemes,
//! what its own layers answer) stays in that service.

use axum::body::Bytes;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi, Ref, RefOr};

/// Name of the error body's schema in every document ([`crate::error::ErrorBody`]).
pub const ERROR_BODY_SCHEMA: &str = "ErrorBody";

/// The document as `/openapi.json` sends it, serialised once when the app is built.
#[derive(Clone)]
pub struct ServedDocument(Bytes);

impl ServedDocument {
    pub fn new(document: &OpenApi) -> Self {
        let json = serde_json::to_vec(document).expect("the OpenAPI document serialises to JSON");
        ServedDocument(Bytes::from(json))
    }

    pub fn json(&self) -> Bytes {
        self.0.clone()
    }
}

/// Every operation of `document`, with whether it is a POST.
pub fn operations(document: &mut OpenApi) -> impl Iterator<Item = (bool, &mut Operation)> {
    document.paths.paths.values_mut().flat_map(|item| {
        [
            (false, item.get.as_mut()),
            (false, item.put.as_mut()),
            (true, item.post.as_mut()),
            (false, item.delete.as_mut()),
            (false, item.patch.as_mut()),
        ]
        .into_iter()
        .filter_map(|(is_post, operation)| operation.map(|operation| (is_post, operation)))
    })
}

/// Adds to `operation` what the common stack answers on it:
///
/// - the listener (every operation): 408 `request_timeout`;
/// - the path and query extractors ([`crate::extract`], every operation with such parameters):
///   400 `invalid_request`;
/// - a JSON body ([`crate::extract::ApiJson`], every operation with a request body): 400
///   `invalid_json`, 415 `unsupported_media_type`;
/// - the body limit (every operation with a request body, or whose body a layer reads:
///   `body_read`): 413 `payload_too_large`.
pub fn add_common_errors(operation: &mut Operation, body_read: bool) {
    add_error(
        operation,
        408,
        "`request_timeout`: the request took longer than `SPOTLIGHT_REQUEST_TIMEOUT_SECS`",
    );
    if operation
        .parameters
        .as_ref()
        .is_some_and(|p| p.iter().any(|p| p.parameter_in != ParameterIn::Header))
    {
        add_error(
            operation,
            400,
            "`invalid_request`: a path or query parameter is malformed",
        );
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
    if body_read || operation.request_body.is_some() {
        add_error(
            operation,
            413,
            "`payload_too_large`: the body is over `SPOTLIGHT_MAX_BODY_BYTES`",
        );
    }
}

/// Documents `status` with the error body, or appends `cause` to the entry already there (a
/// status the handler documents keeps its entry). A 401 also documents `WWW-Authenticate`.
pub fn add_error(operation: &mut Operation, status: u16, cause: &str) {
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
                    .schema(Some(Ref::from_schema_name(ERROR_BODY_SCHEMA)))
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
