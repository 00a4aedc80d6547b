//! `EventSink`: where a tenant's domain events go once the change they describe is committed —
//! EventBridge on AWS (PutEvents on one bus, the tenant in every event's detail), a log in the
//! data directory on the embedded backend (`event-log.db`, which local consumers and tests
//! read back).
//!
//! # What a sink promises
//!
//! - **An answer per event.** [`EventSink::publish`] answers which events of the batch it did
//!   not take ([`Unpublished`], by index, each with its error); every other event was taken.
//!   `Err` means the call failed as a whole: the caller treats every event as not taken.
//! - **At least once, never exactly once.** An event reported as not taken may still have been
//!   published (an answer lost on the way looks like a failure), so the caller publishes it
//!   again, and consumers may get one event more than once. They deduplicate by
//!   [`DomainEvent::id`], the idempotency key, which every publication of one event carries.
//!   A sink never deduplicates itself: the embedded log holds every publication.
//! - **No order.** Events may reach consumers in another order than they were published
//!   (EventBridge keeps none); what an event is about carries its own order (a content item's
//!   `revision`). The embedded log happens to keep publication order.
//! - **One tenant per event.** Every event names its tenant, `tenant_id` in its detail: what
//!   consumers filter and route on (an EventBridge rule's `{"detail": {"tenant_id": [...]}}`).
//! - **The same limits everywhere.** An event whose detail is over [`MAX_DETAIL_BYTES`] is not
//!   taken, with `Invalid`, by every adapter; the rest of its batch is published.
//!
//! # The detail
//!
//! Every adapter publishes the same JSON object as an event's detail ([`DomainEvent::detail`]):
//!
//! ```json
//! {"event_id": "0192…", "tenant_id": "acme", "type": "content.published",
//!  "at": "2026-12-01T12:00:00.123456789Z", "data": {"content_id": "c_…", "version": 2}}
//! ```
//!
//! `type` is the event's detail type (EventBridge's `DetailType`), `at` when the change was
//! committed; `data` is the event's own fields, nested so that they can never shadow the
//! envelope's. The source (`spotlight.content`) is EventBridge's `Source`.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::{Error, InvalidInput, Result};
use crate::id::TenantId;

/// The largest detail (its JSON text, in bytes) any sink takes. EventBridge takes 256 KiB per
/// PutEvents call, every entry of it together; a domain event says what changed, not the
/// changed thing itself, so a limit far below that keeps several in one call.
pub const MAX_DETAIL_BYTES: usize = 64 * 1024;

/// Who emits an event (EventBridge's `Source`): 1–128 characters of lowercase letters, digits,
/// `.` and `-`, starting with a letter and not with `aws.` (AWS's own sources), e.g.
/// `spotlight.content`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventSource(String);

impl EventSource {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-';
        if raw.is_empty() || raw.len() > 128 {
            return Err(InvalidInput::new("source", "must be 1 to 128 characters"));
        }
        if !raw.as_bytes()[0].is_ascii_lowercase() || !raw.bytes().all(allowed) {
            return Err(InvalidInput::new(
                "source",
                "must start with a letter and hold only lowercase letters, digits, '.' and '-'",
            ));
        }
        if raw.starts_with("aws.") {
            return Err(InvalidInput::new(
                "source",
                "sources starting aws. are AWS's",
            ));
        }
        Ok(EventSource(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EventSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventSource {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, InvalidInput> {
        EventSource::parse(&raw)
    }
}

impl From<EventSource> for String {
    fn from(source: EventSource) -> String {
        source.0
    }
}

/// What happened (EventBridge's `DetailType`): 1–128 characters of letters, digits, `.`, `_`
/// and `-`, e.g. `content.published`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DetailType(String);

impl DetailType {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if raw.is_empty() || raw.len() > 128 || !raw.bytes().all(allowed) {
            return Err(InvalidInput::new(
                "detail_type",
                "must be 1 to 128 letters, digits, '.', '_' and '-'",
            ));
        }
        Ok(DetailType(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DetailType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for DetailType {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, InvalidInput> {
        DetailType::parse(&raw)
    }
}

impl From<DetailType> for String {
    fn from(kind: DetailType) -> String {
        kind.0
    }
}

/// One domain event of one tenant.
#[derive(Debug, Clone, PartialEq)]
pub struct DomainEvent {
    /// Unique per event and the same in every publication of it: consumers' idempotency key.
    pub id: Uuid,
    pub tenant: TenantId,
    pub source: EventSource,
    pub detail_type: DetailType,
    /// When the change was committed.
    pub at: OffsetDateTime,
    /// The event's own fields.
    pub data: Map<String, Value>,
}

/// The detail's JSON layout (see the module docs).
#[derive(Serialize)]
struct DetailOut<'a> {
    event_id: Uuid,
    tenant_id: &'a TenantId,
    #[serde(rename = "type")]
    detail_type: &'a DetailType,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    data: &'a Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DetailIn {
    event_id: Uuid,
    tenant_id: TenantId,
    #[serde(rename = "type")]
    detail_type: DetailType,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    data: Map<String, Value>,
}

impl DomainEvent {
    /// The detail every adapter publishes (see the module docs), as JSON text.
    pub fn detail(&self) -> String {
        let out = DetailOut {
            event_id: self.id,
            tenant_id: &self.tenant,
            detail_type: &self.detail_type,
            at: self.at.to_offset(time::UtcOffset::UTC),
            data: &self.data,
        };
        serde_json::to_string(&out).expect("a detail serialises: its fields are JSON already")
    }

    /// The detail, if a sink may take it. Errors: `Invalid` over [`MAX_DETAIL_BYTES`].
    pub fn checked_detail(&self) -> Result<String> {
        let detail = self.detail();
        if detail.len() > MAX_DETAIL_BYTES {
            return Err(Error::invalid(format!(
                "domain event {} of tenant {}: its detail is {} bytes; a sink takes at most \
                 {MAX_DETAIL_BYTES}",
                self.id,
                self.tenant,
                detail.len()
            )));
        }
        Ok(detail)
    }

    /// The event a consumer reads back from a published `detail` of `source`. Errors:
    /// `Invalid` when the detail is not one [`DomainEvent::detail`] writes.
    pub fn from_detail(source: EventSource, detail: &str) -> Result<DomainEvent> {
        let read: DetailIn = serde_json::from_str(detail)
            .map_err(|e| Error::invalid(format!("not a domain event's detail: {e}")))?;
        Ok(DomainEvent {
            id: read.event_id,
            tenant: read.tenant_id,
            source,
            detail_type: read.detail_type,
            at: read.at,
            data: read.data,
        })
    }
}

/// An event of a batch that the sink did not take.
#[derive(Debug)]
pub struct Unpublished {
    /// Its index in the batch given to [`EventSink::publish`].
    pub index: usize,
    /// Why: retryable kinds (`Throttled`, `Unavailable`) may succeed when published again;
    /// `Invalid` (over the limit) and `NotFound` (no such bus) will not.
    pub error: Error,
}

#[async_trait]
pub trait EventSink: Send + Sync {
    /// Publishes `events`, any number of them (an adapter splits them into as many backend
    /// calls as it needs), and returns the ones it did not take, by index, in index order;
    /// empty when it took every one. See the module docs for what publishing promises.
    ///
    /// Errors: the call failed as a whole (`Unavailable` when the embedded log cannot be
    /// written); none of the batch is known to have been taken.
    async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<Unpublished>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> DomainEvent {
        DomainEvent {
            id: Uuid::now_v7(),
            tenant: TenantId::parse("acme").unwrap(),
            source: EventSource::parse("spotlight.content").unwrap(),
            detail_type: DetailType::parse("content.published").unwrap(),
            at: time::macros::datetime!(2026-12-01 12:00:00.123456789 +02:00),
            data: serde_json::json!({"content_id": "c_1", "version": 2})
                .as_object()
                .cloned()
                .unwrap(),
        }
    }

    #[test]
    fn a_detail_names_the_tenant_and_reads_back_as_the_event() {
        let e = event();
        let detail: Value = serde_json::from_str(&e.detail()).unwrap();
        assert_eq!(detail["tenant_id"], "acme");
        assert_eq!(detail["type"], "content.published");
        assert_eq!(detail["at"], "2026-12-01T10:00:00.123456789Z");
        assert_eq!(detail["data"]["version"], 2);
        let back = DomainEvent::from_detail(e.source.clone(), &e.detail()).unwrap();
        assert_eq!(back, e);
        assert!(DomainEvent::from_detail(e.source, r#"{"event_id": 1}"#).is_err());
    }

    #[test]
    fn a_detail_over_the_limit_is_invalid() {
        let mut e = event();
        e.data
            .insert("blob".into(), Value::from("x".repeat(MAX_DETAIL_BYTES)));
        let err = e.checked_detail().unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
    }

    #[test]
    fn sources_and_detail_types_are_checked() {
        for bad in [
            "",
            "Spotlight",
            "aws.events",
            "1abc",
            "a b",
            &"a".repeat(129),
        ] {
            assert!(EventSource::parse(bad).is_err(), "{bad:?}");
        }
        assert!(EventSource::parse("spotlight.content").is_ok());
        for bad in ["", "a b", "a/b", &"a".repeat(129)] {
            assert!(DetailType::parse(bad).is_err(), "{bad:?}");
        }
        assert!(DetailType::parse("Content_Published.v1").is_ok());
    }
}
