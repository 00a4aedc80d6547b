//! Runs the outbox processor's [`step`](super::process::step) over tenants: at once for the
//! tenants this process just stored events for ([`Outbox::mark`]), and in a periodic sweep
//! over every serving tenant in the registry, which picks up what other processes (or a
//! process killed before its step) left behind. Each step is one transaction, so stopping
//! anywhere — a shutdown, a kill — loses and doubles nothing.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::Poll;
use std::time::{Duration, Instant};

use tenancy::ports::{ItemStore, Registry, TenantFilter};
use tenancy::{ResourceNames, TenantId, TenantStatus};
use tokio::sync::Notify;

use super::ingest::OUTBOX_SHARDS;
use super::process::{MAX_EVENTS_PER_STEP, step};

/// Tenants whose outboxes are folded at once. Each tenant's tables live apart (its own file
/// on the embedded backend, its own partitions on DynamoDB), so their commits — one durable
/// write each, milliseconds on a disk — proceed side by side instead of one after another.
const DRAINS_AT_ONCE: usize = 16;

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
    let mut total = 0;
    let mut filter = TenantFilter {
        limit: tenancy::ports::registry::MAX_LIMIT,
        ..TenantFilter::default()
    };
    loop {
        let page = registry.list_tenants(&filter).await?;
        let folded = page.tenants.iter().filter(|tenant| {
            matches!(
                tenant.status,
                TenantStatus::Active | TenantStatus::Upgrading | TenantStatus::Suspended
            )
        });
        total += drain_all(items, folded.map(|t| (&t.id, &t.resources))).await;
        match page.next {
            Some(next) => filter.after = Some(next),
            None => return Ok(total),
        }
    }
}

/// [`drain_logged`] for each of `tenants`, [`DRAINS_AT_ONCE`] at a time; says how many records.
async fn drain_all<'a>(
    items: &dyn ItemStore,
    tenants: impl IntoIterator<Item = (&'a TenantId, &'a ResourceNames)>,
) -> usize {
    let tenants: Vec<_> = tenants.into_iter().collect();
    let mut total = 0;
    for group in tenants.chunks(DRAINS_AT_ONCE) {
        let drains = group
            .iter()
            .map(|(tenant, names)| Box::pin(drain_logged(items, tenant, names)))
            .collect();
        total += join_all(drains).await.into_iter().sum::<usize>();
    }
    total
}

/// Runs `futures` concurrently on the calling task; their outputs, in order.
async fn join_all<F: Future + ?Sized>(futures: Vec<Pin<Box<F>>>) -> Vec<F::Output> {
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    let mut futures = futures;
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(&mut outputs) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(out) => *output = Some(out),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().flatten().collect()
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
) {
    let mut last_sweep: Option<Instant> = None;
    loop {
        if last_sweep.is_none_or(|at| at.elapsed() >= sweep_every) {
            if let Err(e) = sweep(registry, items).await {
                tracing::warn!(error = %e, "outbox sweep could not list tenants; retried later");
            }
            last_sweep = Some(Instant::now());
        }
        drain_all(items, &outbox.take()).await;
        let _ = tokio::time::timeout(poll, outbox.notify.notified()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn join_all_runs_its_futures_side_by_side_and_keeps_their_order() {
        let (tx, rx) = tokio::sync::oneshot::channel::<u32>();
        let waits: Pin<Box<dyn Future<Output = u32>>> =
            Box::pin(async move { rx.await.unwrap() + 1 });
        let sends: Pin<Box<dyn Future<Output = u32>>> = Box::pin(async move {
            tx.send(41).unwrap();
            7
        });
        // The first cannot finish before the second has run: run one after the other, it
        // would wait forever.
        let out = tokio::time::timeout(Duration::from_secs(5), join_all(vec![waits, sends]))
            .await
            .unwrap();
        assert_eq!(out, vec![42, 7]);
    }
}
