//! `ItemStore`: items in a tenant's tables — put/get/delete with conditions, query (table or
//! `gsi1`), all-or-nothing transactions and batches.
//!
//! Items follow the table plan's single-table convention (`crate::table_plan`): keys `pk`/`sk`,
//! optional index keys `gsi1pk`/`gsi1sk`, optional TTL and a version in the clear; everything
//! else is `attrs`, a JSON object (encrypted at rest with the tenant's key).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::error::Result;

/// DynamoDB's limits, enforced by every adapter alike so behaviour does not depend on backend.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
pub const MAX_TRANSACT_ITEMS: usize = 100;
pub const MAX_BATCH_GET: usize = 100;
pub const MAX_BATCH_WRITE: usize = 25;
pub const MAX_KEY_BYTES: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ItemKey {
    pub pk: String,
    pub sk: String,
}

impl ItemKey {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        ItemKey {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    pub key: ItemKey,
    /// Key in the `gsi1` index; items without one are not in the index.
    pub gsi1: Option<ItemKey>,
    /// Epoch seconds after which the item may disappear (TTL).
    pub ttl: Option<i64>,
    /// Caller-maintained version for optimistic concurrency (`Condition::VersionIs`).
    pub version: u64,
    pub attrs: serde_json::Map<String, serde_json::Value>,
}

impl Item {
    pub fn new(key: ItemKey) -> Self {
        Item {
            key,
            gsi1: None,
            ttl: None,
            version: 0,
            attrs: serde_json::Map::new(),
        }
    }
}

/// A write's precondition on the item currently stored under the same key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Condition {
    #[default]
    None,
    /// No item exists under the key.
    NotExists,
    /// An item exists under the key.
    Exists,
    /// An item exists and its version is this.
    VersionIs(u64),
}

/// Range condition on the sort key (of the table, or of the index when querying one).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SortKeyCondition {
    #[default]
    Any,
    Eq(String),
    BeginsWith(String),
    /// Inclusive on both ends.
    Between(String, String),
    Gte(String),
    Lte(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Query {
    /// Query `gsi1` instead of the table; `pk`/`sk` conditions then apply to `gsi1pk`/`gsi1sk`.
    pub use_gsi1: bool,
    pub pk: String,
    pub sk: SortKeyCondition,
    /// At most this many items (0: adapter default of 100; capped at 1000).
    pub limit: u32,
    pub descending: bool,
    /// Continue after this item (the previous page's `next`).
    pub start_after: Option<Cursor>,
}

/// Where a page ended: the last item's table key, and its index key when querying `gsi1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    pub key: ItemKey,
    pub index_key: Option<ItemKey>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    /// Set when more items may follow.
    pub next: Option<Cursor>,
}

/// One write of a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Put {
        table: String,
        item: Item,
        condition: Condition,
    },
    Delete {
        table: String,
        key: ItemKey,
        condition: Condition,
    },
    ConditionCheck {
        table: String,
        key: ItemKey,
        condition: Condition,
    },
}

impl WriteOp {
    pub fn table(&self) -> &str {
        match self {
            WriteOp::Put { table, .. }
            | WriteOp::Delete { table, .. }
            | WriteOp::ConditionCheck { table, .. } => table,
        }
    }
}

/// The table, key and condition of a transaction op.
pub(crate) fn op_parts(op: &WriteOp) -> (&str, &ItemKey, Condition) {
    match op {
        WriteOp::Put {
            table,
            item,
            condition,
        } => (table, &item.key, *condition),
        WriteOp::Delete {
            table,
            key,
            condition,
        }
        | WriteOp::ConditionCheck {
            table,
            key,
            condition,
        } => (table, key, *condition),
    }
}

/// `Invalid` when `keys` names one item of one table twice (transactions and batches may not),
/// checked by every adapter before any call.
pub(crate) fn ensure_unique<'a>(
    what: &str,
    keys: impl Iterator<Item = (&'a str, &'a ItemKey)>,
) -> Result<()> {
    let mut seen = std::collections::BTreeSet::new();
    for (table, key) in keys {
        if !seen.insert((table, key)) {
            return Err(crate::error::Error::invalid(format!(
                "{what} names item ({}, {}) of table {table} more than once",
                key.pk, key.sk
            )));
        }
    }
    Ok(())
}

/// Errors common to every method: `NotFound` when the table does not exist; `AccessDenied` when
/// a scoped handle names a table outside its policy, or the table's key is disabled; `Invalid`
/// for keys over 1 KiB, empty keys, items over 400 KiB, or more ops than the limits allow.
///
/// Items whose `ttl` (epoch seconds) is not in the future are treated as absent by every
/// method, conditions included, whether or not the backend has purged them yet.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// Writes the item if `condition` holds. Errors: `ConditionFailed` (nothing written).
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()>;

    /// The item under `key`, or `None`.
    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>>;

    /// Deletes the item if `condition` holds; deleting a missing item with `Condition::None`
    /// succeeds. Errors: `ConditionFailed`.
    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()>;

    /// Items of one partition (of the table or of `gsi1`) in sort-key order.
    async fn query(&self, table: &str, query: &Query) -> Result<Page>;

    /// All ops or none (1 to 100, one item at most once). Errors: `ConditionFailed` when
    /// any condition fails — nothing is written. The embedded adapter also refuses, with
    /// `Invalid`, a transaction over tables of different tenants (they live in different files).
    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()>;

    /// The items that exist among `keys` (at most 100, no key twice), in no particular order.
    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>>;

    /// Unconditional puts and deletes (at most 25 in all, no item twice), each applied once.
    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()>;
}
