//! Background provisioning and offboarding runs of this process.
//!
//! Contract:
//! - at most one run per tenant at a time; asking for a run while one is under way joins it,
//!   except [`RunTracker::provision_after_current`], which lets a finishing run end first;
//! - offboarding supersedes provisioning: the tenant is moved to `Deprovisioning` (which makes
//!   the provisioning run stop at its next step), the provisioning task is awaited, and only
//!   then does the offboarding run start — so cleanup never races a step that creates;
//! - a run that ends with a retryable backend error is run again (bounded, with backoff); one
//!   that still fails is left in flight for [`RunTracker::reconcile`];
//! - waiting never polls: every run publishes its end on a `watch` channel;
//! - a run's entry leaves the table *before* its end is published, so whoever wakes up sees
//!   the tenant free;
//! - [`RunTracker::reconcile`] (at start-up, then periodically) starts runs for in-flight
//!   tenants that have none in this process and whose journal has been quiet for a lease;
//! - on shutdown, [`RunTracker::drain`] lets runs finish for a grace period; whatever is left is
//!   journaled and resumed at the next start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use provisioner::Provisioner;
use tenancy::{ErrorKind, TenantId, TenantRecord, TenantStatus};
use time::OffsetDateTime;
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::ApiError;

/// Which provisioning run a new run may replace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Takeover {
    /// Whatever run the record names (this process just created or retried the tenant).
    Any,
    /// Only this run (judged abandoned, or this process's own failed run); anything newer is
    /// left alone.
    Only(Option<Uuid>),
}

/// What a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    /// Drive `Requested`/`Provisioning` to `Active` or `Failed`.
    Provision,
    /// Drive the tenant to `Deleted`.
    Offboard,
}

/// How a run ended. Shared by every waiter, hence the `Arc`.
pub type RunOutcome = Result<TenantRecord, Arc<provisioner::Error>>;

/// `None` while running; the outcome once finished. A sender dropped without an outcome means
/// the task died (panicked or was cancelled).
type Done = watch::Receiver<Option<RunOutcome>>;

#[derive(Clone)]
struct RunEntry {
    kind: RunKind,
    generation: u64,
    done: Done,
}

type RunTable = Arc<Mutex<HashMap<TenantId, RunEntry>>>;

/// How many times a run that ended with a retryable backend error is run again.
const RERUNS: u32 = 3;
/// Pause before the first re-run (doubled before each further one).
const FIRST_RERUN_BACKOFF: Duration = Duration::from_secs(1);

pub struct RunTracker {
    provisioner: Provisioner,
    runs: RunTable,
    generation: AtomicU64,
    /// Set by `drain`: no new run starts (nor re-runs) once the process is stopping.
    closed: Arc<AtomicBool>,
    rerun_backoff: Duration,
}

impl std::fmt::Debug for RunTracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunTracker")
            .field("running", &lock(&self.runs).len())
            .finish_non_exhaustive()
    }
}

fn lock(runs: &RunTable) -> MutexGuard<'_, HashMap<TenantId, RunEntry>> {
    // The table holds plain data; a panic while it was held cannot leave it half-updated.
    runs.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Removes the run's entry (if it is still this run's) and then publishes the outcome; runs on
/// drop, so a panicking task still frees its tenant.
struct Finish {
    runs: RunTable,
    tenant: TenantId,
    generation: u64,
    tx: watch::Sender<Option<RunOutcome>>,
    outcome: Option<RunOutcome>,
}

impl Finish {
    fn set(&mut self, outcome: RunOutcome) {
        self.outcome = Some(outcome);
    }
}

impl Drop for Finish {
    fn drop(&mut self) {
        {
            let mut runs = lock(&self.runs);
            if runs
                .get(&self.tenant)
                .is_some_and(|e| e.generation == self.generation)
            {
                runs.remove(&self.tenant);
            }
        }
        if let Some(outcome) = self.outcome.take() {
            self.tx.send_replace(Some(outcome));
        }
    }
}

impl RunTracker {
    pub fn new(provisioner: Provisioner) -> Self {
        RunTracker {
            provisioner,
            runs: Arc::new(Mutex::new(HashMap::new())),
            generation: AtomicU64::new(1),
            closed: Arc::new(AtomicBool::new(false)),
            rerun_backoff: FIRST_RERUN_BACKOFF,
        }
    }

    /// The same tracker with another first pause before re-running a run that ended with a
    /// retryable error (default 1 s).
    pub fn with_rerun_backoff(mut self, backoff: Duration) -> Self {
        self.rerun_backoff = backoff;
        self
    }

    /// Number of runs under way.
    pub fn len(&self) -> usize {
        lock(&self.runs).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts provisioning `tenant` in the background unless a run (of either kind) is already
    /// under way for it. Returns whether a new run started.
    pub fn start_provision(&self, tenant: &TenantId) -> bool {
        self.start(tenant, RunKind::Provision, Takeover::Any).1
    }

    /// Starts provisioning `tenant` only as a takeover of run `seen` (what a reconcile judged
    /// abandoned): if another process started a newer run meanwhile, the new run stops at once
    /// as superseded. Returns whether a new run started.
    fn resume_provision(&self, tenant: &TenantId, seen: Option<Uuid>) -> bool {
        self.start(tenant, RunKind::Provision, Takeover::Only(seen))
            .1
    }

    /// Starts offboarding `tenant` in the background without superseding anything: used for
    /// tenants already in `Deprovisioning`. Returns whether a new run started.
    pub fn start_offboard(&self, tenant: &TenantId) -> bool {
        self.start(tenant, RunKind::Offboard, Takeover::Any).1
    }

    /// Starts provisioning `tenant` after the caller moved it to `Provisioning` (a retry), or
    /// recorded it: a provisioning run still in the table is one that has written its end (or
    /// is about to) but not yet left, so it is awaited and a new run started after it — never
    /// joined, which would leave the tenant `Provisioning` with no run. A run started by
    /// someone else after that wait is joined. An offboarding run is left alone. Returns
    /// whether this call started a run.
    pub async fn provision_after_current(&self, tenant: &TenantId) -> bool {
        let (entry, started) = self.start(tenant, RunKind::Provision, Takeover::Any);
        match entry {
            Some(entry) if !started && entry.kind == RunKind::Provision => {
                let _ = wait_done(entry.done).await;
                self.start_provision(tenant)
            }
            _ => started,
        }
    }

    /// The running entry for `tenant`, or a new run of `kind`: never two at once.
    fn start(
        &self,
        tenant: &TenantId,
        kind: RunKind,
        takeover: Takeover,
    ) -> (Option<RunEntry>, bool) {
        let mut runs = lock(&self.runs);
        if let Some(existing) = runs.get(tenant) {
            return (Some(existing.clone()), false);
        }
        if self.closed.load(Ordering::SeqCst) {
            tracing::info!(%tenant, ?kind, "not starting a run while shutting down; it resumes at the next start");
            return (None, false);
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(None);
        let entry = RunEntry {
            kind,
            generation,
            done: rx,
        };
        runs.insert(tenant.clone(), entry.clone());
        drop(runs);

        let mut finish = Finish {
            runs: Arc::clone(&self.runs),
            tenant: tenant.clone(),
            generation,
            tx,
            outcome: None,
        };
        let provisioner = self.provisioner.clone();
        let closed = Arc::clone(&self.closed);
        let first_backoff = self.rerun_backoff;
        let tenant = tenant.clone();
        tokio::spawn(async move {
            let mut backoff = first_backoff;
            let mut rerun = 0;
            let mut takeover = takeover;
            let result = loop {
                let result = match (kind, takeover) {
                    (RunKind::Provision, Takeover::Any) => provisioner.provision(&tenant).await,
                    (RunKind::Provision, Takeover::Only(seen)) => {
                        provisioner.resume(&tenant, seen).await
                    }
                    (RunKind::Offboard, _) => provisioner.offboard(&tenant).await,
                };
                match &result {
                    // An error the retry layer gave up on is not retryable any more: the run
                    // is left in flight for the periodic check, not re-run on top of it.
                    Err(provisioner::Error::Port(e))
                        if e.is_retryable() && rerun < RERUNS && !closed.load(Ordering::SeqCst) =>
                    {
                        // Re-run only the run that just failed: note which run the record
                        // names now, so that a run another process starts during the pause
                        // (or an offboarding) is not taken over.
                        if kind == RunKind::Provision {
                            match provisioner.record(&tenant).await {
                                Ok(r)
                                    if matches!(
                                        r.status,
                                        TenantStatus::Requested | TenantStatus::Provisioning
                                    ) =>
                                {
                                    takeover = Takeover::Only(r.run_id);
                                }
                                _ => break result,
                            }
                        }
                        rerun += 1;
                        tracing::warn!(%tenant, ?kind, error = %e, rerun, "run stopped with a retryable error; running it again");
                        tokio::time::sleep(backoff).await;
                        backoff *= 2;
                    }
                    _ => break result,
                }
            };
            match &result {
                Ok(record) => {
                    tracing::info!(%tenant, ?kind, status = %record.status, "run finished")
                }
                Err(provisioner::Error::Superseded { .. }) => {
                    tracing::info!(%tenant, ?kind, "run superseded by a newer run")
                }
                Err(e) => {
                    tracing::warn!(%tenant, ?kind, error = %e, "run stopped with an error; the tenant stays in flight until a later reconcile")
                }
            }
            finish.set(result.map_err(Arc::new));
        });
        (Some(entry), true)
    }

    /// Waits at most `timeout` for the run of `tenant` (if any) to end. Returns `true` when no
    /// run is under way any more, `false` on timeout.
    pub async fn wait_for(&self, tenant: &TenantId, timeout: Duration) -> bool {
        let entry = lock(&self.runs).get(tenant).cloned();
        match entry {
            None => true,
            Some(entry) => tokio::time::timeout(timeout, wait_done(entry.done))
                .await
                .is_ok(),
        }
    }

    /// Offboards `tenant`; idempotent. Returns the tombstone, or `None` when offboarding did
    /// not end within `timeout` — it carries on in the background then.
    ///
    /// The tenant is moved to `Deprovisioning` before this returns, whatever the timeout:
    /// that supersedes a provisioning run (which stops at its next step and is awaited before
    /// cleanup starts). A concurrent offboarding is joined rather than duplicated.
    /// Errors: `tenant_not_found`; `illegal_transition` (an upgrading tenant); `unavailable`
    /// while the process shuts down.
    pub async fn offboard(
        self: &Arc<Self>,
        tenant: &TenantId,
        timeout: Duration,
    ) -> Result<Option<TenantRecord>, ApiError> {
        if self.closed.load(Ordering::SeqCst) {
            // Refuse before changing anything: a stopping process starts no offboarding.
            return Err(ApiError::Unavailable(
                "the control plane is shutting down; retry shortly".to_owned(),
            ));
        }
        self.provisioner
            .begin_offboarding(tenant)
            .await
            .map_err(|e| match e {
                provisioner::Error::Port(p) if p.kind() == ErrorKind::NotFound => {
                    ApiError::tenant_not_found(tenant.as_str())
                }
                other => other.into(),
            })?;
        let tracker = Arc::clone(self);
        let id = tenant.clone();
        let task = tokio::spawn(async move { tracker.offboard_to_the_end(&id).await });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result.map(Some),
            Ok(Err(died)) => Err(ApiError::Internal(format!(
                "the offboarding of tenant {tenant} stopped early: {died}"
            ))),
            Err(_) => Ok(None),
        }
    }

    /// Waits out a provisioning run of `tenant` (already superseded by `Deprovisioning`), then
    /// starts or joins the offboarding run and waits for its end.
    async fn offboard_to_the_end(&self, tenant: &TenantId) -> Result<TenantRecord, ApiError> {
        loop {
            let (entry, _) = self.start(tenant, RunKind::Offboard, Takeover::Any);
            let Some(entry) = entry else {
                return Err(ApiError::Unavailable(
                    "the control plane is shutting down; retry shortly".to_owned(),
                ));
            };
            match entry.kind {
                RunKind::Offboard => {
                    return match wait_done(entry.done).await {
                        Some(Ok(record)) => Ok(record),
                        Some(Err(e)) => Err(ApiError::from(e.as_ref())),
                        None => Err(ApiError::Internal(format!(
                            "the offboarding run of tenant {tenant} stopped early"
                        ))),
                    };
                }
                // It stops at its next step; then loop to start (or join) the offboarding run.
                RunKind::Provision => {
                    let _ = wait_done(entry.done).await;
                }
            }
        }
    }

    /// Resumes every tenant a previous process left in a non-terminal state (see
    /// [`RunTracker::reconcile`], with no lease: at start-up nothing of this process runs yet).
    pub async fn resume_in_flight(&self) -> Result<usize, provisioner::Error> {
        self.reconcile(Duration::ZERO).await
    }

    /// Starts a run for every in-flight tenant that has none in this process and whose last
    /// activity (record update or journal entry) is older than `lease`: `Requested` and
    /// `Provisioning` are provisioned (taking the run over under a fresh run id),
    /// `Deprovisioning` is offboarded. The lease keeps this from taking over a tenant that
    /// another process (the provisioner CLI, another control plane) is driving right now.
    /// Returns how many runs started.
    pub async fn reconcile(&self, lease: Duration) -> Result<usize, provisioner::Error> {
        let mut started = 0;
        for record in self.provisioner.in_flight().await? {
            let tenant = &record.id;
            if lock(&self.runs).contains_key(tenant) {
                continue;
            }
            if !matches!(
                record.status,
                TenantStatus::Requested | TenantStatus::Provisioning | TenantStatus::Deprovisioning
            ) {
                tracing::debug!(%tenant, status = %record.status, "no run resumes this state");
                continue;
            }
            if !lease.is_zero() {
                match self.quiet_for(tenant, lease).await {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(e) => {
                        tracing::warn!(%tenant, error = %e, "cannot tell whether the tenant's run is abandoned; skipping it this time");
                        continue;
                    }
                }
            }
            let began = match record.status {
                // Only the run this listing saw is taken over: a run another process started
                // since is not abandoned, and the takeover's version check settles races.
                TenantStatus::Requested | TenantStatus::Provisioning => {
                    self.resume_provision(tenant, record.run_id)
                }
                TenantStatus::Deprovisioning => self.start_offboard(tenant),
                _ => false,
            };
            if began {
                tracing::info!(%tenant, status = %record.status, "resumed an unfinished run");
                started += 1;
            }
        }
        Ok(started)
    }

    /// Whether neither the record nor the journal of `tenant` changed within `lease`.
    async fn quiet_for(
        &self,
        tenant: &TenantId,
        lease: Duration,
    ) -> Result<bool, provisioner::Error> {
        let report = self.provisioner.status(tenant, 1).await?;
        let last = report.journal.last().map_or(report.record.updated_at, |e| {
            e.at.max(report.record.updated_at)
        });
        let idle = OffsetDateTime::now_utc() - last;
        Ok(idle >= lease)
    }

    /// Every `interval` until the process stops: [`RunTracker::reconcile`] with `lease`, then
    /// destruction of the key material whose deletion window has ended. Failures are logged
    /// and tried again at the next tick.
    pub async fn reconcile_periodically(&self, interval: Duration, lease: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; start-up already resumed
        loop {
            ticks.tick().await;
            if self.closed.load(Ordering::SeqCst) {
                return;
            }
            self.housekeeping(lease).await;
        }
    }

    /// One pass of the periodic work; returns runs started and keys destroyed.
    pub async fn housekeeping(&self, lease: Duration) -> (usize, u32) {
        let started = self.reconcile(lease).await.unwrap_or_else(|e| {
            tracing::warn!(error = %e, "checking in-flight tenants failed; trying again later");
            0
        });
        let destroyed = self
            .provisioner
            .backend()
            .keys
            .destroy_due_keys()
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "destroying keys past their deletion window failed; trying again later");
                0
            });
        if destroyed > 0 {
            tracing::info!(destroyed, "destroyed key material past its deletion window");
        }
        (started, destroyed)
    }

    /// Stops new runs from starting and waits at most `grace` for the running ones. Returns
    /// how many were still running at the deadline (they resume at the next start).
    pub async fn drain(&self, grace: Duration) -> usize {
        self.closed.store(true, Ordering::SeqCst);
        let deadline = tokio::time::Instant::now() + grace;
        let running: Vec<RunEntry> = lock(&self.runs).values().cloned().collect();
        let mut unfinished = 0;
        for entry in running {
            if tokio::time::timeout_at(deadline, wait_done(entry.done))
                .await
                .is_err()
            {
                unfinished += 1;
            }
        }
        unfinished
    }
}

/// Waits for a run's end; `None` when its task died without an outcome.
async fn wait_done(mut done: Done) -> Option<RunOutcome> {
    match done.wait_for(Option::is_some).await {
        Ok(outcome) => outcome.clone(),
        Err(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use provisioner::{NewTenant, Settings};
    use tenancy::{OwnerEmail, TenantName, Tier};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_arriving_while_the_previous_run_is_still_leaving_starts_a_new_run() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            key_deletion_window_days: provisioner::config::Bounded::must(0),
            ..Settings::default()
        };
        let provisioner = Provisioner::new(tenancy::open(&settings).await.unwrap(), settings);
        let id = TenantId::parse("late-retry").unwrap();
        provisioner
            .request(NewTenant {
                id: id.clone(),
                name: TenantName::parse("Late retry").unwrap(),
                owner_email: OwnerEmail::parse("ops@example.com").unwrap(),
                tier: Tier::Standard,
                allowed_origins: Vec::new(),
                request: None,
            })
            .await
            .unwrap();
        let tracker = RunTracker::new(provisioner.clone());
        // A run that has written its end but whose entry has not left the table yet.
        let (tx, rx) = watch::channel(None);
        lock(&tracker.runs).insert(
            id.clone(),
            RunEntry {
                kind: RunKind::Provision,
                generation: 0,
                done: rx,
            },
        );
        let retry = tracker.provision_after_current(&id);
        tokio::pin!(retry);
        // Polled once: it must find the leaving run and wait for it, not join it.
        tokio::select! {
            biased;
            started = &mut retry => panic!("returned {started} without waiting for the leaving run"),
            () = std::future::ready(()) => {}
        }
        // The old run leaves, as `Finish` does it: entry first, then its outcome.
        lock(&tracker.runs).remove(&id);
        let ended = provisioner::Error::Config("the previous run's outcome".to_owned());
        tx.send_replace(Some(Err(Arc::new(ended))));

        assert!(retry.await, "a new run started after the old one left");
        assert!(tracker.wait_for(&id, Duration::from_secs(60)).await);
        let record = provisioner.record(&id).await.unwrap();
        assert_eq!(record.status, TenantStatus::Active, "{record:?}");
    }
}
