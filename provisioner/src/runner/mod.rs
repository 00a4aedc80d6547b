//! Provisioning runs: ensure steps with a journal, rollback, probe, offboarding cleanup, and
//! the lifecycle transitions around them.
//!
//! - [`retry`]: bounded retries of retryable port failures.
//! - [`records`]: optimistic-concurrency updates of the tenant record, journal entries,
//!   run ownership.
//! - [`ensure`]: the one generic create-or-adopt with drift detection.
//! - [`resources`]: key, tables and role as ensurable resources.
//! - [`probe`]: the check through the tenant's own role before `Active`.
//! - [`cleanup`]: reverse-order removal tolerating what never ran (rollback, offboarding).
//! - [`provision`]: one provisioning run.

mod cleanup;
mod ensure;
mod probe;
mod provision;
mod records;
mod resources;
mod retry;

use serde::Serialize;
use tenancy::ports::TenantFilter;
use tenancy::{
    Backend, Failure, JournalEntry, JournalPhase, Origin, OwnerEmail, TenantId, TenantName,
    TenantRecord, TenantStatus, Tier, Transition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::plan::TenantPlan;
use cleanup::{Cleanup, Purpose};
use provision::Run;
use records::{append, apply_transition, entry, owned_by, read, update};
use retry::retrying;

/// The ordered provisioning steps. Cleanup runs them in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Key,
    AppTable,
    EventsTable,
    Role,
    Probe,
}

impl Step {
    pub const ALL: [Step; 5] = [
        Step::Key,
        Step::AppTable,
        Step::EventsTable,
        Step::Role,
        Step::Probe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Key => "key",
            Step::AppTable => "app_table",
            Step::EventsTable => "events_table",
            Step::Role => "role",
            Step::Probe => "probe",
        }
    }
}

/// What `POST /tenants` (or `provisioner apply`) asks for.
#[derive(Debug, Clone)]
pub struct NewTenant {
    pub id: TenantId,
    pub name: TenantName,
    pub owner_email: OwnerEmail,
    pub tier: Tier,
    pub allowed_origins: Vec<Origin>,
}

/// A tenant's record with the newest entries of its journal (oldest first).
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub record: TenantRecord,
    pub journal: Vec<JournalEntry>,
}

/// Journal step name of the entry `request` writes.
const REQUEST_STEP: &str = "request";
/// Journal step name of offboarding's API key revocation.
const API_KEYS_STEP: &str = "api_keys";
/// Page size when listing tenants.
const LIST_PAGE: u32 = 1000;

/// Drives tenants through their lifecycle on the ports of one [`Backend`]. Cheap to clone.
///
/// Every method re-reads the tenant record and writes it with optimistic concurrency, so
/// several processes may call it; two calls driving the same tenant at once are safe in the
/// sense that ensure steps adopt rather than duplicate, but callers should still run at most
/// one run per tenant at a time (the control plane's run tracker does).
#[derive(Clone)]
pub struct Provisioner {
    backend: Backend,
    settings: Settings,
}

impl Provisioner {
    pub fn new(backend: Backend, settings: Settings) -> Self {
        Provisioner { backend, settings }
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// What the tenant gets: names, tags and specs. No side effects.
    pub fn plan(&self, id: &TenantId) -> TenantPlan {
        TenantPlan::new(
            &self.settings.table_prefix,
            id,
            &self.settings.data_plane_principal,
        )
    }

    /// Stores a `Requested` tenant and the journal entry that opens its first run.
    /// Errors: port `AlreadyExists` when the id is taken, by a live tenant or a tombstone.
    pub async fn request(&self, new: NewTenant) -> Result<TenantRecord> {
        let now = OffsetDateTime::now_utc();
        let names = self.plan(&new.id).names;
        let mut record = TenantRecord::new(
            new.id,
            new.name,
            new.owner_email,
            new.tier,
            new.allowed_origins,
            names,
            now,
        );
        let run_id = Uuid::now_v7();
        record.run_id = Some(run_id);
        let detail = format!(
            "requested: owner {}, tier {}",
            record.owner_email.as_str(),
            record.tier.as_str()
        );
        let first = entry(
            &record.id,
            run_id,
            REQUEST_STEP,
            JournalPhase::Transition,
            detail,
        );
        Ok(self.backend.registry.create_tenant(&record, &first).await?)
    }

    /// Drives a `Requested` tenant (or resumes a `Provisioning` one) to `Active`, or — after a
    /// permanent failure and rollback — to `Failed`; returns the final record either way (a
    /// failed run is an outcome, read `record.failure`). An `Active` or `Suspended` tenant is
    /// returned unchanged.
    ///
    /// Errors: `IllegalTransition` from `Failed` (call [`Provisioner::retry`] first),
    /// `Upgrading`, `Deprovisioning` or `Deleted`; [`Error::Superseded`] when offboarding (or
    /// another run) took over mid-way; a port error when not even the rollback could complete,
    /// leaving the tenant `Provisioning` for a later resume.
    pub async fn provision(&self, id: &TenantId) -> Result<TenantRecord> {
        let current = read(&self.backend.registry, id).await?;
        let record = match current.status {
            TenantStatus::Active | TenantStatus::Suspended => return Ok(current),
            TenantStatus::Provisioning if current.run_id.is_some() => current,
            TenantStatus::Requested | TenantStatus::Provisioning => {
                update(&self.backend.registry, id, |r| match r.status {
                    TenantStatus::Provisioning if r.run_id.is_some() => Ok(None),
                    TenantStatus::Provisioning => {
                        r.run_id = Some(Uuid::now_v7());
                        let run_id = r.run_id.unwrap_or_default();
                        Ok(Some(vec![entry(
                            &r.id,
                            run_id,
                            Transition::BeginProvisioning.as_str(),
                            JournalPhase::Transition,
                            "run restarted",
                        )]))
                    }
                    _ => Ok(Some(vec![apply_transition(
                        r,
                        Transition::BeginProvisioning,
                        None,
                        "provisioning started",
                    )?])),
                })
                .await?
            }
            from => {
                return Err(tenancy::IllegalTransition {
                    from,
                    transition: Transition::BeginProvisioning,
                }
                .into());
            }
        };
        let Some(run_id) = record.run_id else {
            return Err(Error::Superseded {
                tenant: id.to_string(),
                run_id: Uuid::nil(),
            });
        };
        tracing::info!(tenant = %id, run = %run_id, "provisioning run");
        Run {
            backend: &self.backend,
            plan: self.plan(id),
            tenant: id.clone(),
            run_id,
            key_deletion_window_days: self.settings.key_deletion_window_days,
            outside_table: self.settings.table_prefix.registry_table(),
        }
        .execute()
        .await
    }

    /// `Failed` → `Provisioning` under a fresh run; the caller then calls
    /// [`Provisioner::provision`]. Errors: `IllegalTransition` from any other state.
    pub async fn retry(&self, id: &TenantId) -> Result<TenantRecord> {
        self.transition(id, Transition::Retry, "retry requested")
            .await
    }

    /// Removes the tenant's resources and leaves a `Deleted` tombstone: `BeginOffboarding`
    /// (which supersedes any provisioning run), revoke every API key, cleanup (tables and role
    /// deleted, key deletion scheduled — the key is disabled at once, so the tenant's data can
    /// no longer be decrypted), `FinishOffboarding`.
    ///
    /// Idempotent: a `Deleted` tenant's tombstone is returned as is; a `Deprovisioning` tenant's
    /// cleanup is resumed. Errors: `IllegalTransition` from `Upgrading`; `Superseded` when
    /// another offboarding run took over.
    pub async fn offboard(&self, id: &TenantId) -> Result<TenantRecord> {
        let registry = &self.backend.registry;
        let record = update(registry, id, |r| match r.status {
            TenantStatus::Deleted => Ok(None),
            TenantStatus::Deprovisioning if r.run_id.is_some() => Ok(None),
            TenantStatus::Deprovisioning => {
                r.run_id = Some(Uuid::now_v7());
                let run_id = r.run_id.unwrap_or_default();
                Ok(Some(vec![entry(
                    &r.id,
                    run_id,
                    Transition::BeginOffboarding.as_str(),
                    JournalPhase::Transition,
                    "offboarding run restarted",
                )]))
            }
            _ => Ok(Some(vec![apply_transition(
                r,
                Transition::BeginOffboarding,
                None,
                "offboarding started",
            )?])),
        })
        .await?;
        if record.status == TenantStatus::Deleted {
            return Ok(record);
        }
        let Some(run_id) = record.run_id else {
            return Err(Error::Superseded {
                tenant: id.to_string(),
                run_id: Uuid::nil(),
            });
        };
        tracing::info!(tenant = %id, run = %run_id, "offboarding run");

        let revoked = retrying("revoke api keys", || {
            registry.revoke_all_api_keys(id, OffsetDateTime::now_utc())
        })
        .await?;
        append(
            registry,
            &entry(
                id,
                run_id,
                API_KEYS_STEP,
                JournalPhase::Done,
                format!("revoked {revoked} API keys"),
            ),
        )
        .await?;

        let plan = self.plan(id);
        Cleanup {
            backend: &self.backend,
            plan: &plan,
            tenant: id,
            run_id,
            known_key_id: record.arns.key_id.as_deref(),
            key_deletion_window_days: self.settings.key_deletion_window_days,
            purpose: Purpose::Offboard,
        }
        .run()
        .await?;

        update(registry, id, |r| {
            owned_by(r, TenantStatus::Deprovisioning, run_id)?;
            Ok(Some(vec![apply_transition(
                r,
                Transition::FinishOffboarding,
                None,
                "resources removed; tombstone kept",
            )?]))
        })
        .await
    }

    /// A pure state change (suspend, resume, retry, …) journaled with `detail`; re-decided on
    /// concurrent updates. `Fail` records `detail` as the failure's cause. Errors:
    /// `IllegalTransition` when the lifecycle does not allow it from the current state.
    pub async fn transition(
        &self,
        id: &TenantId,
        transition: Transition,
        detail: &str,
    ) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| {
            let failure = (transition == Transition::Fail).then(|| Failure {
                step: "operator".to_owned(),
                cause: detail.to_owned(),
                at: OffsetDateTime::now_utc(),
            });
            Ok(Some(vec![apply_transition(
                r, transition, failure, detail,
            )?]))
        })
        .await
    }

    /// The tenant's record as stored now. Errors: `NotFound`.
    pub async fn record(&self, id: &TenantId) -> Result<TenantRecord> {
        read(&self.backend.registry, id).await
    }

    /// The record and its newest `journal_limit` journal entries. Errors: `NotFound`.
    pub async fn status(&self, id: &TenantId, journal_limit: u32) -> Result<StatusReport> {
        let record = read(&self.backend.registry, id).await?;
        let journal = retrying("read journal", || {
            self.backend.registry.journal(id, None, journal_limit)
        })
        .await?;
        Ok(StatusReport { record, journal })
    }

    /// Every tenant with work under way (`Requested`, `Provisioning`, `Upgrading`,
    /// `Deprovisioning`), in status then id order: what a restarted process must resume.
    pub async fn in_flight(&self) -> Result<Vec<TenantRecord>> {
        let mut found = Vec::new();
        for status in TenantStatus::ALL.into_iter().filter(|s| s.is_in_flight()) {
            let mut filter = TenantFilter {
                status: Some(status),
                after: None,
                limit: LIST_PAGE,
            };
            loop {
                let page = retrying("list tenants", || {
                    self.backend.registry.list_tenants(&filter)
                })
                .await?;
                found.extend(page.tenants);
                match page.next {
                    Some(next) => filter.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The control plane spawns these futures on a multi-threaded runtime; this fails to
    /// compile if any of them stops being `Send`.
    #[allow(dead_code)]
    fn runs_can_be_spawned(p: &Provisioner, id: &TenantId) {
        fn is_send<T: Send>(_: &T) {}
        is_send(&p.provision(id));
        is_send(&p.offboard(id));
        is_send(&p.retry(id));
        is_send(&p.in_flight());
        is_send(&p.status(id, 1));
    }

    #[test]
    fn steps_are_named_in_snake_case_in_order() {
        let names: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["key", "app_table", "events_table", "role", "probe"]);
        for step in Step::ALL {
            assert_eq!(
                serde_json::to_value(step).unwrap(),
                serde_json::Value::String(step.as_str().to_owned())
            );
        }
    }
}
