//! Embedded `ItemStore`: items of a tenant table in its tenant file, payloads sealed under the
//! table's key.
//!
//! Every call resolves the table through the catalog and re-reads its key's state in the same
//! indexed query, so a table deleted or a key scheduled for deletion by another process takes
//! effect on the next call; only the unwrapped key material is cached. Items whose TTL has
//! passed are treated as absent everywhere (reads, conditions), as if already purged.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params_from_iter};

use crate::embedded::crypto::SecretKey;
use crate::embedded::item_codec;
use crate::embedded::item_rows::{
    check_condition, now_secs, purge_expired, query_sql, read_one, remove, write,
};
use crate::embedded::key_vault::{Vault, decode_state, is_due};
use crate::embedded::sqlite::{Db, blocking, sql_err};
use crate::embedded::tenant_files::TenantFiles;
use crate::embedded::timestamps::now;
use crate::error::{Error, ErrorKind, Result};
use crate::ports::item_store::{
    Condition, Cursor, Item, ItemKey, ItemStore, MAX_BATCH_GET, MAX_BATCH_WRITE,
    MAX_TRANSACT_ITEMS, Page, Query, WriteOp,
};
use crate::ports::key_vault::KeyState;

/// One write transaction in this many also purges expired items of the table it writes.
const PURGE_EVERY: u64 = 256;
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

pub(crate) struct EmbeddedItemStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// A `cloud.db` connection of its own, so item traffic does not queue behind admin calls.
    catalog: Db,
    vault: Arc<Vault>,
    files: Arc<TenantFiles>,
    /// Write transactions so far, to schedule lazy TTL purges.
    writes: AtomicU64,
}

/// A table resolved for one call: where it lives and the key its payloads are sealed under.
struct Resolved {
    name: String,
    group: String,
    key: SecretKey,
}

impl EmbeddedItemStore {
    pub(crate) fn new(catalog: Db, vault: Arc<Vault>, files: Arc<TenantFiles>) -> Self {
        EmbeddedItemStore {
            inner: Arc::new(Inner {
                catalog,
                vault,
                files,
                writes: AtomicU64::new(0),
            }),
        }
    }

    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Inner) -> Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        blocking(move || f(&inner)).await
    }
}

impl Inner {
    fn resolve(&self, table: &str) -> Result<Resolved> {
        type Row = (
            String,
            Option<String>,
            Option<String>,
            Option<i64>,
            Option<Vec<u8>>,
        );
        let row: Option<Row> = self.catalog.with_conn(|conn| {
            conn.prepare_cached(
                "SELECT t.tenant_group, t.key_id, k.state, k.deletion_at, k.wrapped
                 FROM tables t LEFT JOIN keys k ON k.key_id = t.key_id WHERE t.name = ?1",
            )
            .and_then(|mut s| {
                s.query_row([table], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                })
                .optional()
            })
            .map_err(sql_err(format!("resolving table {table}")))
        })?;
        let (group, key_id, state, deletion_at, wrapped) =
            row.ok_or_else(|| Error::not_found(format!("table {table} does not exist")))?;
        let key = match key_id {
            None => self.vault.default_table_key().clone(),
            Some(key_id) => {
                let denied = || {
                    Error::access_denied(format!(
                        "table {table}: its key {key_id} is pending deletion or destroyed; \
                         the tenant's data can no longer be read or written"
                    ))
                };
                let state = decode_state(state.as_deref().unwrap_or("destroyed"), deletion_at)
                    .map_err(sql_err(format!("reading the key state of table {table}")))?;
                if is_due(state, now()) {
                    // Shred now rather than wait for a vault call to notice.
                    if let Err(e) = self.vault.destroy_due(&key_id) {
                        tracing::warn!(key_id, error = %e, "could not destroy a key past its deletion time");
                    }
                }
                if state != KeyState::Enabled {
                    return Err(denied());
                }
                self.vault.material(&key_id, wrapped.as_deref())?
            }
        };
        Ok(Resolved {
            name: table.to_owned(),
            group,
            key,
        })
    }

    /// The tenant file of a resolved table. `NotFound` when the file is gone: the table's
    /// tenant lost its last table (and so the file) after the table was resolved.
    fn file(&self, resolved: &Resolved) -> Result<Db> {
        self.files.get(&resolved.group).map_err(|e| match e.kind() {
            ErrorKind::NotFound => {
                Error::not_found(format!("table {} does not exist", resolved.name))
            }
            _ => e,
        })
    }

    /// Resolves every table of a transaction; they must all live in one tenant file, because
    /// one SQLite transaction cannot span files atomically.
    fn resolve_one_tenant(&self, ops: &[WriteOp]) -> Result<Vec<Resolved>> {
        let mut tables: Vec<Resolved> = Vec::new();
        for op in ops {
            if !tables.iter().any(|r| r.name == op.table()) {
                tables.push(self.resolve(op.table())?);
            }
        }
        if let Some(other) = tables.iter().find(|r| r.group != tables[0].group) {
            return Err(Error::invalid(format!(
                "transactions span one tenant: tables {} and {} belong to different tenants",
                tables[0].name, other.name
            )));
        }
        Ok(tables)
    }

    /// Lazily reclaims the space of expired items: every [`PURGE_EVERY`]th write transaction
    /// also deletes a bounded batch of them from the table it writes ([`purge_table`]).
    fn purge_due(&self) -> bool {
        self.writes.fetch_add(1, Ordering::Relaxed) % PURGE_EVERY == PURGE_EVERY - 1
    }
}

/// Deletes a bounded batch of `table`'s expired items. Best effort: a failed purge is logged
/// and does not fail the caller's write.
fn purge_table(tx: &rusqlite::Connection, table: &str) {
    if let Err(e) = purge_expired(tx, table, now_secs()) {
        tracing::warn!(table, error = %e, "purging expired items failed");
    }
}

#[async_trait]
impl ItemStore for EmbeddedItemStore {
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()> {
        let table = table.to_owned();
        let item = item.clone();
        self.run(move |inner| {
            item_codec::check_key(&table, &item.key)?;
            let r = inner.resolve(&table)?;
            let encoded = item_codec::encode(&table, &item, &r.key)?;
            let purge = inner.purge_due();
            inner.file(&r)?.grouped(move |tx| {
                check_condition(tx, &table, &item.key, condition, now_secs())?;
                write(tx, &table, &encoded)?;
                if purge {
                    purge_table(tx, &table);
                }
                Ok(())
            })
        })
        .await
    }

    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>> {
        let table = table.to_owned();
        let key = key.clone();
        self.run(move |inner| {
            item_codec::check_key(&table, &key)?;
            let r = inner.resolve(&table)?;
            inner
                .file(&r)?
                .with_conn(|conn| read_one(conn, &r.name, &r.key, &key, now_secs()))
        })
        .await
    }

    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()> {
        let table = table.to_owned();
        let key = key.clone();
        self.run(move |inner| {
            item_codec::check_key(&table, &key)?;
            let r = inner.resolve(&table)?;
            inner.file(&r)?.grouped(move |tx| {
                check_condition(tx, &table, &key, condition, now_secs())?;
                remove(tx, &table, &key)?;
                Ok(())
            })
        })
        .await
    }

    async fn query(&self, table: &str, query: &Query) -> Result<Page> {
        let table = table.to_owned();
        let query = query.clone();
        self.run(move |inner| {
            let limit = match query.limit {
                0 => DEFAULT_PAGE,
                n => n.min(MAX_PAGE),
            };
            let (sql, args) = query_sql(&table, &query, limit, now_secs())?;
            let r = inner.resolve(&table)?;
            let what = || format!("querying table {table}");
            let mut items = inner.file(&r)?.with_conn(|conn| {
                let mut stmt = conn.prepare_cached(&sql).map_err(sql_err(what()))?;
                let mut rows = stmt
                    .query(params_from_iter(args))
                    .map_err(sql_err(what()))?;
                let mut items = Vec::new();
                while let Some(row) = rows.next().map_err(sql_err(what()))? {
                    items.push(item_codec::decode(&table, row, &r.key)?);
                }
                Ok(items)
            })?;
            let next = if items.len() > limit as usize {
                items.truncate(limit as usize);
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
        })
        .await
    }

    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()> {
        if ops.is_empty() || ops.len() > MAX_TRANSACT_ITEMS {
            return Err(Error::invalid(format!(
                "a transaction holds 1 to {MAX_TRANSACT_ITEMS} operations, not {}",
                ops.len()
            )));
        }
        let ops = ops.to_vec();
        self.run(move |inner| {
            for op in &ops {
                let (table, key, _) = crate::ports::item_store::op_parts(op);
                item_codec::check_key(table, key)?;
            }
            crate::ports::item_store::ensure_unique(
                "transaction",
                ops.iter().map(|op| {
                    let (table, key, _) = crate::ports::item_store::op_parts(op);
                    (table, key)
                }),
            )?;
            let tables = inner.resolve_one_tenant(&ops)?;
            let sealing = |table: &str| {
                tables
                    .iter()
                    .find(|r| r.name == table)
                    .map(|r| &r.key)
                    .ok_or_else(|| Error::not_found(format!("table {table} does not exist")))
            };
            let encoded = ops
                .iter()
                .map(|op| match op {
                    WriteOp::Put { table, item, .. } => {
                        item_codec::encode(table, item, sealing(table)?).map(Some)
                    }
                    _ => Ok(None),
                })
                .collect::<Result<Vec<_>>>()?;
            inner.file(&tables[0])?.grouped(move |tx| {
                let at = now_secs();
                for (i, op) in ops.iter().enumerate() {
                    let (table, key, condition) = crate::ports::item_store::op_parts(op);
                    check_condition(tx, table, key, condition, at).map_err(|e| {
                        if e.kind() != ErrorKind::ConditionFailed {
                            return e;
                        }
                        let why = format!("transaction cancelled, operation {i}: {}", e.message());
                        Error::condition_failed(why)
                    })?;
                }
                for (op, sealed) in ops.iter().zip(&encoded) {
                    match (op, sealed) {
                        (WriteOp::Put { table, .. }, Some(e)) => write(tx, table, e)?,
                        (WriteOp::Delete { table, key, .. }, _) => remove(tx, table, key)?,
                        _ => {}
                    }
                }
                Ok(())
            })
        })
        .await
    }

    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>> {
        if keys.len() > MAX_BATCH_GET {
            return Err(Error::invalid(format!(
                "batch get of {} keys is over the limit of {MAX_BATCH_GET}",
                keys.len()
            )));
        }
        let table = table.to_owned();
        let keys = keys.to_vec();
        self.run(move |inner| {
            for key in &keys {
                item_codec::check_key(&table, key)?;
            }
            crate::ports::item_store::ensure_unique(
                "batch get",
                keys.iter().map(|k| (table.as_str(), k)),
            )?;
            let r = inner.resolve(&table)?;
            inner.file(&r)?.with_conn(|conn| {
                let at = now_secs();
                let mut found = Vec::new();
                for key in &keys {
                    if let Some(item) = read_one(conn, &r.name, &r.key, key, at)? {
                        found.push(item);
                    }
                }
                Ok(found)
            })
        })
        .await
    }

    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()> {
        let count = puts.len() + deletes.len();
        if count > MAX_BATCH_WRITE {
            return Err(Error::invalid(format!(
                "batch write of {count} operations is over the limit of {MAX_BATCH_WRITE}"
            )));
        }
        let table = table.to_owned();
        let puts = puts.to_vec();
        let deletes = deletes.to_vec();
        self.run(move |inner| {
            for key in puts.iter().map(|i| &i.key).chain(&deletes) {
                item_codec::check_key(&table, key)?;
            }
            crate::ports::item_store::ensure_unique(
                "batch write",
                puts.iter()
                    .map(|i| &i.key)
                    .chain(&deletes)
                    .map(|k| (table.as_str(), k)),
            )?;
            let r = inner.resolve(&table)?;
            let encoded = puts
                .iter()
                .map(|i| item_codec::encode(&table, i, &r.key))
                .collect::<Result<Vec<_>>>()?;
            let purge = inner.purge_due();
            inner.file(&r)?.grouped(move |tx| {
                for e in &encoded {
                    write(tx, &table, e)?;
                }
                for key in &deletes {
                    remove(tx, &table, key)?;
                }
                if purge {
                    purge_table(tx, &table);
                }
                Ok(())
            })
        })
        .await
    }
}
