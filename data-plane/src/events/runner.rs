//! Runs the outbox processor's [`step`](super::process::step) over tenants: at once for the
//! tenants this process just stored events for ([`Outbox::mark`]), and in a periodic sweep
//! over every serving tenant in the registry, which picks up what other processes (or a
//! process killed before its step) left behind. Each step is one transaction, so stopping
//! anywhere — a shutdown, a kill — loses and doubles nothing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tenancy::ports::{ItemStore, Query, Registry, TenantFilter};
use tenancy::{ResourceNames, TenantId, TenantStatus};
use tokio::sync::Notify;

use super::ingest::OUTBOX_SHARDS;

/// Tenants whose outboxes are folded at once. Each tenant's tables live apart (its own file
/// on the embedded backend, its own partitions on DynamoDB), so their commits — one durable
/// write each, milliseconds on a disk — proceed side by side instead of one after another.
const DRAINS_AT_ONCE: usize = 16;
use super::process::{MAX_EVENTS_PER_STEP, step};
use crate::metrics::DataPlaneMetrics;

/// Tenants with outbox records to fold, and the signal that there are some.
#[derive(Default)]
pub struct Outbox {
    pending: Mutex<HashMap<TenantId, ResourceNames>>,
    notify: Notify,
}

impl Outbox {
    /// Notes that `tenant` has new outbox records.
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

/// Folds every outbox record of one tenant; says how many.
pub async fn drain(items: &dyn ItemStore, names: &ResourceNames) -> tenancy::Result<usize> {
    let mut total = 0;
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
            total += n;
            if n == 0 {
                break;
            }
        }
    }
    Ok(total)
}

/// Folds the outbox of every serving tenant in the registry; says how many records.
pub async fn sweep(registry: &dyn Registry, items: &dyn ItemStore) -> tenancy::Result<usize> {
    sweep_measured(registry, items, &DataPlaneMetrics::default()).await
}

/// [`sweep`], recording the records folded and the age of the oldest record found.
async fn sweep_measured(
    registry: &dyn Registry,
    items: &dyn ItemStore,
    metrics: &DataPlaneMetrics,
) -> tenancy::Result<usize> {
    let now = time::OffsetDateTime::now_utc();
    let mut oldest = Duration::ZERO;
    let mut total = 0;
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
        let n = drain_all(items, folded).await;
        metrics.outbox_folded.inc_by(n as u64);
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
    items: &dyn ItemStore,
    tenants: impl IntoIterator<Item = (&'a TenantId, &'a ResourceNames)>,
) -> usize {
    let tenants: Vec<_> = tenants.into_iter().collect();
    let mut total = 0;
    for group in tenants.chunks(DRAINS_AT_ONCE) {
        let drains = group
            .iter()
            .map(|(tenant, names)| drain_logged(items, tenant, names));
        total += futures_util::future::join_all(drains)
            .await
            .into_iter()
            .sum::<usize>();
    }
    total
}

/// How long ago the oldest outbox record of a tenant was written (records sort by their event
/// time within a shard); `None` when its outbox is empty or cannot be read.
async fn oldest_record(
    items: &dyn ItemStore,
    names: &ResourceNames,
    now: time::OffsetDateTime,
) -> Option<Duration> {
    let mut oldest: Option<Duration> = None;
    for shard in 0..OUTBOX_SHARDS {
        let query = Query {
            pk: tenancy::table_plan::keys::outbox(shard),
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
async fn drain_logged(items: &dyn ItemStore, tenant: &TenantId, names: &ResourceNames) -> usize {
    match drain(items, names).await {
        Ok(n) => n,
        Err(e) => {
            tracing::warn!(tenant_id = %tenant, error = %e, "folding the outbox failed; retried later");
            0
        }
    }
}

/// Runs until cancelled: marked tenants at once (or within `poll`), every tenant every
/// `sweep_every`.
pub async fn run(
    outbox: &Outbox,
    registry: &dyn Registry,
    items: &dyn ItemStore,
    poll: Duration,
    sweep_every: Duration,
    metrics: &DataPlaneMetrics,
) {
    let mut last_sweep: Option<Instant> = None;
    loop {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            if let Err(e) = sweep_measured(registry, items, metrics).await {
                tracing::warn!(error = %e, "outbox sweep could not list tenants; retried later");
            }
            last_sweep = Some(Instant::now());
        }
        let n = drain_all(items, &outbox.take()).await;
        metrics.outbox_folded.inc_by(n as u64);
        let _ = tokio::time::timeout(poll, outbox.notify.notified()).await;
    }
}
