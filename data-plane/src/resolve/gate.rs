//! Which tenants are served, by status, decided in one place once the key has resolved.
//!
//! | status | answer |
//! |---|---|
//! | `active`, `upgrading` | served (an isolation upgrade never takes traffic down) |
//! | `requested`, `provisioning` | 503 `tenant_provisioning` with `Retry-After` |
//! | `failed` | 503 `tenant_failed` (an operator retries it) |
//! | `suspended` | 403 `tenant_suspended` |
//! | `deprovisioning`, `deleted` | 401, as for an unknown key: the tenant is going or gone |

use service::{ApiError, ErrorCode};
use tenancy::{TenantId, TenantStatus};

/// How long a client is told to wait before looking at a tenant still being provisioned.
pub const PROVISIONING_RETRY_AFTER_SECS: u64 = 5;

/// Whether a tenant with `status` is served.
pub fn admit(tenant: &TenantId, status: TenantStatus) -> Result<(), ApiError> {
    match status {
        TenantStatus::Active | TenantStatus::Upgrading => Ok(()),
        TenantStatus::Requested | TenantStatus::Provisioning => Err(ApiError::NotReady {
            code: ErrorCode::TenantProvisioning,
            message: format!("tenant '{tenant}' is still being provisioned; retry shortly"),
            retry_after_secs: Some(PROVISIONING_RETRY_AFTER_SECS),
        }),
        TenantStatus::Failed => Err(ApiError::NotReady {
            code: ErrorCode::TenantFailed,
            message: format!("tenant '{tenant}' failed to provision; its operator must retry it"),
            retry_after_secs: None,
        }),
        TenantStatus::Suspended => Err(ApiError::Forbidden {
            code: ErrorCode::TenantSuspended,
            message: format!("tenant '{tenant}' is suspended"),
        }),
        TenantStatus::Deprovisioning | TenantStatus::Deleted => {
            Err(ApiError::Unauthorized("unknown API key".to_owned()))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn every_status_gets_its_documented_answer() {
        let id = TenantId::parse("acme").unwrap();
        for status in TenantStatus::ALL {
            let answer = admit(&id, status).map_err(|e| e.into_response());
            let (code, retry_after) = match &answer {
                Ok(()) => (StatusCode::OK, None),
                Err(r) => (
                    r.status(),
                    r.headers()
                        .get("retry-after")
                        .map(|v| v.to_str().unwrap().to_owned()),
                ),
            };
            let expected = match status {
                TenantStatus::Active | TenantStatus::Upgrading => (StatusCode::OK, None),
                TenantStatus::Requested | TenantStatus::Provisioning => {
                    (StatusCode::SERVICE_UNAVAILABLE, Some("5".to_owned()))
                }
                TenantStatus::Failed => (StatusCode::SERVICE_UNAVAILABLE, None),
                TenantStatus::Suspended => (StatusCode::FORBIDDEN, None),
                TenantStatus::Deprovisioning | TenantStatus::Deleted => {
                    (StatusCode::UNAUTHORIZED, None)
                }
            };
            assert_eq!((code, retry_after), expected, "{status:?}");
        }
    }
}
