//! The outbox processor's one step: take a few outbox records of one shard, fold them
//! ([`super::fold`]) and store the result — the updated counts, the new unique-user markers
//! and the removal of those outbox records — in one transaction. A step that dies before the
//! transaction leaves everything as it was, one that dies after leaves nothing to redo, so
//! every event is counted exactly once however often the processor is killed. Two processors
//! on one shard collide on the records' `Exists` condition or the counts' versions; the loser
//! changes nothing and tries again.

use std::collections::{BTreeMap, HashSet};

use serde_json::Value;
use tenancy::ports::item_store::{MAX_BATCH_GET, MAX_TRANSACT_ITEMS};
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, WriteOp};
use tenancy::table_plan::keys;
use tenancy::{Error, ErrorKind};

use super::batch::Event;
use super::fold::{Actor, AggregateKey, Counts, Folded, Marker, Scope, fold};
use super::record;

/// Records one step reads at most: each folded record's removal is one write of the step's
/// transaction, which holds at most 100.
pub const MAX_EVENTS_PER_STEP: usize = MAX_TRANSACT_ITEMS;

/// Folds up to `limit` records of outbox `shard` of `events_table` into `app_table`; says
/// how many it folded (0: the shard is empty).
pub async fn step(
    items: &dyn ItemStore,
    events_table: &str,
    app_table: &str,
    shard: u16,
    limit: usize,
) -> Result<usize, Error> {
    let limit = limit.clamp(1, MAX_EVENTS_PER_STEP);
    let page = items
        .query(
            events_table,
            &Query {
                pk: keys::outbox(shard),
                limit: limit as u32,
                ..Query::default()
            },
        )
        .await?;
    if page.items.is_empty() {
        return Ok(0);
    }
    let mut events = Vec::with_capacity(page.items.len());
    for item in &page.items {
        events.push(record::read(item)?);
    }
    let folded = |n: usize| {
        events[..n].iter().map(|(event, actor)| Folded {
            event,
            actor: actor.as_ref(),
        })
    };

    // Which of the markers this page would add are stored already.
    let candidates = fold(folded(events.len()), |_| false).markers;
    let marker_keys: Vec<ItemKey> = candidates.iter().filter_map(|m| m.key()).collect();
    let mut stored = HashSet::new();
    for chunk in marker_keys.chunks(MAX_BATCH_GET) {
        stored.extend(
            items
                .batch_get(app_table, chunk)
                .await?
                .into_iter()
                .map(|i| i.key),
        );
    }
    let is_stored = |m: &Marker| m.key().is_some_and(|k| stored.contains(&k));
    // As many records as one transaction holds: an event of a user already counted adds only
    // its removal (and maybe a row), one of a new user up to five writes.
    let taken = fitting(&events, is_stored);
    let delta = fold(folded(taken), is_stored);

    // The rows' current counts, and their versions for the conditional write.
    let row_keys: Vec<(AggregateKey, ItemKey)> = delta
        .rows
        .keys()
        .map(|row| (row.clone(), row_key(row)))
        .collect();
    let mut current: BTreeMap<ItemKey, Item> = BTreeMap::new();
    for chunk in row_keys.chunks(MAX_BATCH_GET) {
        let keys: Vec<ItemKey> = chunk.iter().map(|(_, k)| k.clone()).collect();
        for item in items.batch_get(app_table, &keys).await? {
            current.insert(item.key.clone(), item);
        }
    }

    let mut writes = Vec::new();
    for (row, key) in &row_keys {
        let (mut counts, condition, version) = match current.get(key) {
            Some(item) => (
                read_counts(item)?,
                Condition::VersionIs(item.version),
                item.version + 1,
            ),
            None => (Counts::default(), Condition::NotExists, 1),
        };
        counts.add(&delta.rows[row]);
        let mut item = Item::new(key.clone());
        item.version = version;
        if let Scope::Day(day) = row.scope {
            item.gsi1 = Some(ItemKey::new(
                keys::aggregate_day(&day.to_string()),
                key.pk.clone() + "#" + &key.sk,
            ));
        }
        item.attrs = counts_attrs(row, &counts);
        writes.push(WriteOp::Put {
            table: app_table.to_owned(),
            item,
            condition,
        });
    }
    for marker in &delta.markers {
        if let Some(key) = marker.key() {
            writes.push(WriteOp::Put {
                table: app_table.to_owned(),
                item: Item::new(key),
                condition: Condition::NotExists,
            });
        }
    }
    for item in &page.items[..taken] {
        writes.push(WriteOp::Delete {
            table: events_table.to_owned(),
            key: item.key.clone(),
            condition: Condition::Exists,
        });
    }
    match items.transact_write(&writes).await {
        Ok(()) => Ok(taken),
        Err(e) if e.kind() == ErrorKind::ConditionFailed => Err(Error::new(
            ErrorKind::Throttled,
            format!(
                "outbox shard {shard}: another processor folded some of these records first; try again"
            ),
        )),
        Err(e) => Err(e),
    }
}

/// How many of `events`, from the first, one step's transaction can fold: their count rows,
/// their new unique-user markers and their removals together within [`MAX_TRANSACT_ITEMS`].
/// At least one (an event adds at most five writes).
fn fitting(events: &[(Event, Option<Actor>)], stored: impl Fn(&Marker) -> bool) -> usize {
    let mut rows = HashSet::new();
    let mut markers = HashSet::new();
    for (i, (event, actor)) in events.iter().enumerate() {
        let one = Folded {
            event,
            actor: actor.as_ref(),
        };
        let delta = fold([one], &stored);
        rows.extend(delta.rows.into_keys());
        markers.extend(delta.markers);
        if i > 0 && rows.len() + markers.len() + i + 1 > MAX_TRANSACT_ITEMS {
            return i;
        }
    }
    events.len()
}

/// Where a row's counts are stored.
pub fn row_key(row: &AggregateKey) -> ItemKey {
    let step = row.step_id.as_ref().map_or("-", |s| s.as_str());
    ItemKey::new(
        keys::aggregate(row.content_id.as_str(), row.version),
        keys::aggregate_sk(&row.scope.key(), step),
    )
}

fn counts_attrs(row: &AggregateKey, counts: &Counts) -> serde_json::Map<String, Value> {
    let mut attrs = serde_json::Map::new();
    attrs.insert("content_id".into(), Value::from(row.content_id.as_str()));
    attrs.insert("version".into(), Value::from(row.version));
    attrs.insert(
        "step_id".into(),
        row.step_id
            .as_ref()
            .map_or(Value::Null, |s| Value::from(s.as_str())),
    );
    attrs.insert(
        "counts".into(),
        serde_json::to_value(counts).expect("counts serialise"),
    );
    attrs
}

/// The counts stored in a row.
pub fn read_counts(item: &Item) -> Result<Counts, Error> {
    let counts = item.attrs.get("counts").cloned().unwrap_or(Value::Null);
    serde_json::from_value(counts).map_err(|e| {
        Error::invalid(format!(
            "the counts at ({}, {}) do not read back: {e}",
            item.key.pk, item.key.sk
        ))
    })
}

#[cfg(test)]
mod tests {
    use time::Duration;
    use time::macros::datetime;

    use uuid::Uuid;

    use super::*;
    use crate::content::model::{ContentId, StepId};
    use crate::events::batch::EventType;
    use crate::events::ingest::{OUTBOX_SHARDS, store};

    fn event(kind: EventType, step: &str) -> Event {
        crate::testing::event(kind, step, datetime!(2026-12-01 11:00 UTC))
    }

    async fn lifetime(items: &dyn ItemStore, table: &str, step: &str) -> Counts {
        let row = AggregateKey {
            content_id: ContentId::parse("c_tour").unwrap(),
            version: 1,
            step_id: Some(StepId::parse(step).unwrap()),
            scope: Scope::Lifetime,
        };
        let item = items
            .get(table, &row_key(&row))
            .await
            .unwrap()
            .expect("a lifetime row");
        read_counts(&item).unwrap()
    }

    #[tokio::test]
    async fn folding_the_outbox_counts_each_event_once_and_empties_it() {
        // One tenant file holds both tables, so a step's transaction spans them.
        let (fx, events_table) = crate::testing::tenant_table("events").await;
        let (app_table, _) = fx.tenant_table("acme", "app").await;
        let items = fx.backend.items.as_ref();
        let (ann, bob) = (Actor::User("ann".into()), Actor::User("bob".into()));
        let week = Duration::days(7);
        let seen = vec![
            event(EventType::Impression, "s_1"),
            event(EventType::Impression, "s_1"),
            event(EventType::TargetMissing, "s_1"),
        ];
        store(items, &events_table, &seen, Some(&ann), week)
            .await
            .unwrap();
        store(
            items,
            &events_table,
            &[event(EventType::Impression, "s_1")],
            Some(&bob),
            week,
        )
        .await
        .unwrap();

        let mut folded = 0;
        for shard in 0..OUTBOX_SHARDS {
            while let n @ 1.. = step(items, &events_table, &app_table, shard, 2)
                .await
                .unwrap()
            {
                folded += n;
            }
        }
        assert_eq!(folded, 4);
        let counts = lifetime(items, &app_table, "s_1").await;
        assert_eq!(counts.events["impression"], 3);
        assert_eq!(counts.events["target_missing"], 1);
        assert_eq!(
            (counts.reached, counts.missed),
            (2, 1),
            "ann twice is one user"
        );

        // Nothing left to fold: a second pass changes nothing.
        for shard in 0..OUTBOX_SHARDS {
            assert_eq!(
                step(items, &events_table, &app_table, shard, 20)
                    .await
                    .unwrap(),
                0
            );
        }
        assert_eq!(lifetime(items, &app_table, "s_1").await, counts);
    }

    /// An impression of `step` on outbox shard 0.
    fn on_shard_zero(step: &str) -> Event {
        let mut event = event(EventType::Impression, step);
        let mut id = *event.event_id.as_bytes();
        id[14] = 0;
        event.event_id = Uuid::from_bytes(id);
        event
    }

    #[tokio::test]
    async fn a_step_folds_as_many_records_as_its_transaction_holds() {
        let (fx, events_table) = crate::testing::tenant_table("events").await;
        let (app_table, _) = fx.tenant_table("acme", "app").await;
        let items = fx.backend.items.as_ref();
        let week = Duration::days(7);
        let ann = Actor::User("ann".into());
        let again: Vec<Event> = (0..90).map(|_| on_shard_zero("s_1")).collect();
        store(items, &events_table, &again, Some(&ann), week)
            .await
            .unwrap();
        let take = |limit| step(items, &events_table, &app_table, 0, limit);
        // Two rows, ann's two markers and 90 removals: one transaction.
        assert_eq!(take(MAX_EVENTS_PER_STEP).await.unwrap(), 90);

        for n in 0..100 {
            let user = Actor::User(format!("user-{n}"));
            store(
                items,
                &events_table,
                &[on_shard_zero("s_1")],
                Some(&user),
                week,
            )
            .await
            .unwrap();
        }
        // New users: two markers and a removal each, beside the two rows.
        assert_eq!(take(MAX_EVENTS_PER_STEP).await.unwrap(), 32);
        assert_eq!(take(10).await.unwrap(), 10, "never more than asked for");
        let mut rest = 0;
        while let n @ 1.. = take(MAX_EVENTS_PER_STEP).await.unwrap() {
            rest += n;
        }
        assert_eq!(rest, 58);
        let counts = lifetime(items, &app_table, "s_1").await;
        assert_eq!(counts.events["impression"], 190);
        assert_eq!(counts.reached, 101);
    }
}
