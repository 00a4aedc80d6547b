//! [`Registry`] on one DynamoDB table, `{prefix}_tenants-metadata`.
//!
//! # Item layout
//!
//! Every item has a string partition key `pk` and sort key `sk`; one overloaded global
//! secondary index `gsi1` (`gsi1pk`/`gsi1sk`, all attributes projected) serves the listings
//! that are not by primary key.
//!
//! | item | `pk` | `sk` | `gsi1pk` / `gsi1sk` |
//! |---|---|---|---|
//! | tenant | `TENANTS` | `T#{id}` | `STATUS#{status}` / `{id}` |
//! | journal entry | `JOURNAL#{tenant}` | `{seq:020}#{uuid}` | — |
//! | API key | `APIKEY#{hash}` | `KEY` | `KEYS#{tenant}` / `{created:020}#{key_id}` |
//! | API key id | `APIKEYID#{key_id}` | `KEY` | — |
//! | idempotency record | `IDEM#{key}` | `IDEM` | `REVEALS#{tenant}` / `{key_id}#{key}` |
//! | model usage of a day and model | `USAGE#{tenant}` | `{day}#{model}` | — |
//!
//! - A tenant item holds the record as JSON (`record`) with `version` and `status` alongside.
//!   All tenants share one partition, so listing them in id order is one Query (`sk > T#{after}`);
//!   at the expected scale (a few thousand tenants per deployment) one partition is ample.
//!   Listing by status queries `gsi1`. Tombstones (`Deleted`) stay, so their ids stay taken.
//! - Create and update write the tenant and its journal entries in one `TransactWriteItems`,
//!   guarded by `attribute_not_exists(pk)` or `version = :expected`; a failed guard is told
//!   apart (`NotFound` / `ConditionFailed`) by reading the item, as the embedded adapter does.
//!   One transaction takes at most 100 items, so an update carries at most 99 journal entries.
//! - Journal entries sort as appended: `seq` is the wall clock in nanoseconds, made strictly
//!   increasing within a process, so entries of one call, and of successive calls of one
//!   process, keep their order; appends from different processes are ordered by their clocks.
//! - An API key is stored once under its hash (the per-request lookup is one `GetItem`) and
//!   claimed under its id by a second item pointing at the hash; both are put in one
//!   transaction guarded by `attribute_not_exists(pk)`, so a taken id or hash is
//!   `AlreadyExists`. A tenant's keys are listed newest first through `gsi1`.
//! - An idempotency record carries `claim_state` (`claimed`/`completed`), `claim_token`,
//!   `epoch`, `lease_from` (when the claim was made or last renewed, nanoseconds; 0 once
//!   released), `expires_at` (nanoseconds) and `ttl` (seconds, for DynamoDB's TTL, which
//!   deletes eventually: records past `expires_at` are treated as absent). A claim reads the
//!   record and writes the new claim conditioned on what it read (`attribute_not_exists(pk)`, or
//!   the same token, state and lease), so of racing claims exactly one wins; the others read
//!   again and find it in progress. Renew, complete and release are conditioned on the token.
//!   A completed response is `response` (JSON); a purged one has none.
//! - A response that shows an API key names it (`reveals_tenant`, `reveals_key`) and is
//!   indexed under `REVEALS#{tenant}`, so revoking the key (or all of the tenant's keys) finds
//!   it and purges it in the same transaction as the revocation.
//!
//! # Where DynamoDB is weaker than the embedded store
//!
//! - `gsi1` is eventually consistent on AWS (moto is immediate): a key or response written a
//!   moment ago may be missing from a listing, from `revoke_all_api_keys`, or from the purge
//!   of a revocation. Replay does not depend on the index: a claim that finds a completed
//!   response showing a key checks that key by primary key, and a revoked (or missing) key
//!   makes it `Purged` (and purges it then).
//! - A transaction takes 100 items: revoking keys whose purges and revocations exceed that is
//!   written in several transactions, each atomic, the whole not.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder;
use aws_sdk_dynamodb::types::builders::PutBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, Projection, ProjectionType, Put, ScalarAttributeType, Select, TimeToLiveSpecification,
    TimeToLiveStatus, TransactWriteItem, Update,
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::aws::errors::sdk_error;
use crate::error::{Error, ErrorKind, Result};
use crate::id::TenantId;
use crate::lifecycle::TenantStatus;
use crate::ports::registry::{Registry, TenantFilter, TenantPage, UsageDay, UsageDelta};
use crate::record::{
    ApiKeyKind, ApiKeyRecord, IdempotencyClaim, JournalEntry, RequestId, StoredResponse,
    TenantRecord,
};

/// Most items one `TransactWriteItems` takes.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// Attempts of a read-then-conditional-write before giving up as contended (retryable).
const ATTEMPTS: usize = 8;
const GSI: &str = "gsi1";
const TENANTS: &str = "TENANTS";
const KEY_SK: &str = "KEY";
const IDEM_SK: &str = "IDEM";
const CLAIMED: &str = "claimed";
const COMPLETED: &str = "completed";

type Item = HashMap<String, AttributeValue>;

/// Creates the registry table `name` unless it exists (on-demand billing, `gsi1`, TTL on
/// `ttl`), and waits until it is active. An existing table must have the registry's keys.
pub async fn ensure_table(client: &Client, name: &str) -> Result<()> {
    let what = || format!("creating registry table {name}");
    let existing = client.describe_table().table_name(name).send().await;
    match existing {
        Ok(out) => {
            let table = out
                .table
                .unwrap_or_else(|| aws_sdk_dynamodb::types::TableDescription::builder().build());
            let keys: Vec<&str> = table
                .key_schema()
                .iter()
                .map(|k| k.attribute_name())
                .collect();
            let has_gsi = table
                .global_secondary_indexes()
                .iter()
                .any(|g| g.index_name() == Some(GSI));
            if keys != ["pk", "sk"] || !has_gsi {
                return Err(Error::condition_failed(format!(
                    "table {name} exists but is not a registry table (keys {keys:?}, gsi1: {has_gsi})"
                )));
            }
        }
        Err(e) => {
            let err = sdk_error(format!("describing registry table {name}"), e);
            if err.kind() != ErrorKind::NotFound {
                return Err(err);
            }
            let created = client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .set_attribute_definitions(Some(
                    ["pk", "sk", "gsi1pk", "gsi1sk"]
                        .into_iter()
                        .map(|a| {
                            AttributeDefinition::builder()
                                .attribute_name(a)
                                .attribute_type(ScalarAttributeType::S)
                                .build()
                                .map_err(build_error)
                        })
                        .collect::<Result<Vec<_>>>()?,
                ))
                .set_key_schema(Some(key_schema("pk", "sk")?))
                .global_secondary_indexes(
                    GlobalSecondaryIndex::builder()
                        .index_name(GSI)
                        .set_key_schema(Some(key_schema("gsi1pk", "gsi1sk")?))
                        .projection(
                            Projection::builder()
                                .projection_type(ProjectionType::All)
                                .build(),
                        )
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await;
            if let Err(e) = created {
                let err = sdk_error(what(), e);
                if err.kind() != ErrorKind::AlreadyExists {
                    return Err(err);
                }
            }
        }
    }
    client
        .wait_until_table_exists()
        .table_name(name)
        .wait(std::time::Duration::from_secs(300))
        .await
        .map_err(|e| Error::unavailable(format!("waiting for registry table {name}: {e}")))?;
    let what = format!("enabling TTL on registry table {name}");
    let ttl = client
        .describe_time_to_live()
        .table_name(name)
        .send()
        .await
        .map_err(|e| sdk_error(&what, e))?;
    let status = ttl
        .time_to_live_description()
        .and_then(|d| d.time_to_live_status());
    if !matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        client
            .update_time_to_live()
            .table_name(name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .enabled(true)
                    .attribute_name("ttl")
                    .build()
                    .map_err(build_error)?,
            )
            .send()
            .await
            .map_err(|e| sdk_error(&what, e))?;
    }
    Ok(())
}

fn key_schema(hash: &str, range: &str) -> Result<Vec<KeySchemaElement>> {
    [(hash, KeyType::Hash), (range, KeyType::Range)]
        .into_iter()
        .map(|(name, kind)| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(build_error)
        })
        .collect()
}

fn build_error(e: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::invalid(format!("building a DynamoDB request: {e}"))
}

pub struct DynamoRegistry {
    client: Client,
    table: String,
    /// The last journal sequence number this process issued (see the module docs).
    last_seq: AtomicU64,
}

impl DynamoRegistry {
    /// The registry on table `table` (see [`ensure_table`]).
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoRegistry {
            client,
            table: table.into(),
            last_seq: AtomicU64::new(0),
        }
    }

    /// A journal sort key later than every one this process issued before.
    fn next_seq(&self) -> u64 {
        let now = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos()).unwrap_or(0);
        let mut last = self.last_seq.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self.last_seq.compare_exchange_weak(
                last,
                next,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    async fn get(&self, pk: String, sk: &str, what: &str) -> Result<Option<Item>> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", s(pk))
            .key("sk", s(sk))
            .consistent_read(true)
            .send()
            .await
            .map(|out| out.item)
            .map_err(|e| sdk_error(what, e))
    }

    fn journal_put(&self, entry: &JournalEntry) -> Result<TransactWriteItem> {
        let raw = serde_json::to_string(entry)
            .map_err(|e| Error::invalid(format!("journal entry does not serialise: {e}")))?;
        let put = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("JOURNAL#{}", entry.tenant)))
            .item(
                "sk",
                s(format!(
                    "{:020}#{}",
                    self.next_seq(),
                    Uuid::new_v4().simple()
                )),
            )
            .item("run_id", s(entry.run_id.to_string()))
            .item("entry", s(raw))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn tenant_put(&self, record: &TenantRecord, version: u64) -> Result<PutBuilder> {
        let mut stored = record.clone();
        stored.version = version;
        let raw = serde_json::to_string(&stored).map_err(|e| {
            Error::invalid(format!(
                "tenant {}: record does not serialise: {e}",
                record.id
            ))
        })?;
        Ok(Put::builder()
            .table_name(&self.table)
            .item("pk", s(TENANTS))
            .item("sk", s(format!("T#{}", record.id)))
            .item("record", s(raw))
            .item("version", n(version))
            .item("status", s(record.status.as_str()))
            .item("gsi1pk", s(format!("STATUS#{}", record.status.as_str())))
            .item("gsi1sk", s(record.id.as_str())))
    }

    /// Runs one transaction. `Cancelled`: an item's condition failed and nothing was written;
    /// a cancellation for any other reason (a conflicting transaction) is a retryable error.
    async fn transact(&self, items: Vec<TransactWriteItem>, what: &str) -> Result<Txn> {
        if items.is_empty() {
            return Ok(Txn::Committed);
        }
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(Txn::Committed),
            Err(e) => match cancellation(&e) {
                // A guard failed (or the service did not say why): the caller reads and decides.
                Some(codes)
                    if codes.is_empty() || codes.iter().any(|c| c == "ConditionalCheckFailed") =>
                {
                    Ok(Txn::Cancelled)
                }
                Some(codes) => Err(Error::new(
                    ErrorKind::Throttled,
                    format!("{what}: transaction cancelled ({})", codes.join(", ")),
                )),
                None => Err(sdk_error(what, e)),
            },
        }
    }

    /// Every item of `gsi1pk` (and `gsi1sk` starting with `start`, if given), in index order.
    async fn query_index(
        &self,
        gsi1pk: String,
        start: Option<String>,
        forward: bool,
        what: &str,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::new();
        let mut from = None;
        loop {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(GSI)
                .expression_attribute_values(":p", s(gsi1pk.clone()))
                .scan_index_forward(forward)
                .set_exclusive_start_key(from);
            q = match &start {
                Some(start) => q
                    .key_condition_expression("gsi1pk = :p AND begins_with(gsi1sk, :s)")
                    .expression_attribute_values(":s", s(start.clone())),
                None => q.key_condition_expression("gsi1pk = :p"),
            };
            let out = q.send().await.map_err(|e| sdk_error(what, e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => from = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// The stored key with id `key_id`, if it is `tenant`'s.
    async fn key_by_id(&self, tenant: &TenantId, key_id: &str) -> Result<Option<ApiKeyRecord>> {
        let what = format!("reading API key {key_id} of tenant {tenant}");
        let Some(pointer) = self
            .get(format!("APIKEYID#{key_id}"), KEY_SK, &what)
            .await?
        else {
            return Ok(None);
        };
        if str_attr(&pointer, "tenant")? != tenant.as_str() {
            return Ok(None);
        }
        let hash = str_attr(&pointer, "hash")?.to_owned();
        self.get(format!("APIKEY#{hash}"), KEY_SK, &what)
            .await?
            .map(|item| decode_key(&item))
            .transpose()
    }

    /// Whether a response showing `tenant`'s key `key_id` must be purged: the key is revoked,
    /// or not stored at all.
    async fn revoked(&self, tenant: &TenantId, key_id: &str) -> Result<bool> {
        Ok(self
            .key_by_id(tenant, key_id)
            .await?
            .is_none_or(|k| k.revoked_at.is_some()))
    }

    /// Purges the stored response of idempotency record `item` (from the `REVEALS#` index),
    /// as long as it still shows the same key.
    fn purge(&self, item: &Item) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", item.get("pk").cloned().unwrap_or_else(|| s("")))
            .key("sk", s(IDEM_SK))
            .update_expression("REMOVE #r, gsi1pk, gsi1sk")
            .condition_expression("#st = :completed AND reveals_tenant = :t AND reveals_key = :k")
            .expression_attribute_names("#r", "response")
            .expression_attribute_names("#st", "claim_state")
            .expression_attribute_values(":completed", s(COMPLETED))
            .expression_attribute_values(":t", s(str_attr(item, "reveals_tenant")?))
            .expression_attribute_values(":k", s(str_attr(item, "reveals_key")?))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Sets `revoked_at` on a live key.
    fn revoke(&self, key: &ApiKeyRecord, at: i64) -> Result<TransactWriteItem> {
        let update = Update::builder()
            .table_name(&self.table)
            .key("pk", s(format!("APIKEY#{}", key.hash)))
            .key("sk", s(KEY_SK))
            .update_expression("SET revoked_at = :at")
            .condition_expression("attribute_exists(pk) AND attribute_not_exists(revoked_at)")
            .expression_attribute_values(":at", n(at))
            .build()
            .map_err(build_error)?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// Writes `items` in transactions of at most 100; `false` when one was cancelled by a
    /// condition (the caller reads again and retries), with the earlier ones committed.
    async fn transact_all(&self, items: Vec<TransactWriteItem>, what: &str) -> Result<bool> {
        let mut items = items.into_iter().peekable();
        while items.peek().is_some() {
            let chunk: Vec<_> = items.by_ref().take(MAX_TRANSACTION_ITEMS).collect();
            if let Txn::Cancelled = self.transact(chunk, what).await? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// An update of idempotency key `key`'s record that applies only while `token` holds it
    /// claimed; `also` is appended to that condition (it starts with ` AND `, or is empty).
    fn update_own_claim(&self, key: &str, token: &str, also: &str) -> UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("IDEM#{key}")))
            .key("sk", s(IDEM_SK))
            .condition_expression(format!("#tk = :tk AND #st = :claimed{also}"))
            .expression_attribute_names("#tk", "claim_token")
            .expression_attribute_names("#st", "claim_state")
            .expression_attribute_values(":tk", s(token))
            .expression_attribute_values(":claimed", s(CLAIMED))
    }

    /// The error for a token that does not hold the claim of `key`, or no record at all.
    async fn not_this_claim(&self, key: &str) -> Error {
        match self
            .get(
                format!("IDEM#{key}"),
                IDEM_SK,
                &format!("reading idempotency key {key}"),
            )
            .await
        {
            Err(e) => e,
            Ok(None) => Error::not_found(format!("idempotency key {key} has no claim")),
            Ok(Some(_)) => Error::condition_failed(format!(
                "idempotency key {key} is no longer held by this claim \
                 (completed already, or taken over after its lease ran out); nothing was written"
            )),
        }
    }
}

enum Txn {
    Committed,
    Cancelled,
}

/// The cancellation reason codes of a cancelled transaction (`None` for any other failure).
fn cancellation(err: &SdkError<TransactWriteItemsError, HttpResponse>) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

fn is_condition_failed<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    err.as_service_error()
        .and_then(|e| e.code())
        .is_some_and(|c| c == "ConditionalCheckFailedException")
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn unreadable(name: &str) -> Error {
    Error::unavailable(format!("registry item has no readable attribute {name:?}"))
}

fn str_attr<'a>(item: &'a Item, name: &str) -> Result<&'a str> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v),
        _ => Err(unreadable(name)),
    }
}

fn opt_str(item: &Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    }
}

fn opt_num(item: &Item, name: &str) -> Result<Option<i64>> {
    match item.get(name) {
        None | Some(AttributeValue::Null(_)) => Ok(None),
        Some(AttributeValue::N(v)) => v.parse().map(Some).map_err(|_| unreadable(name)),
        _ => Err(unreadable(name)),
    }
}

fn num_attr(item: &Item, name: &str) -> Result<i64> {
    opt_num(item, name)?.ok_or_else(|| unreadable(name))
}

fn to_nanos(at: OffsetDateTime) -> Result<i64> {
    i64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| Error::invalid(format!("timestamp {at} is outside the storable range")))
}

fn from_nanos(nanos: i64) -> Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos))
        .map_err(|e| Error::unavailable(format!("stored timestamp {nanos} is unreadable: {e}")))
}

/// `nanos` as a fixed-width string that sorts as the number does (negative ones included).
fn sortable(nanos: i64) -> String {
    format!("{:020}", (nanos as u64) ^ (1 << 63))
}

fn decode_record(item: &Item) -> Result<TenantRecord> {
    let mut record: TenantRecord = serde_json::from_str(str_attr(item, "record")?)
        .map_err(|e| Error::unavailable(format!("stored tenant record is unreadable: {e}")))?;
    record.version = u64::try_from(num_attr(item, "version")?).unwrap_or_default();
    Ok(record)
}

fn decode_key(item: &Item) -> Result<ApiKeyRecord> {
    let tenant = str_attr(item, "tenant")?;
    let opt_time = |name: &str| -> Result<Option<OffsetDateTime>> {
        opt_num(item, name)?.map(from_nanos).transpose()
    };
    Ok(ApiKeyRecord {
        key_id: str_attr(item, "key_id")?.to_owned(),
        tenant: TenantId::parse(tenant)
            .map_err(|e| Error::unavailable(format!("stored tenant id {tenant:?}: {e}")))?,
        kind: match str_attr(item, "kind")? {
            "publishable" => ApiKeyKind::Publishable,
            "secret" => ApiKeyKind::Secret,
            other => {
                return Err(Error::unavailable(format!(
                    "unknown API key kind {other:?}"
                )));
            }
        },
        prefix: str_attr(item, "prefix")?.to_owned(),
        hash: str_attr(item, "hash")?.to_owned(),
        created_at: from_nanos(num_attr(item, "created_at")?)?,
        expires_at: opt_time("expires_at")?,
        revoked_at: opt_time("revoked_at")?,
        last_used_at: opt_time("last_used_at")?,
        created_by_request: opt_str(item, "request").map(RequestId::from_stored),
    })
}

fn decode_entry(item: &Item) -> Result<JournalEntry> {
    serde_json::from_str(str_attr(item, "entry")?)
        .map_err(|e| Error::unavailable(format!("stored journal entry is unreadable: {e}")))
}

fn check_entries(record: &TenantRecord, entries: &[JournalEntry], room: usize) -> Result<()> {
    if entries.len() > room {
        return Err(Error::invalid(format!(
            "tenant {}: at most {room} journal entries can be written with the record",
            record.id
        )));
    }
    for e in entries {
        to_nanos(e.at)?;
        if e.tenant != record.id {
            return Err(Error::invalid(format!(
                "journal entry for tenant {} cannot be written with the record of tenant {}",
                e.tenant, record.id
            )));
        }
    }
    Ok(())
}

#[async_trait]
impl Registry for DynamoRegistry {
    async fn create_tenant(
        &self,
        record: &TenantRecord,
        entry: &JournalEntry,
    ) -> Result<TenantRecord> {
        check_entries(record, std::slice::from_ref(entry), 1)?;
        let put = self
            .tenant_put(record, 1)?
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .map_err(build_error)?;
        let items = vec![
            TransactWriteItem::builder().put(put).build(),
            self.journal_put(entry)?,
        ];
        let what = format!("creating tenant {}", record.id);
        match self.transact(items, &what).await? {
            Txn::Committed => Ok(TenantRecord {
                version: 1,
                ..record.clone()
            }),
            Txn::Cancelled => Err(Error::already_exists(format!(
                "tenant {} already exists (or was deleted)",
                record.id
            ))),
        }
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<TenantRecord> {
        let item = tenant_item(self, id).await?;
        item.as_ref()
            .map(decode_record)
            .transpose()?
            .ok_or_else(|| Error::not_found(format!("tenant {id} does not exist")))
    }

    async fn update_tenant(
        &self,
        record: &TenantRecord,
        entries: &[JournalEntry],
    ) -> Result<TenantRecord> {
        check_entries(record, entries, MAX_TRANSACTION_ITEMS - 1)?;
        let next = record
            .version
            .checked_add(1)
            .ok_or_else(|| Error::invalid("tenant version overflow"))?;
        let put = self
            .tenant_put(record, next)?
            .condition_expression("#v = :v")
            .expression_attribute_names("#v", "version")
            .expression_attribute_values(":v", n(record.version))
            .build()
            .map_err(build_error)?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        for e in entries {
            items.push(self.journal_put(e)?);
        }
        let id = &record.id;
        match self
            .transact(items, &format!("updating tenant {id}"))
            .await?
        {
            Txn::Committed => Ok(TenantRecord {
                version: next,
                ..record.clone()
            }),
            Txn::Cancelled => match tenant_item(self, id).await? {
                None => Err(Error::not_found(format!("tenant {id} does not exist"))),
                Some(item) => Err(Error::condition_failed(format!(
                    "tenant {id} is at version {}, not {}: someone else updated it first",
                    num_attr(&item, "version")?,
                    record.version
                ))),
            },
        }
    }

    async fn list_tenants(&self, filter: &TenantFilter) -> Result<TenantPage> {
        let limit = filter.page_size()? as usize;
        let after = filter.after.as_ref().map(|a| a.as_str()).unwrap_or("");
        let mut found = Vec::new();
        let mut from = None;
        // One more than the page, to know whether another follows.
        while found.len() <= limit {
            let want = i32::try_from(limit + 1 - found.len()).unwrap_or(i32::MAX);
            let q = self
                .client
                .query()
                .table_name(&self.table)
                .limit(want)
                .set_exclusive_start_key(from.take());
            let q = match filter.status {
                None => q
                    .key_condition_expression("pk = :p AND sk > :after")
                    .expression_attribute_values(":p", s(TENANTS))
                    .expression_attribute_values(":after", s(format!("T#{after}")))
                    .consistent_read(true),
                // DynamoDB refuses an empty string as a key value, so the first page of a
                // status has no sort-key condition at all.
                Some(status) if after.is_empty() => q
                    .index_name(GSI)
                    .key_condition_expression("gsi1pk = :p")
                    .expression_attribute_values(":p", s(format!("STATUS#{}", status.as_str()))),
                Some(status) => q
                    .index_name(GSI)
                    .key_condition_expression("gsi1pk = :p AND gsi1sk > :after")
                    .expression_attribute_values(":p", s(format!("STATUS#{}", status.as_str())))
                    .expression_attribute_values(":after", s(after)),
            };
            let out = q
                .send()
                .await
                .map_err(|e| sdk_error("listing tenants", e))?;
            for item in out.items() {
                found.push(decode_record(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => from = Some(key),
                _ => break,
            }
        }
        let next = if found.len() > limit {
            found.truncate(limit);
            found.last().map(|t| t.id.clone())
        } else {
            None
        };
        Ok(TenantPage {
            tenants: found,
            next,
        })
    }

    /// A `COUNT` query of the tenant partition with the tombstones filtered out, page by page:
    /// DynamoDB still reads every tenant item (1 MB per page, about 4 KB each), but returns
    /// only the count.
    async fn count_live_tenants(&self) -> Result<u64> {
        let mut count = 0_u64;
        let mut from = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :t)")
                .filter_expression("#status <> :deleted")
                .expression_attribute_names("#status", "status")
                .expression_attribute_values(":p", s(TENANTS))
                .expression_attribute_values(":t", s("T#"))
                .expression_attribute_values(":deleted", s(TenantStatus::Deleted.as_str()))
                .select(Select::Count)
                .consistent_read(true)
                .set_exclusive_start_key(from.take())
                .send()
                .await
                .map_err(|e| sdk_error("counting live tenants", e))?;
            count += u64::try_from(out.count).unwrap_or_default();
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => from = Some(key),
                _ => return Ok(count),
            }
        }
    }

    async fn append_journal(&self, entry: &JournalEntry) -> Result<()> {
        to_nanos(entry.at)?;
        let Some(put) = self.journal_put(entry)?.put else {
            return Err(Error::invalid("journal entry without a put"));
        };
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .send()
            .await
            .map(drop)
            .map_err(|e| {
                sdk_error(
                    format!("appending to the journal of tenant {}", entry.tenant),
                    e,
                )
            })
    }

    async fn journal(
        &self,
        tenant: &TenantId,
        run_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<JournalEntry>> {
        let limit = crate::ports::registry::journal_limit(limit) as usize;
        let what = format!("reading the journal of tenant {tenant}");
        let mut entries = Vec::new();
        let mut from = None;
        while entries.len() < limit {
            let mut q = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p")
                .expression_attribute_values(":p", s(format!("JOURNAL#{tenant}")))
                .scan_index_forward(false)
                .consistent_read(true)
                .set_exclusive_start_key(from.take());
            q = match run_id {
                // The limit counts items read before the filter: page until enough match.
                Some(run) => q
                    .filter_expression("run_id = :r")
                    .expression_attribute_values(":r", s(run.to_string())),
                None => q.limit(i32::try_from(limit - entries.len()).unwrap_or(i32::MAX)),
            };
            let out = q.send().await.map_err(|e| sdk_error(&what, e))?;
            for item in out.items() {
                if entries.len() < limit {
                    entries.push(decode_entry(item)?);
                }
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => from = Some(key),
                _ => break,
            }
        }
        entries.reverse();
        Ok(entries)
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let created = to_nanos(key.created_at)?;
        let mut canonical = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("APIKEY#{}", key.hash)))
            .item("sk", s(KEY_SK))
            .item("key_id", s(&key.key_id))
            .item("tenant", s(key.tenant.as_str()))
            .item("hash", s(&key.hash))
            .item("kind", s(key.kind.as_str()))
            .item("prefix", s(&key.prefix))
            .item("created_at", n(created))
            .item("gsi1pk", s(format!("KEYS#{}", key.tenant)))
            .item("gsi1sk", s(format!("{}#{}", sortable(created), key.key_id)))
            .condition_expression("attribute_not_exists(pk)");
        for (name, at) in [
            ("expires_at", key.expires_at),
            ("revoked_at", key.revoked_at),
            ("last_used_at", key.last_used_at),
        ] {
            if let Some(at) = at {
                canonical = canonical.item(name, n(to_nanos(at)?));
            }
        }
        if let Some(request) = &key.created_by_request {
            canonical = canonical.item("request", s(request.as_str()));
        }
        let pointer = Put::builder()
            .table_name(&self.table)
            .item("pk", s(format!("APIKEYID#{}", key.key_id)))
            .item("sk", s(KEY_SK))
            .item("tenant", s(key.tenant.as_str()))
            .item("hash", s(&key.hash))
            .condition_expression("attribute_not_exists(pk)");
        let items = vec![
            TransactWriteItem::builder()
                .put(canonical.build().map_err(build_error)?)
                .build(),
            TransactWriteItem::builder()
                .put(pointer.build().map_err(build_error)?)
                .build(),
        ];
        match self
            .transact(items, &format!("storing API key {}", key.key_id))
            .await?
        {
            Txn::Committed => Ok(()),
            Txn::Cancelled => Err(Error::already_exists(format!(
                "API key id {} or its hash is already stored",
                key.key_id
            ))),
        }
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<ApiKeyRecord> {
        self.get(format!("APIKEY#{hash}"), KEY_SK, "resolving an API key")
            .await?
            .map(|item| decode_key(&item))
            .transpose()?
            .ok_or_else(|| Error::not_found("no API key has this hash"))
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        self.query_index(
            format!("KEYS#{tenant}"),
            None,
            false,
            &format!("listing the API keys of tenant {tenant}"),
        )
        .await?
        .iter()
        .map(decode_key)
        .collect()
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord> {
        let at_n = to_nanos(at)?;
        let what = format!("revoking API key {key_id} of tenant {tenant}");
        for _ in 0..ATTEMPTS {
            let key = self.key_by_id(tenant, key_id).await?.ok_or_else(|| {
                Error::not_found(format!("tenant {tenant} has no API key {key_id}"))
            })?;
            let mut items = Vec::new();
            if key.revoked_at.is_none() {
                items.push(self.revoke(&key, at_n)?);
            }
            for shown in self
                .query_index(
                    format!("REVEALS#{tenant}"),
                    Some(format!("{key_id}#")),
                    true,
                    &what,
                )
                .await?
            {
                items.push(self.purge(&shown)?);
            }
            if self.transact_all(items, &what).await? {
                return Ok(ApiKeyRecord {
                    revoked_at: key.revoked_at.or(Some(at)),
                    ..key
                });
            }
        }
        Err(Error::new(
            ErrorKind::Throttled,
            format!("{what}: the key changed under every attempt"),
        ))
    }

    async fn revoke_all_api_keys(&self, tenant: &TenantId, at: OffsetDateTime) -> Result<u32> {
        let at_n = to_nanos(at)?;
        let what = format!("revoking the API keys of tenant {tenant}");
        let mut revoked = 0u32;
        for _ in 0..ATTEMPTS {
            let live: Vec<ApiKeyRecord> = self
                .query_index(format!("KEYS#{tenant}"), None, true, &what)
                .await?
                .iter()
                .map(decode_key)
                .filter(|k| !matches!(k, Ok(k) if k.revoked_at.is_some()))
                .collect::<Result<_>>()?;
            let mut items = Vec::new();
            for key in &live {
                items.push(self.revoke(key, at_n)?);
            }
            let keys = items.len();
            for shown in self
                .query_index(format!("REVEALS#{tenant}"), None, true, &what)
                .await?
            {
                items.push(self.purge(&shown)?);
            }
            // Revocations first, so every committed chunk counts the keys it revoked.
            let mut rest = items.into_iter().enumerate().peekable();
            let mut done = true;
            while rest.peek().is_some() {
                let chunk: Vec<_> = rest.by_ref().take(MAX_TRANSACTION_ITEMS).collect();
                let in_chunk = chunk.iter().filter(|(i, _)| *i < keys).count();
                let chunk = chunk.into_iter().map(|(_, item)| item).collect();
                match self.transact(chunk, &what).await? {
                    Txn::Committed => {
                        revoked += u32::try_from(in_chunk).unwrap_or(u32::MAX);
                    }
                    Txn::Cancelled => {
                        done = false;
                        break;
                    }
                }
            }
            if done {
                return Ok(revoked);
            }
        }
        Err(Error::new(
            ErrorKind::Throttled,
            format!("{what}: the keys changed under every attempt"),
        ))
    }

    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<()> {
        let at = to_nanos(at)?;
        let what = format!("recording use of API key {key_id}");
        // A missing key is ignored (best effort).
        let Some(pointer) = self
            .get(format!("APIKEYID#{key_id}"), KEY_SK, &what)
            .await?
        else {
            return Ok(());
        };
        let hash = str_attr(&pointer, "hash")?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("APIKEY#{hash}")))
            .key("sk", s(KEY_SK))
            .update_expression("SET last_used_at = :at")
            // Never moves backwards.
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(last_used_at) OR last_used_at < :at)",
            )
            .expression_attribute_values(":at", n(at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(sdk_error(what, e)),
        }
    }

    async fn claim_idempotency_key(
        &self,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<IdempotencyClaim> {
        let now_n = to_nanos(now)?;
        let expires_n = to_nanos(expires_at)?;
        let lease_n = i64::try_from(lease.whole_nanoseconds()).unwrap_or(i64::MAX);
        let what = format!("claiming idempotency key {key}");
        for _ in 0..ATTEMPTS {
            let existing = self.get(format!("IDEM#{key}"), IDEM_SK, &what).await?;
            let mut epoch = None;
            let mut put = Put::builder().table_name(&self.table);
            match &existing {
                None => put = put.condition_expression("attribute_not_exists(pk)"),
                Some(item) => {
                    let found = str_attr(item, "fingerprint")?;
                    let state = str_attr(item, "claim_state")?;
                    let lease_from = num_attr(item, "lease_from")?;
                    let expired = num_attr(item, "expires_at")? <= now_n;
                    let stale = state == CLAIMED && now_n.saturating_sub(lease_from) >= lease_n;
                    if !expired && !stale {
                        return found_claim(self, key, item, found.to_owned()).await;
                    }
                    // The same request taking over its own lapsed or released claim goes on
                    // with its epoch; an expired record, or another request, starts a new one.
                    if !expired && found == fingerprint {
                        epoch = opt_str(item, "epoch");
                    }
                    // Replaces exactly what was read.
                    put = put
                        .condition_expression("#tk = :tk AND #st = :st AND lease_from = :lf")
                        .expression_attribute_names("#tk", "claim_token")
                        .expression_attribute_names("#st", "claim_state")
                        .expression_attribute_values(":tk", s(str_attr(item, "claim_token")?))
                        .expression_attribute_values(":st", s(state))
                        .expression_attribute_values(":lf", n(lease_from));
                }
            }
            let epoch = epoch.unwrap_or_else(|| Uuid::new_v4().to_string());
            let token = Uuid::new_v4().to_string();
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .item("pk", s(format!("IDEM#{key}")))
                .item("sk", s(IDEM_SK))
                .item("fingerprint", s(fingerprint))
                .item("claim_state", s(CLAIMED))
                .item("claim_token", s(&token))
                .item("epoch", s(&epoch))
                .item("lease_from", n(now_n))
                .item("expires_at", n(expires_n))
                .item("ttl", n(expires_at.unix_timestamp()))
                .set_condition_expression(put.get_condition_expression().clone())
                .set_expression_attribute_names(put.get_expression_attribute_names().clone())
                .set_expression_attribute_values(put.get_expression_attribute_values().clone())
                .send()
                .await;
            match result {
                Ok(_) => return Ok(IdempotencyClaim::Claimed { token, epoch }),
                // Someone else wrote first: read again and decide again.
                Err(e) if is_condition_failed(&e) => continue,
                Err(e) => return Err(sdk_error(what, e)),
            }
        }
        Err(Error::new(
            ErrorKind::Throttled,
            format!("{what}: the record changed under every attempt"),
        ))
    }

    async fn renew_idempotency_claim(
        &self,
        key: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let now_n = to_nanos(now)?;
        let what = format!("renewing the claim of idempotency key {key}");
        let result = self
            .update_own_claim(key, token, " AND lease_from < :now")
            .update_expression("SET lease_from = :now")
            .expression_attribute_values(":now", n(now_n))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => {
                // Still this claim, renewed at `now` or later already: the lease never moves
                // backwards, and that is success.
                let item = self.get(format!("IDEM#{key}"), IDEM_SK, &what).await?;
                if let Some(item) = &item
                    && str_attr(item, "claim_token")? == token
                    && str_attr(item, "claim_state")? == CLAIMED
                {
                    return Ok(());
                }
                Err(self.not_this_claim(key).await)
            }
            Err(e) => Err(sdk_error(what, e)),
        }
    }

    async fn complete_idempotency_key(
        &self,
        key: &str,
        token: &str,
        response: &StoredResponse,
    ) -> Result<()> {
        let raw = serde_json::to_string(response).map_err(|e| {
            Error::invalid(format!(
                "response for idempotency key {key} does not serialise: {e}"
            ))
        })?;
        // A key revoked before its response could be stored: store it purged at once.
        let revoked = match &response.reveals {
            None => false,
            Some(k) => self.revoked(&k.tenant, &k.key_id).await?,
        };
        let mut set = vec!["#st = :completed"];
        let mut update = self
            .update_own_claim(key, token, "")
            .expression_attribute_values(":completed", s(COMPLETED));
        if !revoked {
            set.push("#r = :r");
            update = update
                .expression_attribute_names("#r", "response")
                .expression_attribute_values(":r", s(raw));
        }
        if let Some(k) = &response.reveals {
            set.push("reveals_tenant = :rt, reveals_key = :rk");
            update = update
                .expression_attribute_values(":rt", s(k.tenant.as_str()))
                .expression_attribute_values(":rk", s(&k.key_id));
            if !revoked {
                set.push("gsi1pk = :gp, gsi1sk = :gs");
                update = update
                    .expression_attribute_values(":gp", s(format!("REVEALS#{}", k.tenant)))
                    .expression_attribute_values(":gs", s(format!("{}#{key}", k.key_id)));
            }
        }
        let result = update
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Err(self.not_this_claim(key).await),
            Err(e) => Err(sdk_error(format!("completing idempotency key {key}"), e)),
        }
    }

    async fn release_idempotency_key(&self, key: &str, token: &str) -> Result<()> {
        // Kept, with its lease over at once: a retry of the same request continues its epoch
        // (it may have written before it failed).
        let result = self
            .update_own_claim(key, token, "")
            .update_expression("SET lease_from = :zero")
            .expression_attribute_values(":zero", n(0))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failed(&e) => Ok(()),
            Err(e) => Err(sdk_error(format!("releasing idempotency key {key}"), e)),
        }
    }

    /// One item per tenant, day and model, `USAGE#{tenant}` / `{day}#{model}`, its counters
    /// added to by `ADD` (atomic in DynamoDB, so concurrent adds all count).
    async fn record_usage(
        &self,
        tenant: &TenantId,
        day: time::Date,
        model: &str,
        delta: &UsageDelta,
    ) -> Result<()> {
        if model.is_empty() {
            return Err(Error::invalid(
                "usage is recorded per model: the model id is empty",
            ));
        }
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", s(format!("USAGE#{tenant}")))
            .key("sk", s(format!("{day}#{model}")))
            // Names through placeholders: DynamoDB reserves many plain words.
            .update_expression(
                "SET #tenant = :tenant, #day = :day, #model = :model \
                 ADD #calls :calls, #input :input, #output :output, #cost :cost",
            )
            .expression_attribute_names("#tenant", "tenant")
            .expression_attribute_names("#day", "usage_day")
            .expression_attribute_names("#model", "model")
            .expression_attribute_names("#calls", "calls")
            .expression_attribute_names("#input", "input_tokens")
            .expression_attribute_names("#output", "output_tokens")
            .expression_attribute_names("#cost", "cost_nano_usd")
            .expression_attribute_values(":tenant", s(tenant.as_str()))
            .expression_attribute_values(":day", s(day.to_string()))
            .expression_attribute_values(":model", s(model))
            .expression_attribute_values(":calls", n(delta.calls))
            .expression_attribute_values(":input", n(delta.input_tokens))
            .expression_attribute_values(":output", n(delta.output_tokens))
            .expression_attribute_values(":cost", n(delta.cost_nano_usd))
            .send()
            .await
            .map(drop)
            .map_err(|e| sdk_error(format!("recording model usage of tenant {tenant}"), e))
    }

    async fn usage(
        &self,
        tenant: &TenantId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<UsageDay>> {
        let what = format!("reading the model usage of tenant {tenant}");
        let mut days = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                // `{to}$` sorts after every `{to}#{model}`: '$' follows '#'.
                .key_condition_expression("pk = :p AND sk BETWEEN :from AND :to")
                .expression_attribute_values(":p", s(format!("USAGE#{tenant}")))
                .expression_attribute_values(":from", s(format!("{from}#")))
                .expression_attribute_values(":to", s(format!("{to}$")))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error(&what, e))?;
            for item in out.items() {
                let day = str_attr(item, "usage_day")?;
                let day = time::Date::parse(day, crate::ports::registry::USAGE_DAY)
                    .map_err(|_| unreadable("usage_day"))?;
                let count = |name: &str| -> Result<u64> {
                    Ok(u64::try_from(opt_num(item, name)?.unwrap_or(0)).unwrap_or(0))
                };
                days.push(UsageDay {
                    day,
                    model: str_attr(item, "model")?.to_owned(),
                    usage: UsageDelta {
                        calls: count("calls")?,
                        input_tokens: count("input_tokens")?,
                        output_tokens: count("output_tokens")?,
                        cost_nano_usd: count("cost_nano_usd")?,
                    },
                });
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(days)
    }
}

/// The tenant item of `id`, read consistently.
async fn tenant_item(registry: &DynamoRegistry, id: &TenantId) -> Result<Option<Item>> {
    registry
        .client
        .get_item()
        .table_name(&registry.table)
        .key("pk", s(TENANTS))
        .key("sk", s(format!("T#{id}")))
        .consistent_read(true)
        .send()
        .await
        .map(|out| out.item)
        .map_err(|e| sdk_error(format!("reading tenant {id}"), e))
}

/// What a claim found in a live record: a completed response (unless it shows a key revoked
/// since, which purges it now — the index the revocation used may have lagged), a purged one,
/// or a claim in progress.
async fn found_claim(
    registry: &DynamoRegistry,
    key: &str,
    item: &Item,
    fingerprint: String,
) -> Result<IdempotencyClaim> {
    if str_attr(item, "claim_state")? != COMPLETED {
        return Ok(IdempotencyClaim::InProgress { fingerprint });
    }
    let Some(raw) = opt_str(item, "response") else {
        return Ok(IdempotencyClaim::Purged { fingerprint });
    };
    let response: StoredResponse = serde_json::from_str(&raw).map_err(|e| {
        Error::unavailable(format!(
            "stored response of idempotency key {key} is unreadable: {e}"
        ))
    })?;
    if let Some(shown) = &response.reveals
        && registry.revoked(&shown.tenant, &shown.key_id).await?
    {
        let purge = registry.purge(item)?;
        // Best effort: the answer is `Purged` whether or not this write lands.
        let _ = registry
            .transact(vec![purge], &format!("purging idempotency key {key}"))
            .await;
        return Ok(IdempotencyClaim::Purged { fingerprint });
    }
    Ok(IdempotencyClaim::Completed {
        fingerprint,
        response,
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::sortable;

    proptest! {
        #[test]
        fn sortable_timestamps_sort_as_their_numbers(a: i64, b: i64) {
            prop_assert_eq!(sortable(a).cmp(&sortable(b)), a.cmp(&b));
            prop_assert_eq!(sortable(a).len(), 20);
        }
    }
}
