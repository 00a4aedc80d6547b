//! Provisioning runs: ensure steps with a journal, rollback, probe, offboarding cleanup, and
//! the lifecycle transitions around them.
//!
//! - [`records`]: optimistic-concurrency updates of the tenant record, journal entries,
//!   run ownership.
//! - [`ensure`]: the one generic create-or-adopt with drift detection.
//! - [`resources`]: key, tables, role and stream trigger as ensurable resources.
//! - [`probe`]: the check through the tenant's own role before `Active`.
//! - [`cleanup`]: reverse-order removal tolerating what never ran (rollback, offboarding).
//! - [`provision`]: one provisioning run.

mod cleanup;
mod ensure;
pub(crate) mod ownership;
mod probe;
mod provision;
mod records;
mod resources;

use serde::Serialize;
use tenancy::end_user::EndUserIdentity;
use tenancy::ports::{AdminRef, TenantFilter};
use tenancy::{
    Backend, ErrorKind, JournalEntry, JournalPhase, Origin, OwnerEmail, RequestId, TenantId,
    TenantName, TenantRecord, TenantStatus, Tier, Transition,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::config::Settings;
use crate::error::{Error, Result};
use crate::plan::TenantPlan;
use crate::quota::{self, AccountQuota, Usage};
use cleanup::{Cleanup, Purpose};
use provision::Run;
use records::{append, apply_transition, entry, fresh_run, owned_by, read, update};
pub(crate) use resources::{no_stream, trigger_differences};

/// The ordered provisioning steps. Cleanup runs them in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Key,
    AppTable,
    EventsTable,
    Role,
    /// The events table's stream → the stream handler; only in plans that have a handler.
    StreamTrigger,
    Probe,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Key,
        Step::AppTable,
        Step::EventsTable,
        Step::Role,
        Step::StreamTrigger,
        Step::Probe,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::Key => "key",
            Step::AppTable => "app_table",
            Step::EventsTable => "events_table",
            Step::Role => "role",
            Step::StreamTrigger => "stream_trigger",
            Step::Probe => "probe",
        }
    }
}

/// The lifecycle changes an operator may ask for directly. Every other transition happens
/// inside a run ([`Provisioner::provision`], [`Provisioner::retry`],
/// [`Provisioner::begin_offboarding`], [`Provisioner::offboard`]), which keeps the record, the
/// journal and the resources consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorTransition {
    /// `Active` → `Suspended`: the data plane refuses the tenant's traffic.
    Suspend,
    /// `Suspended` → `Active`.
    Resume,
}

impl From<OperatorTransition> for Transition {
    fn from(t: OperatorTransition) -> Transition {
        match t {
            OperatorTransition::Suspend => Transition::Suspend,
            OperatorTransition::Resume => Transition::Resume,
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
    /// The idempotent request asking for the tenant, if any: stored on the record, so that the
    /// same request retried after a crash can recognise the tenant as its own.
    pub request: Option<RequestId>,
}

/// What an operator may change on a tenant without a run; `None` keeps the stored value.
#[derive(Debug, Clone, Default)]
pub struct TenantChanges {
    pub name: Option<TenantName>,
    pub owner_email: Option<OwnerEmail>,
    /// Replaces the whole list.
    pub allowed_origins: Option<Vec<Origin>>,
}

impl TenantChanges {
    /// Applies the changes; returns whether anything differs from what `record` held.
    fn apply(&self, record: &mut TenantRecord) -> bool {
        let mut changed = false;
        if let Some(name) = self.name.as_ref().filter(|n| **n != record.name) {
            record.name = name.clone();
            changed = true;
        }
        if let Some(email) = self
            .owner_email
            .as_ref()
            .filter(|e| **e != record.owner_email)
        {
            record.owner_email = email.clone();
            changed = true;
        }
        if let Some(origins) = self
            .allowed_origins
            .as_ref()
            .filter(|o| **o != record.allowed_origins)
        {
            record.allowed_origins = origins.clone();
            changed = true;
        }
        changed
    }
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
/// Journal step name of offboarding's removal of the tenant's admins.
const ADMINS_STEP: &str = "admins";
/// Page size when listing tenants.
const LIST_PAGE: u32 = 1000;

/// Drives tenants through their lifecycle on the ports of one [`Backend`]. Cheap to clone.
///
/// Every method re-reads the tenant record and writes it with optimistic concurrency, so
/// several processes may call it. Each run owns the tenant through `record.run_id`; a process
/// that takes over an in-flight tenant writes a fresh run id, and the run it replaced stops
/// as superseded at its next step, so only one run drives a tenant at any time. Within one
/// process, callers should still start at most one run per tenant (the control plane's run
/// tracker does), since a takeover makes the earlier run stop half-way.
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
        TenantPlan::for_settings(&self.settings, id)
    }

    /// Admits a new tenant against the account quotas ([`quota`](crate::quota)), then stores
    /// it `Requested` with the journal entry that opens its first run. Admission counts the
    /// registry's live tenants and writes nothing: a refused tenant leaves no record and no
    /// resource. It is best effort under concurrency (two requests at once may both take the
    /// last free slot; AWS then refuses the create past its real quota and that run rolls
    /// back).
    ///
    /// Errors: [`Error::QuotaExceeded`] when its resources would exceed a quota; port
    /// `AlreadyExists` when the id is taken, by a live tenant or a tombstone.
    pub async fn request(&self, new: NewTenant) -> Result<TenantRecord> {
        let plan = self.plan(&new.id);
        // A taken id is told as such before the quota is looked at: the live tenants counted
        // include this one when it exists (a retry of a request that wrote it, say).
        match self.backend.registry.get_tenant(&new.id).await {
            Ok(_) => {
                return Err(tenancy::Error::already_exists(format!(
                    "tenant {} already exists",
                    new.id
                ))
                .into());
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let live_tenants = self.backend.registry.count_live_tenants().await?;
        quota::admit(
            new.id.as_str(),
            AccountQuota::from_settings(&self.settings),
            live_tenants,
            Usage::of_tenant(&plan),
        )?;
        let now = OffsetDateTime::now_utc();
        let names = plan.names;
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
        record.created_by_request = new.request;
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

    /// Drives a `Requested` tenant (or takes over a `Provisioning` one) to `Active`, or — after
    /// a permanent failure and rollback — to `Failed`; returns the final record either way (a
    /// failed run is an outcome, read `record.failure`). An `Active` or `Suspended` tenant is
    /// returned unchanged.
    ///
    /// Taking over an in-flight tenant always starts a fresh run id, written with the record's
    /// version check: of two processes resuming the same tenant exactly one wins, and the run
    /// it replaced sees itself [`Error::Superseded`] at its next step. A rollback the previous
    /// run had begun is carried over and finished, not turned into a new attempt.
    ///
    /// Errors: `IllegalTransition` from `Failed` (call [`Provisioner::retry`] first),
    /// `Upgrading`, `Deprovisioning` or `Deleted`; [`Error::Superseded`] when offboarding (or
    /// another run) took over mid-way, or won the race to start or take over the run; a port
    /// error when not even the rollback could complete, leaving the tenant `Provisioning` for a
    /// later resume.
    pub async fn provision(&self, id: &TenantId) -> Result<TenantRecord> {
        self.provision_from(id, None).await
    }

    /// [`Provisioner::provision`], but only if the tenant's record still names run `seen` —
    /// the run the caller judged abandoned (a lease ran out, its own run failed and is being
    /// re-run). Anything newer, such as a run another process started since, is left alone:
    /// [`Error::Superseded`].
    pub async fn resume(&self, id: &TenantId, seen: Option<Uuid>) -> Result<TenantRecord> {
        self.provision_from(id, Some(seen)).await
    }

    /// `only_from`: `None` takes over whatever run is in charge; `Some(seen)` only run `seen`.
    async fn provision_from(
        &self,
        id: &TenantId,
        only_from: Option<Option<Uuid>>,
    ) -> Result<TenantRecord> {
        let record = self.claim_provisioning_run(id, only_from).await?;
        if matches!(
            record.status,
            TenantStatus::Active | TenantStatus::Suspended
        ) {
            return Ok(record);
        }
        let Some(run_id) = record.run_id else {
            return Err(Error::Superseded {
                tenant: id.to_string(),
                run_id: Uuid::nil(),
            });
        };
        tracing::info!(tenant = %id, run = %run_id, "provisioning run");
        self.run(id, run_id).execute().await
    }

    fn run(&self, id: &TenantId, run_id: Uuid) -> Run<'_> {
        Run {
            backend: &self.backend,
            plan: self.plan(id),
            tenant: id.clone(),
            run_id,
            key_deletion_window_days: self.settings.key_deletion_window_days.as_u32(),
            outside_table: self.settings.table_prefix.registry_table(),
        }
    }

    /// Makes this call the owner of the tenant's provisioning run: `Requested` → `Provisioning`
    /// continuing the run the request opened; `Provisioning` → a fresh run taking over from the
    /// one seen (see [`Provisioner::provision`]). Returns the record as stored; `Active` and
    /// `Suspended` records are returned as read.
    async fn claim_provisioning_run(
        &self,
        id: &TenantId,
        only_from: Option<Option<Uuid>>,
    ) -> Result<TenantRecord> {
        let registry = &self.backend.registry;
        let current = read(registry, id).await?;
        let superseded = |seen: Option<Uuid>| Error::Superseded {
            tenant: id.to_string(),
            run_id: seen.unwrap_or_default(),
        };
        let in_flight = matches!(
            current.status,
            TenantStatus::Requested | TenantStatus::Provisioning
        );
        if let Some(seen) = only_from
            && in_flight
            && current.run_id != seen
        {
            return Err(superseded(seen));
        }
        match current.status {
            TenantStatus::Active | TenantStatus::Suspended => Ok(current),
            TenantStatus::Requested => {
                update(registry, id, |r| match r.status {
                    TenantStatus::Requested if r.run_id == current.run_id => {
                        Ok(Some(vec![apply_transition(
                            r,
                            Transition::BeginProvisioning,
                            None,
                            "provisioning started",
                        )?]))
                    }
                    // Another process started the run between our read and our write.
                    _ => Err(superseded(current.run_id)),
                })
                .await
            }
            TenantStatus::Provisioning => self.take_over(id, current.run_id).await,
            from => Err(tenancy::IllegalTransition {
                from,
                transition: Transition::BeginProvisioning,
            }
            .into()),
        }
    }

    /// Replaces run `seen` of a `Provisioning` tenant by a fresh run, on the condition that the
    /// record still names `seen`: whoever takes over first wins, anyone deciding from the same
    /// read gets [`Error::Superseded`]. A `Failed` entry of `seen` is carried over, so the new
    /// run finishes that rollback.
    async fn take_over(&self, id: &TenantId, seen: Option<Uuid>) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| {
            // A run that failed a step records the failure on the record before it undoes
            // anything, in the same conditional write as this one: read here, it cannot be
            // missed.
            let carried = r.failure.clone();
            if r.status != TenantStatus::Provisioning || r.run_id != seen {
                return Err(Error::Superseded {
                    tenant: id.to_string(),
                    run_id: seen.unwrap_or_default(),
                });
            }
            let detail = match seen {
                Some(previous) => format!("run taken over from run {previous}"),
                None => "run restarted".to_owned(),
            };
            let mut entries = vec![fresh_run(r, Transition::BeginProvisioning, detail)];
            if let Some(failed) = &carried {
                // The previous run had failed a step and was rolling back: so does this one.
                entries.push(entry(
                    id,
                    r.run_id.unwrap_or_default(),
                    &failed.step,
                    JournalPhase::Failed,
                    failed.cause.clone(),
                ));
            }
            Ok(Some(entries))
        })
        .await
    }

    /// `Failed` → `Provisioning` under a fresh run; the caller then calls
    /// [`Provisioner::provision`]. Errors: `IllegalTransition` from any other state.
    pub async fn retry(&self, id: &TenantId) -> Result<TenantRecord> {
        self.apply(id, Transition::Retry, "retry requested").await
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
            TenantStatus::Deprovisioning => Ok(Some(vec![fresh_run(
                r,
                Transition::BeginOffboarding,
                "offboarding run restarted",
            )])),
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

        let revoked = registry
            .revoke_all_api_keys(id, OffsetDateTime::now_utc())
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
        let admins = self.remove_admins(id).await?;
        append(
            registry,
            &entry(id, run_id, ADMINS_STEP, JournalPhase::Done, admins),
        )
        .await?;

        let plan = self.plan(id);
        Cleanup {
            backend: &self.backend,
            plan: &plan,
            tenant: id,
            run_id,
            known_key_id: record.arns.key_id.as_deref(),
            known_key_arn: record.arns.key_arn.as_deref(),
            known_trigger_arn: record.arns.stream_trigger_arn.as_deref(),
            key_deletion_window_days: self.settings.key_deletion_window_days.as_u32(),
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

    /// Removes every admin of the tenant (each user disabled, its record gone), so that no one
    /// can sign in to an offboarded tenant; returns what was done, for the journal. The
    /// identity port checks each user's own tenant before it disables it. A deployment whose
    /// identity is not configured refuses invitations (`Invalid`), so it has no admins to
    /// remove: that is said, not failed.
    async fn remove_admins(&self, id: &TenantId) -> Result<String> {
        let identity = &self.backend.identity;
        let admins = match identity.list_admins(id).await {
            Ok(admins) => admins,
            Err(e) if e.kind() == ErrorKind::Invalid => {
                return Ok(format!("no tenant admins to remove: {}", e.message()));
            }
            Err(e) => return Err(e.into()),
        };
        for admin in &admins {
            match identity
                .remove_admin(id, &AdminRef::Id(admin.id.clone()))
                .await
            {
                // Removed meanwhile (by the admin routes, or an earlier attempt of this run).
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                other => {
                    other?;
                }
            }
        }
        Ok(format!("tenant admins removed: {}", admins.len()))
    }

    /// Changes the tenant's name, owner e-mail or allowed origins (re-decided on concurrent
    /// updates; nothing is written when nothing differs). Errors: [`Error::Offboarded`] for a
    /// `Deprovisioning` or `Deleted` tenant; `NotFound`.
    pub async fn update_details(
        &self,
        id: &TenantId,
        changes: &TenantChanges,
    ) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| {
            if matches!(
                r.status,
                TenantStatus::Deprovisioning | TenantStatus::Deleted
            ) {
                return Err(Error::Offboarded {
                    tenant: r.id.to_string(),
                    status: r.status,
                });
            }
            if !changes.apply(r) {
                return Ok(None);
            }
            r.updated_at = OffsetDateTime::now_utc();
            Ok(Some(Vec::new()))
        })
        .await
    }

    /// Sets (or, with `None`, removes) how the data plane verifies the tenant's own users'
    /// tokens. Like [`Provisioner::update_details`]: re-decided on concurrent updates, nothing
    /// written when nothing differs. Errors: [`Error::Offboarded`] for a `Deprovisioning` or
    /// `Deleted` tenant; `NotFound`.
    pub async fn set_identity(
        &self,
        id: &TenantId,
        identity: Option<EndUserIdentity>,
    ) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| {
            if matches!(
                r.status,
                TenantStatus::Deprovisioning | TenantStatus::Deleted
            ) {
                return Err(Error::Offboarded {
                    tenant: r.id.to_string(),
                    status: r.status,
                });
            }
            if r.identity == identity {
                return Ok(None);
            }
            r.identity = identity.clone();
            r.updated_at = OffsetDateTime::now_utc();
            Ok(Some(Vec::new()))
        })
        .await
    }

    /// Moves the tenant to `Deprovisioning` under a fresh offboarding run without cleaning up
    /// yet: any provisioning run stops at its next step ([`Error::Superseded`]). A tenant
    /// already `Deprovisioning` or `Deleted` is returned unchanged, so this is idempotent.
    /// [`Provisioner::offboard`] then continues that run. Errors: `IllegalTransition` from
    /// `Upgrading`; `NotFound`.
    pub async fn begin_offboarding(&self, id: &TenantId) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| match r.status {
            TenantStatus::Deprovisioning | TenantStatus::Deleted => Ok(None),
            _ => Ok(Some(vec![apply_transition(
                r,
                Transition::BeginOffboarding,
                None,
                "offboarding requested; supersedes any provisioning run",
            )?])),
        })
        .await
    }

    /// An operator's state change (suspend, resume), journaled with `detail`; re-decided on
    /// concurrent updates. The transitions that belong to runs (provisioning, failing,
    /// offboarding) are not reachable from here. Errors: `IllegalTransition` when the
    /// lifecycle does not allow it from the current state; `NotFound`.
    pub async fn transition(
        &self,
        id: &TenantId,
        transition: OperatorTransition,
        detail: &str,
    ) -> Result<TenantRecord> {
        self.apply(id, transition.into(), detail).await
    }

    /// Any transition without side effects on resources, journaled with `detail`.
    async fn apply(
        &self,
        id: &TenantId,
        transition: Transition,
        detail: &str,
    ) -> Result<TenantRecord> {
        update(&self.backend.registry, id, |r| {
            Ok(Some(vec![apply_transition(r, transition, None, detail)?]))
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
        let journal = self
            .backend
            .registry
            .journal(id, None, journal_limit)
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
                let page = self.backend.registry.list_tenants(&filter).await?;
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

    #[tokio::test]
    async fn a_takeover_supersedes_the_run_it_replaces_and_only_one_takeover_wins() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        let p = Provisioner::new(tenancy::open(&settings).await.unwrap(), settings);
        let id = TenantId::parse("taken-over").unwrap();
        let requested = p
            .request(NewTenant {
                id: id.clone(),
                name: TenantName::parse("Taken over").unwrap(),
                owner_email: OwnerEmail::parse("ops@example.com").unwrap(),
                tier: Tier::Standard,
                allowed_origins: Vec::new(),
                request: None,
            })
            .await
            .unwrap();
        let first = p.claim_provisioning_run(&id, None).await.unwrap();
        assert_eq!(first.status, TenantStatus::Provisioning);
        assert_eq!(first.run_id, requested.run_id, "the request's run goes on");

        // Another process resumes the tenant: a fresh run replaces the first.
        let second = p.claim_provisioning_run(&id, None).await.unwrap();
        assert_ne!(second.run_id, first.run_id);
        // A third process that decided from the same read as the second loses.
        let late = p.take_over(&id, first.run_id).await.unwrap_err();
        assert!(matches!(late, Error::Superseded { .. }), "{late:?}");
        assert_eq!(
            read(&p.backend.registry, &id).await.unwrap().run_id,
            second.run_id
        );

        // The replaced run stops at its first step without creating anything.
        let stale = p
            .run(&id, first.run_id.unwrap())
            .execute()
            .await
            .unwrap_err();
        assert!(matches!(stale, Error::Superseded { .. }), "{stale:?}");
        let key = p
            .backend
            .keys
            .describe_key(&p.plan(&id).names.key_alias)
            .await;
        assert_eq!(
            key.map_err(|e| e.kind()).err(),
            Some(tenancy::ErrorKind::NotFound)
        );
    }

    #[test]
    fn steps_are_named_in_snake_case_in_order() {
        let names: Vec<&str> = Step::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "key",
                "app_table",
                "events_table",
                "role",
                "stream_trigger",
                "probe"
            ]
        );
        for step in Step::ALL {
            assert_eq!(
                serde_json::to_value(step).unwrap(),
                serde_json::Value::String(step.as_str().to_owned())
            );
        }
    }
}
