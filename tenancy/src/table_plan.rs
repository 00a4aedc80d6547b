//! The one table plan: which tables a tenant gets, their key schema, index and TTL attribute,
//! and the key layout of every access pattern the data plane serves.
//!
//! Both tables use the single-table convention: string partition key `pk`, string sort key
//! `sk`, one overloaded global secondary index `gsi1` (`gsi1pk`, `gsi1sk`), TTL in `ttl`
//! (epoch seconds). Every access pattern below maps onto these, so a tenant onboarded today
//! never needs a migration when a feature lands.
//!
//! | pattern | table | pk | sk | gsi1pk / gsi1sk |
//! |---|---|---|---|---|
//! | content draft | app | `CONTENT#{id}` | `DRAFT` | `CONTENT` / `{updated}` |
//! | frozen published version | app | `CONTENT#{id}` | `V#{version:010}` | — |
//! | live published content (what the SDK is served) | app | `PUBLISHED` | `{id}` | — |
//! | per-user progress | app | `USER#{user}` | `PROGRESS#{content}` | `PROGRESS#{content}` / `{user}` |
//! | admin user | app | `ADMIN#{user}` | `PROFILE` | `ADMIN_EMAIL#{email}` / `ADMIN` |
//! | aggregate per (content, version, step, day) | app | `AGG#{content}#{version}` | `{day}#{step}` | `AGG_DAY#{day}` / `{content}#{version}#{step}` |
//! | unique-user marker | app | `UU#{content}#{version}#{step}#{scope}` | `{reach}#{user}` | — |
//! | chat message by session | app | `CHAT#{session}` | `{seq:06}` | — |
//! | metric by subject and period | app | `METRIC#{subject}` | `{period}` | — |
//! | metric subject list | app | `METRICS` | `{subject}` | — |
//! | kept summary | app | `SUMMARY#{period}` | `{model}#{facts digest}` | — (ttl) |
//! | event, time-first | events | `EVT#{day}#{shard}` | `{at}#{event_id}` | — (ttl) |
//! | event dedupe by `event_id` | events | `EID#{event_id}` | `EID` | — (ttl) |
//! | outbox | events | `OUTBOX#{shard}` | `{at}#{event_id}` | — |
//! | domain event outbox (content changes, until published) | events | `OUTBOX#DOMAIN` | `{at}#{event_id}` | — |
//!
//! `{at}` in a sort key is Unix nanoseconds, 20 digits ([`keys::time_ordered`]), so key order
//! is time order.
//!
//! Events are keyed time-first (the event's UTC day, then its time and id) because ordered
//! keys ingest an order of magnitude faster than random ones on the embedded store, and so
//! the audit view reads any time range newest first by key alone. The day is split into
//! `EVENT_SHARDS` partitions (`shard = hash(event_id) % EVENT_SHARDS`) so that one busy day is
//! not one hot DynamoDB partition (about 1,000 writes/s each, so some 8,000 events/s per
//! tenant before DynamoDB throttles); reading a range back means querying the shards of each
//! of its days and merging them, each already in time order.

use serde::{Deserialize, Serialize};

use crate::naming::{ResourceNames, Tags};

pub const PARTITION_KEY: &str = "pk";
pub const SORT_KEY: &str = "sk";
pub const GSI1: &str = "gsi1";
pub const GSI1_PARTITION_KEY: &str = "gsi1pk";
pub const GSI1_SORT_KEY: &str = "gsi1sk";
pub const TTL_ATTRIBUTE: &str = "ttl";

/// Which of a tenant's tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableRole {
    App,
    Events,
}

/// A global secondary index (all attributes projected).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexSpec {
    pub name: String,
    pub partition_key: String,
    pub sort_key: String,
}

/// Everything that defines a table. Two specs that differ in any field but `tags` and
/// `sse_key` ordering are drift.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableSpec {
    pub name: String,
    pub partition_key: String,
    pub sort_key: String,
    pub indexes: Vec<IndexSpec>,
    pub ttl_attribute: Option<String>,
    /// Key id or ARN of the customer-managed key encrypting the table at rest.
    pub sse_key: Option<String>,
    pub point_in_time_recovery: bool,
    /// A change stream of new and old item images (the events table's, which the outbox
    /// processor reads on AWS). Absent in records written before it existed: no stream.
    #[serde(default)]
    pub stream: bool,
    pub tags: Tags,
}

impl TableSpec {
    /// The fields that must match for an existing table to be adopted rather than reported as
    /// drift. Tags are compared separately by the provisioner (they can be re-applied).
    pub fn differences(&self, actual: &TableSpec) -> Vec<&'static str> {
        let mut diffs = Vec::new();
        if self.name != actual.name {
            diffs.push("name");
        }
        if self.partition_key != actual.partition_key || self.sort_key != actual.sort_key {
            diffs.push("key_schema");
        }
        if self.indexes != actual.indexes {
            diffs.push("indexes");
        }
        if self.ttl_attribute != actual.ttl_attribute {
            diffs.push("ttl_attribute");
        }
        if self.sse_key != actual.sse_key {
            diffs.push("sse_key");
        }
        if self.point_in_time_recovery != actual.point_in_time_recovery {
            diffs.push("point_in_time_recovery");
        }
        if self.stream != actual.stream {
            diffs.push("stream");
        }
        diffs
    }
}

/// DynamoDB's naming rule for tables and indexes: 3–255 of `[a-zA-Z0-9_.-]`.
pub fn valid_table_name(name: &str) -> bool {
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

impl TableSpec {
    /// The checks DynamoDB makes of a table spec, made first by every adapter, so that a bad
    /// spec is `Invalid` with the same message whatever the backend.
    pub fn validate(&self) -> crate::error::Result<()> {
        let spec = self;
        let name = &spec.name;
        if !valid_table_name(name) {
            return Err(crate::error::Error::invalid(format!(
                "table name {name:?} must be 3 to 255 characters of letters, digits, '_', '.' and '-'"
            )));
        }
        let attr_ok = |a: &str| !a.is_empty() && a.len() <= 255;
        if !attr_ok(&spec.partition_key) || !attr_ok(&spec.sort_key) {
            return Err(crate::error::Error::invalid(format!(
                "table {name}: key attribute names must be 1 to 255 characters"
            )));
        }
        if spec.partition_key == spec.sort_key {
            return Err(crate::error::Error::invalid(format!(
                "table {name}: partition and sort key must be different attributes"
            )));
        }
        let mut seen = std::collections::BTreeSet::new();
        for index in &spec.indexes {
            if !valid_table_name(&index.name) || !seen.insert(index.name.as_str()) {
                return Err(crate::error::Error::invalid(format!(
                    "table {name}: index name {:?} is invalid or repeated",
                    index.name
                )));
            }
            if !attr_ok(&index.partition_key) || !attr_ok(&index.sort_key) {
                return Err(crate::error::Error::invalid(format!(
                    "table {name}: index {} key attribute names must be 1 to 255 characters",
                    index.name
                )));
            }
        }
        if spec.ttl_attribute.as_deref().is_some_and(|a| !attr_ok(a)) {
            return Err(crate::error::Error::invalid(format!(
                "table {name}: TTL attribute name must be 1 to 255 characters"
            )));
        }
        Ok(())
    }
}

/// The table plan for one tenant: app table then events table.
pub fn tenant_tables(
    names: &ResourceNames,
    sse_key: Option<&str>,
    tags: &Tags,
) -> [(TableRole, TableSpec); 2] {
    let spec = |name: &str, stream: bool| TableSpec {
        name: name.to_owned(),
        partition_key: PARTITION_KEY.to_owned(),
        sort_key: SORT_KEY.to_owned(),
        indexes: vec![IndexSpec {
            name: GSI1.to_owned(),
            partition_key: GSI1_PARTITION_KEY.to_owned(),
            sort_key: GSI1_SORT_KEY.to_owned(),
        }],
        ttl_attribute: Some(TTL_ATTRIBUTE.to_owned()),
        sse_key: sse_key.map(str::to_owned),
        point_in_time_recovery: true,
        stream,
        tags: tags.clone(),
    };
    [
        (TableRole::App, spec(&names.app_table, false)),
        (TableRole::Events, spec(&names.events_table, true)),
    ]
}

/// Key builders for the access patterns in the module table. The data plane builds every key
/// through these, so the layout lives in one place.
pub mod keys {
    pub fn content(content_id: &str) -> String {
        format!("CONTENT#{content_id}")
    }
    pub const CONTENT_DRAFT: &str = "DRAFT";
    /// The `gsi1` partition listing every content item by last update.
    pub const CONTENT_INDEX: &str = "CONTENT";
    /// The partition holding the live published version of every content item, one item per
    /// content id: the SDK's content is one query of it.
    pub const PUBLISHED: &str = "PUBLISHED";
    pub fn content_version(version: u32) -> String {
        format!("V#{version:010}")
    }
    pub fn user(user_id: &str) -> String {
        format!("USER#{user_id}")
    }
    pub fn progress(content_id: &str) -> String {
        format!("PROGRESS#{content_id}")
    }
    pub fn admin(user_id: &str) -> String {
        format!("ADMIN#{user_id}")
    }
    pub fn aggregate(content_id: &str, version: u32) -> String {
        format!("AGG#{content_id}#{version}")
    }
    pub fn aggregate_sk(day: &str, step: &str) -> String {
        format!("{day}#{step}")
    }
    /// The `gsi1` partition of every aggregate row of one UTC day.
    pub fn aggregate_day(day: &str) -> String {
        format!("AGG_DAY#{day}")
    }
    /// The markers of users counted for one row: a step of a version, over `scope` (a UTC
    /// day `YYYY-MM-DD`, or `ALL` for the lifetime).
    pub fn unique_users(content_id: &str, version: u32, step_id: &str, scope: &str) -> String {
        format!("UU#{content_id}#{version}#{step_id}#{scope}")
    }
    /// One user counted for that row, as having reached the step or missed its target.
    pub fn unique_user_sk(reach: &str, user: &str) -> String {
        format!("{reach}#{user}")
    }
    pub fn chat(session_id: &str) -> String {
        format!("CHAT#{session_id}")
    }
    pub fn metric(subject: &str) -> String {
        format!("METRIC#{subject}")
    }
    /// The partition listing every metric subject a tenant uploaded, one item per subject.
    pub const METRIC_SUBJECTS: &str = "METRICS";
    /// Written summaries of one period, kept under the digest of their facts.
    pub fn summary(period: &str) -> String {
        format!("SUMMARY#{period}")
    }
    /// The partition of the browser SDK's versions: the one the tenant published
    /// ([`SDK_PUBLISHED`]) and the ones its pages were seen running ([`sdk_seen`]).
    pub const SDK: &str = "SDK";
    pub const SDK_PUBLISHED: &str = "PUBLISHED";
    /// Pages of the tenant ran `bundle` (the bundle's own version), embedded as `embed`
    /// (`latest` or a pinned version), on `day` (`YYYY-MM-DD`).
    pub fn sdk_seen(day: &str, bundle: &str, embed: &str) -> String {
        format!("SEEN#{day}#{bundle}#{embed}")
    }
    /// Partitions one day of events is spread over (see the module docs).
    pub const EVENT_SHARDS: u16 = 8;
    /// `day` is `YYYY-MM-DD` in UTC ([`day`]). `shard` is taken modulo [`EVENT_SHARDS`].
    pub fn event_partition(day: &str, shard: u16) -> String {
        format!("EVT#{day}#{}", shard % EVENT_SHARDS)
    }
    /// `at`'s UTC day, `YYYY-MM-DD`: lexicographic order is time order.
    pub fn day(at: time::OffsetDateTime) -> String {
        let date = at.to_offset(time::UtcOffset::UTC).date();
        format!(
            "{:04}-{:02}-{:02}",
            date.year(),
            u8::from(date.month()),
            date.day()
        )
    }
    /// A sort key in time order: Unix nanoseconds as 20 digits, then `id` to make it unique.
    pub fn time_ordered(at_nanos: i128, id: &str) -> String {
        format!("{at_nanos:020}#{id}")
    }
    pub fn event_dedupe(event_id: &str) -> String {
        format!("EID#{event_id}")
    }
    pub const EVENT_DEDUPE_SK: &str = "EID";
    pub fn outbox(shard: u16) -> String {
        format!("OUTBOX#{shard:03}")
    }
    /// The partition of a tenant's domain events (content created, published, archived)
    /// waiting to be published to the event sink: one, as changes come at an admin's pace.
    pub const DOMAIN_OUTBOX: &str = "OUTBOX#DOMAIN";
    /// A domain event's place in [`DOMAIN_OUTBOX`]: commit time (Unix nanoseconds, 20 digits)
    /// first, so the outbox is read oldest first.
    pub fn domain_outbox_sk(at_nanos: i128, event_id: &str) -> String {
        time_ordered(at_nanos, event_id)
    }
    /// Partition used by the provisioning probe; its item is deleted again at once.
    pub const PROBE: &str = "PROBE#spotlight";
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{id::TenantId, naming::TablePrefix};

    #[test]
    fn plan_declares_both_tables_with_index_and_ttl() {
        let names =
            ResourceNames::for_tenant(&TablePrefix::default(), &TenantId::parse("acme").unwrap());
        let [(app_role, app), (ev_role, ev)] = tenant_tables(&names, Some("k1"), &Tags::new());
        assert_eq!((app_role, ev_role), (TableRole::App, TableRole::Events));
        assert_eq!(app.name, names.app_table);
        assert_eq!(ev.name, names.events_table);
        assert_eq!(ev.ttl_attribute.as_deref(), Some(TTL_ATTRIBUTE));
        assert_eq!(app.indexes[0].name, GSI1);
        assert!(app.differences(&app).is_empty());
        let mut other = app.clone();
        other.sort_key = "other".into();
        assert_eq!(app.differences(&other), vec!["key_schema"]);
    }

    #[test]
    fn versions_and_minutes_sort_lexicographically() {
        assert!(keys::content_version(9) < keys::content_version(10));
        assert!(keys::event_partition("2026-11-21", 3) < keys::event_partition("2026-11-22", 0));
        assert_eq!(
            keys::event_partition("2026-11-22", keys::EVENT_SHARDS + 1),
            keys::event_partition("2026-11-22", 1)
        );
        assert_eq!(
            keys::day(time::macros::datetime!(2026-12-02 00:30 +02:00)),
            "2026-12-01"
        );
        assert!(keys::time_ordered(999, "b") < keys::time_ordered(1_000, "a"));
    }
}
