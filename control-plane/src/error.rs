//! The control plane answers through the error mapping every service shares
//! ([`service::error`], re-exported here); this module adds only what is the control plane's:
//! the HTTP answer of the provisioner's errors.
//!
//! `From<provisioner::…> for ApiError` cannot be written here (both types are foreign to this
//! crate) nor in `service` (which must not depend on the provisioner), so the provisioner's
//! errors convert through [`IntoApiError`], and a `Result` through
//! [`ProvisionerResultExt::api`]: `state.provisioner.request(new).await.api()?`.

pub use service::error::{ApiError, ApiResult, ErrorBody, ErrorCode, ErrorDetail};

/// An error the control plane answers with its one mapping.
pub trait IntoApiError {
    fn into_api_error(self) -> ApiError;
}

/// `Result<T, E>` of a provisioner call as an [`ApiResult`].
pub trait ProvisionerResultExt<T> {
    fn api(self) -> ApiResult<T>;
}

impl<T, E: IntoApiError> ProvisionerResultExt<T> for Result<T, E> {
    fn api(self) -> ApiResult<T> {
        self.map_err(IntoApiError::into_api_error)
    }
}

impl IntoApiError for provisioner::Error {
    fn into_api_error(self) -> ApiError {
        (&self).into_api_error()
    }
}

/// By reference, for outcomes shared between several waiters (a background run's result).
impl IntoApiError for &provisioner::Error {
    fn into_api_error(self) -> ApiError {
        match self {
            provisioner::Error::Port(p) => tenancy::Error::new(p.kind(), p.message()).into(),
            provisioner::Error::IllegalTransition(t) => (*t).into(),
            provisioner::Error::Invalid(i) => i.clone().into(),
            provisioner::Error::Offboarded { tenant, status } => {
                ApiError::tenant_offboarded(tenant, *status, "can no longer be changed")
            }
            provisioner::Error::Superseded { .. } => {
                ApiError::conflict(ErrorCode::Superseded, self.to_string())
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
impl IntoApiError for provisioner::RunError {
    fn into_api_error(self) -> ApiError {
        match self {
            provisioner::RunError::TenantNotFound(id) => ApiError::tenant_not_found(id.as_str()),
            provisioner::RunError::ShuttingDown => ApiError::Unavailable(
                "the control plane is shutting down; retry shortly".to_owned(),
            ),
            stopped @ provisioner::RunError::Stopped { .. } => {
                ApiError::Internal(stopped.to_string())
            }
            provisioner::RunError::Failed(e) => e.as_ref().into_api_error(),
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;

    use super::*;

    #[test]
    fn each_way_an_offboarding_run_can_fail_has_its_one_http_answer() {
        use provisioner::{RunError, RunKind};
        let tenant = tenancy::TenantId::parse("gone-away").unwrap();
        let cases = [
            (
                RunError::TenantNotFound(tenant.clone()),
                StatusCode::NOT_FOUND,
                ErrorCode::TenantNotFound,
            ),
            (
                RunError::ShuttingDown,
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
            ),
            (
                RunError::Stopped {
                    tenant: tenant.clone(),
                    kind: RunKind::Offboard,
                    cause: "task panicked at /somewhere/secret.rs".to_owned(),
                },
                StatusCode::INTERNAL_SERVER_ERROR,
                ErrorCode::Internal,
            ),
            (
                RunError::Failed(std::sync::Arc::new(provisioner::Error::Offboarded {
                    tenant: tenant.to_string(),
                    status: tenancy::TenantStatus::Deleted,
                })),
                StatusCode::CONFLICT,
                ErrorCode::TenantOffboarded,
            ),
            (
                RunError::Failed(std::sync::Arc::new(provisioner::Error::Port(
                    tenancy::Error::new(tenancy::ErrorKind::Unavailable, "database is locked"),
                ))),
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::Unavailable,
            ),
        ];
        for (run_error, status, expected) in cases {
            let api = run_error.into_api_error();
            assert_eq!(api.status(), status, "{api:?}");
            let (code, message, _) = api.parts();
            assert_eq!(code, expected);
            assert!(!message.contains("secret.rs"), "{message}");
        }
    }
}
