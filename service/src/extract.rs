//! Extractors whose rejections use the one error body (`crate::error`), so a malformed JSON
//! body, an unknown field, a wrong content type or a bad path segment looks like every other
//! 4xx to a client, from either service.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

/// `axum::Json`, with rejections mapped to [`ApiError`]:
///
/// | rejection | status | code |
/// |---|---|---|
/// | missing or non-JSON `Content-Type` | 415 | `unsupported_media_type` |
/// | body over the body limit (`crate::layers`) | 413 | `payload_too_large` |
/// | syntax error, wrong type, unknown field | 400 | `invalid_json` |
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "expected a JSON body with Content-Type: application/json".to_owned(),
        ),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge(
            "the request body is larger than this server accepts".to_owned(),
        ),
        JsonRejection::JsonDataError(e) => ApiError::BadRequest {
            code: ErrorCode::InvalidJson,
            message: format!(
                "the JSON body does not match the expected shape: {}",
                e.body_text()
            ),
            details: None,
        },
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest {
            code: ErrorCode::InvalidJson,
            message: format!("the body is not valid JSON: {}", e.body_text()),
            details: None,
        },
        other => ApiError::BadRequest {
            code: ErrorCode::InvalidJson,
            message: format!("the JSON body could not be read: {}", other.body_text()),
            details: None,
        },
    }
}

/// `axum::extract::Query`, with rejections mapped to a 400 `invalid_request`. Query structs
/// use `#[serde(deny_unknown_fields)]`, so a misspelt parameter (`?wiat=true`) is refused
/// rather than silently ignored.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::bad_request(format!("invalid query string: {}", rejection.body_text()))
}

/// `axum::extract::Path`, with rejections mapped to a 400 `invalid_request`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(ApiError::bad_request(format!(
                "invalid path: {}",
                rejection.body_text()
            ))),
        }
    }
}
