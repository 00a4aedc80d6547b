//! Spotlight's provisioner: turns a tenant record into that tenant's resources and back.
//!
//! - [`config`]: settings shared by every Spotlight binary (`SPOTLIGHT_*`), and backend opening.
//! - [`plan`]: the per-tenant resource plan (key + alias, tables, role + policy, tags).
//! - [`error`]: this crate's error type.
//! - [`cli`]: the `provisioner` command line (`plan`, `apply`, `destroy`, `status`).
//! - `failpoint`: named failpoints in every step (feature `failpoints`), for crash tests.
//! - [`Provisioner`]: ensure steps with a journal, rollback, probe, offboarding cleanup,
//!   lifecycle transitions.
//!
//! The API (implemented in `runner`):
//!
//! ```text
//! Provisioner::new(backend, settings)
//! plan(&id) -> TenantPlan                         what would be created, no side effects
//! request(NewTenant) -> TenantRecord              store a Requested tenant (AlreadyExists → 409)
//! provision(&id) -> TenantRecord                  drive Requested/Provisioning to Active or Failed
//!                                                 (an in-flight run is taken over under a fresh run id)
//! retry(&id) -> TenantRecord                      Failed → Provisioning (then call provision)
//! update_details(&id, &TenantChanges)            name, owner e-mail, allowed origins
//! begin_offboarding(&id) -> TenantRecord         → Deprovisioning (supersedes provisioning); idempotent
//! offboard(&id) -> TenantRecord                   → Deprovisioning → cleanup → Deleted; idempotent
//! transition(&id, OperatorTransition, detail)     suspend/resume: the only transitions offered as is
//! record(&id) -> TenantRecord                     the record as stored now
//! status(&id, n) -> StatusReport                  record + newest n journal entries
//! in_flight() -> Vec<TenantRecord>                tenants a restarted process must resume
//! ```
//!
//! A permanent provisioning failure is an outcome, not an error: `provision` rolls back and
//! returns the `Failed` record (`record.failure` names the step and cause). `Err` means the run
//! could not finish — `Superseded` (offboarding took over), an illegal state, or a backend that
//! stayed unavailable even for the rollback; the tenant then stays in flight and a later
//! `provision`/`offboard` resumes it from the journal.

pub mod cli;
pub mod config;
pub mod error;
mod failpoint;
pub mod plan;
mod runner;

pub use config::Settings;
pub use error::{Error, Result};
pub use plan::TenantPlan;
pub use runner::{NewTenant, OperatorTransition, Provisioner, StatusReport, Step, TenantChanges};
