//! A batch of SDK events, read and checked before anything is written.
//!
//! The limits come first: more than [`MAX_EVENTS`] events or [`MAX_BATCH_BYTES`] bytes refuse
//! the whole batch (413). Then each event on its own: one that is too large, malformed or out
//! of the retention window is rejected with its index and a code, and the rest are accepted.
//! Only a body that is not a batch at all is a 400.
//!
//! The client's clock may be wrong: an event's `ts` is corrected by the difference between
//! the server's clock and the batch's `sent_at` before the window is checked.

use serde::Deserialize;
use serde_json::value::RawValue;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::content::model::{ContentId, StepId};

pub const MAX_EVENTS: usize = 500;
pub const MAX_BATCH_BYTES: usize = 512 * 1024;
pub const MAX_EVENT_BYTES: usize = 32 * 1024;
/// How far past the server's clock a corrected `ts` may be.
pub const MAX_FUTURE: Duration = Duration::minutes(5);

/// What an SDK reports.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Impression,
    Click,
    CtaClick,
    Dismiss,
    TourStart,
    TourStep,
    TourComplete,
    TourSkip,
    HotspotExpand,
    TargetMissing,
    SurveyAnswer,
    ChecklistItemDone,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::Impression,
        EventType::Click,
        EventType::CtaClick,
        EventType::Dismiss,
        EventType::TourStart,
        EventType::TourStep,
        EventType::TourComplete,
        EventType::TourSkip,
        EventType::HotspotExpand,
        EventType::TargetMissing,
        EventType::SurveyAnswer,
        EventType::ChecklistItemDone,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Impression => "impression",
            EventType::Click => "click",
            EventType::CtaClick => "cta_click",
            EventType::Dismiss => "dismiss",
            EventType::TourStart => "tour_start",
            EventType::TourStep => "tour_step",
            EventType::TourComplete => "tour_complete",
            EventType::TourSkip => "tour_skip",
            EventType::HotspotExpand => "hotspot_expand",
            EventType::TargetMissing => "target_missing",
            EventType::SurveyAnswer => "survey_answer",
            EventType::ChecklistItemDone => "checklist_item_done",
        }
    }

    /// Whether the event means its user reached its step (what unique users per step count).
    pub fn reaches_step(self) -> bool {
        matches!(self, EventType::Impression | EventType::TourStep)
    }
}

/// One event as the client sent it.
/// Fields it does not know are ignored, so an SDK that adds one keeps working.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(as = SdkEvent)]
pub(crate) struct WireEvent {
    event_id: Uuid,
    #[serde(rename = "type")]
    kind: EventType,
    content_id: ContentId,
    content_version: u32,
    #[serde(default)]
    step_id: Option<StepId>,
    #[serde(with = "time::serde::rfc3339")]
    ts: OffsetDateTime,
    #[serde(default)]
    anonymous_id: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    props: Option<serde_json::Map<String, serde_json::Value>>,
}

/// A checked event, its time corrected to the server's clock.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub event_id: Uuid,
    pub kind: EventType,
    pub content_id: ContentId,
    pub content_version: u32,
    pub step_id: Option<StepId>,
    pub at: OffsetDateTime,
    pub anonymous_id: Option<String>,
    pub props: serde_json::Map<String, serde_json::Value>,
}

/// Why one event of a batch was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RejectionCode {
    EventTooLarge,
    InvalidEvent,
    TsOutOfRange,
    /// The event names content (or a version of it) the tenant never published.
    UnknownContent,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct Rejection {
    pub index: usize,
    /// The event's id, when it could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Uuid>,
    pub code: RejectionCode,
    pub message: String,
}

/// Why a whole batch was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    #[error("a batch is at most {MAX_BATCH_BYTES} bytes; this one is {0}")]
    TooManyBytes(usize),
    #[error("a batch holds at most {MAX_EVENTS} events; this one holds {0}")]
    TooManyEvents(usize),
    #[error("the body is not an event batch: {0}")]
    Unparseable(String),
}

/// A batch split into the events to store and the ones rejected.
#[derive(Debug, Default)]
pub struct Checked {
    pub events: Vec<(usize, Event)>,
    pub rejected: Vec<Rejection>,
}

#[derive(Deserialize)]
struct WireBatch<'a> {
    #[serde(with = "time::serde::rfc3339")]
    sent_at: OffsetDateTime,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
    // A beacon's credentials and versions, read by tenant resolution; typed here so that a
    // batch carrying them in another shape is refused as a whole.
    #[serde(default)]
    #[allow(dead_code)]
    api_key: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    user_token: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    bundle_version: Option<String>,
    #[serde(default)]
    #[allow(dead_code)]
    sdk_version: Option<String>,
}

/// Reads and checks a batch body received at `now`; events older than `retention` (after
/// correcting the client's clock) are rejected, as their duplicates could no longer be seen.
pub fn check(body: &[u8], now: OffsetDateTime, retention: Duration) -> Result<Checked, BatchError> {
    if body.len() > MAX_BATCH_BYTES {
        return Err(BatchError::TooManyBytes(body.len()));
    }
    let batch: WireBatch<'_> =
        serde_json::from_slice(body).map_err(|e| BatchError::Unparseable(e.to_string()))?;
    if batch.events.len() > MAX_EVENTS {
        return Err(BatchError::TooManyEvents(batch.events.len()));
    }
    let skew = now - batch.sent_at;
    let mut checked = Checked::default();
    for (index, raw) in batch.events.into_iter().enumerate() {
        match event(raw, skew, now, retention) {
            Ok(event) => checked.events.push((index, event)),
            Err((event_id, code, message)) => checked.rejected.push(Rejection {
                index,
                event_id,
                code,
                message,
            }),
        }
    }
    Ok(checked)
}

impl Checked {
    /// Rejects the events naming content the tenant never published, or a version after its
    /// latest (`latest(id)`: the newest version ever published, also for archived content,
    /// whose pages may still be open). Without this, anyone holding the page's publishable
    /// key could fill the tenant's analytics with rows for made-up content.
    pub fn keep_known(&mut self, latest: impl Fn(&ContentId) -> Option<u32>) {
        let (known, unknown): (Vec<_>, Vec<_>) = std::mem::take(&mut self.events)
            .into_iter()
            .partition(|(_, e)| {
                latest(&e.content_id).is_some_and(|v| (1..=v).contains(&e.content_version))
            });
        self.events = known;
        self.rejected
            .extend(unknown.into_iter().map(|(index, e)| Rejection {
                index,
                event_id: Some(e.event_id),
                code: RejectionCode::UnknownContent,
                message: format!(
                    "content {} has no published version {}",
                    e.content_id, e.content_version
                ),
            }));
        self.rejected.sort_by_key(|r| r.index);
    }
}

type Refusal = (Option<Uuid>, RejectionCode, String);

fn event(
    raw: &RawValue,
    skew: Duration,
    now: OffsetDateTime,
    retention: Duration,
) -> Result<Event, Refusal> {
    let text = raw.get();
    if text.len() > MAX_EVENT_BYTES {
        return Err((
            id_of(text),
            RejectionCode::EventTooLarge,
            format!(
                "an event is at most {MAX_EVENT_BYTES} bytes; this one is {}",
                text.len()
            ),
        ));
    }
    let wire: WireEvent = serde_json::from_str(text)
        .map_err(|e| (id_of(text), RejectionCode::InvalidEvent, e.to_string()))?;
    // Both times are the client's: a wild pair must be out of range, never an overflow. Days
    // are UTC days, whatever offset the client wrote.
    let at = wire
        .ts
        .checked_add(skew)
        .map(|at| at.to_offset(time::UtcOffset::UTC));
    let Some(at) = at.filter(|at| *at >= now - retention && *at <= now + MAX_FUTURE) else {
        return Err((
            Some(wire.event_id),
            RejectionCode::TsOutOfRange,
            format!(
                "ts {} is out of range after correcting by the batch's sent_at; events are accepted from {} days ago to {} minutes ahead",
                wire.ts,
                retention.whole_days(),
                MAX_FUTURE.whole_minutes()
            ),
        ));
    };
    if let Some(anonymous) = &wire.anonymous_id
        && (anonymous.is_empty() || anonymous.len() > 128)
    {
        return Err((
            Some(wire.event_id),
            RejectionCode::InvalidEvent,
            "anonymous_id is 1 to 128 bytes".to_owned(),
        ));
    }
    Ok(Event {
        event_id: wire.event_id,
        kind: wire.kind,
        content_id: wire.content_id,
        content_version: wire.content_version,
        step_id: wire.step_id,
        at,
        anonymous_id: wire.anonymous_id,
        props: wire.props.unwrap_or_default(),
    })
}

/// The `event_id` of an event that is otherwise unreadable, so the client can tell which
/// of its events was refused.
fn id_of(text: &str) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct JustTheId {
        event_id: Uuid,
    }
    serde_json::from_str::<JustTheId>(text)
        .ok()
        .map(|e| e.event_id)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::json;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);
    const WEEK: Duration = Duration::days(7);

    fn event_json(ts: &str) -> serde_json::Value {
        json!({
            "event_id": Uuid::new_v4(), "type": "tour_step", "content_id": "c_tour",
            "content_version": 3, "step_id": "s_one", "ts": ts
        })
    }

    fn run(value: serde_json::Value) -> Result<Checked, BatchError> {
        check(&serde_json::to_vec(&value).unwrap(), NOW, WEEK)
    }

    #[test]
    fn a_good_batch_is_accepted_whole() {
        let checked = run(json!({"sent_at": "2026-12-01T12:00:00Z",
            "events": [event_json("2026-12-01T11:59:00Z"), event_json("2026-12-01T11:59:30Z")]}))
        .unwrap();
        assert_eq!(checked.events.len(), 2);
        assert!(checked.rejected.is_empty());
        assert_eq!(checked.events[0].1.kind, EventType::TourStep);
    }

    #[test]
    fn a_wrong_client_clock_is_corrected_by_sent_at() {
        // The client's clock is a day behind: its events are a minute old, not a day.
        let checked = run(json!({"sent_at": "2026-11-30T12:00:00Z",
            "events": [event_json("2026-11-30T11:59:00Z")]}))
        .unwrap();
        assert_eq!(checked.events[0].1.at, datetime!(2026-12-01 11:59 UTC));
    }

    #[test]
    fn wild_client_times_are_out_of_range_and_days_are_utc() {
        let checked = run(json!({"sent_at": "0001-01-01T00:00:00Z",
            "events": [event_json("9999-12-31T23:59:59Z")]}))
        .unwrap();
        assert_eq!(checked.rejected[0].code, RejectionCode::TsOutOfRange);
        let checked = run(json!({"sent_at": "2026-12-01T17:00:00+05:00",
            "events": [event_json("2026-12-01T01:00:00+05:00")]}))
        .unwrap();
        assert_eq!(checked.events[0].1.at, datetime!(2026-11-30 20:00 UTC));
        assert_eq!(checked.events[0].1.at.offset(), time::UtcOffset::UTC);
    }

    #[test]
    fn bad_events_are_rejected_one_by_one() {
        let too_big = {
            let mut e = event_json("2026-12-01T11:59:00Z");
            e["props"] = json!({"blob": "x".repeat(MAX_EVENT_BYTES)});
            e
        };
        let mut unknown_type = event_json("2026-12-01T11:59:00Z");
        unknown_type["type"] = json!("hover");
        let checked = run(json!({"sent_at": "2026-12-01T12:00:00Z", "events": [
            event_json("2026-12-01T11:59:00Z"),
            too_big,
            unknown_type.clone(),
            event_json("2026-11-20T00:00:00Z"),
            event_json("2026-12-01T12:30:00Z"),
            json!("not an event"),
        ]}))
        .unwrap();
        assert_eq!(checked.events.len(), 1);
        let codes: Vec<_> = checked.rejected.iter().map(|r| (r.index, r.code)).collect();
        assert_eq!(
            codes,
            [
                (1, RejectionCode::EventTooLarge),
                (2, RejectionCode::InvalidEvent),
                (3, RejectionCode::TsOutOfRange),
                (4, RejectionCode::TsOutOfRange),
                (5, RejectionCode::InvalidEvent),
            ]
        );
        assert_eq!(
            checked.rejected[1].event_id.map(|id| id.to_string()),
            unknown_type["event_id"].as_str().map(str::to_owned),
            "an unreadable event still names its id when it has one"
        );
    }

    #[test]
    fn events_for_content_never_published_are_rejected() {
        let mut other = event_json("2026-12-01T11:59:00Z");
        other["content_id"] = json!("c_made_up");
        let mut future = event_json("2026-12-01T11:59:00Z");
        future["content_version"] = json!(4);
        let mut checked = run(json!({"sent_at": "2026-12-01T12:00:00Z",
            "events": [other, event_json("2026-12-01T11:59:00Z"), future, json!(1)]}))
        .unwrap();
        checked.keep_known(|id| (id.as_str() == "c_tour").then_some(3));
        assert_eq!(checked.events.len(), 1);
        let codes: Vec<_> = checked.rejected.iter().map(|r| (r.index, r.code)).collect();
        assert_eq!(
            codes,
            [
                (0, RejectionCode::UnknownContent),
                (2, RejectionCode::UnknownContent),
                (3, RejectionCode::InvalidEvent),
            ]
        );
    }

    #[test]
    fn limits_refuse_the_whole_batch() {
        let many: Vec<_> = (0..=MAX_EVENTS).map(|_| json!({})).collect();
        assert_eq!(
            run(json!({"sent_at": "2026-12-01T12:00:00Z", "events": many})).unwrap_err(),
            BatchError::TooManyEvents(MAX_EVENTS + 1)
        );
        let huge = vec![b' '; MAX_BATCH_BYTES + 1];
        assert!(matches!(
            check(&huge, NOW, WEEK),
            Err(BatchError::TooManyBytes(_))
        ));
        assert!(matches!(
            check(b"{\"events\": 3}", NOW, WEEK),
            Err(BatchError::Unparseable(_))
        ));
    }

    proptest! {
        /// Any bytes at all: an answer, never a panic.
        #[test]
        fn any_body_gets_an_answer(body in proptest::collection::vec(any::<u8>(), 0..2048)) {
            let _ = check(&body, NOW, WEEK);
        }

        /// Every event of a parseable batch is either accepted or rejected, exactly once.
        #[test]
        fn every_event_is_accounted_for(n in 0usize..20, bad in proptest::collection::vec(any::<bool>(), 20)) {
            let events: Vec<_> = (0..n).map(|i| if bad[i] { json!({"event_id": 1}) } else { event_json("2026-12-01T11:59:00Z") }).collect();
            let checked = run(json!({"sent_at": "2026-12-01T12:00:00Z", "events": events})).unwrap();
            let mut seen: Vec<usize> = checked.events.iter().map(|(i, _)| *i).chain(checked.rejected.iter().map(|r| r.index)).collect();
            seen.sort_unstable();
            prop_assert_eq!(seen, (0..n).collect::<Vec<_>>());
        }
    }
}
