//! Background provisioning and offboarding runs of this process.
//!
//! Contract:
//! - at most one run per tenant at a time; asking for a run while one is under way joins it;
//! - offboarding supersedes provisioning: the tenant is moved to `Deprovisioning` (which makes
//!   the provisioning run stop at its next step), the provisioning task is awaited, and only
//!   then does the offboarding run start — so cleanup never races a step that creates;
//! - waiting never polls: every run publishes its end on a `watch` channel;
//! - a run's entry leaves the table *before* its end is published, so whoever wakes up sees
//!   the tenant free;
//! - on shutdown, [`RunTracker::drain`] lets runs finish for a grace period; whatever is left is
//!   journaled and resumed by [`RunTracker::resume_in_flight`] at the next start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use provisioner::Provisioner;
use tenancy::{ErrorKind, TenantId, TenantRecord, TenantStatus, Transition};
use tokio::sync::watch;

use crate::error::ApiError;

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

/// How often the offboarding of a tenant retries its supersede transition when it raced with a
/// write of the provisioning run.
const SUPERSEDE_ATTEMPTS: usize = 5;

pub struct RunTracker {
    provisioner: Provisioner,
    runs: RunTable,
    generation: AtomicU64,
    /// Set by `drain`: no new run starts once the process is stopping.
    closed: AtomicBool,
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
            closed: AtomicBool::new(false),
        }
    }

    /// The kind of run under way for `tenant`, if any.
    pub fn running(&self, tenant: &TenantId) -> Option<RunKind> {
        lock(&self.runs).get(tenant).map(|e| e.kind)
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
        self.start(tenant, RunKind::Provision).1
    }

    /// Starts offboarding `tenant` in the background without superseding anything: used at
    /// start-up for tenants already in `Deprovisioning`. Returns whether a new run started.
    pub fn start_offboard(&self, tenant: &TenantId) -> bool {
        self.start(tenant, RunKind::Offboard).1
    }

    /// The running entry for `tenant`, or a new run of `kind`: never two at once.
    fn start(&self, tenant: &TenantId, kind: RunKind) -> (Option<RunEntry>, bool) {
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
            let result = match kind {
                RunKind::Provision => provisioner.provision(&tenant).await,
                RunKind::Offboard => provisioner.offboard(&tenant).await,
            };
            match &result {
                Ok(record) => {
                    tracing::info!(%tenant, ?kind, status = %record.status, "run finished")
                }
                Err(provisioner::Error::Superseded { .. }) => {
                    tracing::info!(%tenant, ?kind, "run superseded by a newer run")
                }
                Err(e) => tracing::warn!(%tenant, ?kind, error = %e, "run stopped with an error"),
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

    /// Offboards `tenant` and waits for it to be `Deleted`; idempotent.
    ///
    /// A provisioning run of this tenant in this process is superseded first (the tenant moves
    /// to `Deprovisioning`, the run stops at its next step) and awaited; a concurrent
    /// offboarding is joined rather than duplicated.
    pub async fn offboard(&self, tenant: &TenantId) -> Result<TenantRecord, ApiError> {
        loop {
            let (entry, _) = self.start(tenant, RunKind::Offboard);
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
                RunKind::Provision => {
                    self.supersede_provisioning(tenant).await?;
                    // Whatever the provisioning run did, it has stopped; loop to start (or
                    // join) the offboarding run.
                    let _ = wait_done(entry.done).await;
                }
            }
        }
    }

    /// Moves `tenant` to `Deprovisioning` so its provisioning run stops. A tenant already past
    /// that point (deprovisioning, deleted) needs nothing; a write that raced with the run is
    /// retried on the re-read record.
    async fn supersede_provisioning(&self, tenant: &TenantId) -> Result<(), ApiError> {
        for _ in 0..SUPERSEDE_ATTEMPTS {
            let result = self
                .provisioner
                .transition(
                    tenant,
                    Transition::BeginOffboarding,
                    "offboarding requested; supersedes the provisioning run",
                )
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(provisioner::Error::IllegalTransition(t))
                    if matches!(t.from, TenantStatus::Deprovisioning | TenantStatus::Deleted) =>
                {
                    return Ok(());
                }
                Err(provisioner::Error::Port(e)) if e.kind() == ErrorKind::ConditionFailed => {
                    continue;
                }
                Err(provisioner::Error::Port(e)) if e.kind() == ErrorKind::NotFound => {
                    return Err(ApiError::tenant_not_found(tenant.as_str()));
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ApiError::conflict(
            "concurrent_update",
            format!(
                "tenant {tenant} kept changing while offboarding was requested; retry the request"
            ),
        ))
    }

    /// Resumes every tenant a previous process left in a non-terminal state: `Requested` and
    /// `Provisioning` are provisioned, `Deprovisioning` is offboarded. Returns how many runs
    /// started.
    pub async fn resume_in_flight(&self) -> Result<usize, provisioner::Error> {
        let mut started = 0;
        for record in self.provisioner.in_flight().await? {
            let tenant = &record.id;
            let began = match record.status {
                TenantStatus::Requested | TenantStatus::Provisioning => {
                    self.start_provision(tenant)
                }
                TenantStatus::Deprovisioning => self.start_offboard(tenant),
                other => {
                    tracing::warn!(%tenant, status = %other, "no run resumes this state; leaving it as it is");
                    false
                }
            };
            if began {
                tracing::info!(%tenant, status = %record.status, "resumed an unfinished run");
                started += 1;
            }
        }
        Ok(started)
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
