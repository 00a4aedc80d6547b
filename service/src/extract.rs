//! Extractors whose rejections use the one error body (`crate::error`), so a malformed JSON
//! body, an unknown field, a wrong content type or a bad path segment looks like every other
//! 4xx to a client, from either service. Each is axum's own extractor with its rejection
//! converted by a `From<…Rejection> for ApiError` below.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::StatusCode;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, with rejections mapped to [`ApiError`]:
///
/// | rejection | status | code |
/// |---|---|---|
/// | missing or non-JSON `Content-Type` | 415 | `unsupported_media_type` |
/// | body over the body limit (`crate::layers`) | 413 | `payload_too_large` |
/// | syntax error, wrong type, unknown field | 400 | `invalid_json` |
#[derive(Debug, Clone, Copy, Default, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

/// `axum::extract::Query`, with rejections mapped to a 400 `invalid_request`. Query structs
/// use `#[serde(deny_unknown_fields)]`, so a misspelt parameter (`?wiat=true`) is refused
/// rather than silently ignored.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);

/// `axum::extract::Path`, with rejections mapped to a 400 `invalid_request`.
#[derive(Debug, Clone, Copy, Default, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let invalid_json = |message: String| ApiError::BadRequest {
            code: ErrorCode::InvalidJson,
            message,
            details: None,
        };
        match rejection {
            JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                "expected a JSON body with Content-Type: application/json".to_owned(),
            ),
            other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
                "the request body is larger than this server accepts".to_owned(),
            ),
            JsonRejection::JsonDataError(e) => invalid_json(format!(
                "the JSON body does not match the expected shape: {}",
                e.body_text()
            )),
            JsonRejection::JsonSyntaxError(e) => {
                invalid_json(format!("the body is not valid JSON: {}", e.body_text()))
            }
            other => invalid_json(format!(
                "the JSON body could not be read: {}",
                other.body_text()
            )),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::bad_request(format!("invalid query string: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::bad_request(format!("invalid path: {}", rejection.body_text()))
    }
}
