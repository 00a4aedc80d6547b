//! One provisioning run: the ensure steps in order, each journaled (Intent before its side
//! effect, Done after), the probe, then `Activate` — or, on a permanent failure, `Failed` in
//! the journal, cleanup, and `Fail`.
//!
//! The run owns the tenant through `record.run_id`. Before each step it re-reads the record
//! and stops with [`Error::Superseded`] if the tenant is no longer `Provisioning` under this
//! run. A run killed at any point is resumed by running it again: every step is an ensure, so
//! what the killed run created is adopted, and an interrupted rollback is finished.

use std::future::Future;

use tenancy::ports::{KeyInfo, RoleInfo, TableInfo, TriggerInfo};
use tenancy::table_plan::TableRole;
use tenancy::{
    Backend, Failure, JournalPhase, ResourceArns, TenantId, TenantRecord, TenantStatus, Transition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::failpoint;
use crate::plan::TenantPlan;
use crate::runner::Step;
use crate::runner::cleanup::{Cleanup, Purpose};
use crate::runner::ensure::{Outcome, Resource, ensure};
use crate::runner::probe::probe;
use crate::runner::records::{append, apply_transition, entry, owned_by, read, update};
use crate::runner::resources::{
    KeyResource, RoleResource, TableResource, TriggerResource, no_stream,
};

/// How many journal entries of a run are read when resuming it.
const RESUME_JOURNAL_LIMIT: u32 = 1000;

pub(crate) struct Run<'a> {
    pub backend: &'a Backend,
    pub plan: TenantPlan,
    pub tenant: TenantId,
    pub run_id: Uuid,
    pub key_deletion_window_days: u32,
    /// A table the tenant's role must be refused (the probe checks it).
    pub outside_table: String,
}

impl Run<'_> {
    /// Drives the run to `Active` or (after rollback) `Failed` and returns the stored record.
    /// Errors: [`Error::Superseded`] when another run took over; a port error when even the
    /// rollback could not complete (the tenant stays `Provisioning` and a later resume
    /// finishes the rollback).
    pub(crate) async fn execute(&self) -> Result<TenantRecord> {
        if let Some((step, cause)) = self.interrupted_rollback().await? {
            tracing::warn!(tenant = %self.tenant, run = %self.run_id, step, "resuming an interrupted rollback");
            return self.roll_back(step, cause).await;
        }
        match self.steps().await {
            Ok(()) => {
                self.finish(Transition::Activate, None, "probe passed; tenant is active")
                    .await
            }
            Err((_, e)) if !e.rolls_back() => Err(e),
            Err((step, e)) => {
                let cause = e.to_string();
                // The failure goes onto the record (still `Provisioning`) with its journal
                // entry in one conditional write: a failure caused by losing the tenant
                // (offboarding disabled the key under a step, say) is no failure of this run
                // and stops it as superseded; and a takeover racing this write either sees the
                // failure (and finishes the rollback) or makes this run stop before it undoes
                // anything.
                let run_id = self.run_id;
                let failure = Failure {
                    step: step.as_str().to_owned(),
                    cause: cause.clone(),
                    at: OffsetDateTime::now_utc(),
                };
                update(&self.backend.registry, &self.tenant, |r| {
                    owned_by(r, TenantStatus::Provisioning, run_id)?;
                    r.failure = Some(failure.clone());
                    Ok(Some(vec![entry(
                        &self.tenant,
                        run_id,
                        step.as_str(),
                        JournalPhase::Failed,
                        &cause,
                    )]))
                })
                .await?;
                tracing::warn!(tenant = %self.tenant, run = %self.run_id, step = step.as_str(), %cause, "step failed; rolling back");
                self.roll_back(step.as_str().to_owned(), cause).await
            }
        }
    }

    /// The ensure steps in order. Every step runs on every attempt — adopting what exists —
    /// so the ARNs later steps need are always learned in this run.
    async fn steps(&self) -> Result<(), (Step, Error)> {
        let mut arns = ResourceArns::default();
        let plan = &self.plan;
        let backend = self.backend;

        let key = KeyResource {
            vault: &backend.keys,
            spec: &plan.key,
            resumed: self
                .key_step_ran_before()
                .await
                .map_err(|e| (Step::Key, e))?,
        };
        let key = self
            .step(Step::Key, &mut arns, &key, |a, k| {
                a.key_id = Some(k.key_id.clone());
                a.key_arn = Some(k.arn.clone());
            })
            .await?;

        let app = TableResource {
            admin: &backend.tables,
            spec: plan.table_spec(TableRole::App, &key.arn),
        };
        let app = self
            .step(Step::AppTable, &mut arns, &app, |a, t| {
                a.app_table_arn = Some(t.arn.clone())
            })
            .await?;

        let events = TableResource {
            admin: &backend.tables,
            spec: plan.table_spec(TableRole::Events, &key.arn),
        };
        let events = self
            .step(Step::EventsTable, &mut arns, &events, |a, t| {
                a.events_table_arn = Some(t.arn.clone())
            })
            .await?;

        let role = RoleResource {
            issuer: &backend.roles,
            spec: plan.role_spec(&[&app.arn, &events.arn], &key.arn),
        };
        self.step(Step::Role, &mut arns, &role, |a, r| {
            a.role_arn = Some(r.arn.clone())
        })
        .await?;

        if let Some(stream) = &events.stream_arn
            && let Some(spec) = plan.trigger_spec(stream)
        {
            let trigger = TriggerResource {
                triggers: &backend.triggers,
                spec,
            };
            self.step(Step::StreamTrigger, &mut arns, &trigger, |a, t| {
                a.stream_trigger_arn = Some(t.arn.clone())
            })
            .await?;
        } else if plan.stream_handler.is_some() {
            return Err((Step::StreamTrigger, no_stream(&events.spec.name).into()));
        }

        let checked = async {
            let detail = probe(&backend.roles, plan, self.run_id, &self.outside_table).await?;
            Ok(((), Outcome::Verified, detail))
        };
        let intent = format!("probe both tables as role {}", plan.role_name);
        self.step_with_detail(Step::Probe, intent, &mut arns, checked, |_, _| {})
            .await
    }

    /// One resource step: the journaled frame around [`ensure`]; Done names what was created
    /// or adopted, with its ARN, and `learn` files the ARN into the record.
    async fn step<R>(
        &self,
        step: Step,
        arns: &mut ResourceArns,
        resource: &R,
        learn: impl FnOnce(&mut ResourceArns, &R::Info),
    ) -> Result<R::Info, (Step, Error)>
    where
        R: Resource,
        R::Info: Arn,
    {
        let action = async {
            let (info, outcome) = ensure(step, resource).await?;
            let detail = format!("{} {} ({})", outcome.as_str(), info.label(), info.arn());
            Ok((info, outcome, detail))
        };
        let intent = format!("ensure {}", resource.describe_name());
        self.step_with_detail(step, intent, arns, action, learn)
            .await
    }

    /// The journaled frame around any step. `action` is not polled before Intent is written.
    async fn step_with_detail<T, Fut>(
        &self,
        step: Step,
        intent: String,
        arns: &mut ResourceArns,
        action: Fut,
        learn: impl FnOnce(&mut ResourceArns, &T),
    ) -> Result<T, (Step, Error)>
    where
        Fut: Future<Output = Result<(T, Outcome, String)>>,
    {
        let at = |e: Error| (step, e);
        let registry = &self.backend.registry;
        let record = read(registry, &self.tenant).await.map_err(at)?;
        owned_by(&record, TenantStatus::Provisioning, self.run_id).map_err(at)?;

        append(
            registry,
            &entry(
                &self.tenant,
                self.run_id,
                step.as_str(),
                JournalPhase::Intent,
                intent,
            ),
        )
        .await
        .map_err(at)?;
        failpoint::hit(&format!("provision:before:{}", step.as_str())).map_err(at)?;
        let (value, outcome, detail) = action.await.map_err(at)?;
        failpoint::hit(&format!("provision:after:{}", step.as_str())).map_err(at)?;

        learn(arns, &value);
        tracing::info!(tenant = %self.tenant, run = %self.run_id, step = step.as_str(), outcome = outcome.as_str(), %detail, "step done");
        let done = entry(
            &self.tenant,
            self.run_id,
            step.as_str(),
            JournalPhase::Done,
            detail,
        );
        let run_id = self.run_id;
        let saved = update(registry, &self.tenant, |r| {
            owned_by(r, TenantStatus::Provisioning, run_id)?;
            r.arns = arns.clone();
            r.updated_at = OffsetDateTime::now_utc();
            Ok(Some(vec![done.clone()]))
        })
        .await;
        if let Err(Error::Superseded { .. }) = &saved {
            self.undo_if_offboarded(step).await;
        }
        saved.map_err(at)?;
        Ok(value)
    }

    /// Called when this run lost the tenant right after a step's side effect. If offboarding
    /// took over, its cleanup may already have passed this step before the resource appeared,
    /// so the resource is removed here (cleanup is idempotent, so racing it is harmless). If a
    /// newer provisioning run took over, the resource is left for it to adopt. Best effort:
    /// failures are logged, the run stops as superseded either way.
    async fn undo_if_offboarded(&self, step: Step) {
        let record = match read(&self.backend.registry, &self.tenant).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(tenant = %self.tenant, step = step.as_str(), error = %e, "cannot tell who superseded this run");
                return;
            }
        };
        if !matches!(
            record.status,
            TenantStatus::Deprovisioning | TenantStatus::Deleted
        ) {
            return;
        }
        let undone = self
            .cleanup(&record.arns, Purpose::Rollback)
            .undo_step(step)
            .await;
        if let Err(e) = undone {
            tracing::warn!(tenant = %self.tenant, step = step.as_str(), error = %e, "could not undo a step after offboarding took over");
        }
    }

    fn cleanup<'a>(&'a self, known: &'a ResourceArns, purpose: Purpose) -> Cleanup<'a> {
        Cleanup {
            backend: self.backend,
            plan: &self.plan,
            tenant: &self.tenant,
            run_id: self.run_id,
            known_key_id: known.key_id.as_deref(),
            known_key_arn: known.key_arn.as_deref(),
            known_trigger_arn: known.stream_trigger_arn.as_deref(),
            key_deletion_window_days: self.key_deletion_window_days,
            purpose,
        }
    }

    /// Whether an earlier attempt (of this run or one it took over) journaled the key step's
    /// intent: only then can a key without its alias have been left behind.
    async fn key_step_ran_before(&self) -> Result<bool> {
        let journal = self
            .backend
            .registry
            .journal(&self.tenant, None, RESUME_JOURNAL_LIMIT)
            .await?;
        Ok(journal
            .iter()
            .any(|e| e.step == Step::Key.as_str() && e.phase == JournalPhase::Intent))
    }

    /// When this run had already failed a step (a `Failed` entry in its journal), the step and
    /// cause: the rollback that followed was interrupted and must be finished, not the steps
    /// retried.
    async fn interrupted_rollback(&self) -> Result<Option<(String, String)>> {
        let registry = &self.backend.registry;
        let journal = registry
            .journal(&self.tenant, Some(self.run_id), RESUME_JOURNAL_LIMIT)
            .await?;
        Ok(journal
            .into_iter()
            .find(|e| e.phase == JournalPhase::Failed)
            .map(|e| (e.step, e.detail)))
    }

    /// Undoes every step (cleanup tolerates the ones that never ran), then `Fail`.
    async fn roll_back(&self, step: String, cause: String) -> Result<TenantRecord> {
        let record = read(&self.backend.registry, &self.tenant).await?;
        owned_by(&record, TenantStatus::Provisioning, self.run_id)?;
        self.cleanup(&record.arns, Purpose::Rollback).run().await?;
        let detail = format!("rolled back after step {step} failed: {cause}");
        let failure = Failure {
            step,
            cause,
            at: OffsetDateTime::now_utc(),
        };
        self.finish(Transition::Fail, Some(failure), &detail).await
    }

    /// The run's last transition, made only if the run still owns the tenant.
    async fn finish(
        &self,
        transition: Transition,
        failure: Option<Failure>,
        detail: &str,
    ) -> Result<TenantRecord> {
        let run_id = self.run_id;
        update(&self.backend.registry, &self.tenant, |r| {
            owned_by(r, TenantStatus::Provisioning, run_id)?;
            Ok(Some(vec![apply_transition(
                r,
                transition,
                failure.clone(),
                detail,
            )?]))
        })
        .await
    }
}

/// What a resource step reports about what it ensured.
trait Arn {
    fn arn(&self) -> &str;
    fn label(&self) -> String;
}

impl Arn for KeyInfo {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn label(&self) -> String {
        format!("key {}", self.alias.as_deref().unwrap_or(&self.key_id))
    }
}

impl Arn for TableInfo {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn label(&self) -> String {
        format!("table {}", self.spec.name)
    }
}

impl Arn for TriggerInfo {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn label(&self) -> String {
        format!("trigger {} to function {}", self.id, self.spec.function)
    }
}

impl Arn for RoleInfo {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn label(&self) -> String {
        format!("role {}", self.spec.name)
    }
}
