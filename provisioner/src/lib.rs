//! Spotlight's provisioner: turns a tenant record into that tenant's resources and back.
//!
//! - [`config`]: settings shared by every Spotlight binary (`SPOTLIGHT_*`), and backend opening.
//! - [`plan`]: the per-tenant resource plan (key + alias, tables, role + policy, tags).
//! - [`quota`]: admission of a new tenant against the account's table, role and key quotas.
//! - [`error`]: this crate's error type.
//! - [`cli`]: the `provisioner` command line (`plan`, `apply`, `destroy`, `status`,
//!   `reconcile`, `drift`, `sweep`).
//! - `failpoint`: named failpoints in every step (feature `failpoints`), for crash tests.
//! - [`Provisioner`]: ensure steps with a journal, rollback, probe, offboarding cleanup,
//!   lifecycle transitions.
//! - [`runs`]: the run table ([`RunTracker`]): background provisioning/offboarding runs, one
//!   per tenant, re-run with backoff after a retryable failure, drained on stop.
//! - [`drift`]: the tenant's resources compared with its record and plan, as a typed report;
//!   [`repair`]: converging what can be converged; [`sweep`]: resources tagged as this
//!   deployment's that no record claims, and their removal.
//! - [`reconcile`]: the policy on top of it: lease-based takeover of in-flight tenants, the
//!   periodic check, key housekeeping, and one reported pass for a scheduled job.
//!
//! The API (implemented in `runner`):
//!
//! ```text
//! Provisioner::new(backend, settings)
//! plan(&id) -> TenantPlan                         what would be created, no side effects
//! request(NewTenant) -> TenantRecord              admit (QuotaExceeded → 503), then store a
//!                                                 Requested tenant (AlreadyExists → 409)
//! provision(&id) -> TenantRecord                  drive Requested/Provisioning to Active or Failed
//!                                                 (an in-flight run is taken over under a fresh run id)
//! retry(&id) -> TenantRecord                      Failed → Provisioning (then call provision)
//! update_details(&id, &TenantChanges)            name, owner e-mail, allowed origins
//! set_identity(&id, Option<EndUserIdentity>)      the keys its end users' tokens are verified with
//! begin_offboarding(&id) -> TenantRecord         → Deprovisioning (supersedes provisioning); idempotent
//! offboard(&id) -> TenantRecord                   → Deprovisioning → cleanup → Deleted; idempotent
//! transition(&id, OperatorTransition, detail)     suspend/resume: the only transitions offered as is
//! record(&id) -> TenantRecord                     the record as stored now
//! status(&id, n) -> StatusReport                  record + newest n journal entries
//! in_flight() -> Vec<TenantRecord>                tenants a restarted process must resume
//! drift(&id) -> DriftReport                       missing, changed, extra resources (reads only)
//! repair(&id) / repair_all() -> RepairReport      converge what can be, report what cannot
//! sweep(delete) -> SweepReport                    unclaimed resources tagged as ours (+ removal)
//! ```
//!
//! A permanent provisioning failure is an outcome, not an error: `provision` rolls back and
//! returns the `Failed` record (`record.failure` names the step and cause). `Err` means the run
//! could not finish — `Superseded` (offboarding took over), an illegal state, or a backend that
//! stayed unavailable even for the rollback; the tenant then stays in flight and a later
//! `provision`/`offboard` resumes it from the journal.
//!
//! A process that drives tenants in the background (the control plane, `provisioner
//! reconcile`) holds a [`RunTracker`] over its `Provisioner`:
//!
//! ```text
//! RunTracker::new(provisioner)
//! provision_after_current(&id) / start_provision(&id)   one run per tenant; joins a run under way
//! offboard(&id, timeout) -> Option<TenantRecord>        supersedes provisioning; None on timeout
//! wait_for(&id, timeout) -> bool                        until the tenant's run (if any) ends
//! resume_in_flight() / reconcile(lease)                 take over quiet in-flight tenants
//! reconcile_periodically(interval, lease)               that, then key housekeeping, per tick
//! reconcile_once(lease, timeout) -> PassReport          one pass, waited for and reported
//! drain(grace) -> unfinished                            no new runs; let the running ones end
//! ```

pub mod cli;
pub mod config;
pub mod drift;
pub mod error;
mod failpoint;
pub mod plan;
pub mod quota;
pub mod reconcile;
pub mod repair;
mod runner;
pub mod runs;
pub mod sweep;

pub use config::Settings;
pub use error::{Error, Result};
pub use plan::TenantPlan;
pub use reconcile::{PassReport, ResumedRun, RunEnd};
pub use runner::{NewTenant, OperatorTransition, Provisioner, StatusReport, Step, TenantChanges};
pub use runs::{RunError, RunKind, RunOutcome, RunTracker};
