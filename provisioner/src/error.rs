//! The provisioner's error type.

use tenancy::{IllegalTransition, InvalidInput};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A port call failed; the inner kind says whether retrying may help.
    #[error(transparent)]
    Port(#[from] tenancy::Error),
    /// The tenant's lifecycle does not allow this now.
    #[error(transparent)]
    IllegalTransition(#[from] IllegalTransition),
    /// A resource with the tenant's name exists but differs from the plan.
    #[error("drift at step {step}: {resource} exists but differs in {}", differences.join(", "))]
    Drift {
        step: &'static str,
        resource: String,
        differences: Vec<String>,
    },
    /// Another run (offboarding, or a newer provisioning run) took over this tenant.
    #[error("run {run_id} for tenant {tenant} was superseded; it stopped without further changes")]
    Superseded { tenant: String, run_id: uuid::Uuid },
    /// The probe through the tenant's own role did not see what it wrote, or reached outside
    /// the role's policy: the resources exist but do not work together.
    #[error("probe of tenant {tenant} failed: {reason}")]
    ProbeFailed { tenant: String, reason: String },
    /// The tenant is being or has been offboarded; its record no longer changes.
    #[error("tenant {tenant} is {status} and can no longer be changed")]
    Offboarded {
        tenant: String,
        status: tenancy::TenantStatus,
    },
    #[error(transparent)]
    Invalid(#[from] InvalidInput),
    /// A new tenant was refused: its resources would exceed an account quota. Nothing was
    /// written or created.
    #[error(transparent)]
    QuotaExceeded(#[from] crate::quota::QuotaExceeded),
    /// A failure injected by a failpoint (feature `failpoints` only).
    #[error("injected failure at {0}")]
    Injected(String),
    #[error("configuration: {0}")]
    Config(String),
}

impl Error {
    /// Whether this failure ends a provisioning run by rolling it back. A superseded run stops
    /// without touching anything (the run that took over owns the tenant now); everything else
    /// that reaches a step — drift, a failed probe, an injected failure, a port error that was
    /// not retryable or stayed failing after bounded retries — is permanent for this run.
    pub fn rolls_back(&self) -> bool {
        !matches!(self, Error::Superseded { .. })
    }
}

impl From<tenancy::settings::ConfigError> for Error {
    fn from(e: tenancy::settings::ConfigError) -> Self {
        Error::Config(e.0)
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
