//! Storing checked events: each new event, its dedupe marker and its outbox record in one
//! transaction of the tenant's events table, so an acknowledged event is never half-stored
//! and a duplicate `event_id` is stored once however often it is sent.
//!
//! Duplicates are found in three ways, cheapest first: twice in one batch (in memory); already
//! stored (one batch read of the dedupe markers); or stored by a concurrent request between
//! that read and the write (the marker's `NotExists` condition fails the transaction, and the
//! events of that transaction are then written one by one, so the race costs only time).

use std::collections::HashSet;

use tenancy::ports::item_store::{MAX_BATCH_GET, MAX_TRANSACT_ITEMS};
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, WriteOp};
use tenancy::table_plan::keys;
use tenancy::{Error, ErrorKind};
use time::Duration;
use uuid::Uuid;

use super::batch::Event;
use super::fold::Actor;
use super::record;

/// Outbox partitions the processor drains (one lease each, later).
pub const OUTBOX_SHARDS: u16 = 8;
/// Ops one event takes: the marker, the event, the outbox record.
const OPS_PER_EVENT: usize = 3;

/// What became of the events handed to [`store`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    pub accepted: usize,
    pub duplicates: usize,
}

/// Stores `events` in `table` (the tenant's events table), each kept for `retention`, and
/// says how many were new. `actor` is the verified user; `None`: each event's anonymous id.
pub async fn store(
    items: &dyn ItemStore,
    table: &str,
    events: &[Event],
    actor: Option<&Actor>,
    retention: Duration,
) -> Result<Stored, Error> {
    let mut outcome = Stored::default();
    let mut seen = HashSet::new();
    let mut fresh: Vec<&Event> = Vec::with_capacity(events.len());
    for event in events {
        if seen.insert(event.event_id) {
            fresh.push(event);
        } else {
            outcome.duplicates += 1;
        }
    }
    // The chunks' reads and writes go out side by side: on DynamoDB they are separate
    // requests, and on the embedded store concurrent writes share a commit.
    let reads = fresh.chunks(MAX_BATCH_GET).map(|chunk| async move {
        let markers: Vec<ItemKey> = chunk.iter().map(|e| marker_key(e.event_id)).collect();
        let known: HashSet<String> = items
            .batch_get(table, &markers)
            .await?
            .into_iter()
            .map(|item| item.key.pk)
            .collect();
        Ok::<_, Error>(
            chunk
                .iter()
                .filter(|e| !known.contains(&marker_key(e.event_id).pk))
                .copied()
                .collect::<Vec<&Event>>(),
        )
    });
    let new: Vec<&Event> = futures_util::future::try_join_all(reads)
        .await?
        .into_iter()
        .flatten()
        .collect();
    outcome.duplicates += fresh.len() - new.len();
    let written = write_new(items, table, &new, actor, retention).await?;
    outcome.accepted += written.accepted;
    outcome.duplicates += written.duplicates;
    Ok(outcome)
}

/// Writes events believed new, as few transactions as the limits allow, side by side; one
/// whose marker appeared meanwhile fails its transaction, whose events are then written one
/// by one.
async fn write_new(
    items: &dyn ItemStore,
    table: &str,
    new: &[&Event],
    actor: Option<&Actor>,
    retention: Duration,
) -> Result<Stored, Error> {
    let chunks = new
        .chunks(MAX_TRANSACT_ITEMS / OPS_PER_EVENT)
        .map(|chunk| write_chunk(items, table, chunk, actor, retention));
    let mut outcome = Stored::default();
    for written in futures_util::future::try_join_all(chunks).await? {
        outcome.accepted += written.accepted;
        outcome.duplicates += written.duplicates;
    }
    Ok(outcome)
}

async fn write_chunk(
    items: &dyn ItemStore,
    table: &str,
    chunk: &[&Event],
    actor: Option<&Actor>,
    retention: Duration,
) -> Result<Stored, Error> {
    let mut outcome = Stored::default();
    let writes: Vec<WriteOp> = chunk
        .iter()
        .flat_map(|e| ops(table, e, actor, retention))
        .collect();
    match items.transact_write(&writes).await {
        Ok(()) => outcome.accepted += chunk.len(),
        // Someone stored one of these meanwhile: find out which, one at a time.
        Err(e) if e.kind() == ErrorKind::ConditionFailed => {
            for event in chunk {
                match items
                    .transact_write(&ops(table, event, actor, retention))
                    .await
                {
                    Ok(()) => outcome.accepted += 1,
                    Err(e) if e.kind() == ErrorKind::ConditionFailed => outcome.duplicates += 1,
                    Err(e) => return Err(e),
                }
            }
        }
        Err(e) => return Err(e),
    }
    Ok(outcome)
}

fn ops(
    table: &str,
    event: &Event,
    actor: Option<&Actor>,
    retention: Duration,
) -> [WriteOp; OPS_PER_EVENT] {
    let expires = (event.at + retention).unix_timestamp();
    let mut marker = Item::new(marker_key(event.event_id));
    marker.ttl = Some(expires);
    let record = record::attrs(event, actor);
    let mut stored = Item::new(event_key(event));
    stored.ttl = Some(expires);
    stored.attrs = record.clone();
    let mut outbox = Item::new(ItemKey::new(
        keys::outbox(shard(event.event_id) % OUTBOX_SHARDS),
        keys::time_ordered(event.at.unix_timestamp_nanos(), &event.event_id.to_string()),
    ));
    outbox.attrs = record;
    [
        WriteOp::Put {
            table: table.to_owned(),
            item: marker,
            condition: Condition::NotExists,
        },
        WriteOp::Put {
            table: table.to_owned(),
            item: stored,
            condition: Condition::None,
        },
        WriteOp::Put {
            table: table.to_owned(),
            item: outbox,
            condition: Condition::None,
        },
    ]
}

/// Where `event`'s row is: its UTC day and shard, then its time and id, so a day reads back
/// in time order by querying its shards ([`super::audit`]).
pub(crate) fn event_key(event: &Event) -> ItemKey {
    ItemKey::new(
        keys::event_partition(&keys::day(event.at), shard(event.event_id)),
        keys::time_ordered(event.at.unix_timestamp_nanos(), &event.event_id.to_string()),
    )
}

fn marker_key(event_id: Uuid) -> ItemKey {
    ItemKey::new(
        keys::event_dedupe(&event_id.to_string()),
        keys::EVENT_DEDUPE_SK,
    )
}

/// A stable small number from the event id, spreading events over partitions.
fn shard(event_id: Uuid) -> u16 {
    let bytes = event_id.as_bytes();
    u16::from_le_bytes([bytes[14], bytes[15]])
}

#[cfg(test)]
mod tests {
    use tenancy::conformance::Fixture;
    use tenancy::ports::{Query, SortKeyCondition};
    use time::macros::datetime;

    use super::*;
    use crate::events::batch::EventType;

    async fn table() -> (Fixture, String) {
        crate::testing::tenant_table("events").await
    }

    fn event(id: Uuid) -> Event {
        let at = datetime!(2026-12-01 11:59:30 UTC);
        Event {
            event_id: id,
            ..crate::testing::event(EventType::Impression, "s_1", at)
        }
    }

    async fn outbox_len(fx: &Fixture, table: &str) -> usize {
        let mut n = 0;
        for shard in 0..OUTBOX_SHARDS {
            let page = fx
                .backend
                .items
                .query(
                    table,
                    &Query {
                        pk: keys::outbox(shard),
                        sk: SortKeyCondition::Any,
                        limit: 1000,
                        ..Query::default()
                    },
                )
                .await
                .unwrap();
            n += page.items.len();
        }
        n
    }

    #[tokio::test]
    async fn each_event_is_stored_once_with_its_outbox_record() {
        let (fx, table) = table().await;
        let items = fx.backend.items.as_ref();
        let ann = Actor::User("ann".into());
        let ids: Vec<Uuid> = (0..70).map(|_| Uuid::new_v4()).collect();
        let mut batch: Vec<Event> = ids.iter().map(|id| event(*id)).collect();
        batch.push(event(ids[0]));
        let first = store(items, &table, &batch, Some(&ann), Duration::days(7))
            .await
            .unwrap();
        assert_eq!(
            first,
            Stored {
                accepted: 70,
                duplicates: 1
            }
        );
        assert_eq!(outbox_len(&fx, &table).await, 70);

        // The same batch again, as a retrying client would send it: all duplicates.
        let again = store(items, &table, &batch, Some(&ann), Duration::days(7))
            .await
            .unwrap();
        assert_eq!(
            again,
            Stored {
                accepted: 0,
                duplicates: 71
            }
        );
        assert_eq!(
            outbox_len(&fx, &table).await,
            70,
            "no second outbox record for a duplicate"
        );
    }

    #[tokio::test]
    async fn a_duplicate_stored_between_read_and_write_is_caught_by_the_condition() {
        let (fx, table) = table().await;
        let items = fx.backend.items.as_ref();
        let (fresh, raced) = (event(Uuid::new_v4()), event(Uuid::new_v4()));
        // Another request stores `raced` after this one's batch read found it new.
        store(
            items,
            &table,
            std::slice::from_ref(&raced),
            None,
            Duration::days(7),
        )
        .await
        .unwrap();
        let result = write_new(items, &table, &[&fresh, &raced], None, Duration::days(7))
            .await
            .unwrap();
        assert_eq!(
            result,
            Stored {
                accepted: 1,
                duplicates: 1
            }
        );
        assert_eq!(
            outbox_len(&fx, &table).await,
            2,
            "one record each, none twice"
        );
    }

    #[test]
    fn an_event_row_is_keyed_by_its_utc_day_then_its_time() {
        let mut early = event(Uuid::new_v4());
        early.at = datetime!(2026-12-02 00:30:00 +02:00);
        let key = event_key(&early);
        assert!(key.pk.starts_with("EVT#2026-12-01#"), "{}", key.pk);
        let mut later = early.clone();
        later.at += Duration::nanoseconds(1);
        assert!(event_key(&later).sk > key.sk, "time order is key order");
    }
}
