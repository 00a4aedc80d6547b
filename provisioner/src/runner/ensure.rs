//! The one generic ensure: create-or-adopt with drift detection, shared by every resource step.
//!
//! An ensure looks the resource up by its deterministic name. Present and matching the plan →
//! adopted; present and different → [`Error::Drift`] (permanent); absent → created. A create
//! that loses a race (`AlreadyExists`) looks again and adopts or reports drift, so running an
//! ensure any number of times leaves exactly one resource.

use std::future::Future;

use tenancy::ErrorKind;

use crate::error::{Error, Result};
use crate::runner::Step;

/// A planned resource that can be looked up by name, created, and compared with what exists.
pub(crate) trait Resource: Send + Sync {
    /// What the backend reports about the resource.
    type Info: Send;

    /// Names the resource in journal entries and errors (`table spotlight-tenant-acme-app`).
    fn describe_name(&self) -> String;

    /// The resource as it exists. Errors: `NotFound` when absent; a retryable kind while it is
    /// not usable yet (still being created or deleted).
    fn lookup(&self) -> impl Future<Output = tenancy::Result<Self::Info>> + Send;

    /// Creates the resource as planned. Errors: `AlreadyExists` when it appeared meanwhile.
    fn create(&self) -> impl Future<Output = tenancy::Result<Self::Info>> + Send;

    /// Fields in which `actual` differs from the plan; empty means it may be adopted.
    fn differences(&self, actual: &Self::Info) -> Vec<String>;
}

/// How an ensure was satisfied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Created,
    Adopted,
    /// A step without a resource of its own (the probe) checked what exists.
    Verified,
}

impl Outcome {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Adopted => "adopted",
            Outcome::Verified => "verified",
        }
    }
}

/// Creates or adopts `resource` for `step`. Port failures (retried already by the retry
/// layer around the ports) and drift are returned as permanent errors.
pub(crate) async fn ensure<R: Resource>(step: Step, resource: &R) -> Result<(R::Info, Outcome)> {
    match resource.lookup().await {
        Ok(actual) => Ok((adoptable(step, resource, actual)?, Outcome::Adopted)),
        Err(e) if e.kind() == ErrorKind::NotFound => match resource.create().await {
            Ok(created) => Ok((created, Outcome::Created)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => {
                let actual = resource.lookup().await?;
                Ok((adoptable(step, resource, actual)?, Outcome::Adopted))
            }
            Err(e) => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

fn adoptable<R: Resource>(step: Step, resource: &R, actual: R::Info) -> Result<R::Info> {
    let differences = resource.differences(&actual);
    if differences.is_empty() {
        Ok(actual)
    } else {
        Err(Error::Drift {
            step: step.as_str(),
            resource: resource.describe_name(),
            differences,
        })
    }
}
