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

/// How often a read-modify-write is retried after losing a race (`ConditionFailed`).
const MAX_CONFLICTS: u32 = 16;

/// Reads the tenant, retrying retryable failures. Errors: `NotFound`.
pub(crate) async fn read(registry: &Arc<dyn Registry>, id: &TenantId) -> Result<TenantRecord> {
    Ok(registry.get_tenant(id).await?)
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
        match registry.update_tenant(&record, &entries).await {
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
    Ok(registry.append_journal(entry).await?)
}

/// Gives `record` a fresh run id and returns the journal entry that opens that run, named
/// after `transition` (the transition the run continues; the status does not change). Used
/// when a process takes over an in-flight tenant whose previous run ended or was abandoned.
pub(crate) fn fresh_run(
    record: &mut TenantRecord,
    transition: Transition,
    detail: impl Into<String>,
) -> JournalEntry {
    let run_id = Uuid::now_v7();
    record.run_id = Some(run_id);
    entry(
        &record.id,
        run_id,
        transition.as_str(),
        JournalPhase::Transition,
        detail,
    )
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

#[cfg(test)]
mod tests {
    use tenancy::naming::{ResourceNames, TablePrefix};
    use tenancy::{Failure, OwnerEmail, TenantName, Tier};

    use super::*;

    fn requested() -> TenantRecord {
        let id = TenantId::parse("unit").unwrap();
        let names = ResourceNames::for_tenant(&TablePrefix::default(), &id);
        let mut r = TenantRecord::new(
            id,
            TenantName::parse("Unit").unwrap(),
            OwnerEmail::parse("a@example.com").unwrap(),
            Tier::Standard,
            Vec::new(),
            names,
            OffsetDateTime::now_utc(),
        );
        r.run_id = Some(Uuid::now_v7());
        r
    }

    #[test]
    fn beginning_provisioning_continues_the_run_the_request_started() {
        let mut r = requested();
        let run = r.run_id;
        let e = apply_transition(&mut r, Transition::BeginProvisioning, None, "go").unwrap();
        assert_eq!(r.status, TenantStatus::Provisioning);
        assert_eq!(r.run_id, run);
        assert_eq!(Some(e.run_id), run);
        assert_eq!(
            (e.step.as_str(), e.phase),
            ("begin_provisioning", JournalPhase::Transition)
        );
    }

    #[test]
    fn failing_ends_the_run_and_forgets_the_arns_and_retry_starts_a_fresh_run() {
        let mut r = requested();
        apply_transition(&mut r, Transition::BeginProvisioning, None, "go").unwrap();
        let first = r.run_id;
        r.arns.key_arn = Some("arn:key".to_owned());
        let failure = Failure {
            step: "key".to_owned(),
            cause: "boom".to_owned(),
            at: OffsetDateTime::now_utc(),
        };
        let e = apply_transition(&mut r, Transition::Fail, Some(failure), "rolled back").unwrap();
        assert_eq!(r.run_id, None);
        assert_eq!(r.arns, ResourceArns::default());
        assert_eq!(
            Some(e.run_id),
            first,
            "the failing run journals its own end"
        );
        apply_transition(&mut r, Transition::Retry, None, "again").unwrap();
        assert!(r.run_id.is_some());
        assert_ne!(r.run_id, first);
        assert!(r.failure.is_none());
    }

    #[test]
    fn an_illegal_transition_leaves_the_record_untouched() {
        let mut r = requested();
        let before = r.clone();
        assert!(apply_transition(&mut r, Transition::Activate, None, "no").is_err());
        assert_eq!(r, before);
    }

    #[test]
    fn only_the_owning_run_in_the_expected_state_passes_the_ownership_check() {
        let mut r = requested();
        apply_transition(&mut r, Transition::BeginProvisioning, None, "go").unwrap();
        let run = r.run_id.unwrap();
        assert!(owned_by(&r, TenantStatus::Provisioning, run).is_ok());
        assert!(matches!(
            owned_by(&r, TenantStatus::Provisioning, Uuid::now_v7()),
            Err(Error::Superseded { .. })
        ));
        assert!(matches!(
            owned_by(&r, TenantStatus::Deprovisioning, run),
            Err(Error::Superseded { .. })
        ));
    }
}
