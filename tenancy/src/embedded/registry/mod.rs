//! Embedded `Registry` on `registry.db`: tenant records (versioned), their journal, API keys
//! and idempotency records.
//!
//! Every write is one `BEGIN IMMEDIATE` transaction, which is what makes the contracts hold
//! across processes: a version check and the update it guards, a record and its journal
//! entries, an idempotency lookup and the claim it leads to, all commit or fail together.

use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use uuid::Uuid;

mod rows;

use crate::embedded::sqlite::{Db, is_unique_violation, sql_err};
use crate::embedded::timestamps::to_nanos;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::lifecycle::TenantStatus;
use crate::ports::registry::{Registry, TenantFilter, TenantPage, UsageDay, UsageDelta};
use crate::record::{ApiKeyRecord, IdempotencyClaim, JournalEntry, StoredResponse, TenantRecord};
use rows::{
    API_KEY_COLUMNS, api_key_by_id, check_entries, decode_record, encode_record, insert_journal,
    read_api_key, read_journal,
};

pub(crate) const FILE_NAME: &str = "registry.db";

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tenants (
    id      TEXT PRIMARY KEY,
    status  TEXT NOT NULL,
    version INTEGER NOT NULL,
    record  TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tenants_by_status ON tenants (status, id);
CREATE TABLE IF NOT EXISTS journal (
    seq    INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    run_id TEXT NOT NULL,
    step   TEXT NOT NULL,
    phase  TEXT NOT NULL,
    detail TEXT NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS journal_by_tenant ON journal (tenant, seq);
CREATE INDEX IF NOT EXISTS journal_by_run ON journal (tenant, run_id, seq);
CREATE TABLE IF NOT EXISTS api_keys (
    key_id       TEXT PRIMARY KEY,
    tenant       TEXT NOT NULL,
    hash         TEXT NOT NULL UNIQUE,
    kind         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER,
    last_used_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_by_tenant ON api_keys (tenant, created_at);
CREATE TABLE IF NOT EXISTS idempotency (
    key         TEXT PRIMARY KEY,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('claimed', 'completed')),
    response    TEXT,
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    token       TEXT
);
CREATE INDEX IF NOT EXISTS idempotency_by_expiry ON idempotency (expires_at);
CREATE TABLE IF NOT EXISTS usage (
    tenant        TEXT NOT NULL,
    day           TEXT NOT NULL,
    model         TEXT NOT NULL,
    calls         INTEGER NOT NULL,
    input_tokens  INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost_nano_usd INTEGER NOT NULL,
    PRIMARY KEY (tenant, day, model)
);
";

/// Columns added after the first release — (table, column, the DDL that adds it to an older
/// file). `api_keys.request` is the idempotent request that issued a key; `idempotency.epoch`
/// the epoch of a key's claim (`IdempotencyClaim::Claimed`).
/// `created_at` of a claim is when it was made or last renewed (its lease runs from there).
/// `reveals_tenant`/`reveals_key` name the API key a completed response shows; a completed
/// record whose `response` is NULL was purged when that key was revoked.
const ADDED_COLUMNS: [(&str, &str, &str); 5] = [
    (
        "idempotency",
        "token",
        "ALTER TABLE idempotency ADD COLUMN token TEXT",
    ),
    (
        "idempotency",
        "reveals_tenant",
        "ALTER TABLE idempotency ADD COLUMN reveals_tenant TEXT;
         CREATE INDEX IF NOT EXISTS idempotency_by_revealed_tenant
             ON idempotency (reveals_tenant) WHERE reveals_tenant IS NOT NULL",
    ),
    (
        "idempotency",
        "reveals_key",
        "ALTER TABLE idempotency ADD COLUMN reveals_key TEXT;
         CREATE INDEX IF NOT EXISTS idempotency_by_revealed_key
             ON idempotency (reveals_key) WHERE reveals_key IS NOT NULL",
    ),
    (
        "api_keys",
        "request",
        "ALTER TABLE api_keys ADD COLUMN request TEXT",
    ),
    (
        "idempotency",
        "epoch",
        "ALTER TABLE idempotency ADD COLUMN epoch TEXT",
    ),
];

/// Brings an older `registry.db` up to date by adding [`ADDED_COLUMNS`]. Runs in one write
/// transaction, so two processes opening one old file cannot both alter it.
pub(crate) fn upgrade(db: &Db) -> Result<()> {
    db.transaction(|tx| {
        for (table, column, ddl) in ADDED_COLUMNS {
            let present: bool = tx
                .query_row(
                    "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                    [table, column],
                    |r| r.get(0),
                )
                .map_err(sql_err(format!("reading the columns of {table}")))?;
            if !present {
                tx.execute_batch(ddl)
                    .map_err(sql_err(format!("adding column {column} to {table}")))?;
            }
        }
        Ok(())
    })
}

/// Purges the stored responses that show a key of `tenant` (one key, or every key when
/// `key_id` is `None`): the record stays, completed, so a retry learns that it cannot be
/// replayed instead of executing again.
fn purge_revealing(tx: &Connection, tenant: &TenantId, key_id: Option<&str>) -> Result<()> {
    tx.execute(
        "UPDATE idempotency SET response = NULL
         WHERE reveals_tenant = ?1 AND (?2 IS NULL OR reveals_key = ?2) AND state = 'completed'",
        params![tenant.as_str(), key_id],
    )
    .map(drop)
    .map_err(sql_err(format!(
        "purging stored responses that show API keys of tenant {tenant}"
    )))
}

/// Claims between two purges of expired idempotency records: often enough that the table stays
/// near its live size, rarely enough that the purge costs nothing per request.
pub(crate) const PURGE_EVERY: u64 = 64;

pub(crate) struct EmbeddedRegistry {
    db: Db,
    /// Claims made by this process; every [`PURGE_EVERY`]th (the first included) also deletes
    /// expired idempotency records.
    claims: AtomicU64,
}

impl EmbeddedRegistry {
    pub(crate) fn new(db: Db) -> Self {
        EmbeddedRegistry {
            db,
            claims: AtomicU64::new(0),
        }
    }

    /// Runs `f` in one immediate transaction, committed when `f` succeeds.
    async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        self.db.write(move |tx| f(tx)).await
    }
}

#[async_trait]
impl Registry for EmbeddedRegistry {
    async fn create_tenant(
        &self,
        record: &TenantRecord,
        entry: &JournalEntry,
    ) -> Result<TenantRecord> {
        check_entries(record, std::slice::from_ref(entry))?;
        let raw = encode_record(record, 1)?;
        let mut stored = record.clone();
        stored.version = 1;
        let entry = entry.clone();
        self.write(move |tx| {
            match tx.execute(
                "INSERT INTO tenants (id, status, version, record) VALUES (?1, ?2, 1, ?3)",
                params![stored.id.as_str(), stored.status.as_str(), raw],
            ) {
                Err(e) if is_unique_violation(&e) => {
                    return Err(Error::already_exists(format!(
                        "tenant {} already exists (or was deleted)",
                        stored.id
                    )));
                }
                other => other.map_err(sql_err(format!("creating tenant {}", stored.id)))?,
            };
            insert_journal(tx, &entry)?;
            Ok(stored)
        })
        .await
    }

    async fn get_tenant(&self, id: &TenantId) -> Result<TenantRecord> {
        let id = id.clone();
        self.db
            .call(move |conn| {
                let row: Option<(String, i64)> = conn
                    .query_row(
                        "SELECT record, version FROM tenants WHERE id = ?1",
                        [id.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )
                    .optional()
                    .map_err(sql_err(format!("reading tenant {id}")))?;
                let (raw, version) =
                    row.ok_or_else(|| Error::not_found(format!("tenant {id} does not exist")))?;
                decode_record(&raw, version)
            })
            .await
    }

    async fn update_tenant(
        &self,
        record: &TenantRecord,
        entries: &[JournalEntry],
    ) -> Result<TenantRecord> {
        check_entries(record, entries)?;
        let next = record
            .version
            .checked_add(1)
            .ok_or_else(|| Error::invalid("tenant version overflow"))?;
        let raw = encode_record(record, next)?;
        let mut stored = record.clone();
        stored.version = next;
        let entries = entries.to_vec();
        self.write(move |tx| {
            let id = stored.id.clone();
            let current: Option<i64> = tx
                .query_row("SELECT version FROM tenants WHERE id = ?1", [id.as_str()], |r| r.get(0))
                .optional()
                .map_err(sql_err(format!("reading tenant {id}")))?;
            let current = current.ok_or_else(|| Error::not_found(format!("tenant {id} does not exist")))?;
            let expected = next - 1;
            if u64::try_from(current).ok() != Some(expected) {
                return Err(Error::condition_failed(format!(
                    "tenant {id} is at version {current}, not {expected}: someone else updated it first"
                )));
            }
            tx.execute(
                "UPDATE tenants SET status = ?2, version = ?3, record = ?4 WHERE id = ?1",
                params![id.as_str(), stored.status.as_str(), i64::try_from(next).unwrap_or(i64::MAX), raw],
            )
            .map_err(sql_err(format!("updating tenant {id}")))?;
            for e in &entries {
                insert_journal(tx, e)?;
            }
            Ok(stored)
        })
        .await
    }

    async fn list_tenants(&self, filter: &TenantFilter) -> Result<TenantPage> {
        let limit = filter.page_size()?;
        let filter = filter.clone();
        self.db
            .call(move |conn| {
                let what = || "listing tenants".to_owned();
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT record, version FROM tenants
                         WHERE (?1 IS NULL OR status = ?1) AND (?2 IS NULL OR id > ?2)
                         ORDER BY id LIMIT ?3",
                    )
                    .map_err(sql_err(what()))?;
                let rows = stmt
                    .query_map(
                        params![
                            filter.status.map(|s| s.as_str()),
                            filter.after.as_ref().map(|a| a.as_str()),
                            i64::from(limit) + 1
                        ],
                        |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)),
                    )
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(sql_err(what()))?;
                let mut tenants = rows
                    .iter()
                    .map(|(raw, v)| decode_record(raw, *v))
                    .collect::<Result<Vec<_>>>()?;
                let next = if tenants.len() > limit as usize {
                    tenants.truncate(limit as usize);
                    tenants.last().map(|t| t.id.clone())
                } else {
                    None
                };
                Ok(TenantPage { tenants, next })
            })
            .await
    }

    async fn count_live_tenants(&self) -> Result<u64> {
        self.db
            .call(|conn| {
                let count: i64 = conn
                    .prepare_cached("SELECT COUNT(*) FROM tenants WHERE status != ?1")
                    .and_then(|mut stmt| {
                        stmt.query_row(params![TenantStatus::Deleted.as_str()], |r| r.get(0))
                    })
                    .map_err(sql_err("counting live tenants".to_owned()))?;
                u64::try_from(count)
                    .map_err(|_| Error::unavailable(format!("SQLite counted {count} tenants")))
            })
            .await
    }

    async fn append_journal(&self, entry: &JournalEntry) -> Result<()> {
        to_nanos(entry.at)?;
        let entry = entry.clone();
        self.write(move |tx| insert_journal(tx, &entry)).await
    }

    async fn journal(
        &self,
        tenant: &TenantId,
        run_id: Option<Uuid>,
        limit: u32,
    ) -> Result<Vec<JournalEntry>> {
        let limit = crate::ports::registry::journal_limit(limit);
        let tenant = tenant.clone();
        self.db
            .call(move |conn| {
                let what = || format!("reading the journal of tenant {tenant}");
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT tenant, run_id, step, phase, detail, at FROM journal
                         WHERE tenant = ?1 AND (?2 IS NULL OR run_id = ?2)
                         ORDER BY seq DESC LIMIT ?3",
                    )
                    .map_err(sql_err(what()))?;
                let mut entries = stmt
                    .query_map(
                        params![
                            tenant.as_str(),
                            run_id.map(|r| r.to_string()),
                            i64::from(limit)
                        ],
                        read_journal,
                    )
                    .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
                    .map_err(sql_err(what()))?;
                entries.reverse();
                Ok(entries)
            })
            .await
    }

    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        let key = key.clone();
        let times = (
            to_nanos(key.created_at)?,
            key.expires_at.map(to_nanos).transpose()?,
            key.revoked_at.map(to_nanos).transpose()?,
            key.last_used_at.map(to_nanos).transpose()?,
        );
        self.write(move |tx| {
            match tx.execute(
                &format!("INSERT INTO api_keys ({API_KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"),
                params![
                    key.key_id,
                    key.tenant.as_str(),
                    key.hash,
                    key.kind.as_str(),
                    key.prefix,
                    times.0,
                    times.1,
                    times.2,
                    times.3,
                    key.created_by_request.as_ref().map(|r| r.as_str().to_owned()),
                ],
            ) {
                Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                    "API key id {} or its hash is already stored",
                    key.key_id
                ))),
                Err(e) => Err(sql_err(format!("storing API key {}", key.key_id))(e)),
                Ok(_) => Ok(()),
            }
        })
        .await
    }

    async fn api_key_by_hash(&self, hash: &str) -> Result<ApiKeyRecord> {
        let hash = hash.to_owned();
        self.db
            .call(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE hash = ?1"
                ))
                .and_then(|mut s| s.query_row([&hash], read_api_key).optional())
                .map_err(sql_err("resolving an API key"))?
                .ok_or_else(|| Error::not_found("no API key has this hash"))
            })
            .await
    }

    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        let tenant = tenant.clone();
        self.db
            .call(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {API_KEY_COLUMNS} FROM api_keys WHERE tenant = ?1 ORDER BY created_at DESC, key_id DESC"
                ))
                .and_then(|mut s| s.query_map([tenant.as_str()], read_api_key)?.collect::<rusqlite::Result<Vec<_>>>())
                .map_err(sql_err(format!("listing the API keys of tenant {tenant}")))
            })
            .await
    }

    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord> {
        let at_nanos = to_nanos(at)?;
        let tenant = tenant.clone();
        let key_id = key_id.to_owned();
        self.write(move |tx| {
            let key = api_key_by_id(tx, &tenant, &key_id)?.ok_or_else(|| {
                Error::not_found(format!("tenant {tenant} has no API key {key_id}"))
            })?;
            purge_revealing(tx, &tenant, Some(&key_id))?;
            if key.revoked_at.is_some() {
                return Ok(key);
            }
            tx.execute(
                "UPDATE api_keys SET revoked_at = ?2 WHERE key_id = ?1",
                params![key_id, at_nanos],
            )
            .map_err(sql_err(format!("revoking API key {key_id}")))?;
            Ok(ApiKeyRecord {
                revoked_at: Some(at),
                ..key
            })
        })
        .await
    }

    async fn revoke_all_api_keys(&self, tenant: &TenantId, at: OffsetDateTime) -> Result<u32> {
        let at = to_nanos(at)?;
        let tenant = tenant.clone();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE api_keys SET revoked_at = ?2 WHERE tenant = ?1 AND revoked_at IS NULL",
                    params![tenant.as_str(), at],
                )
                .map_err(sql_err(format!("revoking the API keys of tenant {tenant}")))?;
            purge_revealing(tx, &tenant, None)?;
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<()> {
        let at = to_nanos(at)?;
        let key_id = key_id.to_owned();
        self.db
            .call(move |conn| {
                // Never moves backwards; a missing key is ignored (best effort).
                conn.execute(
                    "UPDATE api_keys SET last_used_at = ?2
                     WHERE key_id = ?1 AND (last_used_at IS NULL OR last_used_at < ?2)",
                    params![key_id, at],
                )
                .map(drop)
                .map_err(sql_err(format!("recording use of API key {key_id}")))
            })
            .await
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
        let key = key.to_owned();
        let fingerprint = fingerprint.to_owned();
        let purge = self
            .claims
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PURGE_EVERY);
        self.write(move |tx| {
            if purge {
                tx.execute("DELETE FROM idempotency WHERE expires_at <= ?1", [now_n])
                    .map_err(sql_err("purging expired idempotency records"))?;
            }
            let existing: Option<(String, String, Option<String>, i64, i64, Option<String>)> = tx
                .query_row(
                    "SELECT fingerprint, state, response, created_at, expires_at, epoch FROM idempotency WHERE key = ?1",
                    [&key],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?)),
                )
                .optional()
                .map_err(sql_err(format!("reading idempotency key {key}")))?;
            let mut epoch = None;
            if let Some((found, state, response, created_at, expires, found_epoch)) = existing {
                let expired = expires <= now_n;
                let stale = state == "claimed" && now_n.saturating_sub(created_at) >= lease_n;
                if !expired && !stale {
                    return match (state.as_str(), response) {
                        ("completed", Some(raw)) => {
                            let response = serde_json::from_str(&raw).map_err(|e| {
                                Error::unavailable(format!("stored response of idempotency key {key} is unreadable: {e}"))
                            })?;
                            Ok(IdempotencyClaim::Completed { fingerprint: found, response })
                        }
                        ("completed", None) => Ok(IdempotencyClaim::Purged { fingerprint: found }),
                        _ => Ok(IdempotencyClaim::InProgress { fingerprint: found }),
                    };
                }
                // The same request taking over its own lapsed or released claim goes on with
                // its epoch; an expired record, or another request, starts a new one.
                if !expired && found == fingerprint {
                    epoch = found_epoch;
                }
            }
            let epoch = epoch.unwrap_or_else(|| Uuid::new_v4().to_string());
            let token = Uuid::new_v4().to_string();
            tx.execute(
                "INSERT OR REPLACE INTO idempotency
                     (key, fingerprint, state, response, created_at, expires_at, token, reveals_tenant, reveals_key, epoch)
                 VALUES (?1, ?2, 'claimed', NULL, ?3, ?4, ?5, NULL, NULL, ?6)",
                params![key, fingerprint, now_n, expires_n, token, epoch],
            )
            .map_err(sql_err(format!("claiming idempotency key {key}")))?;
            Ok(IdempotencyClaim::Claimed { token, epoch })
        })
        .await
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
        let key = key.to_owned();
        let token = token.to_owned();
        let reveals = response.reveals.clone();
        self.write(move |tx| {
            // A key revoked before its response could be stored: store it purged at once.
            let revoked = match &reveals {
                None => false,
                Some(k) => {
                    api_key_by_id(tx, &k.tenant, &k.key_id)?.is_none_or(|r| r.revoked_at.is_some())
                }
            };
            let n = tx
                .execute(
                    "UPDATE idempotency SET state = 'completed', response = ?3,
                         reveals_tenant = ?4, reveals_key = ?5
                     WHERE key = ?1 AND token = ?2 AND state = 'claimed'",
                    params![
                        key,
                        token,
                        (!revoked).then_some(raw),
                        reveals.as_ref().map(|k| k.tenant.as_str().to_owned()),
                        reveals.as_ref().map(|k| k.key_id.clone()),
                    ],
                )
                .map_err(sql_err(format!("completing idempotency key {key}")))?;
            if n == 1 {
                return Ok(());
            }
            not_this_claim(tx, &key)
        })
        .await
    }

    async fn renew_idempotency_claim(
        &self,
        key: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        let now_n = to_nanos(now)?;
        let key = key.to_owned();
        let token = token.to_owned();
        self.write(move |tx| {
            let n = tx
                .execute(
                    "UPDATE idempotency SET created_at = max(created_at, ?3)
                     WHERE key = ?1 AND token = ?2 AND state = 'claimed'",
                    params![key, token, now_n],
                )
                .map_err(sql_err(format!(
                    "renewing the claim of idempotency key {key}"
                )))?;
            if n == 1 {
                return Ok(());
            }
            not_this_claim(tx, &key)
        })
        .await
    }

    async fn release_idempotency_key(&self, key: &str, token: &str) -> Result<()> {
        let key = key.to_owned();
        let token = token.to_owned();
        self.write(move |tx| {
            // Kept, with its lease over at once: a retry of the same request continues its
            // epoch (it may have written before it failed).
            tx.execute(
                "UPDATE idempotency SET created_at = 0
                 WHERE key = ?1 AND token = ?2 AND state = 'claimed'",
                params![key, token],
            )
            .map(drop)
            .map_err(sql_err(format!("releasing idempotency key {key}")))
        })
        .await
    }

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
        let (tenant, day, model, d) = (tenant.clone(), day.to_string(), model.to_owned(), *delta);
        let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        self.write(move |tx| {
            tx.execute(
                "INSERT INTO usage (tenant, day, model, calls, input_tokens, output_tokens, cost_nano_usd)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                 ON CONFLICT (tenant, day, model) DO UPDATE SET
                     calls = calls + excluded.calls,
                     input_tokens = input_tokens + excluded.input_tokens,
                     output_tokens = output_tokens + excluded.output_tokens,
                     cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd",
                params![
                    tenant.as_str(),
                    day,
                    model,
                    n(d.calls),
                    n(d.input_tokens),
                    n(d.output_tokens),
                    n(d.cost_nano_usd)
                ],
            )
            .map(drop)
            .map_err(sql_err(format!("recording model usage of tenant {tenant}")))
        })
        .await
    }

    async fn usage(
        &self,
        tenant: &TenantId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<UsageDay>> {
        let (tenant, from, to) = (tenant.clone(), from.to_string(), to.to_string());
        self.db
            .call(move |conn| {
                let mut statement = conn
                    .prepare(
                        "SELECT day, model, calls, input_tokens, output_tokens, cost_nano_usd
                         FROM usage WHERE tenant = ?1 AND day BETWEEN ?2 AND ?3
                         ORDER BY day, model",
                    )
                    .map_err(sql_err("reading model usage"))?;
                let rows = statement
                    .query_map(params![tenant.as_str(), from, to], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            [r.get::<_, i64>(2)?, r.get(3)?, r.get(4)?, r.get(5)?],
                        ))
                    })
                    .map_err(sql_err("reading model usage"))?;
                let mut days = Vec::new();
                for row in rows {
                    let (day, model, [calls, input, output, cost]) =
                        row.map_err(sql_err("reading model usage"))?;
                    let day = time::Date::parse(&day, crate::ports::registry::USAGE_DAY)
                        .map_err(|e| Error::invalid(format!("stored usage day {day:?}: {e}")))?;
                    let u = |v: i64| u64::try_from(v).unwrap_or(0);
                    days.push(UsageDay {
                        day,
                        model,
                        usage: UsageDelta {
                            calls: u(calls),
                            input_tokens: u(input),
                            output_tokens: u(output),
                            cost_nano_usd: u(cost),
                        },
                    });
                }
                Ok(days)
            })
            .await
    }
}

/// The error for a claim that is not the caller's any more, or no record at all.
fn not_this_claim(tx: &Connection, key: &str) -> Result<()> {
    let exists: bool = tx
        .query_row(
            "SELECT count(*) > 0 FROM idempotency WHERE key = ?1",
            [key],
            |r| r.get(0),
        )
        .map_err(sql_err(format!("reading idempotency key {key}")))?;
    Err(if exists {
        Error::condition_failed(format!(
            "idempotency key {key} is no longer held by this claim \
             (completed already, or taken over after its lease ran out); nothing was written"
        ))
    } else {
        Error::not_found(format!("idempotency key {key} has no claim"))
    })
}
