//! Cleanup: removes a tenant's resources in reverse step order, tolerating resources that were
//! never created. Used by rollback and by offboarding.
//!
//! Names come from the plan, never from the journal, so cleanup works after a crash at any
//! point — including before the journal recorded what a step created.

use tenancy::{Backend, JournalPhase, TenantId, TenantStatus};
use uuid::Uuid;

use crate::error::Result;
use crate::failpoint;
use crate::plan::TenantPlan;
use crate::runner::Step;
use crate::runner::records::{append, entry, owned_by, read};
use crate::runner::retry::{is_not_found, retrying};

/// What cleanup is part of; names its failpoints (`{purpose}:after:{step}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Purpose {
    Rollback,
    Offboard,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Rollback => "rollback",
            Purpose::Offboard => "offboard",
        }
    }
}

/// The resource steps in the order cleanup undoes them.
const UNDO_ORDER: [Step; 4] = [Step::Role, Step::EventsTable, Step::AppTable, Step::Key];

/// One cleanup pass over a tenant.
pub(crate) struct Cleanup<'a> {
    pub backend: &'a Backend,
    pub plan: &'a TenantPlan,
    pub tenant: &'a TenantId,
    pub run_id: Uuid,
    /// A key id the record knows, scheduled for deletion too in case its alias no longer
    /// points at it.
    pub known_key_id: Option<&'a str>,
    pub key_deletion_window_days: u32,
    pub purpose: Purpose,
}

impl Cleanup<'_> {
    /// Removes the role, the events table and the app table, and schedules the key's deletion
    /// (which disables it at once). Each step journals `Undone` with what it found. Idempotent.
    ///
    /// A rollback re-checks before every step that its run still owns the `Provisioning`
    /// tenant: a run that was taken over must not delete what its successor is creating.
    pub(crate) async fn run(&self) -> Result<()> {
        for step in UNDO_ORDER {
            if self.purpose == Purpose::Rollback {
                let record = read(&self.backend.registry, self.tenant).await?;
                owned_by(&record, TenantStatus::Provisioning, self.run_id)?;
            }
            self.undo_step(step).await?;
            failpoint::hit(&format!(
                "{}:after:{}",
                self.purpose.as_str(),
                step.as_str()
            ))?;
        }
        Ok(())
    }

    /// Undoes one step and journals `Undone` with what it found.
    pub(crate) async fn undo_step(&self, step: Step) -> Result<()> {
        let detail = self.undo(step).await?;
        tracing::info!(tenant = %self.tenant, step = step.as_str(), %detail, "undone");
        let undone = entry(
            self.tenant,
            self.run_id,
            step.as_str(),
            JournalPhase::Undone,
            detail,
        );
        append(&self.backend.registry, &undone).await
    }

    async fn undo(&self, step: Step) -> Result<String> {
        let names = &self.plan.names;
        match step {
            Step::Role => {
                let name = &names.role_name;
                self.delete(format!("role {name}"), || {
                    self.backend.roles.delete_role(name)
                })
                .await
            }
            Step::EventsTable | Step::AppTable => {
                let name = if step == Step::AppTable {
                    &names.app_table
                } else {
                    &names.events_table
                };
                self.delete(format!("table {name}"), || {
                    self.backend.tables.delete_table(name)
                })
                .await
            }
            Step::Key => self.schedule_key_deletion().await,
            Step::Probe => Ok("nothing to undo".to_owned()),
        }
    }

    async fn delete<F, Fut>(&self, what: String, call: F) -> Result<String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = tenancy::Result<()>>,
    {
        let result = retrying(&what, call).await;
        if is_not_found(&result) {
            return Ok(format!("{what} was absent"));
        }
        result?;
        Ok(format!("deleted {what}"))
    }

    async fn schedule_key_deletion(&self) -> Result<String> {
        let keys = &self.backend.keys;
        let window = self.key_deletion_window_days;
        let mut done = Vec::new();
        let mut targets = vec![self.plan.key.alias.clone()];
        targets.extend(self.known_key_id.map(str::to_owned));
        for target in targets {
            let result = retrying("schedule key deletion", || {
                keys.schedule_key_deletion(&target, window)
            })
            .await;
            if is_not_found(&result) {
                continue;
            }
            let info = result?;
            if !done.contains(&info.arn) {
                done.push(info.arn);
            }
        }
        if done.is_empty() {
            Ok(format!("key {} was absent", self.plan.key.alias))
        } else {
            Ok(format!(
                "scheduled deletion of key {} in {window} days",
                done.join(", ")
            ))
        }
    }
}
