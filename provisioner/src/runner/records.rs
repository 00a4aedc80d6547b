//! Reading and writing the tenant record: optimistic-concurrency updates, journal entries, and
//! the run-ownership check every step makes before touching anything.

use std::sync::Arc;

use tenancy::ports::Registry;
use tenancy::{
    ErrorKind, JournalEntry, JournalPhase, ResourceArns, TenantId, TenantRecord, TenantStatus,
    Transition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, Result};
use crate::runner::retry::retrying;

/// How often a read-modify-write is retried after losing a race (`ConditionFailed`).
const MAX_CONFLICTS: u32 = 16;

/// Reads the tenant, retrying retryable failures. Errors: `NotFound`.
pub(crate) async fn read(registry: &Arc<dyn Registry>, id: &TenantId) -> Result<TenantRecord> {
    Ok(retrying("get tenant", || registry.get_tenant(id)).await?)
}

/// Read-modify-write of one tenant record. `change` edits the freshly read record and returns
/// the journal entries to store with it, or `None` when the record already says what the
/// caller wants (nothing is written then). On `ConditionFailed` the record is read again and
/// `change` decides again, so `change` must be a pure function of the record it is given.
pub(crate) async fn update<F>(
    registry: &Arc<dyn Registry>,
    id: &TenantId,
    mut change: F,
) -> Result<TenantRecord>
where
    F: FnMut(&mut TenantRecord) -> Result<Option<Vec<JournalEntry>>>,
{
    let mut conflicts = 0;
    loop {
        let mut record = read(registry, id).await?;
        let Some(entries) = change(&mut record)? else {
            return Ok(record);
        };
        match retrying("update tenant", || {
            registry.update_tenant(&record, &entries)
        })
        .await
        {
            Ok(stored) => return Ok(stored),
            Err(e) if e.kind() == ErrorKind::ConditionFailed && conflicts < MAX_CONFLICTS => {
                conflicts += 1;
                tracing::debug!(tenant = %id, conflicts, "tenant record changed under us; deciding again");
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// A journal entry stamped now.
pub(crate) fn entry(
    tenant: &TenantId,
    run_id: Uuid,
    step: &str,
    phase: JournalPhase,
    detail: impl Into<String>,
) -> JournalEntry {
    JournalEntry {
        tenant: tenant.clone(),
        run_id,
        step: step.to_owned(),
        phase,
        detail: detail.into(),
        at: OffsetDateTime::now_utc(),
    }
}

/// Appends one entry to the tenant's journal, retrying retryable failures.
pub(crate) async fn append(registry: &Arc<dyn Registry>, entry: &JournalEntry) -> Result<()> {
    Ok(retrying("append journal", || registry.append_journal(entry)).await?)
}

/// Fails with [`Error::Superseded`] unless `record` is in `status` and owned by `run_id`.
pub(crate) fn owned_by(record: &TenantRecord, status: TenantStatus, run_id: Uuid) -> Result<()> {
    if record.status == status && record.run_id == Some(run_id) {
        Ok(())
    } else {
        Err(Error::Superseded {
            tenant: record.id.to_string(),
            run_id,
        })
    }
}

/// Applies `transition` to `record` with its side effects on run ownership and ARNs, and
/// returns the journal entry that records it.
///
/// - `BeginProvisioning` keeps the run id the request started (or starts one);
///   `Retry` and `BeginOffboarding` start a fresh run.
/// - `Activate`, `Fail` and `FinishOffboarding` end the run (`run_id` cleared).
/// - `Fail` and `FinishOffboarding` clear the ARNs: their resources are gone.
pub(crate) fn apply_transition(
    record: &mut TenantRecord,
    transition: Transition,
    failure: Option<tenancy::Failure>,
    detail: &str,
) -> Result<JournalEntry> {
    let now = OffsetDateTime::now_utc();
    let previous_run = record.run_id;
    record.transition(transition, failure, now)?;
    match transition {
        Transition::BeginProvisioning => {
            record.run_id = Some(previous_run.unwrap_or_else(Uuid::now_v7));
        }
        Transition::Retry | Transition::BeginOffboarding => record.run_id = Some(Uuid::now_v7()),
        Transition::Activate => record.run_id = None,
        Transition::Fail | Transition::FinishOffboarding => {
            record.run_id = None;
            record.arns = ResourceArns::default();
        }
        Transition::Suspend
        | Transition::Resume
        | Transition::BeginUpgrade
        | Transition::FinishUpgrade => {}
    }
    let run_id = record.run_id.or(previous_run).unwrap_or_else(Uuid::now_v7);
    Ok(entry(
        &record.id,
        run_id,
        transition.as_str(),
        JournalPhase::Transition,
        detail,
    ))
}
