//! Runs the outbox processor over tenants — its fold [`step`](super::process::step), then
//! the publication of waiting domain events ([`publish_step`]) — at once for the tenants this
//! process just stored events or content changes for ([`Outbox::mark`]), and in a periodic
//! sweep over every serving tenant in the registry, which picks up what other processes (or a
//! process killed before its step) left behind. Each fold step is one transaction, so
//! stopping anywhere — a shutdown, a kill — loses and doubles nothing; a domain event is
//! removed only once the sink took it, so stopping anywhere loses none of them (and may
//! publish one twice, under its one id).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tenancy::backend::Backend;
use tenancy::ports::{ItemStore, Query, TenantFilter};
use tenancy::{ResourceNames, TenantId, TenantStatus};
use tokio::sync::Notify;

use super::ingest::OUTBOX_SHARDS;

/// Tenants whose outboxes are folded at once. Each tenant's tables live apart (its own file
/// on the embedded backend, its own partitions on DynamoDB), so their commits — one durable
/// write each, milliseconds on a disk — proceed side by side instead of one after another.
const DRAINS_AT_ONCE: usize = 16;
use super::domain::{self, publish_step};
use super::process::{MAX_EVENTS_PER_STEP, step};
use crate::metrics::DataPlaneMetrics;

/// Tenants with outbox records to fold, and the signal that there are some.
#[derive(Default)]
pub struct Outbox {
    pending: Mutex<HashMap<TenantId, ResourceNames>>,
    notify: Notify,
}

impl Outbox {
    /// Notes that `tenant` has new outbox records (events to fold, or domain events to
    /// publish).
    pub fn mark(&self, tenant: &TenantId, names: &ResourceNames) {
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(tenant.clone(), names.clone());
        self.notify.notify_one();
    }

    fn take(&self) -> HashMap<TenantId, ResourceNames> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// What draining outboxes did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Event records folded into aggregates.
    pub folded: usize,
    /// Domain events published to the event sink (and removed from the outbox).
    pub published: usize,
}

impl std::ops::AddAssign for Drained {
    fn add_assign(&mut self, other: Drained) {
        self.folded += other.folded;
        self.published += other.published;
    }
}

impl Drained {
    fn count(self, metrics: &DataPlaneMetrics) {
        metrics.outbox_folded.inc_by(self.folded as u64);
        metrics.outbox_published.inc_by(self.published as u64);
    }
}

/// Folds every event record of `tenant`'s outbox, then publishes its waiting domain events
/// (through `backend`'s item store and event sink); says how many of each.
///
/// Errors: the first failure of either; a sink that refuses leaves the refused domain events
/// in the outbox, after the folding is done.
pub async fn drain(
    backend: &Backend,
    tenant: &TenantId,
    names: &ResourceNames,
) -> tenancy::Result<Drained> {
    let items = backend.items.as_ref();
    let mut drained = Drained::default();
    for shard in 0..OUTBOX_SHARDS {
        loop {
            let n = step(
                items,
                &names.events_table,
                &names.app_table,
                shard,
                MAX_EVENTS_PER_STEP,
            )
            .await?;
            drained.folded += n;
            if n == 0 {
                break;
            }
        }
    }
    let sink = backend.event_sink.as_ref();
    loop {
        let n = publish_step(
            items,
            sink,
            tenant,
            &names.events_table,
            domain::MAX_PER_STEP,
        )
        .await?;
        drained.published += n;
        if n == 0 {
            return Ok(drained);
        }
    }
}

/// Drains the outbox of every serving tenant in the registry; says how many records.
pub async fn sweep(backend: &Backend) -> tenancy::Result<Drained> {
    sweep_measured(backend, &DataPlaneMetrics::default()).await
}

/// [`sweep`], recording the records drained and the age of the oldest record found.
async fn sweep_measured(backend: &Backend, metrics: &DataPlaneMetrics) -> tenancy::Result<Drained> {
    let (registry, items) = (backend.registry.as_ref(), backend.items.as_ref());
    let now = time::OffsetDateTime::now_utc();
    let mut oldest = Duration::ZERO;
    let mut total = Drained::default();
    let mut filter = TenantFilter {
        limit: tenancy::ports::registry::MAX_LIMIT,
        ..TenantFilter::default()
    };
    loop {
        let page = registry.list_tenants(&filter).await?;
        let folded: Vec<_> = page
            .tenants
            .iter()
            .filter(|tenant| {
                matches!(
                    tenant.status,
                    TenantStatus::Active | TenantStatus::Upgrading | TenantStatus::Suspended
                )
            })
            .map(|t| (&t.id, &t.resources))
            .collect();
        for (_, names) in &folded {
            if let Some(age) = oldest_record(items, names, now).await {
                oldest = oldest.max(age);
            }
        }
        let n = drain_all(backend, folded).await;
        n.count(metrics);
        total += n;
        match page.next {
            Some(next) => filter.after = Some(next),
            None => {
                metrics.outbox_lag_seconds.set(oldest.as_secs_f64());
                return Ok(total);
            }
        }
    }
}

/// [`drain_logged`] for each of `tenants`, [`DRAINS_AT_ONCE`] at a time, concurrently on the
/// calling task; says how many records.
async fn drain_all<'a>(
    backend: &Backend,
    tenants: impl IntoIterator<Item = (&'a TenantId, &'a ResourceNames)>,
) -> Drained {
    let tenants: Vec<_> = tenants.into_iter().collect();
    let mut total = Drained::default();
    for group in tenants.chunks(DRAINS_AT_ONCE) {
        let drains = group
            .iter()
            .map(|(tenant, names)| drain_logged(backend, tenant, names));
        for n in futures_util::future::join_all(drains).await {
            total += n;
        }
    }
    total
}

/// How long ago the oldest outbox record of a tenant was written (records sort by their event
/// time within a shard, and domain events by their change's); `None` when its outbox is empty
/// or cannot be read.
async fn oldest_record(
    items: &dyn ItemStore,
    names: &ResourceNames,
    now: time::OffsetDateTime,
) -> Option<Duration> {
    let mut oldest: Option<Duration> = None;
    let partitions = (0..OUTBOX_SHARDS)
        .map(tenancy::table_plan::keys::outbox)
        .chain([tenancy::table_plan::keys::DOMAIN_OUTBOX.to_owned()]);
    for pk in partitions {
        let query = Query {
            pk,
            limit: 1,
            ..Query::default()
        };
        let page = items.query(&names.events_table, &query).await.ok()?;
        let at = page
            .items
            .first()
            .and_then(|item| item.key.sk.split('#').next()?.parse::<i128>().ok())
            .and_then(|nanos| time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok());
        if let Some(at) = at {
            let age = Duration::try_from(now - at).unwrap_or(Duration::ZERO);
            oldest = Some(oldest.map_or(age, |o| o.max(age)));
        }
    }
    oldest
}

/// [`drain`], with a failure logged: one tenant's trouble must not stop the others'.
async fn drain_logged(backend: &Backend, tenant: &TenantId, names: &ResourceNames) -> Drained {
    match drain(backend, tenant, names).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, error = %e, "draining the outbox failed; retried later");
            Drained::default()
        }
    }
}

/// Runs until cancelled: marked tenants at once (or within `poll`), every tenant every
/// `sweep_every`.
pub async fn run(
    outbox: &Outbox,
    backend: &Backend,
    poll: Duration,
    sweep_every: Duration,
    metrics: &DataPlaneMetrics,
) {
    let mut last_sweep: Option<Instant> = None;
    loop {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            if let Err(e) = sweep_measured(backend, metrics).await {
                tracing::warn!(error = %e, "outbox sweep could not list tenants; retried later");
            }
            last_sweep = Some(Instant::now());
        }
        drain_all(backend, &outbox.take()).await.count(metrics);
        let _ = tokio::time::timeout(poll, outbox.notify.notified()).await;
    }
}
