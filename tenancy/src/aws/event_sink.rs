//! [`EventSink`] on EventBridge: PutEvents on one bus (`SPOTLIGHT_EVENT_BUS`), each event an
//! entry with the event's source as `Source`, its detail type as `DetailType`, its commit time
//! as `Time` and the port's detail — the tenant id in it — as `Detail`.
//!
//! PutEvents takes at most 10 entries and 256 KB of them per call, so a batch is sent in as
//! many calls as that takes. Each call answers per entry: the entries it refused
//! (`FailedEntryCount`, an `ErrorCode` on the entry) are reported back, each with its own kind
//! (`ThrottlingException` and `InternalFailure` retryable, the rest not), and only those are
//! published again by the retry layer; a call that fails as a whole (no such bus, throttled,
//! unreachable) reports every entry of that call.

use std::fmt;
use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_eventbridge::primitives::DateTime;
use aws_sdk_eventbridge::types::{PutEventsRequestEntry, PutEventsResultEntry};
use serde::{Deserialize, Serialize};

use crate::aws::errors::{kind_of_code, sdk_error};
use crate::error::{Error, ErrorKind, InvalidInput, Result};
use crate::ports::event_sink::{DomainEvent, EventSink, Unpublished};

/// Entries one PutEvents call takes.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// Bytes of entries one call carries, as EventBridge counts them: kept under its 256 KB.
pub const MAX_CALL_BYTES: usize = 250_000;
/// What EventBridge counts for an entry's `Time`.
const TIME_BYTES: usize = 14;

/// The bus events are put on (`SPOTLIGHT_EVENT_BUS`): a bus name (1–256 letters, digits,
/// `.`, `_`, `-` and `/`) or a bus ARN. `default`, the account's default bus, which every
/// account and region has, unless configured.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EventBusName(String);

impl EventBusName {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        let field = "event_bus";
        if let Some(rest) = raw.strip_prefix("arn:") {
            if raw.len() > 1600 || !rest.contains(":event-bus/") {
                return Err(InvalidInput::new(
                    field,
                    "an event bus ARN is arn:{partition}:events:{region}:{account}:event-bus/{name}",
                ));
            }
            return Ok(EventBusName(raw.to_owned()));
        }
        let allowed = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/');
        if raw.is_empty() || raw.len() > 256 || !raw.bytes().all(allowed) {
            return Err(InvalidInput::new(
                field,
                "an event bus name is 1 to 256 letters, digits, '.', '_', '-' and '/' (or give its ARN)",
            ));
        }
        Ok(EventBusName(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for EventBusName {
    fn default() -> Self {
        EventBusName("default".to_owned())
    }
}

impl fmt::Display for EventBusName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for EventBusName {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, InvalidInput> {
        EventBusName::parse(&raw)
    }
}

impl From<EventBusName> for String {
    fn from(bus: EventBusName) -> String {
        bus.0
    }
}

pub struct EventBridgeSink {
    client: aws_sdk_eventbridge::Client,
    bus: EventBusName,
}

impl EventBridgeSink {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: EventBusName) -> Self {
        EventBridgeSink { client, bus }
    }

    /// The entry of `event`, whose checked detail is `detail`, and its size as EventBridge
    /// counts it.
    fn entry(&self, event: &DomainEvent, detail: String) -> (PutEventsRequestEntry, usize) {
        let size = TIME_BYTES
            + event.source.as_str().len()
            + event.detail_type.as_str().len()
            + detail.len();
        let time = DateTime::from_nanos(event.at.unix_timestamp_nanos())
            .unwrap_or_else(|_| DateTime::from_secs(event.at.unix_timestamp()));
        let entry = PutEventsRequestEntry::builder()
            .event_bus_name(self.bus.as_str())
            .source(event.source.as_str())
            .detail_type(event.detail_type.as_str())
            .time(time)
            .detail(detail)
            .build();
        (entry, size)
    }
}

#[async_trait]
impl EventSink for EventBridgeSink {
    async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<Unpublished>> {
        let mut unpublished = Vec::new();
        let mut entries = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match event.checked_detail() {
                Ok(detail) => {
                    let (entry, size) = self.entry(event, detail);
                    entries.push((index, entry, size));
                }
                Err(error) => unpublished.push(Unpublished { index, error }),
            }
        }
        let sizes: Vec<usize> = entries.iter().map(|(_, _, size)| *size).collect();
        for call in calls(&sizes) {
            let sent = &entries[call];
            let answer = self
                .client
                .put_events()
                .set_entries(Some(sent.iter().map(|(_, e, _)| e.clone()).collect()))
                .send()
                .await;
            match answer {
                Ok(out) => {
                    for (offset, error) in refused(out.entries(), sent.len(), &self.bus) {
                        unpublished.push(Unpublished {
                            index: sent[offset].0,
                            error,
                        });
                    }
                }
                Err(e) => {
                    let what = format!(
                        "putting {} domain events on event bus {}",
                        sent.len(),
                        self.bus
                    );
                    let error = sdk_error(what, e);
                    unpublished.extend(sent.iter().map(|(index, _, _)| Unpublished {
                        index: *index,
                        error: error.detached(),
                    }));
                }
            }
        }
        unpublished.sort_by_key(|u| u.index);
        Ok(unpublished)
    }
}

/// The calls entries of `sizes` go out in, in order: at most [`MAX_ENTRIES_PER_CALL`] entries
/// and [`MAX_CALL_BYTES`] each (an entry is at most `MAX_DETAIL_BYTES` and some, so one
/// always fits).
fn calls(sizes: &[usize]) -> Vec<Range<usize>> {
    let mut calls = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        if i > start && (i - start == MAX_ENTRIES_PER_CALL || bytes + size > MAX_CALL_BYTES) {
            calls.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        calls.push(start..sizes.len());
    }
    calls
}

/// The entries of a call of `sent` entries that PutEvents did not take, by offset in the
/// call, each with its error. An entry the answer does not account for (no event id, no error
/// code, or missing) was not taken either, as far as anyone can tell.
fn refused(
    answers: &[PutEventsResultEntry],
    sent: usize,
    bus: &EventBusName,
) -> Vec<(usize, Error)> {
    (0..sent)
        .filter_map(|offset| {
            let Some(answer) = answers.get(offset) else {
                return Some((
                    offset,
                    Error::unavailable(format!(
                        "event bus {bus}: PutEvents answered for {} of {sent} entries",
                        answers.len()
                    )),
                ));
            };
            match (answer.error_code(), answer.event_id()) {
                (None, Some(_)) => None,
                (Some(code), _) => {
                    let kind = kind_of_code(code).unwrap_or(ErrorKind::Unavailable);
                    let message = answer.error_message().unwrap_or("no message");
                    Some((
                        offset,
                        Error::new(
                            kind,
                            format!("event bus {bus} refused an entry: {code}: {message}"),
                        ),
                    ))
                }
                (None, None) => Some((
                    offset,
                    Error::unavailable(format!(
                        "event bus {bus}: PutEvents answered an entry with neither an event id nor an error"
                    )),
                )),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_out_in_calls_of_ten_entries_and_under_the_byte_limit() {
        assert_eq!(calls(&[]), Vec::<Range<usize>>::new());
        assert_eq!(calls(&[100; 23]), [0..10, 10..20, 20..23]);
        let big = 70_000;
        assert_eq!(calls(&[big, big, big, big, 10]), [0..3, 3..5]);
        assert_eq!(calls(&[MAX_CALL_BYTES, 1]), [0..1, 1..2]);
    }

    #[test]
    fn only_the_entries_putevents_refused_are_reported_each_with_its_kind() {
        let ok = |id: &str| PutEventsResultEntry::builder().event_id(id).build();
        let failed = |code: &str| {
            PutEventsResultEntry::builder()
                .error_code(code)
                .error_message("no")
                .build()
        };
        let answers = [
            ok("e1"),
            failed("ThrottlingException"),
            ok("e3"),
            failed("InternalFailure"),
            failed("MalformedDetail"),
            failed("NotAuthorizedForSourceException"),
            failed("SomethingNew"),
        ];
        let bus = EventBusName::default();
        let got: Vec<(usize, ErrorKind)> = refused(&answers, 8, &bus)
            .into_iter()
            .map(|(offset, e)| (offset, e.kind()))
            .collect();
        assert_eq!(
            got,
            [
                (1, ErrorKind::Throttled),
                (3, ErrorKind::Unavailable),
                (4, ErrorKind::Invalid),
                (5, ErrorKind::AccessDenied),
                (6, ErrorKind::Unavailable),
                (7, ErrorKind::Unavailable),
            ],
            "the eighth entry was not answered for"
        );
    }

    #[test]
    fn bus_names_and_arns_are_checked() {
        for good in [
            "default",
            "spotlight_events",
            "arn:aws:events:eu-west-1:123456789012:event-bus/spotlight",
        ] {
            assert_eq!(EventBusName::parse(good).unwrap().as_str(), good);
        }
        for bad in ["", "a bus", "arn:aws:sqs:eu-west-1:1:q", &"b".repeat(257)] {
            assert!(EventBusName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
