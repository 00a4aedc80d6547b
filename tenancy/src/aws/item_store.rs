//! [`ItemStore`] on DynamoDB: one DynamoDB item per port item, in the table plan's layout.
//!
//! | attribute | type | holds |
//! | --- | --- | --- |
//! | `pk`, `sk` | S | the table key |
//! | `gsi1pk`, `gsi1sk` | S | the index key, only on items that have one |
//! | `ttl` | N | epoch seconds, only on items that have one (the table's TTL attribute) |
//! | `version` | N | the caller's version |
//! | `attrs` | S | the attributes, as one JSON document |
//!
//! `attrs` is kept as JSON text rather than as native DynamoDB maps: DynamoDB numbers do not
//! tell `1` from `1.0`, and its maps, lists and nulls do not round-trip every JSON value, while
//! the text does, exactly. Nothing queries inside `attrs`; at rest it is encrypted with the rest
//! of the item under the table's KMS key (SSE).
//!
//! **Expired items.** DynamoDB deletes items whose TTL has passed only eventually (typically
//! within days) and serves them until then; the port says they are absent at once. So every
//! read drops items whose `ttl` is not in the future (queries with a filter expression, gets
//! and batch gets after reading), and every condition treats such an item as absent
//! ([`condition_expression`]).
//!
//! **Queries.** DynamoDB applies a query's `Limit` before its filter, so a page of expired
//! items can come back empty with more behind it. A page is therefore collected over as many
//! Query calls as it takes to find `limit + 1` live items (or reach the partition's end): the
//! extra item says that more follow, exactly as the embedded adapter's page does, and the
//! cursor is the last returned item's key (with its index key on `gsi1`), which DynamoDB takes
//! back as `ExclusiveStartKey`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, DeleteRequest, KeysAndAttributes, Put, PutRequest,
    TransactWriteItem, WriteRequest,
};

use crate::aws::errors::sdk_error;
use crate::error::{Error, ErrorKind, Result};
use crate::ports::item_store::{
    Condition, Cursor, Item, ItemKey, ItemStore, MAX_BATCH_GET, MAX_BATCH_WRITE, MAX_ITEM_BYTES,
    MAX_KEY_BYTES, MAX_TRANSACT_ITEMS, Page, Query, SortKeyCondition, WriteOp,
};
use crate::table_plan::{GSI1, GSI1_PARTITION_KEY, GSI1_SORT_KEY, PARTITION_KEY, SORT_KEY};

const TTL: &str = crate::table_plan::TTL_ATTRIBUTE;
const VERSION: &str = "version";
const ATTRS: &str = "attrs";
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;
/// How often a batch resends what DynamoDB left unprocessed (throttled partitions) before the
/// call fails `Throttled`; the pause between rounds doubles from [`FIRST_PAUSE`].
const BATCH_ROUNDS: u32 = 8;
const FIRST_PAUSE: Duration = Duration::from_millis(25);
/// An upper bound of what a number attribute takes in DynamoDB's item size.
const NUMBER_BYTES: usize = 21;

type Attributes = HashMap<String, AttributeValue>;

pub struct DynamoItemStore {
    dynamodb: aws_sdk_dynamodb::Client,
}

impl DynamoItemStore {
    pub fn new(dynamodb: aws_sdk_dynamodb::Client) -> Self {
        DynamoItemStore { dynamodb }
    }

    /// `NotFound` unless the table exists: what an empty batch, which makes no item call,
    /// still promises.
    async fn ensure_table(&self, table: &str) -> Result<()> {
        self.dynamodb
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(format!("resolving table {table}"), e))
    }
}

fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn check_key_part(table: &str, what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!(
            "table {table}: {what} must not be empty"
        )));
    }
    if value.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "table {table}: {what} is {} bytes, over the {MAX_KEY_BYTES}-byte key limit",
            value.len()
        )));
    }
    Ok(())
}

/// Both parts of a table key non-empty and at most 1 KiB.
fn check_key(table: &str, key: &ItemKey) -> Result<()> {
    check_key_part(table, "pk", &key.pk)?;
    check_key_part(table, "sk", &key.sk)
}

/// Versions are kept within `i64`, as every adapter keeps them.
fn check_version(table: &str, v: u64) -> Result<u64> {
    if i64::try_from(v).is_err() {
        return Err(Error::invalid(format!(
            "table {table}: version {v} is too large"
        )));
    }
    Ok(v)
}

fn key_attributes(key: &ItemKey) -> Attributes {
    HashMap::from([
        (PARTITION_KEY.to_owned(), s(&key.pk)),
        (SORT_KEY.to_owned(), s(&key.sk)),
    ])
}

/// The item as DynamoDB attributes, checked against the limits first. The size counted is
/// DynamoDB's: every attribute's name and value.
fn encode(table: &str, item: &Item) -> Result<Attributes> {
    check_key(table, &item.key)?;
    if let Some(g) = &item.gsi1 {
        check_key_part(table, GSI1_PARTITION_KEY, &g.pk)?;
        check_key_part(table, GSI1_SORT_KEY, &g.sk)?;
    }
    let version = check_version(table, item.version)?;
    let json = serde_json::to_string(&item.attrs)
        .map_err(|e| Error::invalid(format!("table {table}: attributes do not serialise: {e}")))?;
    let mut out = key_attributes(&item.key);
    if let Some(g) = &item.gsi1 {
        out.insert(GSI1_PARTITION_KEY.to_owned(), s(&g.pk));
        out.insert(GSI1_SORT_KEY.to_owned(), s(&g.sk));
    }
    if let Some(ttl) = item.ttl {
        out.insert(TTL.to_owned(), n(ttl));
    }
    out.insert(VERSION.to_owned(), n(version));
    out.insert(ATTRS.to_owned(), AttributeValue::S(json));
    let size: usize = out
        .iter()
        .map(|(name, value)| {
            name.len()
                + match value {
                    AttributeValue::S(v) => v.len(),
                    _ => NUMBER_BYTES,
                }
        })
        .sum();
    if size > MAX_ITEM_BYTES {
        return Err(Error::invalid(format!(
            "table {table}: item ({}, {}) is {size} bytes, over the {MAX_ITEM_BYTES}-byte item limit",
            item.key.pk, item.key.sk
        )));
    }
    Ok(out)
}

/// The stored TTL of an item, if it has one.
fn ttl_of(attrs: &Attributes) -> Option<i64> {
    match attrs.get(TTL) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    }
}

/// Whether a stored item counts: it has no TTL, or its TTL is in the future.
fn is_live(attrs: &Attributes, now: i64) -> bool {
    ttl_of(attrs).is_none_or(|ttl| ttl > now)
}

/// An item read back. An item this adapter did not write (or damaged) is `Invalid`: reading it
/// again gives the same answer.
fn decode(table: &str, mut attrs: Attributes) -> Result<Item> {
    let ttl = ttl_of(&attrs);
    let mut string = |name: &str| match attrs.remove(name) {
        Some(AttributeValue::S(v)) => Ok(Some(v)),
        None => Ok(None),
        Some(_) => Err(name.to_owned()),
    };
    let unreadable = |what: String| {
        Error::invalid(format!(
            "table {table}: an item's {what} is missing or not of the type this store writes"
        ))
    };
    let pk = string(PARTITION_KEY).map_err(unreadable)?;
    let sk = string(SORT_KEY).map_err(unreadable)?;
    let gsi1pk = string(GSI1_PARTITION_KEY).map_err(unreadable)?;
    let gsi1sk = string(GSI1_SORT_KEY).map_err(unreadable)?;
    let json = string(ATTRS).map_err(unreadable)?;
    let (Some(pk), Some(sk)) = (pk, sk) else {
        return Err(unreadable("key".to_owned()));
    };
    let key = ItemKey { pk, sk };
    let version = match attrs.get(VERSION) {
        Some(AttributeValue::N(v)) => v.parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| unreadable(VERSION.to_owned()))?;
    let attrs = match json {
        Some(json) => serde_json::from_str(&json).map_err(|e| {
            Error::invalid(format!(
                "table {table}: attributes of item ({}, {}) are not a JSON object: {e}",
                key.pk, key.sk
            ))
        })?,
        None => serde_json::Map::new(),
    };
    Ok(Item {
        key,
        gsi1: match (gsi1pk, gsi1sk) {
            (Some(pk), Some(sk)) => Some(ItemKey { pk, sk }),
            _ => None,
        },
        ttl,
        version,
        attrs,
    })
}

/// A condition or filter expression with exactly the names and values it uses (DynamoDB
/// refuses unused ones).
#[derive(Debug, Default)]
struct Expression {
    text: String,
    names: HashMap<String, String>,
    values: Attributes,
}

impl Expression {
    fn name(mut self, placeholder: &str, attribute: &str) -> Self {
        self.names
            .insert(placeholder.to_owned(), attribute.to_owned());
        self
    }

    fn value(mut self, placeholder: &str, value: AttributeValue) -> Self {
        self.values.insert(placeholder.to_owned(), value);
        self
    }

    fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    fn values(&self) -> Option<Attributes> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

/// The condition expression of a write (none for `Condition::None`). An expired item counts
/// as absent: `NotExists` holds over it, `Exists` and `VersionIs` do not.
fn condition_expression(table: &str, condition: Condition, now: i64) -> Result<Option<Expression>> {
    let live = "(attribute_not_exists(#ttl) OR #ttl > :now)";
    let expression = match condition {
        Condition::None => return Ok(None),
        Condition::NotExists => Expression {
            text: "attribute_not_exists(#pk) OR #ttl <= :now".to_owned(),
            ..Expression::default()
        }
        .name("#pk", PARTITION_KEY),
        Condition::Exists => Expression {
            text: format!("attribute_exists(#pk) AND {live}"),
            ..Expression::default()
        }
        .name("#pk", PARTITION_KEY),
        Condition::VersionIs(v) => Expression {
            text: format!("#version = :version AND {live}"),
            ..Expression::default()
        }
        .name("#version", VERSION)
        .value(":version", n(check_version(table, v)?)),
    };
    Ok(Some(expression.name("#ttl", TTL).value(":now", n(now))))
}

/// What a `ConditionFailed` says: which condition did not hold for which item.
fn condition_failed(table: &str, key: &ItemKey, condition: Condition, e: Error) -> Error {
    if e.kind() != ErrorKind::ConditionFailed {
        return e;
    }
    Error::condition_failed(format!(
        "table {table}: condition {condition:?} does not hold for item ({}, {})",
        key.pk, key.sk
    ))
    .with_source(e)
}

/// One op of a transaction as DynamoDB's. A condition check needs an expression even when the
/// op has no condition: one that always holds.
fn transact_item(op: &WriteOp, now: i64) -> Result<TransactWriteItem> {
    let (table, key, condition) = crate::ports::item_store::op_parts(op);
    let expression = condition_expression(table, condition, now)?;
    let built = |e: aws_sdk_dynamodb::error::BuildError| {
        Error::invalid(format!("table {table}: transaction op: {e}"))
    };
    let names = expression.as_ref().and_then(Expression::names);
    let values = expression.as_ref().and_then(Expression::values);
    let text = expression.as_ref().map(|e| e.text.clone());
    let item = match op {
        WriteOp::Put { item, .. } => TransactWriteItem::builder().put(
            Put::builder()
                .table_name(table)
                .set_item(Some(encode(table, item)?))
                .set_condition_expression(text)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
        WriteOp::Delete { .. } => TransactWriteItem::builder().delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(key_attributes(key)))
                .set_condition_expression(text)
                .set_expression_attribute_names(names)
                .set_expression_attribute_values(values)
                .build()
                .map_err(built)?,
        ),
        WriteOp::ConditionCheck { .. } => {
            let (text, names) = match text {
                Some(text) => (text, names),
                None => (
                    "attribute_not_exists(#pk) OR attribute_exists(#pk)".to_owned(),
                    Some(HashMap::from([(
                        "#pk".to_owned(),
                        PARTITION_KEY.to_owned(),
                    )])),
                ),
            };
            TransactWriteItem::builder().condition_check(
                ConditionCheck::builder()
                    .table_name(table)
                    .set_key(Some(key_attributes(key)))
                    .condition_expression(text)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .build()
                    .map_err(built)?,
            )
        }
    };
    Ok(item.build())
}

/// A cancelled transaction by its first telling reason: a failed condition is
/// `ConditionFailed`, a conflicting transaction or throttling `Throttled` (retryable), a
/// validation error `Invalid`, a missing table `NotFound`. Without reasons, by the error's
/// code as every other call.
fn cancelled(
    ops: &[WriteOp],
    err: aws_sdk_dynamodb::error::SdkError<
        TransactWriteItemsError,
        aws_sdk_dynamodb::config::http::HttpResponse,
    >,
) -> Error {
    let reasons: Vec<(usize, String, String)> = match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let code = r.code()?;
                (code != "None").then(|| {
                    (
                        i,
                        code.to_owned(),
                        r.message().unwrap_or_default().to_owned(),
                    )
                })
            })
            .collect(),
        _ => Vec::new(),
    };
    let first = |code: &str| reasons.iter().find(|(_, c, _)| c == code);
    let classified = if let Some((i, _, _)) = first("ConditionalCheckFailed") {
        let which = match ops.get(*i).map(crate::ports::item_store::op_parts) {
            Some((table, key, condition)) => format!(
                "table {table}: condition {condition:?} does not hold for item ({}, {})",
                key.pk, key.sk
            ),
            None => "a condition does not hold".to_owned(),
        };
        Some(Error::condition_failed(format!(
            "transaction cancelled, operation {i}: {which}"
        )))
    } else {
        reasons.first().map(|(i, code, message)| {
            let kind = match code.as_str() {
                "TransactionConflict"
                | "ThrottlingError"
                | "ProvisionedThroughputExceeded"
                | "RequestLimitExceeded" => ErrorKind::Throttled,
                "ValidationError" | "ItemCollectionSizeLimitExceeded" => ErrorKind::Invalid,
                // DynamoDB refuses a transaction naming a missing table outright; moto
                // cancels it with this reason instead.
                "ResourceNotFoundException" => ErrorKind::NotFound,
                _ => ErrorKind::Unavailable,
            };
            Error::new(
                kind,
                format!("transaction cancelled, operation {i}: {code}: {message}"),
            )
        })
    };
    match classified {
        Some(e) => e.with_source(err),
        None => sdk_error(format!("writing a transaction of {} ops", ops.len()), err),
    }
}

/// A query's key condition (on the table or on `gsi1`).
fn key_condition(table: &str, q: &Query) -> Result<Expression> {
    if q.pk.is_empty() {
        return Err(Error::invalid(format!(
            "table {table}: query partition key must not be empty"
        )));
    }
    let (pk, sk) = if q.use_gsi1 {
        (GSI1_PARTITION_KEY, GSI1_SORT_KEY)
    } else {
        (PARTITION_KEY, SORT_KEY)
    };
    let with_sk = |text: &str| {
        Expression {
            text: format!("#p = :p AND {text}"),
            ..Expression::default()
        }
        .name("#s", sk)
    };
    let e = match &q.sk {
        SortKeyCondition::Any => Expression {
            text: "#p = :p".to_owned(),
            ..Expression::default()
        },
        SortKeyCondition::Eq(v) => with_sk("#s = :a").value(":a", s(v)),
        SortKeyCondition::BeginsWith(v) => with_sk("begins_with(#s, :a)").value(":a", s(v)),
        SortKeyCondition::Between(a, b) => {
            if a > b {
                return Err(Error::invalid(format!(
                    "table {table}: BETWEEN bounds {a:?} > {b:?}"
                )));
            }
            with_sk("#s BETWEEN :a AND :b")
                .value(":a", s(a))
                .value(":b", s(b))
        }
        SortKeyCondition::Gte(v) => with_sk("#s >= :a").value(":a", s(v)),
        SortKeyCondition::Lte(v) => with_sk("#s <= :a").value(":a", s(v)),
    };
    Ok(e.name("#p", pk).value(":p", s(&q.pk)))
}

/// Where a query resumes: after the cursor's item, within the queried partition.
fn start_key(table: &str, q: &Query) -> Result<Option<Attributes>> {
    let Some(c) = &q.start_after else {
        return Ok(None);
    };
    if !q.use_gsi1 {
        return Ok(Some(key_attributes(&ItemKey::new(&q.pk, &c.key.sk))));
    }
    let ik = c.index_key.as_ref().ok_or_else(|| {
        Error::invalid(format!(
            "table {table}: a gsi1 query cursor needs its index key"
        ))
    })?;
    let mut key = key_attributes(&c.key);
    key.insert(GSI1_PARTITION_KEY.to_owned(), s(&q.pk));
    key.insert(GSI1_SORT_KEY.to_owned(), s(&ik.sk));
    Ok(Some(key))
}

/// The pause before batch round `round` (1-based): doubling from [`FIRST_PAUSE`].
fn pause(round: u32) -> Duration {
    FIRST_PAUSE * 2u32.pow(round.saturating_sub(1).min(6))
}

#[async_trait]
impl ItemStore for DynamoItemStore {
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()> {
        let encoded = encode(table, item)?;
        let expression = condition_expression(table, condition, now_secs())?;
        self.dynamodb
            .put_item()
            .table_name(table)
            .set_item(Some(encoded))
            .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expression.as_ref().and_then(Expression::names))
            .set_expression_attribute_values(expression.as_ref().and_then(Expression::values))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let what = format!(
                    "writing item ({}, {}) of table {table}",
                    item.key.pk, item.key.sk
                );
                condition_failed(table, &item.key, condition, sdk_error(what, e))
            })
    }

    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>> {
        check_key(table, key)?;
        let out = self
            .dynamodb
            .get_item()
            .table_name(table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                sdk_error(
                    format!("reading item ({}, {}) of table {table}", key.pk, key.sk),
                    e,
                )
            })?;
        match out.item {
            Some(attrs) if is_live(&attrs, now_secs()) => decode(table, attrs).map(Some),
            _ => Ok(None),
        }
    }

    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()> {
        check_key(table, key)?;
        let expression = condition_expression(table, condition, now_secs())?;
        self.dynamodb
            .delete_item()
            .table_name(table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(expression.as_ref().map(|e| e.text.clone()))
            .set_expression_attribute_names(expression.as_ref().and_then(Expression::names))
            .set_expression_attribute_values(expression.as_ref().and_then(Expression::values))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                let what = format!("deleting item ({}, {}) of table {table}", key.pk, key.sk);
                condition_failed(table, key, condition, sdk_error(what, e))
            })
    }

    /// Query calls until `limit + 1` live items are found or the partition ends (see the
    /// module docs); table queries read consistently, index queries cannot (DynamoDB's
    /// indexes are eventually consistent).
    async fn query(&self, table: &str, query: &Query) -> Result<Page> {
        let limit = match query.limit {
            0 => DEFAULT_PAGE,
            n => n.min(MAX_PAGE),
        } as usize;
        let condition = key_condition(table, query)?;
        let mut start = start_key(table, query)?;
        let now = now_secs();
        let filter = "attribute_not_exists(#ttl) OR #ttl > :now";
        let mut names = condition.names.clone();
        names.insert("#ttl".to_owned(), TTL.to_owned());
        let mut values = condition.values.clone();
        values.insert(":now".to_owned(), n(now));
        let mut items = Vec::new();
        loop {
            let wanted = limit + 1 - items.len();
            let out = self
                .dynamodb
                .query()
                .table_name(table)
                .set_index_name(query.use_gsi1.then(|| GSI1.to_owned()))
                .consistent_read(!query.use_gsi1)
                .key_condition_expression(&condition.text)
                .filter_expression(filter)
                .set_expression_attribute_names(Some(names.clone()))
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(!query.descending)
                .limit(i32::try_from(wanted).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("querying table {table}"), e))?;
            for attrs in out.items.unwrap_or_default() {
                // The filter already dropped expired items; an item expiring between two
                // calls of one page is dropped here.
                if is_live(&attrs, now) && items.len() <= limit {
                    items.push(decode(table, attrs)?);
                }
            }
            match out.last_evaluated_key {
                Some(last) if items.len() <= limit && !last.is_empty() => start = Some(last),
                _ => break,
            }
        }
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|last| Cursor {
                key: last.key.clone(),
                index_key: if query.use_gsi1 {
                    last.gsi1.clone()
                } else {
                    None
                },
            })
        } else {
            None
        };
        Ok(Page { items, next })
    }

    /// TransactWriteItems. Every check the port makes (count, keys, sizes, an item named
    /// twice) is made first, so a refused transaction never reaches DynamoDB.
    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT_ITEMS {
            return Err(Error::invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT_ITEMS} operations, not {}",
                ops.len()
            )));
        }
        for op in ops {
            let (table, key, _) = crate::ports::item_store::op_parts(op);
            check_key(table, key)?;
        }
        crate::ports::item_store::ensure_unique(
            "transaction",
            ops.iter().map(|op| {
                let (table, key, _) = crate::ports::item_store::op_parts(op);
                (table, key)
            }),
        )?;
        let now = now_secs();
        let items = ops
            .iter()
            .map(|op| transact_item(op, now))
            .collect::<Result<Vec<_>>>()?;
        self.dynamodb
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(drop)
            .map_err(|e| cancelled(ops, e))
    }

    /// BatchGetItem (consistent reads), resending unprocessed keys (see [`BATCH_ROUNDS`]).
    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>> {
        if keys.len() > MAX_BATCH_GET {
            return Err(Error::invalid(format!(
                "batch get of {} keys is over the limit of {MAX_BATCH_GET}",
                keys.len()
            )));
        }
        for key in keys {
            check_key(table, key)?;
        }
        crate::ports::item_store::ensure_unique("batch get", keys.iter().map(|k| (table, k)))?;
        if keys.is_empty() {
            self.ensure_table(table).await?;
            return Ok(Vec::new());
        }
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            Error::invalid(format!("table {table}: batch get: {e}"))
        };
        let mut request = Some(HashMap::from([(
            table.to_owned(),
            KeysAndAttributes::builder()
                .set_keys(Some(keys.iter().map(key_attributes).collect()))
                .consistent_read(true)
                .build()
                .map_err(built)?,
        )]));
        let now = now_secs();
        let mut found = Vec::new();
        for round in 0..=BATCH_ROUNDS {
            let Some(pending) = request.take() else {
                return Ok(found);
            };
            if round == BATCH_ROUNDS {
                let left = pending.values().map(|k| k.keys().len()).sum::<usize>();
                return Err(Error::new(
                    ErrorKind::Throttled,
                    format!(
                        "batch get of table {table}: {left} keys still unprocessed after \
                         {BATCH_ROUNDS} rounds"
                    ),
                ));
            }
            if round > 0 {
                tokio::time::sleep(pause(round)).await;
            }
            let out = self
                .dynamodb
                .batch_get_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| sdk_error(format!("batch get of table {table}"), e))?;
            for attrs in out
                .responses
                .unwrap_or_default()
                .remove(table)
                .unwrap_or_default()
            {
                if is_live(&attrs, now) {
                    found.push(decode(table, attrs)?);
                }
            }
            request = out
                .unprocessed_keys
                .filter(|left| left.values().any(|k| !k.keys().is_empty()));
        }
        Ok(found)
    }

    /// BatchWriteItem, resending unprocessed writes (see [`BATCH_ROUNDS`]). Every write is an
    /// unconditional put or delete, so resending one is harmless.
    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()> {
        let count = puts.len() + deletes.len();
        if count > MAX_BATCH_WRITE {
            return Err(Error::invalid(format!(
                "batch write of {count} operations is over the limit of {MAX_BATCH_WRITE}"
            )));
        }
        for key in puts.iter().map(|i| &i.key).chain(deletes) {
            check_key(table, key)?;
        }
        crate::ports::item_store::ensure_unique(
            "batch write",
            puts.iter()
                .map(|i| &i.key)
                .chain(deletes)
                .map(|k| (table, k)),
        )?;
        if count == 0 {
            return self.ensure_table(table).await;
        }
        let built = |e: aws_sdk_dynamodb::error::BuildError| {
            Error::invalid(format!("table {table}: batch write: {e}"))
        };
        let mut writes = Vec::with_capacity(count);
        for item in puts {
            writes.push(
                WriteRequest::builder()
                    .put_request(
                        PutRequest::builder()
                            .set_item(Some(encode(table, item)?))
                            .build()
                            .map_err(built)?,
                    )
                    .build(),
            );
        }
        for key in deletes {
            writes.push(
                WriteRequest::builder()
                    .delete_request(
                        DeleteRequest::builder()
                            .set_key(Some(key_attributes(key)))
                            .build()
                            .map_err(built)?,
                    )
                    .build(),
            );
        }
        let mut request = Some(HashMap::from([(table.to_owned(), writes)]));
        for round in 0..=BATCH_ROUNDS {
            let Some(pending) = request.take() else {
                return Ok(());
            };
            if round == BATCH_ROUNDS {
                let left = pending.values().map(Vec::len).sum::<usize>();
                return Err(Error::new(
                    ErrorKind::Throttled,
                    format!(
                        "batch write of table {table}: {left} writes still unprocessed after \
                         {BATCH_ROUNDS} rounds"
                    ),
                ));
            }
            if round > 0 {
                tokio::time::sleep(pause(round)).await;
            }
            let out = self
                .dynamodb
                .batch_write_item()
                .set_request_items(Some(pending))
                .send()
                .await
                .map_err(|e| sdk_error(format!("batch write of table {table}"), e))?;
            request = out
                .unprocessed_items
                .filter(|left| left.values().any(|w| !w.is_empty()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_json_value_round_trips_through_the_stored_attributes() {
        let mut item = Item::new(ItemKey::new("P#1", "S#1"));
        item.gsi1 = Some(ItemKey::new("G", "2026"));
        item.ttl = Some(1_800_000_000);
        item.version = i64::MAX as u64;
        item.attrs.insert(
            "v".to_owned(),
            json!({"int": 1, "float": 1.0, "neg": -0.5, "big": u64::MAX, "s": "",
                   "list": [null, true, {"deep": []}], "empty": {}}),
        );
        let stored = encode("t", &item).unwrap();
        assert_eq!(decode("t", stored).unwrap(), item);
    }

    #[test]
    fn an_expired_item_is_absent_to_conditions_and_reads() {
        let mut item = Item::new(ItemKey::new("P", "S"));
        item.ttl = Some(100);
        let stored = encode("t", &item).unwrap();
        assert!(!is_live(&stored, 100), "a TTL not in the future has passed");
        assert!(is_live(&stored, 99));
        let not_exists = condition_expression("t", Condition::NotExists, 100)
            .unwrap()
            .unwrap();
        assert_eq!(not_exists.text, "attribute_not_exists(#pk) OR #ttl <= :now");
        let version = condition_expression("t", Condition::VersionIs(3), 100)
            .unwrap()
            .unwrap();
        assert!(version.text.contains("#ttl > :now"), "{}", version.text);
        assert!(
            condition_expression("t", Condition::None, 100)
                .unwrap()
                .is_none()
        );
        assert_eq!(
            condition_expression("t", Condition::VersionIs(u64::MAX), 100)
                .map(|_| ())
                .unwrap_err()
                .kind(),
            ErrorKind::Invalid
        );
    }
}
