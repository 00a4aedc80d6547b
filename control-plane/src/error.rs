//! The one mapping from failures to HTTP: every 4xx and 5xx carries
//! `{"error": {"code", "message", "details"?}}`.
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
//! | `Unprocessable` | 422 | `idempotency_key_reused` |
//! | `Unavailable` | 503 | `unavailable` (retryable backend failure) |
//! | `QuotaExceeded` | 503 | `quota_exceeded` (a new tenant would exceed an account quota; `details` say which) |
//! | `Internal` | 500 | `internal` — the cause is logged, never sent |

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// What a 503 says; the cause is logged where it is known.
pub const UNAVAILABLE_MESSAGE: &str = "the backend is temporarily unavailable; retry shortly";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    Unauthorized(String),
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    #[error("{message}")]
    Conflict {
        code: &'static str,
        message: String,
        details: Option<Value>,
    },
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{message}")]
    Gone { code: &'static str, message: String },
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{0}")]
    Unavailable(String),
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
    pub code: String,
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
            code: "invalid_request",
            message: message.into(),
            details: None,
        }
    }

    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Conflict {
            code,
            message: message.into(),
            details: None,
        }
    }

    pub fn tenant_not_found(id: &str) -> Self {
        ApiError::NotFound {
            code: "tenant_not_found",
            message: format!("no tenant with id '{id}'"),
        }
    }

    /// 409 `tenant_offboarded`: the tenant is being or has been offboarded, so `refused`
    /// (what the request wanted) can no longer happen.
    pub fn tenant_offboarded(id: &str, status: tenancy::TenantStatus, refused: &str) -> Self {
        ApiError::Conflict {
            code: "tenant_offboarded",
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
            ApiError::Unavailable(_) | ApiError::QuotaExceeded { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn parts(&self) -> (&str, String, Option<Value>) {
        match self {
            ApiError::BadRequest {
                code,
                message,
                details,
            } => (code, message.clone(), details.clone()),
            ApiError::Unauthorized(m) => ("unauthorized", m.clone(), None),
            ApiError::NotFound { code, message } => (code, message.clone(), None),
            ApiError::Conflict {
                code,
                message,
                details,
            } => (code, message.clone(), details.clone()),
            ApiError::MethodNotAllowed(m) => ("method_not_allowed", m.clone(), None),
            ApiError::Gone { code, message } => (code, message.clone(), None),
            ApiError::RequestTimeout(m) => ("request_timeout", m.clone(), None),
            ApiError::PayloadTooLarge(m) => ("payload_too_large", m.clone(), None),
            ApiError::UnsupportedMediaType(m) => ("unsupported_media_type", m.clone(), None),
            ApiError::Unprocessable { code, message } => (code, message.clone(), None),
            ApiError::Unavailable(m) => ("unavailable", m.clone(), None),
            ApiError::QuotaExceeded { message, details } => {
                ("quota_exceeded", message.clone(), Some(details.clone()))
            }
            // The cause is logged where the error is turned into a response, never echoed.
            ApiError::Internal(_) => (
                "internal",
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
                code: code.to_owned(),
                message,
                details,
            },
        };
        let mut response = (status, Json(body)).into_response();
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
            code: "invalid_request",
            message: e.to_string(),
            details: Some(serde_json::json!({ "field": e.field })),
        }
    }
}

impl From<tenancy::IllegalTransition> for ApiError {
    fn from(e: tenancy::IllegalTransition) -> Self {
        ApiError::Conflict {
            code: "illegal_transition",
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
                code: "not_found",
                message: e.message().to_owned(),
            },
            K::AlreadyExists => ApiError::conflict("already_exists", e.message()),
            K::ConditionFailed => ApiError::conflict(
                "concurrent_update",
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

impl From<provisioner::Error> for ApiError {
    fn from(e: provisioner::Error) -> Self {
        ApiError::from(&e)
    }
}

/// By reference, for outcomes shared between several waiters (a background run's result).
impl From<&provisioner::Error> for ApiError {
    fn from(e: &provisioner::Error) -> Self {
        match e {
            provisioner::Error::Port(p) => tenancy::Error::new(p.kind(), p.message()).into(),
            provisioner::Error::IllegalTransition(t) => (*t).into(),
            provisioner::Error::Invalid(i) => i.clone().into(),
            provisioner::Error::Offboarded { tenant, status } => {
                ApiError::tenant_offboarded(tenant, *status, "can no longer be changed")
            }
            provisioner::Error::Superseded { .. } => {
                ApiError::conflict("superseded", e.to_string())
            }
            provisioner::Error::QuotaExceeded(q) => ApiError::QuotaExceeded {
                message: q.to_string(),
                details: serde_json::json!({
                    "resource": q.resource,
                    "quota": q.quota,
                    "in_use": q.in_use,
                    "needed": q.needed,
                    "live_tenants": q.live_tenants,
                    "setting": q.resource.setting(),
                }),
            },
            other => ApiError::Internal(other.to_string()),
        }
    }
}

/// Why the run tracker could not offboard: a missing tenant is `tenant_not_found`, a stopping
/// process `unavailable`, a run's task that died `internal`; a failed run maps like any other
/// provisioner error.
impl From<provisioner::RunError> for ApiError {
    fn from(e: provisioner::RunError) -> Self {
        match e {
            provisioner::RunError::TenantNotFound(id) => ApiError::tenant_not_found(id.as_str()),
            provisioner::RunError::ShuttingDown => ApiError::Unavailable(
                "the control plane is shutting down; retry shortly".to_owned(),
            ),
            stopped @ provisioner::RunError::Stopped { .. } => {
                ApiError::Internal(stopped.to_string())
            }
            provisioner::RunError::Failed(e) => ApiError::from(e.as_ref()),
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
            assert_eq!((code, details), ("unavailable", None));
            assert_eq!(message, UNAVAILABLE_MESSAGE);
        }
    }

    #[test]
    fn each_way_an_offboarding_run_can_fail_has_its_one_http_answer() {
        use provisioner::{RunError, RunKind};
        let tenant = tenancy::TenantId::parse("gone-away").unwrap();
        let cases = [
            (
                RunError::TenantNotFound(tenant.clone()),
                StatusCode::NOT_FOUND,
                "tenant_not_found",
            ),
            (
                RunError::ShuttingDown,
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
            (
                RunError::Stopped {
                    tenant: tenant.clone(),
                    kind: RunKind::Offboard,
                    cause: "task panicked at /somewhere/secret.rs".to_owned(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
            ),
            (
                RunError::Failed(std::sync::Arc::new(provisioner::Error::Offboarded {
                    tenant: tenant.to_string(),
                    status: tenancy::TenantStatus::Deleted,
                })),
                StatusCode::CONFLICT,
                "tenant_offboarded",
            ),
            (
                RunError::Failed(std::sync::Arc::new(provisioner::Error::Port(
                    tenancy::Error::new(tenancy::ErrorKind::Unavailable, "database is locked"),
                ))),
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
            ),
        ];
        for (run_error, status, expected) in cases {
            let api = ApiError::from(run_error);
            assert_eq!(api.status(), status, "{api:?}");
            let (code, message, _) = api.parts();
            assert_eq!(code, expected);
            assert!(!message.contains("secret.rs"), "{message}");
        }
    }
}
