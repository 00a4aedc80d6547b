//! One provisioning run: the ensure steps in order, each journaled (Intent before its side
//! effect, Done after), the probe, then `Activate` — or, on a permanent failure, `Failed` in
//! the journal, cleanup, and `Fail`.
//!
//! The run owns the tenant through `record.run_id`. Before each step it re-reads the record
//! and stops with [`Error::Superseded`] if the tenant is no longer `Provisioning` under this
//! run. A run killed at any point is resumed by running it again: every step is an ensure, so
//! what the killed run created is adopted, and an interrupted rollback is finished.

use std::future::Future;

use tenancy::ports::{KeyInfo, RoleInfo, TableInfo};
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
use crate::runner::ensure::{Outcome, ensure};
use crate::runner::probe::probe;
use crate::runner::records::{append, apply_transition, entry, owned_by, read, update};
use crate::runner::resources::{KeyResource, RoleResource, TableResource};

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
                tracing::warn!(tenant = %self.tenant, run = %self.run_id, step = step.as_str(), %cause, "step failed; rolling back");
                append(
                    &self.backend.registry,
                    &entry(
                        &self.tenant,
                        self.run_id,
                        step.as_str(),
                        JournalPhase::Failed,
                        &cause,
                    ),
                )
                .await?;
                self.roll_back(step.as_str().to_owned(), cause).await
            }
        }
    }

    /// The ensure steps in order. Every step runs on every attempt — adopting what exists —
    /// so the ARNs later steps need are always learned in this run.
    async fn steps(&self) -> Result<(), (Step, Error)> {
        let mut arns = ResourceArns::default();
        let plan = &self.plan;

        let key: KeyInfo = self
            .step(
                Step::Key,
                &mut arns,
                ensure(
                    Step::Key,
                    &KeyResource {
                        vault: &self.backend.keys,
                        spec: &plan.key,
                    },
                ),
                |a, k: &KeyInfo| {
                    a.key_id = Some(k.key_id.clone());
                    a.key_arn = Some(k.arn.clone());
                },
            )
            .await?;

        let app_table = TableResource {
            admin: &self.backend.tables,
            spec: plan.table_spec(TableRole::App, &key.arn),
        };
        let app: TableInfo = self
            .step(
                Step::AppTable,
                &mut arns,
                ensure(Step::AppTable, &app_table),
                |a, t: &TableInfo| {
                    a.app_table_arn = Some(t.arn.clone());
                },
            )
            .await?;

        let events_table = TableResource {
            admin: &self.backend.tables,
            spec: plan.table_spec(TableRole::Events, &key.arn),
        };
        let events: TableInfo = self
            .step(
                Step::EventsTable,
                &mut arns,
                ensure(Step::EventsTable, &events_table),
                |a, t: &TableInfo| {
                    a.events_table_arn = Some(t.arn.clone());
                },
            )
            .await?;

        let role = RoleResource {
            issuer: &self.backend.roles,
            spec: plan.role_spec(&[&app.arn, &events.arn], &key.arn),
        };
        let _: RoleInfo = self
            .step(
                Step::Role,
                &mut arns,
                ensure(Step::Role, &role),
                |a, r: &RoleInfo| {
                    a.role_arn = Some(r.arn.clone());
                },
            )
            .await?;

        let checked = async {
            let detail = probe(&self.backend.roles, plan, self.run_id, &self.outside_table).await?;
            Ok(((), Outcome::Adopted, detail))
        };
        self.step_with_detail(Step::Probe, &mut arns, checked, |_, _| {})
            .await
    }

    /// One resource step: ownership check, Intent, the ensure, then Done with the ARN learned.
    async fn step<T, Fut>(
        &self,
        step: Step,
        arns: &mut ResourceArns,
        action: Fut,
        learn: impl FnOnce(&mut ResourceArns, &T),
    ) -> Result<T, (Step, Error)>
    where
        T: Arn,
        Fut: Future<Output = Result<(T, Outcome)>>,
    {
        let action = async {
            let (info, outcome) = action.await?;
            let detail = format!("{} {} ({})", outcome.as_str(), info.label(), info.arn());
            Ok((info, outcome, detail))
        };
        self.step_with_detail(step, arns, action, learn).await
    }

    /// The journaled frame around any step. `action` is not polled before Intent is written.
    async fn step_with_detail<T, Fut>(
        &self,
        step: Step,
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
                format!("ensure {}", step.as_str()),
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
        update(registry, &self.tenant, |r| {
            owned_by(r, TenantStatus::Provisioning, run_id)?;
            r.arns = arns.clone();
            r.updated_at = OffsetDateTime::now_utc();
            Ok(Some(vec![done.clone()]))
        })
        .await
        .map_err(at)?;
        Ok(value)
    }

    /// When this run had already failed a step (a `Failed` entry in its journal), the step and
    /// cause: the rollback that followed was interrupted and must be finished, not the steps
    /// retried.
    async fn interrupted_rollback(&self) -> Result<Option<(String, String)>> {
        let journal = self
            .backend
            .registry
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
        Cleanup {
            backend: self.backend,
            plan: &self.plan,
            tenant: &self.tenant,
            run_id: self.run_id,
            known_key_id: record.arns.key_id.as_deref(),
            key_deletion_window_days: self.key_deletion_window_days,
            purpose: Purpose::Rollback,
        }
        .run()
        .await?;
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

impl Arn for RoleInfo {
    fn arn(&self) -> &str {
        &self.arn
    }
    fn label(&self) -> String {
        format!("role {}", self.spec.name)
    }
}
