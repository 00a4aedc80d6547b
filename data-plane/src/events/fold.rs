//! The one function that turns events into analytics: counts per (content, version, step,
//! UTC day) and for the lifetime, with exact unique users.
//!
//! A user *reached* a step when an impression or a `tour_step` event names it; a user *missed*
//! a step when a `target_missing` event names it. Unique users are counted through markers,
//! one per (content, version, step, scope, user, what): the fold asks whether a marker is
//! already stored, and counts a user only when it is not, so the same user is never counted
//! twice. Event counts are not protected that way: folding one event twice counts it twice.
//! Exactly-once therefore rests on the caller, which stores the new markers and the updated
//! counts in one transaction with the removal of the outbox records it folded, so an event
//! leaves the outbox exactly when it is counted.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use time::Date;

use super::batch::{Event, EventType};
use crate::content::model::{ContentId, StepId};

/// Whose event it is: the verified user, else the browser's anonymous id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Actor {
    User(String),
    Anonymous(String),
}

impl Actor {
    /// The actor as it appears in a key: `u:{sub}` or `a:{id}`.
    pub fn key(&self) -> String {
        match self {
            Actor::User(sub) => format!("u:{sub}"),
            Actor::Anonymous(id) => format!("a:{id}"),
        }
    }
}

/// An event with its actor, as the outbox holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Folded<'a> {
    pub event: &'a Event,
    /// `None` when the event has neither a verified user nor an anonymous id: it is counted
    /// but reaches no unique-user total.
    pub actor: Option<&'a Actor>,
}

/// Over which time a count runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    Day(Date),
    Lifetime,
}

impl Scope {
    /// The scope in a key: the UTC day `YYYY-MM-DD`, or `ALL` for the lifetime.
    pub fn key(self) -> String {
        match self {
            Scope::Day(day) => day.to_string(),
            Scope::Lifetime => "ALL".to_owned(),
        }
    }
}

/// One row of analytics: a step of a version of a content item (or the content as a whole,
/// for events that name no step) over a scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AggregateKey {
    pub content_id: ContentId,
    pub version: u32,
    pub step_id: Option<StepId>,
    pub scope: Scope,
}

/// What a row counts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Events per type (its wire name).
    pub events: BTreeMap<String, u64>,
    /// Distinct users who reached the step.
    pub reached: u64,
    /// Distinct users for whom the step's target was missing.
    pub missed: u64,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        for (kind, n) in &other.events {
            *self.events.entry(kind.clone()).or_default() += n;
        }
        self.reached += other.reached;
        self.missed += other.missed;
    }
}

/// What a unique-user marker records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Reach {
    Reached,
    Missed,
}

/// "This user has been counted for this row."
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Marker {
    pub row: AggregateKey,
    pub reach: Reach,
    pub actor: Actor,
}

impl Marker {
    /// Where the marker is stored: one key per marker, none shared
    /// (`tenancy::table_plan::keys::unique_users`). Only markers of rows with a step exist.
    pub fn key(&self) -> Option<tenancy::ports::ItemKey> {
        use tenancy::table_plan::keys;
        let step = self.row.step_id.as_ref()?;
        let reach = match self.reach {
            Reach::Reached => "reached",
            Reach::Missed => "missed",
        };
        Some(tenancy::ports::ItemKey::new(
            keys::unique_users(
                self.row.content_id.as_str(),
                self.row.version,
                step.as_str(),
                &self.row.scope.key(),
            ),
            keys::unique_user_sk(reach, &self.actor.key()),
        ))
    }
}

/// What folding some events changes.
#[derive(Debug, Default, PartialEq)]
pub struct Delta {
    /// Counts to add to each row.
    pub rows: BTreeMap<AggregateKey, Counts>,
    /// Markers to store (none of them stored before).
    pub markers: BTreeSet<Marker>,
}

/// Folds `events`; `stored(marker)` says whether a marker is already stored.
pub fn fold<'a>(
    events: impl IntoIterator<Item = Folded<'a>>,
    stored: impl Fn(&Marker) -> bool,
) -> Delta {
    let mut delta = Delta::default();
    for Folded { event, actor } in events {
        let day = event.at.date();
        for scope in [Scope::Day(day), Scope::Lifetime] {
            let row = AggregateKey {
                content_id: event.content_id.clone(),
                version: event.content_version,
                step_id: event.step_id.clone(),
                scope,
            };
            let counts = delta.rows.entry(row.clone()).or_default();
            *counts
                .events
                .entry(event.kind.as_str().to_owned())
                .or_default() += 1;
            let reach = match event.kind {
                kind if kind.reaches_step() => Some(Reach::Reached),
                EventType::TargetMissing => Some(Reach::Missed),
                _ => None,
            };
            if let (Some(reach), Some(actor), Some(_)) = (reach, actor, &event.step_id) {
                let marker = Marker {
                    row,
                    reach,
                    actor: actor.clone(),
                };
                if !stored(&marker) && delta.markers.insert(marker) {
                    match reach {
                        Reach::Reached => counts.reached += 1,
                        Reach::Missed => counts.missed += 1,
                    }
                }
            }
        }
    }
    delta
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use proptest::prelude::*;
    use time::macros::datetime;

    use super::*;

    use crate::testing::event;

    fn row(step: &str, scope: Scope) -> AggregateKey {
        AggregateKey {
            content_id: ContentId::parse("c_tour").unwrap(),
            version: 1,
            step_id: Some(StepId::parse(step).unwrap()),
            scope,
        }
    }

    #[test]
    fn counts_events_and_distinct_users_per_day_and_lifetime() {
        let monday = datetime!(2026-11-30 10:00 UTC);
        let tuesday = datetime!(2026-12-01 10:00 UTC);
        let (ann, bob) = (Actor::User("ann".into()), Actor::Anonymous("b-1".into()));
        let events = [
            (event(EventType::Impression, "s_1", monday), &ann),
            (event(EventType::TourStep, "s_1", monday), &ann),
            (event(EventType::Impression, "s_1", tuesday), &ann),
            (event(EventType::Impression, "s_1", tuesday), &bob),
            (event(EventType::TargetMissing, "s_1", tuesday), &bob),
        ];
        let delta = fold(
            events.iter().map(|(e, a)| Folded {
                event: e,
                actor: Some(a),
            }),
            |_| false,
        );
        let monday_row = &delta.rows[&row("s_1", Scope::Day(monday.date()))];
        assert_eq!(monday_row.events["impression"], 1);
        assert_eq!(monday_row.events["tour_step"], 1);
        assert_eq!(monday_row.reached, 1, "ann twice on monday is one user");
        let tuesday_row = &delta.rows[&row("s_1", Scope::Day(tuesday.date()))];
        assert_eq!((tuesday_row.reached, tuesday_row.missed), (2, 1));
        let lifetime = &delta.rows[&row("s_1", Scope::Lifetime)];
        assert_eq!(lifetime.events["impression"], 3);
        assert_eq!(
            (lifetime.reached, lifetime.missed),
            (2, 1),
            "ann on two days is one user for the lifetime"
        );
    }

    #[test]
    fn a_user_already_marked_is_not_counted_again() {
        let at = datetime!(2026-12-01 10:00 UTC);
        let ann = Actor::User("ann".into());
        let e = event(EventType::Impression, "s_1", at);
        let first = fold(
            [Folded {
                event: &e,
                actor: Some(&ann),
            }],
            |_| false,
        );
        let stored: HashSet<_> = first.markers.iter().cloned().collect();
        let again = fold(
            [Folded {
                event: &e,
                actor: Some(&ann),
            }],
            |m| stored.contains(m),
        );
        assert!(again.markers.is_empty());
        assert_eq!(again.rows[&row("s_1", Scope::Lifetime)].reached, 0);
        assert_eq!(
            again.rows[&row("s_1", Scope::Lifetime)].events["impression"],
            1
        );
    }

    #[test]
    fn every_marker_has_a_key_of_its_own() {
        let at = datetime!(2026-12-01 10:00 UTC);
        let (ann, bob) = (Actor::User("ann".into()), Actor::Anonymous("ann".into()));
        let events = [
            event(EventType::Impression, "s_1", at),
            event(EventType::Impression, "s_2", at),
            event(EventType::TargetMissing, "s_1", at),
        ];
        let delta = fold(
            events.iter().flat_map(|e| {
                [
                    Folded {
                        event: e,
                        actor: Some(&ann),
                    },
                    Folded {
                        event: e,
                        actor: Some(&bob),
                    },
                ]
            }),
            |_| false,
        );
        let keys: HashSet<_> = delta.markers.iter().map(|m| m.key().unwrap()).collect();
        assert_eq!(
            delta.markers.len(),
            12,
            "3 events x 2 actors x (day, lifetime)"
        );
        assert_eq!(
            keys.len(),
            delta.markers.len(),
            "no two markers share a key"
        );
        let one = delta.markers.iter().next().unwrap().key().unwrap();
        assert!(one.pk.starts_with("UU#c_tour#1#s_"), "{one:?}");
    }

    proptest! {
        /// Folding events in any split into batches, markers carried between them, gives the
        /// same totals as folding them all at once.
        #[test]
        fn batches_add_up_to_the_whole(
            picks in proptest::collection::vec((0usize..4, 0usize..3, 0usize..3, 0i64..3), 1..60),
            split in 1usize..10,
        ) {
            let kinds = [EventType::Impression, EventType::TourStep, EventType::TargetMissing, EventType::Click];
            let actors: Vec<Actor> = (0..3).map(|i| Actor::User(format!("u{i}"))).collect();
            let events: Vec<(Event, usize)> = picks.iter().map(|&(k, s, a, d)| {
                (event(kinds[k], &format!("s_{s}"), datetime!(2026-12-01 10:00 UTC) + time::Duration::days(d)), a)
            }).collect();
            let whole = fold(events.iter().map(|(e, a)| Folded { event: e, actor: Some(&actors[*a]) }), |_| false);
            let mut stored = HashSet::new();
            let mut totals: BTreeMap<AggregateKey, Counts> = BTreeMap::new();
            for chunk in events.chunks(split) {
                let delta = fold(chunk.iter().map(|(e, a)| Folded { event: e, actor: Some(&actors[*a]) }), |m| stored.contains(m));
                stored.extend(delta.markers);
                for (row, counts) in delta.rows {
                    totals.entry(row).or_default().add(&counts);
                }
            }
            prop_assert_eq!(totals, whole.rows);
        }
    }
}
