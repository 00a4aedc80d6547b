//! Embedded `KeyVault`: tenant keys are 32 random bytes, stored in `cloud.db` wrapped
//! (AES-256-GCM) under the master key with the key id as associated data, so a wrapped key
//! copied onto another key's row does not unwrap.
//!
//! Deletion is crypto-shredding: scheduling releases the alias and disables the key at once;
//! at `deletion_at` (or at once for a window of 0) the wrapped material is overwritten with
//! NULL. Keys past their deletion time are destroyed by `destroy_due_keys` (run at every open
//! and periodically by the control plane), and lazily by whichever call touches one first, in
//! any process. `cloud.db` runs with `secure_delete` (see `sqlite`), and after material is
//! destroyed its write-ahead log is checkpointed and truncated, so the old wrapped bytes do not
//! linger in free space or in the log.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lru::LruCache;
use rusqlite::{Connection, OptionalExtension, params};
use time::{Duration, OffsetDateTime};

use crate::embedded::cloud_ids;
use crate::embedded::crypto::SecretKey;
use crate::embedded::sqlite::{Db, is_unique_violation, sql_err};
use crate::embedded::timestamps::{from_nanos, now, to_nanos};
use crate::error::{Error, Result};
use crate::naming::Tags;
use crate::ports::key_vault::{KeyInfo, KeySpec, KeyState, KeyVault, has_tags};

/// Most plaintext `encrypt` accepts, like KMS Encrypt.
pub const MAX_PLAINTEXT_BYTES: usize = 4096;
/// Longest deletion window accepted, like KMS.
pub const MAX_WINDOW_DAYS: u32 = 30;
/// Unwrapped keys kept in memory: enough for every active tenant of a busy process, bounded so
/// that a process serving many tenants over its life does not hold every key it ever used.
pub(crate) const MATERIAL_CACHE_KEYS: usize = 1024;

/// The vault's internals, shared with the embedded item store, which needs a tenant key's
/// material on every call without going through the trait.
pub(crate) struct Vault {
    cloud: Db,
    master: SecretKey,
    /// Seals tables created without an `sse_key`; derived from the master key so that no key
    /// is used for two purposes.
    default_table_key: SecretKey,
    /// Unwrapped material by key id, least recently used evicted first. Material never
    /// changes for a key id, so caching it is safe; the key's *state* is never cached and is
    /// re-read on every use. Entries of keys scheduled for deletion are dropped.
    material: Mutex<LruCache<String, SecretKey>>,
    /// Set when this process destroyed key material whose old bytes may still sit in the
    /// write-ahead log; cleared by the checkpoint that follows the commit.
    shredded: AtomicBool,
}

/// One row of `keys`.
pub(crate) struct KeyRow {
    pub key_id: String,
    pub arn: String,
    pub alias: Option<String>,
    pub wrapped: Option<Vec<u8>>,
    pub state: KeyState,
    pub tags: Tags,
}

impl KeyRow {
    fn info(&self) -> KeyInfo {
        KeyInfo {
            key_id: self.key_id.clone(),
            arn: self.arn.clone(),
            alias: self.alias.clone(),
            state: self.state,
            tags: self.tags.clone(),
        }
    }
}

const KEY_COLUMNS: &str = "key_id, arn, alias, wrapped, state, deletion_at, tags";

fn read_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<KeyRow> {
    let state: String = r.get(4)?;
    let deletion_at: Option<i64> = r.get(5)?;
    let tags: String = r.get(6)?;
    Ok(KeyRow {
        key_id: r.get(0)?,
        arn: r.get(1)?,
        alias: r.get(2)?,
        wrapped: r.get(3)?,
        state: decode_state(&state, deletion_at)?,
        tags: serde_json::from_str(&tags).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(6, rusqlite::types::Type::Text, Box::new(e))
        })?,
    })
}

/// A key's state as stored (`state`, `deletion_at` in Unix nanoseconds).
pub(crate) fn decode_state(state: &str, deletion_at: Option<i64>) -> rusqlite::Result<KeyState> {
    match (state, deletion_at) {
        ("enabled", _) => Ok(KeyState::Enabled),
        ("pending_deletion", Some(at)) => Ok(KeyState::PendingDeletion {
            deletion_at: from_nanos(at)?,
        }),
        ("destroyed", _) => Ok(KeyState::Destroyed),
        _ => Err(rusqlite::Error::InvalidColumnType(
            4,
            format!("key state {state}"),
            rusqlite::types::Type::Text,
        )),
    }
}

/// Whether a key in `state` is past its scheduled deletion at `at`.
pub(crate) fn is_due(state: KeyState, at: OffsetDateTime) -> bool {
    matches!(state, KeyState::PendingDeletion { deletion_at } if deletion_at <= at)
}

impl Vault {
    pub(crate) fn new(cloud: Db, master: SecretKey) -> Self {
        Self::with_cache_capacity(cloud, master, MATERIAL_CACHE_KEYS)
    }

    /// [`Vault::new`] keeping at most `keys` unwrapped keys in memory (0 is treated as 1).
    pub(crate) fn with_cache_capacity(cloud: Db, master: SecretKey, keys: usize) -> Self {
        let default_table_key = master.derive(b"spotlight embedded default table key v1");
        let capacity = NonZeroUsize::new(keys).unwrap_or(NonZeroUsize::MIN);
        Vault {
            cloud,
            master,
            default_table_key,
            material: Mutex::new(LruCache::new(capacity)),
            shredded: AtomicBool::new(false),
        }
    }

    /// Runs `f` in one write transaction on `cloud.db`; once it has committed, purges the
    /// write-ahead log if `f` destroyed key material. Blocking.
    fn write<T>(&self, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<T>) -> Result<T> {
        let out = self.cloud.transaction(f);
        self.purge_destroyed_material();
        out
    }

    /// Checkpoints `cloud.db` and truncates its write-ahead log when material was destroyed
    /// since the last call, so that earlier log frames holding the wrapped key are gone.
    /// Best effort: a reader in another process can hold the log; the next destruction (or
    /// SQLite's own checkpoints) finishes the job. Blocking.
    pub(crate) fn purge_destroyed_material(&self) {
        if !self.shredded.swap(false, Ordering::AcqRel) {
            return;
        }
        let done = self.cloud.with_conn(|conn| {
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(sql_err(
                "checkpointing cloud.db after destroying key material",
            ))
        });
        match done {
            Ok(0) => {}
            Ok(_) => tracing::warn!(
                "cloud.db is busy: its write-ahead log may keep destroyed key material until the next checkpoint"
            ),
            Err(e) => {
                tracing::warn!(error = %e, "could not checkpoint cloud.db after destroying key material")
            }
        }
    }

    /// Destroys the material of every key whose deletion time is at or before `at`; returns
    /// how many. Blocking.
    pub(crate) fn destroy_due_keys(&self, at: OffsetDateTime) -> Result<u32> {
        let at = to_nanos(at)?;
        let destroyed = self.write(|tx| {
            let ids = tx
                .prepare(
                    "UPDATE keys SET state = 'destroyed', wrapped = NULL, alias = NULL
                     WHERE state = 'pending_deletion' AND deletion_at <= ?1
                     RETURNING key_id",
                )
                .and_then(|mut s| {
                    s.query_map([at], |r| r.get::<_, String>(0))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(sql_err(
                    "destroying the material of keys past their deletion time",
                ))?;
            if !ids.is_empty() {
                self.shredded.store(true, Ordering::Release);
            }
            Ok(ids)
        })?;
        self.forget(&destroyed);
        Ok(u32::try_from(destroyed.len()).unwrap_or(u32::MAX))
    }

    /// Drops cached material of these keys.
    fn forget(&self, key_ids: &[String]) {
        if let Ok(mut cache) = self.material.lock() {
            for id in key_ids {
                cache.pop(id);
            }
        }
    }

    /// Finds a key by id, ARN or alias, destroying it first if its deletion time has passed.
    fn find(&self, conn: &Connection, key: &str, at: OffsetDateTime) -> Result<KeyRow> {
        let row = conn
            .prepare_cached(&format!(
                "SELECT {KEY_COLUMNS} FROM keys WHERE key_id = ?1 OR arn = ?1 OR alias = ?1"
            ))
            .and_then(|mut s| s.query_row([key], read_row).optional())
            .map_err(sql_err(format!("looking up key {key}")))?
            .ok_or_else(|| Error::not_found(format!("key {key} does not exist")))?;
        if is_due(row.state, at) {
            self.destroy(conn, &row.key_id)?;
            return Ok(KeyRow {
                state: KeyState::Destroyed,
                wrapped: None,
                ..row
            });
        }
        Ok(row)
    }

    /// Overwrites a key's material: nothing it sealed can be opened again.
    fn destroy(&self, conn: &Connection, key_id: &str) -> Result<()> {
        conn.execute(
            "UPDATE keys SET state = 'destroyed', wrapped = NULL, alias = NULL WHERE key_id = ?1",
            [key_id],
        )
        .map_err(sql_err(format!("destroying the material of key {key_id}")))?;
        self.shredded.store(true, Ordering::Release);
        self.forget(&[key_id.to_owned()]);
        Ok(())
    }

    /// Destroys a key whose deletion time has passed, found by a caller that read its state
    /// elsewhere (the item store). Blocking.
    pub(crate) fn destroy_due(&self, key_id: &str) -> Result<()> {
        self.write(|tx| self.find(tx, key_id, now()).map(drop))
    }

    /// The material of a key the caller has just seen enabled. Cheap after the first call for
    /// a key id; `wrapped` is only unwrapped on a cache miss.
    pub(crate) fn material(&self, key_id: &str, wrapped: Option<&[u8]>) -> Result<SecretKey> {
        if let Some(k) = self
            .material
            .lock()
            .ok()
            .and_then(|mut m| m.get(key_id).cloned())
        {
            return Ok(k);
        }
        let wrapped = wrapped.ok_or_else(|| {
            Error::access_denied(format!(
                "key {key_id} is destroyed; data under it cannot be read or written"
            ))
        })?;
        let key = self
            .master
            .open(wrapped, key_id.as_bytes())
            .and_then(|bytes| SecretKey::from_slice(&bytes))
            .ok_or_else(|| {
                Error::unavailable(format!(
                    "key {key_id} does not unwrap under this data directory's master.key \
                     (was master.key replaced?)"
                ))
            })?;
        if let Ok(mut m) = self.material.lock() {
            m.put(key_id.to_owned(), key.clone());
        }
        Ok(key)
    }

    /// Key used for tables created without an `sse_key` (like DynamoDB's service-owned key).
    pub(crate) fn default_table_key(&self) -> &SecretKey {
        &self.default_table_key
    }

    /// Resolves a key reference to its row (for the table catalog), inside the caller's
    /// transaction.
    pub(crate) fn resolve(&self, conn: &Connection, key: &str) -> Result<KeyRow> {
        self.find(conn, key, now())
    }

    /// The row and material of `key` if it may be used now; `AccessDenied` otherwise.
    fn usable(&self, key: &str) -> Result<(KeyRow, SecretKey)> {
        let row = self.write(|tx| self.find(tx, key, now()))?;
        if row.state != KeyState::Enabled {
            return Err(Error::access_denied(format!(
                "key {key} is pending deletion or destroyed"
            )));
        }
        let material = self.material(&row.key_id, row.wrapped.as_deref())?;
        Ok((row, material))
    }
}

/// The embedded `KeyVault` adapter.
pub(crate) struct EmbeddedKeyVault {
    vault: Arc<Vault>,
}

impl EmbeddedKeyVault {
    pub(crate) fn new(vault: Arc<Vault>) -> Self {
        EmbeddedKeyVault { vault }
    }

    /// Runs `f` with the vault on the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Vault) -> Result<T> + Send + 'static,
    {
        let vault = self.vault.clone();
        crate::embedded::sqlite::blocking(move || f(&vault)).await
    }
}

/// KMS's alias rule: `alias/` then 1–250 of `[a-zA-Z0-9/_-]`, and not the reserved `alias/aws/`.
fn validate_alias(alias: &str) -> Result<()> {
    let name = alias
        .strip_prefix("alias/")
        .ok_or_else(|| Error::invalid(format!("alias {alias:?} must start with 'alias/'")))?;
    if name.is_empty() || name.len() > 250 || name.starts_with("aws/") {
        return Err(Error::invalid(format!(
            "alias {alias:?} must be alias/ followed by 1 to 250 characters, not alias/aws/…"
        )));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'))
    {
        return Err(Error::invalid(format!(
            "alias {alias:?} may contain only letters, digits, '/', '_' and '-'"
        )));
    }
    Ok(())
}

#[async_trait]
impl KeyVault for EmbeddedKeyVault {
    async fn create_key(&self, spec: &KeySpec) -> Result<KeyInfo> {
        validate_alias(&spec.alias)?;
        let spec = spec.clone();
        self.run(move |vault| {
            let key_id = uuid::Uuid::new_v4().to_string();
            let arn = cloud_ids::key_arn(&key_id);
            let wrapped = vault.master.seal(SecretKey::random().as_bytes(), key_id.as_bytes())?;
            let tags = serde_json::to_string(&spec.tags)
                .map_err(|e| Error::invalid(format!("tags of key {}: {e}", spec.alias)))?;
            let created_at = to_nanos(now())?;
            vault.write(|tx| {
                match tx.execute(
                    "INSERT INTO keys (key_id, arn, alias, wrapped, state, deletion_at, description, tags, created_at)
                     VALUES (?1, ?2, ?3, ?4, 'enabled', NULL, ?5, ?6, ?7)",
                    params![key_id, arn, spec.alias, wrapped, spec.description, tags, created_at],
                ) {
                    Err(e) if is_unique_violation(&e) => {
                        Err(Error::already_exists(format!("alias {} already names a key", spec.alias)))
                    }
                    Err(e) => Err(sql_err(format!("creating key {}", spec.alias))(e)),
                    Ok(_) => Ok(()),
                }
            })?;
            Ok(KeyInfo {
                key_id,
                arn,
                alias: Some(spec.alias),
                state: KeyState::Enabled,
                tags: spec.tags,
            })
        })
        .await
    }

    async fn describe_key(&self, key: &str) -> Result<KeyInfo> {
        let key = key.to_owned();
        // A write transaction: describing an overdue key destroys it.
        self.run(move |vault| vault.write(|tx| Ok(vault.find(tx, &key, now())?.info())))
            .await
    }

    async fn encrypt(&self, key: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let key = key.to_owned();
        let plaintext = plaintext.to_vec();
        let aad = aad.to_vec();
        self.run(move |vault| {
            let (_, material) = vault.usable(&key)?;
            if plaintext.len() > MAX_PLAINTEXT_BYTES {
                return Err(Error::invalid(format!(
                    "plaintext of {} bytes is over the {MAX_PLAINTEXT_BYTES}-byte limit of key {key}",
                    plaintext.len()
                )));
            }
            material.seal(&plaintext, &aad)
        })
        .await
    }

    async fn decrypt(&self, key: &str, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let key = key.to_owned();
        let ciphertext = ciphertext.to_vec();
        let aad = aad.to_vec();
        self.run(move |vault| {
            let (_, material) = vault.usable(&key)?;
            material.open(&ciphertext, &aad).ok_or_else(|| {
                Error::invalid(format!(
                    "ciphertext does not authenticate under key {key} with this context"
                ))
            })
        })
        .await
    }

    async fn schedule_key_deletion(&self, key: &str, window_days: u32) -> Result<KeyInfo> {
        if window_days > MAX_WINDOW_DAYS {
            return Err(Error::invalid(format!(
                "deletion window of {window_days} days for key {key} is over the maximum of \
                 {MAX_WINDOW_DAYS}"
            )));
        }
        let key = key.to_owned();
        self.run(move |vault| {
            vault.write(|tx| {
                let at = now();
                let row = vault.find(tx, &key, at)?;
                if row.state != KeyState::Enabled {
                    return Ok(row.info()); // already scheduled or destroyed: idempotent
                }
                let deletion_at = at + Duration::days(i64::from(window_days));
                tx.execute(
                    "UPDATE keys SET state = 'pending_deletion', alias = NULL, deletion_at = ?2
                     WHERE key_id = ?1",
                    params![row.key_id, to_nanos(deletion_at)?],
                )
                .map_err(sql_err(format!("scheduling deletion of key {key}")))?;
                vault.forget(std::slice::from_ref(&row.key_id));
                if window_days == 0 {
                    vault.destroy(tx, &row.key_id)?;
                    return Ok(KeyInfo {
                        alias: None,
                        state: KeyState::Destroyed,
                        ..row.info()
                    });
                }
                Ok(KeyInfo {
                    alias: None,
                    state: KeyState::PendingDeletion { deletion_at },
                    ..row.info()
                })
            })
        })
        .await
    }

    async fn destroy_due_keys(&self) -> Result<u32> {
        self.run(|vault| vault.destroy_due_keys(now())).await
    }

    /// Embedded keys have no rotation to turn on: their material never changes.
    async fn alias_key(&self, key: &str, alias: &str) -> Result<KeyInfo> {
        validate_alias(alias)?;
        let (key, alias) = (key.to_owned(), alias.to_owned());
        self.run(move |vault| {
            vault.write(|tx| {
                let row = vault.find(tx, &key, now())?;
                if row.state != KeyState::Enabled {
                    return Err(Error::invalid(format!("key {key} is not enabled")));
                }
                match row.alias.as_deref() {
                    // Named already by an attempt whose answer was lost.
                    Some(have) if have == alias => return Ok(row.info()),
                    Some(have) => {
                        return Err(Error::invalid(format!(
                            "key {key} has the alias {have} already"
                        )));
                    }
                    None => {}
                }
                match tx.execute(
                    "UPDATE keys SET alias = ?2 WHERE key_id = ?1",
                    params![row.key_id, alias],
                ) {
                    Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                        "alias {alias} already names a key"
                    ))),
                    Err(e) => Err(sql_err(format!("pointing alias {alias} at key {key}"))(e)),
                    Ok(_) => Ok(KeyInfo {
                        alias: Some(alias.clone()),
                        ..row.info()
                    }),
                }
            })
        })
        .await
    }

    /// Every stored key (a tenant has one or two, a deployment one per tenant), filtered by
    /// tags here: tags are stored as one JSON document per key.
    async fn list_keys(&self, tags: &Tags) -> Result<Vec<KeyInfo>> {
        let tags = tags.clone();
        self.run(move |vault| {
            let at = now();
            vault.write(|tx| {
                let rows: Vec<KeyRow> = tx
                    .prepare_cached(&format!(
                        "SELECT {KEY_COLUMNS} FROM keys WHERE state != 'destroyed' ORDER BY key_id"
                    ))
                    .and_then(|mut s| s.query_map([], read_row)?.collect())
                    .map_err(sql_err("listing keys"))?;
                let mut keys = Vec::new();
                for row in rows.into_iter().filter(|r| has_tags(&r.tags, &tags)) {
                    // Read through `find`, which destroys an overdue key first.
                    let row = vault.find(tx, &row.key_id, at)?;
                    if row.state != KeyState::Destroyed {
                        keys.push(row.info());
                    }
                }
                Ok(keys)
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_kms_rules() {
        assert!(validate_alias("alias/spotlight-tenant-acme").is_ok());
        for bad in [
            "spotlight",
            "alias/",
            "alias/aws/x",
            "alias/has space",
            &format!("alias/{}", "a".repeat(251)),
        ] {
            assert!(validate_alias(bad).is_err(), "{bad:?}");
        }
    }

    #[tokio::test]
    async fn the_material_cache_is_bounded_and_forgets_keys_scheduled_for_deletion() {
        let dir = tempfile::tempdir().unwrap();
        let cloud = Db::open(
            &dir.path().join(crate::embedded::cloud::FILE_NAME),
            crate::embedded::cloud::SCHEMA,
        )
        .unwrap();
        let vault = Arc::new(Vault::with_cache_capacity(cloud, SecretKey::random(), 2));
        let keys = EmbeddedKeyVault::new(vault.clone());
        let mut ids = Vec::new();
        for i in 0..3 {
            let spec = KeySpec {
                alias: format!("alias/cache-{i}"),
                description: String::new(),
                tags: Tags::new(),
            };
            let key = keys.create_key(&spec).await.unwrap();
            keys.encrypt(&key.key_id, b"x", b"").await.unwrap();
            ids.push(key.key_id);
        }
        let cached = |id: &str| vault.material.lock().unwrap().contains(id);
        assert_eq!(vault.material.lock().unwrap().len(), 2, "bounded at 2");
        assert!(!cached(&ids[0]), "the least recently used key was evicted");
        keys.encrypt(&ids[0], b"x", b"").await.unwrap();
        assert!(cached(&ids[0]), "an evicted key unwraps again on use");
        keys.schedule_key_deletion(&ids[0], 7).await.unwrap();
        assert!(!cached(&ids[0]), "a key scheduled for deletion is dropped");
    }
}
