//! Cleanup: removes a tenant's resources in reverse step order, tolerating resources that were
//! never created. Used by rollback and by offboarding.
//!
//! Names come from the plan, never from the journal, so cleanup works after a crash at any
//! point — including before the journal recorded what a step created. What is found under a
//! name is removed only if it passes the ownership rule (`crate::runner::ownership`), checked
//! on the resource itself right before the delete; anything else is kept and journaled `Kept`.

use tenancy::ports::{KeyState, TableStatus, TriggerState, stream_table_arn, trigger_id_of_arn};
use tenancy::table_plan::TableRole;
use tenancy::{Backend, ErrorKind, JournalPhase, TenantId, TenantStatus};
use uuid::Uuid;

use crate::error::Result;
use crate::failpoint;
use crate::plan::TenantPlan;
use crate::runner::Step;
use crate::runner::ownership::{foreign_role, foreign_table, foreign_tags};
use crate::runner::records::{append, entry, owned_by, read};

/// Whether `result` failed because the thing was absent.
fn is_not_found<T>(result: &tenancy::Result<T>) -> bool {
    matches!(result, Err(e) if e.kind() == ErrorKind::NotFound)
}

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
const UNDO_ORDER: [Step; 5] = [
    Step::StreamTrigger,
    Step::Role,
    Step::EventsTable,
    Step::AppTable,
    Step::Key,
];

/// One cleanup pass over a tenant.
pub(crate) struct Cleanup<'a> {
    pub backend: &'a Backend,
    pub plan: &'a TenantPlan,
    pub tenant: &'a TenantId,
    pub run_id: Uuid,
    /// A key id the record knows, scheduled for deletion too in case its alias no longer
    /// points at it (still only if the key's tags say it is this tenant's).
    pub known_key_id: Option<&'a str>,
    /// The ARN of the key the record knows: a table encrypted under it is encrypted under the
    /// tenant's key. Without it, a table's key is described and its tags checked.
    pub known_key_arn: Option<&'a str>,
    /// The stream trigger the record names: removed (if its tags say it is the tenant's) even
    /// when no stream handler is configured any more or the events table was made again.
    pub known_trigger_arn: Option<&'a str>,
    pub key_deletion_window_days: u32,
    pub purpose: Purpose,
}

impl Cleanup<'_> {
    /// Removes the stream triggers, the role, the events table and the app table, and
    /// schedules the key's deletion (which disables it at once) — each only if it is this tenant's. Each step journals
    /// `Undone` with what it removed or found absent, or `Kept` with what it left and why.
    /// Idempotent.
    ///
    /// A rollback re-checks before every step that its run still owns the `Provisioning`
    /// tenant: a run that was taken over must not delete what its successor is creating.
    pub(crate) async fn run(&self) -> Result<()> {
        // Without a stream handler now or a trigger on the record there is no trigger to
        // undo, and no Lambda call is made (such a deployment may not be allowed any).
        let has_triggers = self.plan.stream_handler.is_some() || self.known_trigger_arn.is_some();
        let planned = |step: &Step| *step != Step::StreamTrigger || has_triggers;
        for step in UNDO_ORDER.into_iter().filter(planned) {
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

    /// Undoes one step and journals `Undone` or `Kept` with what it found.
    pub(crate) async fn undo_step(&self, step: Step) -> Result<()> {
        let undo = self.undo(step).await?;
        if undo.phase == JournalPhase::Kept {
            tracing::warn!(tenant = %self.tenant, step = step.as_str(), detail = %undo.detail, "kept a resource that is not this tenant's to remove");
        } else {
            tracing::info!(tenant = %self.tenant, step = step.as_str(), detail = %undo.detail, "undone");
        }
        let journaled = entry(
            self.tenant,
            self.run_id,
            step.as_str(),
            undo.phase,
            undo.detail,
        );
        append(&self.backend.registry, &journaled).await
    }

    async fn undo(&self, step: Step) -> Result<Undo> {
        match step {
            Step::StreamTrigger => self.remove_triggers().await,
            Step::Role => self.remove_role().await,
            Step::EventsTable => self.remove_table(TableRole::Events).await,
            Step::AppTable => self.remove_table(TableRole::App).await,
            Step::Key => self.schedule_key_deletion().await,
            Step::Probe => Ok(Undo::done("nothing to undo")),
        }
    }

    /// Removes the tenant's stream triggers: those of the events table's current stream and
    /// the one the record names (whose stream may be an earlier table's), each only if its own
    /// tags name this tenant and deployment and its stream is one of the tenant's events
    /// table — whatever its function, so an earlier stream handler's trigger goes too. Any
    /// other trigger (an operator's own function reading the stream, say) is kept.
    async fn remove_triggers(&self) -> Result<Undo> {
        let triggers = &self.backend.triggers;
        let name = &self.plan.names.events_table;
        let mut found = Vec::new();
        match self.backend.tables.describe_table(name).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Ok(table) => {
                if let Some(stream) = &table.stream_arn {
                    found.extend(triggers.triggers_of_stream(stream).await?);
                }
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(arn) = self.known_trigger_arn {
            match triggers.describe_trigger(trigger_id_of_arn(arn)).await {
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Ok(trigger) if found.iter().any(|t| t.id == trigger.id) => {}
                Ok(trigger) => found.push(trigger),
                Err(e) => return Err(e.into()),
            }
        }
        let table_suffix = format!(":table/{name}");
        let (mut done, mut kept) = (Vec::new(), Vec::new());
        for trigger in found {
            let what = format!(
                "trigger {} to function {}",
                trigger.arn, trigger.spec.function
            );
            let ours = stream_table_arn(&trigger.spec.stream_arn)
                .is_some_and(|table| table.ends_with(&table_suffix));
            let foreign = foreign_tags(&self.plan.tags, &trigger.spec.tags)
                .or_else(|| (!ours).then(|| format!("its stream is not table {name}'s")));
            if let Some(why) = foreign {
                kept.push(format!(
                    "kept {what}: {why}; it is not this tenant's to remove"
                ));
                continue;
            }
            if trigger.state == TriggerState::Deleting {
                done.push(format!("{what} was already being deleted"));
                continue;
            }
            let result = triggers.delete_trigger(&trigger.id).await;
            if !is_not_found(&result) {
                result?;
                done.push(format!("deleted {what}"));
            }
        }
        if done.is_empty() && kept.is_empty() {
            done.push(format!("no trigger of table {name} was found"));
        }
        let phase = if kept.is_empty() {
            JournalPhase::Undone
        } else {
            JournalPhase::Kept
        };
        done.extend(kept);
        Ok(Undo {
            phase,
            detail: done.join("; "),
        })
    }

    async fn remove_role(&self) -> Result<Undo> {
        let roles = &self.backend.roles;
        let name = &self.plan.role_name;
        let what = format!("role {name}");
        let role = match roles.describe_role(name).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Undo::absent(&what)),
            found => found?,
        };
        let tables = self.plan.names.tables();
        let trust = &self.plan.trusted_principal;
        let key = match foreign_role(&role, &self.plan.tags, trust, &tables) {
            Ok(key) => key,
            Err(why) => return Ok(Undo::kept(&what, &why)),
        };
        if let Some(why) = self.foreign_key(Some(key)).await? {
            return Ok(Undo::kept(&what, &why));
        }
        self.delete(what, roles.delete_role(name)).await
    }

    async fn remove_table(&self, role: TableRole) -> Result<Undo> {
        let admin = &self.backend.tables;
        let planned = self.plan.table_spec(role, "");
        let name = &planned.name;
        let what = format!("table {name}");
        let table = match admin.describe_table(name).await {
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Undo::absent(&what)),
            found => found?,
        };
        if table.status == TableStatus::Deleting {
            return Ok(Undo::done(format!("{what} was already being deleted")));
        }
        if let Some(why) = foreign_table(&table, &planned) {
            return Ok(Undo::kept(&what, &why));
        }
        if let Some(why) = self.foreign_key(table.spec.sse_key.as_deref()).await? {
            return Ok(Undo::kept(&what, &why));
        }
        self.delete(what, admin.delete_table(name)).await
    }

    /// Why `key` — the key a table is encrypted under, or a role's policy names — is not this
    /// tenant's key, or `None` when it is: the key the record knows, or one whose own tags
    /// name this tenant and deployment.
    async fn foreign_key(&self, key: Option<&str>) -> Result<Option<String>> {
        let Some(key) = key else {
            return Ok(Some(
                "it is not encrypted under a key of its own".to_owned(),
            ));
        };
        if self.known_key_arn == Some(key) {
            return Ok(None);
        }
        let keys = &self.backend.keys;
        match keys.describe_key(key).await {
            Err(e) if e.kind() == ErrorKind::NotFound => {
                Ok(Some(format!("its key {key} does not exist")))
            }
            found => Ok(foreign_tags(&self.plan.tags, &found?.tags)
                .map(|why| format!("its key {key} is not this tenant's: {why}"))),
        }
    }

    async fn delete(
        &self,
        what: String,
        call: impl std::future::Future<Output = tenancy::Result<()>>,
    ) -> Result<Undo> {
        let result = call.await;
        if is_not_found(&result) {
            return Ok(Undo::absent(&what));
        }
        result?;
        Ok(Undo::done(format!("deleted {what}")))
    }

    /// Schedules deletion of the key the alias names and of the key the record knows — each
    /// only if its tags say it is this tenant's, and by key id, so that exactly the key that
    /// was checked is scheduled.
    async fn schedule_key_deletion(&self) -> Result<Undo> {
        let keys = &self.backend.keys;
        let window = self.key_deletion_window_days;
        let mut done: Vec<String> = Vec::new();
        let mut already: Vec<String> = Vec::new();
        let mut kept = Vec::new();
        let mut targets = vec![self.plan.key.alias.as_str()];
        targets.extend(self.known_key_id);
        for target in targets {
            let key = match keys.describe_key(target).await {
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                found => found?,
            };
            if done.contains(&key.arn) || already.contains(&key.arn) {
                continue;
            }
            if let Some(why) = foreign_tags(&self.plan.tags, &key.tags) {
                kept.push(format!(
                    "kept key {} ({target}): {why}; it is not this tenant's to remove",
                    key.arn
                ));
                continue;
            }
            if key.state == KeyState::Enabled {
                let result = keys.schedule_key_deletion(&key.key_id, window).await;
                if is_not_found(&result) {
                    continue;
                }
                result?;
                done.push(key.arn);
            } else {
                already.push(key.arn);
            }
        }
        let mut detail = Vec::new();
        if !done.is_empty() {
            detail.push(format!(
                "scheduled deletion of key {} in {window} days",
                done.join(", ")
            ));
        }
        if !already.is_empty() {
            detail.push(format!(
                "key {} was already scheduled for deletion",
                already.join(", ")
            ));
        }
        if kept.is_empty() {
            if detail.is_empty() {
                detail.push(format!("key {} was absent", self.plan.key.alias));
            }
            Ok(Undo::done(detail.join("; ")))
        } else {
            detail.extend(kept);
            Ok(Undo {
                phase: JournalPhase::Kept,
                detail: detail.join("; "),
            })
        }
    }
}

/// What undoing one step did, as its journal entry says it.
struct Undo {
    /// `Undone` (removed, or nothing was there) or `Kept` (something not ours was left).
    phase: JournalPhase,
    detail: String,
}

impl Undo {
    fn done(detail: impl Into<String>) -> Self {
        Undo {
            phase: JournalPhase::Undone,
            detail: detail.into(),
        }
    }

    fn absent(what: &str) -> Self {
        Undo::done(format!("{what} was absent"))
    }

    fn kept(what: &str, why: &str) -> Self {
        Undo {
            phase: JournalPhase::Kept,
            detail: format!("kept {what}: {why}; it is not this tenant's to remove"),
        }
    }
}
