//! Embedded `TableAdmin`: a tenant table is a SQLite table `"t:{name}"` in its tenant's file,
//! recorded in the `cloud.db` catalog with its spec, ARN, file group and encryption key.
//!
//! The catalog is the authority on what exists. Creates and deletes hold the catalog's write
//! lock while they change the tenant file, so they are serialised across processes; a crash
//! between the two commits leaves at most an orphaned SQLite table that no catalog row points
//! at, which the next create of that name drops.
//!
//! Deleting a tenant's last table also removes its file (`.db`, `-wal`, `-shm`), under the same
//! lock; see `tenant_files` for why other processes holding the file open are safe.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::embedded::cloud_ids;
use crate::embedded::key_vault::Vault;
use crate::embedded::sqlite::{Db, sql_err};
use crate::embedded::tenant_files::{TenantFiles, group_of};
use crate::embedded::timestamps::{now, to_nanos};
use crate::error::{Error, ErrorKind, Result};
use crate::ports::key_vault::KeyState;
use crate::ports::table_admin::{TableAdmin, TableInfo, TableStatus};
use crate::table_plan::TableSpec;

/// The SQLite name of a tenant table (quoted; table names are `[a-zA-Z0-9_.-]`, checked at
/// create, so quoting cannot be escaped).
pub(crate) fn sql_table(name: &str) -> String {
    format!("\"t:{name}\"")
}

fn ddl(name: &str) -> String {
    let table = sql_table(name);
    let index = format!("\"i:{name}:gsi1\"");
    let ttl_index = format!("\"i:{name}:ttl\"");
    format!(
        "DROP TABLE IF EXISTS {table};
         CREATE TABLE {table} (
             pk TEXT NOT NULL, sk TEXT NOT NULL,
             gsi1pk TEXT NULL, gsi1sk TEXT NULL,
             ttl INTEGER NULL, version INTEGER NOT NULL, payload BLOB NOT NULL,
             PRIMARY KEY (pk, sk)
         ) WITHOUT ROWID;
         CREATE INDEX {index} ON {table} (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
         CREATE INDEX {ttl_index} ON {table} (ttl) WHERE ttl IS NOT NULL;"
    )
}

pub(crate) struct EmbeddedTableAdmin {
    cloud: Db,
    vault: Arc<Vault>,
    files: Arc<TenantFiles>,
}

impl EmbeddedTableAdmin {
    pub(crate) fn new(cloud: Db, vault: Arc<Vault>, files: Arc<TenantFiles>) -> Self {
        EmbeddedTableAdmin {
            cloud,
            vault,
            files,
        }
    }
}

/// The ARN of a table's stream, when its spec asks for one. The label is the table's creation
/// time, so a table made again under the same name gets a new stream, as on DynamoDB.
pub(crate) fn stream_arn(spec: &TableSpec, arn: &str, created_at: i64) -> Option<String> {
    spec.stream.then(|| format!("{arn}/stream/{created_at}"))
}

fn decode_spec(name: &str, raw: &str) -> Result<TableSpec> {
    serde_json::from_str(raw).map_err(|e| {
        Error::unavailable(format!("catalog entry of table {name} is unreadable: {e}"))
    })
}

#[async_trait]
impl TableAdmin for EmbeddedTableAdmin {
    async fn create_table(&self, spec: &TableSpec) -> Result<TableInfo> {
        spec.validate()?;
        let spec = spec.clone();
        let files = self.files.clone();
        let vault = self.vault.clone();
        self.cloud
            .write(move |tx| {
                let name = spec.name.clone();
                let what = || format!("creating table {name}");
                let exists: Option<i64> = tx
                    .query_row("SELECT 1 FROM tables WHERE name = ?1", [&name], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(sql_err(what()))?;
                if exists.is_some() {
                    return Err(Error::already_exists(format!(
                        "table {name} already exists"
                    )));
                }
                let key_id = match &spec.sse_key {
                    None => None,
                    Some(key) => {
                        let row = vault.resolve(tx, key).map_err(|e| match e.kind() {
                            ErrorKind::NotFound => Error::invalid(format!(
                                "table {name}: SSE key {key} does not exist"
                            )),
                            _ => e,
                        })?;
                        if row.state != KeyState::Enabled {
                            return Err(Error::invalid(format!(
                                "table {name}: SSE key {key} is pending deletion or destroyed"
                            )));
                        }
                        Some(row.key_id)
                    }
                };
                let group = group_of(&spec.tags);
                let arn = cloud_ids::table_arn(&name);
                let raw_spec = serde_json::to_string(&spec).map_err(|e| {
                    Error::invalid(format!("table {name}: spec does not serialise: {e}"))
                })?;
                let created_at = to_nanos(now())?;
                tx.execute(
                    "INSERT INTO tables (name, tenant_group, arn, key_id, spec, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![name, group, arn, key_id, raw_spec, created_at],
                )
                .map_err(sql_err(what()))?;
                // The tenant file is changed while the catalog's write lock is held, so no other
                // create or delete of this name can interleave.
                files
                    .get_or_create(&group)?
                    .transaction(|ttx| ttx.execute_batch(&ddl(&name)).map_err(sql_err(what())))?;
                Ok(TableInfo {
                    stream_arn: stream_arn(&spec, &arn, created_at),
                    spec,
                    arn,
                    status: TableStatus::Active,
                })
            })
            .await
    }

    async fn describe_table(&self, name: &str) -> Result<TableInfo> {
        let name = name.to_owned();
        self.cloud
            .call(move |conn| {
                let row: Option<(String, String, i64)> = conn
                    .query_row(
                        "SELECT arn, spec, created_at FROM tables WHERE name = ?1",
                        [&name],
                        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                    )
                    .optional()
                    .map_err(sql_err(format!("describing table {name}")))?;
                let (arn, raw, created_at) =
                    row.ok_or_else(|| Error::not_found(format!("table {name} does not exist")))?;
                let spec = decode_spec(&name, &raw)?;
                Ok(TableInfo {
                    stream_arn: stream_arn(&spec, &arn, created_at),
                    spec,
                    arn,
                    status: TableStatus::Active,
                })
            })
            .await
    }

    async fn delete_table(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        let files = self.files.clone();
        self.cloud
            .write(move |tx| {
                let what = || format!("deleting table {name}");
                let group: Option<String> = tx
                    .query_row(
                        "SELECT tenant_group FROM tables WHERE name = ?1",
                        [&name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(sql_err(what()))?;
                let group = group
                    .ok_or_else(|| Error::not_found(format!("table {name} does not exist")))?;
                // Drop the data first: a crash before the catalog commit leaves a catalog entry
                // whose deletion can simply be repeated, never data nobody can find.
                match files.get(&group) {
                    Ok(file) => file.transaction(|ttx| {
                        ttx.execute_batch(&format!("DROP TABLE IF EXISTS {}", sql_table(&name)))
                            .map_err(sql_err(what()))
                    })?,
                    // Removed by an earlier deletion of the group's last table that did not
                    // commit to the catalog: nothing left to drop.
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                tx.execute("DELETE FROM tables WHERE name = ?1", [&name])
                    .map_err(sql_err(what()))?;
                let others: i64 = tx
                    .query_row(
                        "SELECT count(*) FROM tables WHERE tenant_group = ?1",
                        [&group],
                        |r| r.get(0),
                    )
                    .map_err(sql_err(what()))?;
                if others == 0 {
                    // The group's last table: remove its file while the catalog lock is still
                    // held, so no create of the group interleaves. If the catalog commit then
                    // fails, the entry stays and its deletion is repeated as above.
                    files.remove(&group)?;
                }
                Ok(())
            })
            .await
    }

    async fn list_tables(&self, prefix: &str) -> Result<Vec<String>> {
        let prefix = prefix.to_owned();
        self.cloud
            .call(move |conn| {
                conn.prepare_cached(
                    "SELECT name FROM tables WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
                )
                .and_then(|mut s| s.query_map([&prefix], |r| r.get::<_, String>(0))?.collect())
                .map_err(sql_err(format!("listing tables starting with {prefix:?}")))
            })
            .await
    }
}
