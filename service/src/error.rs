//! The one mapping from failures to HTTP, for every Spotlight service: every 4xx and 5xx
//! carries `{"error": {"code", "message", "details"?}}`, with `code` an [`ErrorCode`]. Both
//! services answer through [`ApiError`], so the same failure looks the same from either.
//! Conversions from the shared domain's errors (`tenancy`) live here; a service converts its
//! own errors at its edge.
//!
//! | variant | status | code |
//! |---|---|---|
//! | `BadRequest` | 400 | `invalid_request` (or a more specific code) |
//! | `Unauthorized` | 401 | `unauthorized` |
//! | `NotFound` | 404 | `not_found`, `tenant_not_found`, … |
//! | `MethodNotAllowed` | 405 | `method_not_allowed` |
//! | `RequestTimeout` | 408 | `request_timeout` (the request outlasted `SPOTLIGHT_REQUEST_TIMEOUT_SECS`) |
//! | `Conflict` | 409 | `tenant_exists`, `illegal_transition`, `idempotency_key_in_use`, … |
//! | `Gone` | 410 | `idempotent_response_purged` |
//! | `PayloadTooLarge` | 413 | `payload_too_large` |
//! | `UnsupportedMediaType` | 415 | `unsupported_media_type` |
//! | `PreconditionFailed` | 412 | `precondition_failed` (`If-Match` names an older version) |
//! | `Unprocessable` | 422 | `idempotency_key_reused`, `content_invalid` (with `details`) |
//! | `PreconditionRequired` | 428 | `precondition_required` (a change without `If-Match`) |
//! | `Unavailable` | 503 | `unavailable` (retryable backend failure) |
//! | `QuotaExceeded` | 503 | `quota_exceeded` (a new tenant would exceed an account quota; `details` say which) |
//! | `Internal` | 500 | `internal` — the cause is logged, never sent |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

pub use crate::code::ErrorCode;

/// What a 503 says; the cause is logged where it is known.
pub const UNAVAILABLE_MESSAGE: &str = "the backend is temporarily unavailable; retry shortly";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: ErrorCode,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    NotFound { code: ErrorCode, message: String },
    #[error("{message}")]
    Conflict {
        code: ErrorCode,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Gone { code: ErrorCode, message: String },
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable {
        code: ErrorCode,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    PreconditionRequired(String),
    /// 403: the credentials are good, but not for this (a suspended tenant, a browser origin
    /// the tenant does not allow).
    #[error("{message}")]
    Forbidden { code: ErrorCode, message: String },
    /// 429: the caller is over its rate; it may try again after `retry_after_secs`.
    #[error("{message}")]
    TooManyRequests {
        message: String,
        retry_after_secs: u64,
    },
    #[error("{0}")]
    Unavailable(String),
    /// 503 for a reason of the caller's own (its tenant is still being provisioned, or its
    /// provisioning failed), with `Retry-After` when waiting will help.
    #[error("{message}")]
    NotReady {
        code: ErrorCode,
        message: String,
        retry_after_secs: Option<u64>,
    },
    /// A new tenant refused before any side effect: the account cannot hold its resources
    /// until tenants are offboarded or the quota is raised.
    #[error("{message}")]
    QuotaExceeded { message: String, details: Value },
    #[error("internal error: {0}")]
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code.
    pub code: ErrorCode,
    /// What was wrong, for a person.
    pub message: String,
    /// Structured context when there is some, e.g. `{"field": "name"}`; absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object, nullable = false)]
    pub details: Option<Value>,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code: ErrorCode::InvalidRequest,
            message: message.into(),
            details: None,
        }
    }

    pub fn conflict(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn tenant_not_found(id: &str) -> Self {
        ApiError::NotFound {
            code: ErrorCode::TenantNotFound,
            message: format!("no tenant with id '{id}'"),
        }
    }

    /// 409 `tenant_offboarded`: the tenant is being or has been offboarded, so `refused`
    /// (what the request wanted) can no longer happen.
    pub fn tenant_offboarded(id: &str, status: tenancy::TenantStatus, refused: &str) -> Self {
        ApiError::Conflict {
            code: ErrorCode::TenantOffboarded,
            message: format!("tenant '{id}' is {status} and {refused}"),
            details: Some(serde_json::json!({ "status": status.as_str() })),
        }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Gone { .. } => StatusCode::GONE,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            ApiError::PreconditionRequired(_) => StatusCode::PRECONDITION_REQUIRED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotReady { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Unavailable(_) | ApiError::QuotaExceeded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the body says: code, message and details. An internal error's cause is never
    /// part of it.
    pub fn parts(&self) -> (ErrorCode, String, Option<Value>) {
        match self {
            ApiError::BadRequest {
                code,
                message,
                details,
            }
            | ApiError::Conflict {
                code,
                message,
                details,
            }
            | ApiError::Unprocessable {
                code,
                message,
                details,
            } => (*code, message.clone(), details.clone()),
            ApiError::NotFound { code, message }
            | ApiError::Gone { code, message }
            | ApiError::Forbidden { code, message }
            | ApiError::NotReady { code, message, .. } => (*code, message.clone(), None),
            ApiError::TooManyRequests { message, .. } => {
                (ErrorCode::RateLimited, message.clone(), None)
            }
            ApiError::Unauthorized(m) => (ErrorCode::Unauthorized, m.clone(), None),
            ApiError::PreconditionFailed(m) => (ErrorCode::PreconditionFailed, m.clone(), None),
            ApiError::PreconditionRequired(m) => (ErrorCode::PreconditionRequired, m.clone(), None),
            ApiError::MethodNotAllowed(m) => (ErrorCode::MethodNotAllowed, m.clone(), None),
            ApiError::RequestTimeout(m) => (ErrorCode::RequestTimeout, m.clone(), None),
            ApiError::PayloadTooLarge(m) => (ErrorCode::PayloadTooLarge, m.clone(), None),
            ApiError::UnsupportedMediaType(m) => (ErrorCode::UnsupportedMediaType, m.clone(), None),
            ApiError::Unavailable(m) => (ErrorCode::Unavailable, m.clone(), None),
            ApiError::QuotaExceeded { message, details } => (
                ErrorCode::QuotaExceeded,
                message.clone(),
                Some(details.clone()),
            ),
            // The cause is logged where the error is turned into a response, never echoed.
            ApiError::Internal(_) => (
                ErrorCode::Internal,
                "internal error; it has been logged".to_owned(),
                None,
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let (code, message, details) = self.parts();
        let body = ErrorBody {
            error: ErrorDetail {
                code,
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
        let retry_after = match &self {
            ApiError::TooManyRequests {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            ApiError::NotReady {
                retry_after_secs, ..
            } => *retry_after_secs,
            _ => None,
        };
        if let Some(secs) = retry_after {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(secs.max(1)),
            );
        }
        if matches!(self, ApiError::Unauthorized(_)) {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl From<tenancy::InvalidInput> for ApiError {
    fn from(e: tenancy::InvalidInput) -> Self {
        ApiError::BadRequest {
            code: ErrorCode::InvalidRequest,
            message: e.to_string(),
            details: Some(serde_json::json!({ "field": e.field })),
        }
    }
}

impl From<tenancy::IllegalTransition> for ApiError {
    fn from(e: tenancy::IllegalTransition) -> Self {
        ApiError::Conflict {
            code: ErrorCode::IllegalTransition,
            message: e.to_string(),
            details: Some(serde_json::json!({
                "status": e.from.as_str(),
                "transition": e.transition.as_str(),
            })),
        }
    }
}

impl From<tenancy::Error> for ApiError {
    fn from(e: tenancy::Error) -> Self {
        use tenancy::ErrorKind as K;
        match e.kind() {
            K::NotFound => ApiError::NotFound {
                code: ErrorCode::NotFound,
                message: e.message().to_owned(),
            },
            K::AlreadyExists => ApiError::conflict(ErrorCode::AlreadyExists, e.message()),
            K::ConditionFailed => ApiError::conflict(
                ErrorCode::ConcurrentUpdate,
                format!("{}; retry the request", e.message()),
            ),
            K::Invalid => ApiError::bad_request(e.message()),
            K::Throttled | K::Unavailable => {
                // Backend messages name files, databases and hosts: log them, send none.
                tracing::warn!(error = %e, "backend unavailable");
                ApiError::Unavailable(UNAVAILABLE_MESSAGE.to_owned())
            }
            K::AccessDenied => ApiError::Internal(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retryable_backend_failure_is_a_503_that_echoes_nothing_of_the_backend() {
        for kind in [
            tenancy::ErrorKind::Unavailable,
            tenancy::ErrorKind::Throttled,
        ] {
            let e = tenancy::Error::new(kind, "database is locked: /var/lib/spotlight/registry.db");
            let api = ApiError::from(e);
            assert_eq!(api.status(), StatusCode::SERVICE_UNAVAILABLE);
            let (code, message, details) = api.parts();
            assert_eq!((code, details), (ErrorCode::Unavailable, None));
            assert_eq!(message, UNAVAILABLE_MESSAGE);
        }
    }

    #[tokio::test]
    async fn the_body_carries_the_code_as_its_string() {
        let response = ApiError::tenant_not_found("acme").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": {
                "code": "tenant_not_found",
                "message": "no tenant with id 'acme'",
            }})
        );
    }
}
