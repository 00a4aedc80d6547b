//! An accepted event as the events table stores it: the same attributes in its event row
//! (what the audit view reads) and its outbox record (what the processor folds), written by
//! ingest and read back here, so the two readers cannot disagree on the format.

use serde::Deserialize;
use serde_json::{Map, Value, json};
use tenancy::Error;
use tenancy::ports::Item;
use time::OffsetDateTime;
use uuid::Uuid;

use super::batch::{Event, EventType};
use super::fold::Actor;
use crate::content::model::{ContentId, StepId};

/// The stored attributes of `event`; its actor is the verified user, else the browser's
/// anonymous id, else nobody (counted, but not as a unique user).
pub fn attrs(event: &Event, user: Option<&Actor>) -> Map<String, Value> {
    let actor = user.cloned().or_else(|| {
        event
            .anonymous_id
            .as_ref()
            .map(|id| Actor::Anonymous(id.clone()))
    });
    let value = json!({
        "event_id": event.event_id,
        "type": event.kind,
        "content_id": event.content_id,
        "content_version": event.content_version,
        "step_id": event.step_id,
        // Unix nanoseconds, as a string: JSON numbers lose precision past 2^53.
        "at": event.at.unix_timestamp_nanos().to_string(),
        "actor": actor,
        "props": event.props,
    });
    match value {
        Value::Object(map) => map,
        _ => unreachable!("json! of an object literal is an object"),
    }
}

#[derive(Deserialize)]
struct Stored {
    event_id: Uuid,
    #[serde(rename = "type")]
    kind: EventType,
    content_id: ContentId,
    content_version: u32,
    step_id: Option<StepId>,
    at: String,
    actor: Option<Actor>,
    #[serde(default)]
    props: Map<String, Value>,
}

/// The event and actor `item` holds (an event row or an outbox record). Errors: `Invalid`
/// naming the item when it does not read back.
pub fn read(item: &Item) -> Result<(Event, Option<Actor>), Error> {
    let unreadable = |why: String| {
        Error::invalid(format!(
            "stored event ({}, {}) does not read back: {why}",
            item.key.pk, item.key.sk
        ))
    };
    let stored: Stored = serde_json::from_value(Value::Object(item.attrs.clone()))
        .map_err(|e| unreadable(e.to_string()))?;
    let nanos: i128 = stored
        .at
        .parse()
        .map_err(|_| unreadable(format!("at {:?} is not a number", stored.at)))?;
    let at =
        OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|e| unreadable(e.to_string()))?;
    let anonymous_id = match &stored.actor {
        Some(Actor::Anonymous(id)) => Some(id.clone()),
        _ => None,
    };
    let event = Event {
        event_id: stored.event_id,
        kind: stored.kind,
        content_id: stored.content_id,
        content_version: stored.content_version,
        step_id: stored.step_id,
        at,
        anonymous_id,
        props: stored.props,
    };
    Ok((event, stored.actor))
}

#[cfg(test)]
mod tests {
    use tenancy::ports::ItemKey;
    use time::macros::datetime;

    use super::*;

    #[test]
    fn an_event_reads_back_as_it_was_stored() {
        let mut event = crate::testing::event(
            EventType::Click,
            "s_1",
            datetime!(2026-12-01 11:59:30.123456789 UTC),
        );
        event.props.insert("label".into(), json!("Next"));
        let ann = Actor::User("ann".into());
        let mut item = Item::new(ItemKey::new("pk", "sk"));
        item.attrs = attrs(&event, Some(&ann));
        let (read_back, actor) = read(&item).unwrap();
        assert_eq!(actor, Some(ann));
        assert_eq!(read_back.at, event.at, "nanoseconds survive");
        assert_eq!(read_back.props, event.props);
        assert_eq!(read_back.event_id, event.event_id);

        item.attrs.remove("event_id");
        let err = read(&item).unwrap_err();
        assert!(err.message().contains("(pk, sk)"), "{}", err.message());
    }
}
