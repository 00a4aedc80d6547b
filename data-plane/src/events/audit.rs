//! The audit view: a tenant's raw events in a time window, newest first, a page at a time.
//!
//! Event rows are keyed by UTC day and shard, then by time ([`tenancy::table_plan`]), so a
//! window is read by key alone: for each day from the newest, each shard is queried
//! backwards within the window and the shards are merged by key. No scan, no index.
//!
//! A page ends at a [`Position`]: the key of the last event it holds, or, when the read
//! budget ran out first, the oldest key every shard was read down to. The next page starts
//! strictly below it, so no event is shown twice or skipped, whatever the shards held.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use tenancy::Error;
use tenancy::ports::{ItemStore, Query, SortKeyCondition};
use tenancy::table_plan::keys;
use time::OffsetDateTime;

use super::batch::Event;
use super::fold::Actor;
use super::record;
use crate::content::model::ContentId;

/// Event rows one page reads at most, matching or not: bounds a page's cost when a content
/// filter matches little. A page that hits it is short but has a position to go on from.
pub const READ_BUDGET: usize = 5_000;

/// A place in the newest-first order of events: the sort key of an event row (its time and
/// id). What a client gets back is an opaque cursor ([`Position::cursor`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position(String);

impl Position {
    /// The cursor a client sends back for the next page.
    pub fn cursor(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0.as_bytes())
    }

    /// The position `cursor` names. Errors say what is wrong with it.
    pub fn from_cursor(cursor: &str) -> Result<Self, String> {
        let invalid = || "the cursor is not one this API returned".to_owned();
        let bytes = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (nanos, id) = text.split_once('#').ok_or_else(invalid)?;
        if nanos.len() != 20 || !nanos.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        uuid::Uuid::parse_str(id).map_err(|_| invalid())?;
        Ok(Position(text))
    }

    /// When the event at this position happened.
    pub fn at(&self) -> OffsetDateTime {
        self.0
            .get(..20)
            .and_then(|n| n.parse::<i128>().ok())
            .and_then(|n| OffsetDateTime::from_unix_timestamp_nanos(n).ok())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }
}

/// What to read: events at `from..=to`, optionally of one content item, below `before`.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub from: OffsetDateTime,
    pub to: OffsetDateTime,
    pub content: Option<ContentId>,
    /// At most this many events (1–1000).
    pub limit: usize,
    /// Continue strictly below this position (the previous page's `next`).
    pub before: Option<Position>,
}

/// One page, newest first; `next` is set when more events may follow.
#[derive(Debug)]
pub struct AuditPage {
    pub events: Vec<(Event, Option<Actor>)>,
    pub next: Option<Position>,
}

/// Rows one shard query reads at most. Every shard of a day gets a page in each round, and
/// `EVENT_SHARDS` pages fit in the budget, so every page makes progress.
const SHARD_PAGE: usize = 100;
const _: () = assert!(SHARD_PAGE * keys::EVENT_SHARDS as usize <= READ_BUDGET);

/// The page `query` asks for, from the tenant's events `table`.
pub async fn page(
    items: &dyn ItemStore,
    table: &str,
    query: &AuditQuery,
) -> Result<AuditPage, Error> {
    let window = Window {
        from_sk: keys::time_ordered(query.from.unix_timestamp_nanos(), ""),
        // Exclusive: the position, or the first key after `to`'s nanosecond.
        below: match &query.before {
            Some(position) => position.0.clone(),
            None => keys::time_ordered(query.to.unix_timestamp_nanos() + 1, ""),
        },
        content: query.content.as_ref(),
    };
    let mut events = Vec::new();
    let mut budget = READ_BUDGET;
    let mut last = None;
    let first_day = query.from.to_offset(time::UtcOffset::UTC).date();
    let mut day = Position(window.below.clone())
        .at()
        .min(query.to)
        .to_offset(time::UtcOffset::UTC)
        .date();
    while day >= first_day {
        let need = query.limit - events.len();
        let read = read_day(items, table, &day, &window, need, &mut budget).await?;
        for (sk, event) in read.matches.into_iter().rev().take(need) {
            last = Some(sk);
            events.push(event);
        }
        if events.len() == query.limit {
            return Ok(AuditPage {
                events,
                next: last.map(Position),
            });
        }
        if let Some(frontier) = read.frontier {
            // The budget ran out inside this day: go on from where every shard was read to.
            return Ok(AuditPage {
                events,
                next: Some(Position(frontier)),
            });
        }
        day = match day.previous_day() {
            Some(previous) => previous,
            None => break,
        };
    }
    Ok(AuditPage { events, next: None })
}

struct Window<'a> {
    /// Inclusive lower bound of the sort keys.
    from_sk: String,
    /// Exclusive upper bound.
    below: String,
    content: Option<&'a ContentId>,
}

/// What one day's shards gave.
struct DayRead {
    /// Matching events at or above the frontier, by key.
    matches: BTreeMap<String, (Event, Option<Actor>)>,
    /// Set when the budget stopped a shard before it was read down to the window's start or
    /// had given `need` matches: every shard was read at least down to here (inclusive).
    frontier: Option<String>,
}

/// One shard's reading so far.
#[derive(Default)]
struct ShardRead {
    start_after: Option<tenancy::ports::item_store::Cursor>,
    /// The lowest key read.
    low: Option<String>,
    found: usize,
    exhausted: bool,
}

/// Reads the shards of `day` backwards within `window`, side by side, a page each per round,
/// until each has given `need` matches or ran out, or the budget did.
async fn read_day(
    items: &dyn ItemStore,
    table: &str,
    day: &time::Date,
    window: &Window<'_>,
    need: usize,
    budget: &mut usize,
) -> Result<DayRead, Error> {
    let day = keys::day(day.midnight().assume_utc());
    let mut shards: Vec<ShardRead> = (0..keys::EVENT_SHARDS)
        .map(|_| ShardRead::default())
        .collect();
    let mut matches = BTreeMap::new();
    let active = |s: &ShardRead| !s.exhausted && s.found < need;
    while *budget > 0 && shards.iter().any(active) {
        let round: Vec<usize> = (0..shards.len()).filter(|&i| active(&shards[i])).collect();
        let limit = SHARD_PAGE.min(*budget / round.len()).max(1);
        let queries: Vec<Query> = round
            .iter()
            .map(|&i| Query {
                pk: keys::event_partition(&day, i as u16),
                sk: SortKeyCondition::Between(window.from_sk.clone(), window.below.clone()),
                limit: limit as u32,
                descending: true,
                start_after: shards[i].start_after.clone(),
                ..Query::default()
            })
            .collect();
        let queries = queries.iter().map(|q| items.query(table, q));
        let pages = futures_util::future::try_join_all(queries).await?;
        for (i, page) in round.into_iter().zip(pages) {
            let shard = &mut shards[i];
            *budget = budget.saturating_sub(page.items.len().max(1));
            for item in &page.items {
                shard.low = Some(item.key.sk.clone());
                // `Between` is inclusive; the upper bound is not.
                if item.key.sk >= window.below {
                    continue;
                }
                let (event, actor) = record::read(item)?;
                if window.content.is_none_or(|c| &event.content_id == c) {
                    matches.insert(item.key.sk.clone(), (event, actor));
                    shard.found += 1;
                }
            }
            shard.exhausted = page.next.is_none();
            shard.start_after = page.next;
        }
    }
    // Shards still wanting when the budget ran out were read only down to their `low`.
    let frontier = shards
        .iter()
        .filter(|s| active(s))
        .map(|s| s.low.clone().unwrap_or_else(|| window.below.clone()))
        .max();
    if let Some(frontier) = &frontier {
        matches.retain(|sk, _| sk >= frontier);
    }
    Ok(DayRead { matches, frontier })
}
