//! Content domain events through the outbox: a content change (created, published,
//! archived) writes its [`ContentEvent`] into the tenant's events table, in the very
//! transaction that makes the change ([`ContentEvent::outbox_put`]; `content::store`), and
//! [`publish_step`] later publishes what is waiting there to the event sink and removes it.
//!
//! So a change committed is an event that will be published, however the process stops: a
//! crash after the commit leaves the record in the outbox for the next processor, a sink that
//! refuses or cannot be reached leaves it there too (the step says why, and the next pass
//! tries again), and a change that fails writes no event. Delivery is at least once: records
//! are removed only after the sink took them, so a processor stopped between the two, or two
//! processors on one outbox, publish an event twice — under the same [`ContentEvent::event_id`],
//! consumers' idempotency key. Domain events do not touch the aggregates: their records live
//! in a partition of their own (`OUTBOX#DOMAIN`), which the fold never reads.
//!
//! What a consumer gets (EventBridge `Source` `spotlight.content`, `DetailType`
//! `content.created`, `content.published` or `content.archived`; detail as the sink port
//! lays it out, `data` being):
//!
//! ```json
//! {"content_id": "c_…", "change": "published", "version": 2, "revision": 5}
//! ```
//!
//! `version` is the published version the change is about (the new one for `published`, the
//! last one live for `archived`, `null` before any); `revision` is the draft's revision after
//! the change, which orders one content item's events (the sink keeps no order).

use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenancy::ports::item_store::MAX_BATCH_WRITE;
use tenancy::ports::{
    Condition, DetailType, DomainEvent, EventSink, EventSource, Item, ItemKey, ItemStore, Query,
    WriteOp,
};
use tenancy::table_plan::keys;
use tenancy::{Error, TenantId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::content::model::ContentId;

/// The `Source` of content domain events.
pub const SOURCE: &str = "spotlight.content";

/// Records one [`publish_step`] takes at most.
pub const MAX_PER_STEP: usize = 100;

/// What happened to a content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContentChange {
    Created,
    Published,
    Archived,
}

impl ContentChange {
    /// The event's detail type: `content.{change}`.
    pub fn detail_type(self) -> &'static str {
        match self {
            ContentChange::Created => "content.created",
            ContentChange::Published => "content.published",
            ContentChange::Archived => "content.archived",
        }
    }
}

/// One content change, as its outbox record holds it until it is published.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContentEvent {
    /// New for every change: the idempotency key of its every publication.
    pub event_id: Uuid,
    pub tenant: TenantId,
    pub content_id: ContentId,
    pub change: ContentChange,
    /// The published version the change is about; `None` before the first publish.
    pub version: Option<u32>,
    /// The draft's revision after the change.
    pub revision: u64,
    /// When the change was made (the draft's `updated_at`).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

impl ContentEvent {
    pub fn new(
        tenant: &TenantId,
        content_id: &ContentId,
        change: ContentChange,
        version: Option<u32>,
        revision: u64,
        at: OffsetDateTime,
    ) -> Self {
        ContentEvent {
            event_id: Uuid::now_v7(),
            tenant: tenant.clone(),
            content_id: content_id.clone(),
            change,
            version,
            revision,
            at,
        }
    }

    /// The write that puts this event into the outbox of `events_table`: one op of the
    /// change's own transaction.
    pub fn outbox_put(&self, events_table: &str) -> Result<WriteOp, Error> {
        let key = ItemKey::new(
            keys::DOMAIN_OUTBOX,
            keys::domain_outbox_sk(self.at.unix_timestamp_nanos(), &self.event_id.to_string()),
        );
        let mut item = Item::new(key);
        item.attrs = match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::invalid("a content event serialises to an object")),
        };
        Ok(WriteOp::Put {
            table: events_table.to_owned(),
            item,
            condition: Condition::NotExists,
        })
    }

    /// The event as the sink publishes it.
    pub fn to_domain(&self) -> DomainEvent {
        let data = serde_json::json!({
            "content_id": self.content_id,
            "change": self.change,
            "version": self.version,
            "revision": self.revision,
        });
        DomainEvent {
            id: self.event_id,
            tenant: self.tenant.clone(),
            source: EventSource::parse(SOURCE).expect("the content source is valid"),
            detail_type: DetailType::parse(self.change.detail_type())
                .expect("content detail types are valid"),
            at: self.at,
            data: match data {
                Value::Object(map) => map,
                _ => unreachable!("json! of an object literal is an object"),
            },
        }
    }
}

/// Publishes up to `limit` of the domain events waiting in `tenant`'s outbox (in
/// `events_table`), oldest first, and removes those the sink took; says how many it published
/// (0: none were waiting).
///
/// Errors: the sink's, when it took none of them or refused some (those it took are removed
/// first, the refused stay for the next pass); the store's; `Invalid` for a record that does
/// not read back or names another tenant — it is never published, and stays for an operator.
pub async fn publish_step(
    items: &dyn ItemStore,
    sink: &dyn EventSink,
    tenant: &TenantId,
    events_table: &str,
    limit: usize,
) -> Result<usize, Error> {
    let page = items
        .query(
            events_table,
            &Query {
                pk: keys::DOMAIN_OUTBOX.to_owned(),
                limit: limit.clamp(1, MAX_PER_STEP) as u32,
                ..Query::default()
            },
        )
        .await?;
    if page.items.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::with_capacity(page.items.len());
    for item in &page.items {
        events.push(read(item, tenant)?.to_domain());
    }
    let refused = sink.publish(&events).await?;
    let not_taken: HashSet<usize> = refused.iter().map(|u| u.index).collect();
    let taken: Vec<ItemKey> = page
        .items
        .iter()
        .enumerate()
        .filter(|(i, _)| !not_taken.contains(i))
        .map(|(_, item)| item.key.clone())
        .collect();
    // Unconditional: a record another processor removed meanwhile is removed all the same.
    for chunk in taken.chunks(MAX_BATCH_WRITE) {
        items.batch_write(events_table, &[], chunk).await?;
    }
    match refused.first() {
        None => Ok(taken.len()),
        Some(first) => Err(Error::new(
            first.error.kind(),
            format!(
                "tenant {tenant}: the event sink took {} of {} domain events; the rest stay in \
                 the outbox; the first refusal: {}",
                taken.len(),
                events.len(),
                first.error.message()
            ),
        )),
    }
}

/// The event an outbox record holds, if it is `tenant`'s.
fn read(item: &Item, tenant: &TenantId) -> Result<ContentEvent, Error> {
    let event: ContentEvent =
        serde_json::from_value(Value::Object(item.attrs.clone())).map_err(|e| {
            Error::invalid(format!(
                "domain outbox record ({}, {}) of tenant {tenant} does not read back: {e}",
                item.key.pk, item.key.sk
            ))
        })?;
    if &event.tenant != tenant {
        return Err(Error::invalid(format!(
            "domain outbox record ({}, {}) in tenant {tenant}'s table names tenant {}",
            item.key.pk, item.key.sk, event.tenant
        )));
    }
    Ok(event)
}

#[cfg(test)]
mod tests {
    use tenancy::embedded::EventLog;
    use time::macros::datetime;

    use super::*;

    #[tokio::test]
    async fn waiting_events_are_published_once_then_removed_and_another_tenants_are_refused() {
        let (fx, events_table) = crate::testing::tenant_table("events").await;
        let items = fx.backend.items.as_ref();
        let acme = TenantId::parse("acme").unwrap();
        let id = ContentId::parse("c_tour").unwrap();
        let at = datetime!(2026-12-01 12:00 UTC);
        let changes = [
            ContentEvent::new(&acme, &id, ContentChange::Created, None, 1, at),
            ContentEvent::new(&acme, &id, ContentChange::Published, Some(1), 2, at),
        ];
        let ops: Vec<WriteOp> = changes
            .iter()
            .map(|e| e.outbox_put(&events_table).unwrap())
            .collect();
        items.transact_write(&ops).await.unwrap();

        let dir = tempfile::tempdir().unwrap();
        let log = EventLog::open(dir.path()).unwrap();
        let step = || publish_step(items, &log, &acme, &events_table, MAX_PER_STEP);
        assert_eq!(step().await.unwrap(), 2);
        let published = log.published(&acme).await.unwrap();
        let expected: Vec<DomainEvent> = changes.iter().map(ContentEvent::to_domain).collect();
        assert_eq!(published, expected);
        assert_eq!(published[1].data["version"], 1);
        assert_eq!(published[1].detail_type.as_str(), "content.published");
        assert_eq!(step().await.unwrap(), 0, "nothing is published twice");
        assert_eq!(log.published(&acme).await.unwrap().len(), 2);

        // A record naming another tenant is never published from this one's outbox.
        let other = TenantId::parse("beta").unwrap();
        let stray = ContentEvent::new(&other, &id, ContentChange::Created, None, 1, at);
        items
            .transact_write(&[stray.outbox_put(&events_table).unwrap()])
            .await
            .unwrap();
        let err = step().await.unwrap_err();
        assert_eq!(err.kind(), tenancy::ErrorKind::Invalid, "{err}");
        assert!(log.published(&other).await.unwrap().is_empty());
    }
}
