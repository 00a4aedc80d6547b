//! `EventSink` cases: every event of a batch reaches the sink once, with its tenant and under
//! its id, whatever the batch's size; a tenant's view never holds another's events; an event
//! over the detail limit is refused alone, as `Invalid`; publishing an event again delivers it
//! again (at least once: consumers deduplicate by id, the sink does not).
//!
//! What reached the sink is read through the fixture's [`SinkReader`]: the embedded log's own
//! read-back, or — on EventBridge — a rule on the case's bus sending every event to a queue.

use async_trait::async_trait;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::conformance::support::{Fixture, at};
use crate::error::{ErrorKind, Result};
use crate::id::TenantId;
use crate::ports::event_sink::{DetailType, DomainEvent, EventSource, MAX_DETAIL_BYTES};

/// The source of every event the cases publish (a reader may select on it).
pub const SOURCE: &str = "spotlight.conformance";

/// How the event sink suite reads back what a sink delivered.
#[async_trait]
pub trait SinkReader: Send + Sync {
    /// Every delivery of an event of `tenant` so far, each publication once, in any order;
    /// waits (a bounded while) until there are at least `at_least`, and a moment longer for
    /// any that should not be there.
    async fn published(&self, tenant: &TenantId, at_least: usize) -> Result<Vec<DomainEvent>>;
}

#[async_trait]
impl SinkReader for crate::embedded::EventLog {
    async fn published(&self, tenant: &TenantId, _at_least: usize) -> Result<Vec<DomainEvent>> {
        crate::embedded::EventLog::published(self, tenant).await
    }
}

/// `n` events of `tenant`, each with its number in `data`.
pub fn events(tenant: &TenantId, n: usize) -> Vec<DomainEvent> {
    (0..n)
        .map(|i| {
            let mut data = Map::new();
            data.insert("n".to_owned(), Value::from(i));
            DomainEvent {
                id: Uuid::now_v7(),
                tenant: tenant.clone(),
                source: EventSource::parse(SOURCE).expect("a valid source"),
                detail_type: DetailType::parse("conformance.happened").expect("a valid type"),
                at: at(i as i64),
                data,
            }
        })
        .collect()
}

fn by_id(mut events: Vec<DomainEvent>) -> Vec<DomainEvent> {
    events.sort_by_key(|e| e.id);
    events
}

cases!(
    mod event_sink;

    /// 23 events of one tenant and 2 of another in one batch (more than one PutEvents call
    /// holds): every one arrives once, as published, and each tenant's view is its own.
    pub async fn every_event_of_a_batch_arrives_once_with_its_tenant_and_no_other(fx: &Fixture) {
        let (a, b) = (fx.tenant("a"), fx.tenant("b"));
        let (of_a, of_b) = (events(&a, 23), events(&b, 2));
        let mut batch = of_a.clone();
        batch.splice(11..11, of_b.clone());
        let refused = fx.backend.event_sink.publish(&batch).await.unwrap();
        assert!(refused.is_empty(), "{refused:?}");
        let reader = fx.sink_reader();
        let got = reader.published(&a, 23).await.unwrap();
        assert_eq!(by_id(got), by_id(of_a));
        let got = reader.published(&b, 2).await.unwrap();
        assert_eq!(by_id(got), by_id(of_b));
    }

    pub async fn an_empty_batch_publishes_nothing(fx: &Fixture) {
        let refused = fx.backend.event_sink.publish(&[]).await.unwrap();
        assert!(refused.is_empty());
        let got = fx.sink_reader().published(&fx.tenant("a"), 0).await;
        assert_eq!(got.unwrap(), []);
    }

    /// The limit is the port's, so every adapter refuses the same event the same way.
    pub async fn an_event_over_the_detail_limit_is_refused_as_invalid_and_the_rest_arrive(
        fx: &Fixture,
    ) {
        let a = fx.tenant("a");
        let mut batch = events(&a, 3);
        batch[1]
            .data
            .insert("blob".to_owned(), Value::from("x".repeat(MAX_DETAIL_BYTES)));
        let refused = fx.backend.event_sink.publish(&batch).await.unwrap();
        let refused: Vec<_> = refused.iter().map(|u| (u.index, u.error.kind())).collect();
        assert_eq!(refused, [(1, ErrorKind::Invalid)]);
        let got = fx.sink_reader().published(&a, 2).await.unwrap();
        assert_eq!(by_id(got), by_id(vec![batch[0].clone(), batch[2].clone()]));
    }

    /// At least once: a sink never drops a publication as a duplicate; the id is what
    /// consumers deduplicate by, and it is the same in both.
    pub async fn an_event_published_twice_arrives_twice_under_its_one_id(fx: &Fixture) {
        let a = fx.tenant("a");
        let once = events(&a, 1);
        for _ in 0..2 {
            let refused = fx.backend.event_sink.publish(&once).await.unwrap();
            assert!(refused.is_empty(), "{refused:?}");
        }
        let got = fx.sink_reader().published(&a, 2).await.unwrap();
        assert_eq!(got, [once[0].clone(), once[0].clone()]);
    }
);
