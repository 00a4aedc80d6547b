//! Background provisioning and offboarding runs of this process: the run table.
//!
//! Used by the control plane (runs started by its routes, resumed at start-up, drained on
//! stop) and by `provisioner reconcile`; it knows nothing of HTTP. Which in-flight tenants get
//! a run, and the periodic key housekeeping, are in [`crate::reconcile`].
//!
//! Contract:
//! - at most one run per tenant at a time; asking for a run while one is under way joins it,
//!   except [`RunTracker::provision_after_current`], which lets a finishing run end first;
//! - offboarding supersedes provisioning: the tenant is moved to `Deprovisioning` (which makes
//!   the provisioning run stop at its next step), the provisioning task is awaited, and only
//!   then does the offboarding run start — so cleanup never races a step that creates;
//! - a run is never re-run here: the retry layer around the ports has retried every call, and
//!   a run stopped by an error is left in flight for [`RunTracker::reconcile`];
//! - waiting never polls: every run publishes its end on a `watch` channel;
//! - a run's entry leaves the table *before* its end is published, so whoever wakes up sees
//!   the tenant free;
//! - [`RunTracker::reconcile`] (at start-up, then periodically; see [`crate::reconcile`])
//!   starts runs for in-flight tenants that have none in this process and whose journal has
//!   been quiet for a lease;
//! - on shutdown, [`RunTracker::drain`] lets runs finish for a grace period; whatever is left is
//!   journaled and resumed at the next start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use tenancy::{ErrorKind, TenantId, TenantRecord};
use tokio::sync::watch;
use uuid::Uuid;

use crate::error::Error;
use crate::runner::Provisioner;

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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    /// Drive `Requested`/`Provisioning` to `Active` or `Failed`.
    Provision,
    /// Drive the tenant to `Deleted`.
    Offboard,
}

impl std::fmt::Display for RunKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RunKind::Provision => "provisioning",
            RunKind::Offboard => "offboarding",
        })
    }
}

/// How a run ended. Shared by every waiter, hence the `Arc`.
pub type RunOutcome = Result<TenantRecord, Arc<Error>>;

/// Why [`RunTracker::offboard`] returned no tombstone. The control plane maps each variant to
/// HTTP in one place (`control-plane/src/error.rs`).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No tenant has this id.
    #[error("no tenant with id '{0}'")]
    TenantNotFound(TenantId),
    /// The tracker is draining (the process is stopping), so no run starts; nothing was
    /// changed unless the tenant had already been moved to `Deprovisioning`, and the next
    /// start (or reconcile) carries on from there.
    #[error("this process is shutting down and starts no more runs")]
    ShuttingDown,
    /// The run's task stopped without an outcome (it panicked or was cancelled); the tenant
    /// stays in flight for a later reconcile.
    #[error("the {kind} of tenant {tenant} stopped early: {cause}")]
    Stopped {
        tenant: TenantId,
        kind: RunKind,
        cause: String,
    },
    /// Beginning the run, or the run itself, failed. Shared with every waiter of that run,
    /// hence the `Arc`.
    #[error(transparent)]
    Failed(Arc<Error>),
}

/// `None` while running; the outcome once finished. A sender dropped without an outcome means
/// the task died (panicked or was cancelled).
type Done = watch::Receiver<Option<RunOutcome>>;

/// A run in the table; its end can be awaited even after it left the table.
#[derive(Clone)]
pub(crate) struct RunEntry {
    kind: RunKind,
    generation: u64,
    done: Done,
}

impl RunEntry {
    pub(crate) fn kind(&self) -> RunKind {
        self.kind
    }

    /// Waits for the run's end; `None` when its task died without an outcome.
    pub(crate) async fn outcome(self) -> Option<RunOutcome> {
        wait_done(self.done).await
    }
}

type RunTable = Arc<Mutex<HashMap<TenantId, RunEntry>>>;

pub struct RunTracker {
    provisioner: Provisioner,
    runs: RunTable,
    generation: AtomicU64,
    /// Set by `drain`: no new run starts once the process is stopping.
    closed: Arc<AtomicBool>,
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
        }
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
    /// as superseded. Returns the new run, if one started.
    pub(crate) fn resume_provision(
        &self,
        tenant: &TenantId,
        seen: Option<Uuid>,
    ) -> Option<RunEntry> {
        self.start_new(tenant, RunKind::Provision, Takeover::Only(seen))
    }

    /// Starts offboarding `tenant` in the background without superseding anything: used for
    /// tenants already in `Deprovisioning`. Returns whether a new run started.
    pub fn start_offboard(&self, tenant: &TenantId) -> bool {
        self.resume_offboard(tenant).is_some()
    }

    /// [`RunTracker::start_offboard`], returning the new run, if one started.
    pub(crate) fn resume_offboard(&self, tenant: &TenantId) -> Option<RunEntry> {
        self.start_new(tenant, RunKind::Offboard, Takeover::Any)
    }

    /// The provisioner the runs drive.
    pub fn provisioner(&self) -> &Provisioner {
        &self.provisioner
    }

    /// Whether a run of `tenant` is under way in this process.
    pub fn is_running(&self, tenant: &TenantId) -> bool {
        lock(&self.runs).contains_key(tenant)
    }

    /// Whether [`RunTracker::drain`] was called: no run starts any more.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// A new run of `kind`, or `None` when one of either kind is under way (or the tracker is
    /// closed).
    fn start_new(&self, tenant: &TenantId, kind: RunKind, takeover: Takeover) -> Option<RunEntry> {
        match self.start(tenant, kind, takeover) {
            (Some(entry), true) => Some(entry),
            _ => None,
        }
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
        let tenant = tenant.clone();
        tokio::spawn(async move {
            // No re-run here: the retry layer around the ports has retried every call already,
            // and a run it stopped is left in flight for the periodic check to take over.
            let result = match (kind, takeover) {
                (RunKind::Provision, Takeover::Any) => provisioner.provision(&tenant).await,
                (RunKind::Provision, Takeover::Only(seen)) => {
                    provisioner.resume(&tenant, seen).await
                }
                (RunKind::Offboard, _) => provisioner.offboard(&tenant).await,
            };
            match &result {
                Ok(record) => {
                    tracing::info!(%tenant, ?kind, status = %record.status, "run finished")
                }
                Err(Error::Superseded { .. }) => {
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
    /// Errors: [`RunError::TenantNotFound`]; [`RunError::Failed`] with
    /// [`Error::IllegalTransition`] (an upgrading tenant) or whatever else stopped the run;
    /// [`RunError::ShuttingDown`] while the process shuts down.
    pub async fn offboard(
        self: &Arc<Self>,
        tenant: &TenantId,
        timeout: Duration,
    ) -> Result<Option<TenantRecord>, RunError> {
        if self.is_closed() {
            // Refuse before changing anything: a stopping process starts no offboarding.
            return Err(RunError::ShuttingDown);
        }
        self.provisioner
            .begin_offboarding(tenant)
            .await
            .map_err(|e| match e {
                Error::Port(p) if p.kind() == ErrorKind::NotFound => {
                    RunError::TenantNotFound(tenant.clone())
                }
                other => RunError::Failed(Arc::new(other)),
            })?;
        let tracker = Arc::clone(self);
        let id = tenant.clone();
        let task = tokio::spawn(async move { tracker.offboard_to_the_end(&id).await });
        match tokio::time::timeout(timeout, task).await {
            Ok(Ok(result)) => result.map(Some),
            Ok(Err(died)) => Err(RunError::Stopped {
                tenant: tenant.clone(),
                kind: RunKind::Offboard,
                cause: died.to_string(),
            }),
            Err(_) => Ok(None),
        }
    }

    /// Waits out a provisioning run of `tenant` (already superseded by `Deprovisioning`), then
    /// starts or joins the offboarding run and waits for its end.
    async fn offboard_to_the_end(&self, tenant: &TenantId) -> Result<TenantRecord, RunError> {
        loop {
            let (entry, _) = self.start(tenant, RunKind::Offboard, Takeover::Any);
            let Some(entry) = entry else {
                return Err(RunError::ShuttingDown);
            };
            match entry.kind {
                RunKind::Offboard => {
                    return match wait_done(entry.done).await {
                        Some(Ok(record)) => Ok(record),
                        Some(Err(e)) => Err(RunError::Failed(e)),
                        None => Err(RunError::Stopped {
                            tenant: tenant.clone(),
                            kind: RunKind::Offboard,
                            cause: "its task ended without an outcome".to_owned(),
                        }),
                    };
                }
                // It stops at its next step; then loop to start (or join) the offboarding run.
                RunKind::Provision => {
                    let _ = wait_done(entry.done).await;
                }
            }
        }
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
    use tenancy::{OwnerEmail, TenantName, Tier};

    use super::*;
    use crate::config::{Bounded, Settings};
    use crate::runner::NewTenant;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_retry_arriving_while_the_previous_run_is_still_leaving_starts_a_new_run() {
        let dir = tempfile::tempdir().unwrap();
        let settings = Settings {
            data_dir: dir.path().join("data"),
            key_deletion_window_days: Bounded::must(0),
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
        let ended = Error::Config("the previous run's outcome".to_owned());
        tx.send_replace(Some(Err(Arc::new(ended))));

        assert!(retry.await, "a new run started after the old one left");
        assert!(tracker.wait_for(&id, Duration::from_secs(60)).await);
        let record = provisioner.record(&id).await.unwrap();
        assert_eq!(record.status, tenancy::TenantStatus::Active, "{record:?}");
    }
}
