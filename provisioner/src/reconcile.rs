//! Reconcile: which in-flight tenants get a run, and key housekeeping — the policy on top of the
//! run table in [`crate::runs`].
//!
//! The same code runs in the control plane (at start-up with no lease, then every
//! `SPOTLIGHT_RECONCILE_INTERVAL_SECS`) and in `provisioner reconcile` (one pass, for a
//! scheduled job); none of it knows HTTP.
//!
//! Contract:
//! - a tenant is taken over only when it is `Requested`, `Provisioning` or `Deprovisioning`,
//!   has no run in this process, and neither its record nor its journal changed within the
//!   lease (no lease at start-up: nothing of this process runs yet); `Upgrading` is in flight
//!   but no run resumes it here;
//! - a provisioning takeover names the run the listing saw, so a run another process started
//!   since is not superseded (the takeover's version check settles races);
//! - every pass also destroys the key material whose deletion window has ended;
//! - the periodic work logs its failures and tries again at the next tick; a single pass
//!   ([`RunTracker::reconcile_once`]) reports them instead.

use std::time::Duration;

use serde::Serialize;
use tenancy::{Failure, TenantId, TenantStatus};
use time::OffsetDateTime;

use crate::error::{Error, Result};
use crate::runs::{RunEntry, RunKind, RunTracker};

/// A run a reconcile started, with the state its tenant was found in.
struct Resumed {
    tenant: TenantId,
    from: TenantStatus,
    run: RunEntry,
}

/// What one [`RunTracker::reconcile_once`] pass did; `provisioner reconcile` prints it as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Every tenant the pass took over, in the order they were found (status, then id).
    pub resumed: Vec<ResumedRun>,
    /// How many keys had their material destroyed because their deletion window ended.
    pub keys_destroyed: u32,
    /// Why destroying those keys failed, when it did (`keys_destroyed` is 0 then).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keys_error: Option<String>,
}

impl PassReport {
    /// Whether every resumed run reached its goal (or gave way to a newer run) and the key
    /// housekeeping worked: what a scheduled job reports as success.
    pub fn is_clean(&self) -> bool {
        self.keys_error.is_none() && self.resumed.iter().all(ResumedRun::reached_its_goal)
    }
}

/// One tenant a pass took over. Serialised flat:
/// `{"tenant", "run", "from", "ended", "failure"?, "error"?}`, where `ended` is the status the
/// run left the tenant in (`active`, `failed`, `deleted`), or `superseded`, `error` or
/// `unfinished`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResumedRun {
    pub tenant: TenantId,
    pub run: RunKind,
    /// The status the tenant was found in.
    pub from: TenantStatus,
    pub ended: RunEnd,
}

/// How a resumed run ended, as far as the pass waited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEnd {
    /// The run finished and left the tenant `status`: `Active`, or `Failed` after a rollback
    /// (`failure` names the step and cause), for provisioning; `Deleted` for offboarding.
    Finished {
        status: TenantStatus,
        failure: Option<Failure>,
    },
    /// Another run (an offboarding, or a newer takeover) took the tenant over; it is that
    /// run's now.
    Superseded,
    /// The run stopped with this error (or its task died); the tenant stays in flight for a
    /// later pass.
    Error(String),
    /// Still running when the pass stopped waiting; a later pass resumes it from the journal.
    Unfinished,
}

impl ResumedRun {
    /// Whether the run got its tenant where it was going (`Active` for provisioning, `Deleted`
    /// for offboarding) or gave way to a newer run.
    pub fn reached_its_goal(&self) -> bool {
        match (&self.run, &self.ended) {
            (_, RunEnd::Superseded) => true,
            (RunKind::Provision, RunEnd::Finished { status, .. }) => {
                *status == TenantStatus::Active
            }
            (RunKind::Offboard, RunEnd::Finished { status, .. }) => {
                *status == TenantStatus::Deleted
            }
            (_, RunEnd::Error(_) | RunEnd::Unfinished) => false,
        }
    }
}

impl Serialize for ResumedRun {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Flat<'a> {
            tenant: &'a TenantId,
            run: RunKind,
            from: TenantStatus,
            ended: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            failure: Option<&'a Failure>,
            #[serde(skip_serializing_if = "Option::is_none")]
            error: Option<&'a str>,
        }
        let (ended, failure, error) = match &self.ended {
            RunEnd::Finished { status, failure } => (status.as_str(), failure.as_ref(), None),
            RunEnd::Superseded => ("superseded", None, None),
            RunEnd::Error(e) => ("error", None, Some(e.as_str())),
            RunEnd::Unfinished => ("unfinished", None, None),
        };
        Flat {
            tenant: &self.tenant,
            run: self.run,
            from: self.from,
            ended,
            failure,
            error,
        }
        .serialize(serializer)
    }
}

impl RunTracker {
    /// Resumes every tenant a previous process left in a non-terminal state (see
    /// [`RunTracker::reconcile`], with no lease: at start-up nothing of this process runs yet).
    pub async fn resume_in_flight(&self) -> Result<usize> {
        self.reconcile(Duration::ZERO).await
    }

    /// Starts a run for every in-flight tenant that has none in this process and whose last
    /// activity (record update or journal entry) is older than `lease`: `Requested` and
    /// `Provisioning` are provisioned (taking the run over under a fresh run id),
    /// `Deprovisioning` is offboarded. The lease keeps this from taking over a tenant that
    /// another process (the provisioner CLI, another control plane) is driving right now.
    /// Returns how many runs started.
    pub async fn reconcile(&self, lease: Duration) -> Result<usize> {
        Ok(self.take_over_quiet(lease).await?.len())
    }

    /// [`RunTracker::reconcile`], returning the runs it started.
    async fn take_over_quiet(&self, lease: Duration) -> Result<Vec<Resumed>> {
        let mut started = Vec::new();
        for record in self.provisioner().in_flight().await? {
            let tenant = &record.id;
            if self.is_running(tenant) {
                continue;
            }
            if !matches!(
                record.status,
                TenantStatus::Requested | TenantStatus::Provisioning | TenantStatus::Deprovisioning
            ) {
                tracing::debug!(%tenant, status = %record.status, "no run resumes this state");
                continue;
            }
            if !lease.is_zero() {
                match self.quiet_for(tenant, lease).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "cannot tell whether the tenant's run is abandoned; skipping it this time");
                        continue;
                    }
                }
            }
            let began = match record.status {
                // Only the run this listing saw is taken over: a run another process started
                // since is not abandoned, and the takeover's version check settles races.
                TenantStatus::Requested | TenantStatus::Provisioning => {
                    self.resume_provision(tenant, record.run_id)
                }
                TenantStatus::Deprovisioning => self.resume_offboard(tenant),
                _ => None,
            };
            if let Some(run) = began {
                tracing::info!(%tenant, status = %record.status, "resumed an unfinished run");
                started.push(Resumed {
                    tenant: tenant.clone(),
                    from: record.status,
                    run,
                });
            }
        }
        Ok(started)
    }

    /// Whether neither the record nor the journal of `tenant` changed within `lease`.
    async fn quiet_for(&self, tenant: &TenantId, lease: Duration) -> Result<bool> {
        let report = self.provisioner().status(tenant, 1).await?;
        let last = report.journal.last().map_or(report.record.updated_at, |e| {
            e.at.max(report.record.updated_at)
        });
        let idle = OffsetDateTime::now_utc() - last;
        Ok(idle >= lease)
    }

    /// Every `interval` until the process stops: [`RunTracker::reconcile`] with `lease`, then
    /// destruction of the key material whose deletion window has ended. Failures are logged
    /// and tried again at the next tick.
    pub async fn reconcile_periodically(&self, interval: Duration, lease: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; start-up already resumed
        loop {
            ticks.tick().await;
            if self.is_closed() {
                return;
            }
            self.housekeeping(lease).await;
        }
    }

    /// One pass of the periodic work; returns runs started and keys destroyed.
    pub async fn housekeeping(&self, lease: Duration) -> (usize, u32) {
        let started = self.reconcile(lease).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "checking in-flight tenants failed; trying again later");
            0
        });
        let destroyed = self.destroy_due_keys().await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "destroying keys past their deletion window failed; trying again later");
            0
        });
        (started, destroyed)
    }

    /// One reconcile pass, as a scheduled job runs it (`provisioner reconcile`): takes over the
    /// in-flight tenants quiet for `lease` (every one with `Duration::ZERO`, as at start-up),
    /// waits at most `timeout` in all for those runs to end, then destroys the key material
    /// whose deletion window has ended — after the runs, so that a key an offboarding or a
    /// rollback scheduled with a zero-day window goes in the same pass.
    ///
    /// A run still going at the deadline carries on while this tracker lives; if the process
    /// ends, a later pass resumes it from the journal once the lease has passed.
    /// Errors: listing the in-flight tenants failed; every later failure is in the report.
    pub async fn reconcile_once(&self, lease: Duration, timeout: Duration) -> Result<PassReport> {
        let started = self.take_over_quiet(lease).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        let mut resumed = Vec::with_capacity(started.len());
        for Resumed { tenant, from, run } in started {
            let kind = run.kind();
            let ended = match tokio::time::timeout_at(deadline, run.outcome()).await {
                Err(_) => RunEnd::Unfinished,
                Ok(None) => RunEnd::Error("the run's task ended without an outcome".to_owned()),
                Ok(Some(Ok(record))) => RunEnd::Finished {
                    status: record.status,
                    failure: record.failure,
                },
                Ok(Some(Err(e))) => match e.as_ref() {
                    Error::Superseded { .. } => RunEnd::Superseded,
                    other => RunEnd::Error(other.to_string()),
                },
            };
            resumed.push(ResumedRun {
                tenant,
                run: kind,
                from,
                ended,
            });
        }
        let (keys_destroyed, keys_error) = match self.destroy_due_keys().await {
            Ok(destroyed) => (destroyed, None),
            Err(e) => (0, Some(e.to_string())),
        };
        Ok(PassReport {
            resumed,
            keys_destroyed,
            keys_error,
        })
    }

    /// Destroys the key material whose deletion window has ended; returns how many keys.
    async fn destroy_due_keys(&self) -> tenancy::Result<u32> {
        let destroyed = self.provisioner().backend().keys.destroy_due_keys().await?;
        if destroyed > 0 {
            tracing::info!(destroyed, "destroyed key material past its deletion window");
        }
        Ok(destroyed)
    }
}
