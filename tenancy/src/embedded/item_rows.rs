//! Row-level SQL of a tenant table: condition checks, writes, reads and the query of one
//! page. Callers hold the transaction; nothing here resolves tables or keys.

use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, params};

use crate::embedded::crypto::SecretKey;
use crate::embedded::item_codec::{self, COLUMNS, Encoded};
use crate::embedded::sqlite::sql_err;
use crate::embedded::table_admin::sql_table;
use crate::embedded::timestamps::now;
use crate::error::{Error, Result};
use crate::ports::item_store::{Condition, Item, ItemKey, Query, SortKeyCondition};

pub(crate) fn now_secs() -> i64 {
    now().unix_timestamp()
}

pub(crate) fn to_version(table: &str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(format!("table {table}: version {v} is too large")))
}

/// The version of the live (not expired) item under `key`, if any.
pub(crate) fn current_version(
    conn: &Connection,
    table: &str,
    key: &ItemKey,
    now: i64,
) -> Result<Option<i64>> {
    conn.prepare_cached(&format!(
        "SELECT version FROM {} WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
        sql_table(table)
    ))
    .and_then(|mut s| {
        s.query_row(params![key.pk, key.sk, now], |r| r.get(0))
            .optional()
    })
    .map_err(sql_err(format!(
        "reading item ({}, {}) of table {table}",
        key.pk, key.sk
    )))
}

pub(crate) fn check_condition(
    conn: &Connection,
    table: &str,
    key: &ItemKey,
    condition: Condition,
    now: i64,
) -> Result<()> {
    if condition == Condition::None {
        return Ok(());
    }
    let current = current_version(conn, table, key, now)?;
    let holds = match condition {
        Condition::None => true,
        Condition::NotExists => current.is_none(),
        Condition::Exists => current.is_some(),
        Condition::VersionIs(v) => current == Some(to_version(table, v)?),
    };
    if holds {
        Ok(())
    } else {
        Err(Error::condition_failed(format!(
            "table {table}: condition {condition:?} does not hold for item ({}, {}) (stored version: {})",
            key.pk,
            key.sk,
            current.map_or("none".to_owned(), |v| v.to_string())
        )))
    }
}

pub(crate) fn write(conn: &Connection, table: &str, e: &Encoded) -> Result<()> {
    conn.prepare_cached(&format!(
        "INSERT OR REPLACE INTO {} (pk, sk, gsi1pk, gsi1sk, ttl, version, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        sql_table(table)
    ))
    .and_then(|mut s| {
        s.execute(params![
            e.key.pk,
            e.key.sk,
            e.gsi1.as_ref().map(|g| g.pk.as_str()),
            e.gsi1.as_ref().map(|g| g.sk.as_str()),
            e.ttl,
            e.version,
            e.payload
        ])
    })
    .map(drop)
    .map_err(sql_err(format!("writing item ({}, {}) of table {table}", e.key.pk, e.key.sk)))
}

pub(crate) fn remove(conn: &Connection, table: &str, key: &ItemKey) -> Result<()> {
    conn.prepare_cached(&format!(
        "DELETE FROM {} WHERE pk = ?1 AND sk = ?2",
        sql_table(table)
    ))
    .and_then(|mut s| s.execute(params![key.pk, key.sk]))
    .map(drop)
    .map_err(sql_err(format!(
        "deleting item ({}, {}) of table {table}",
        key.pk, key.sk
    )))
}

pub(crate) fn read_one(
    conn: &Connection,
    table: &str,
    sealing: &SecretKey,
    key: &ItemKey,
    now: i64,
) -> Result<Option<Item>> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {} WHERE pk = ?1 AND sk = ?2 AND (ttl IS NULL OR ttl > ?3)",
            sql_table(table)
        ))
        .map_err(sql_err(format!("reading table {}", table)))?;
    let mut rows = stmt
        .query(params![key.pk, key.sk, now])
        .map_err(sql_err(format!("reading table {}", table)))?;
    match rows
        .next()
        .map_err(sql_err(format!("reading table {}", table)))?
    {
        Some(row) => item_codec::decode(table, row, sealing).map(Some),
        None => Ok(None),
    }
}

/// SQL and parameters of a query page (one more row than the page, to know whether more follow).
pub(crate) fn query_sql(
    table: &str,
    q: &Query,
    limit: u32,
    now: i64,
) -> Result<(String, Vec<Value>)> {
    if q.pk.is_empty() {
        return Err(Error::invalid(format!(
            "table {table}: query partition key must not be empty"
        )));
    }
    let (pcol, scol) = if q.use_gsi1 {
        ("gsi1pk", "gsi1sk")
    } else {
        ("pk", "sk")
    };
    let mut sql = format!(
        "SELECT {COLUMNS} FROM {} WHERE {pcol} = ? AND (ttl IS NULL OR ttl > ?)",
        sql_table(table)
    );
    let mut args = vec![Value::Text(q.pk.clone()), Value::Integer(now)];
    let text = |s: &str| Value::Text(s.to_owned());
    match &q.sk {
        SortKeyCondition::Any => {}
        SortKeyCondition::Eq(v) => {
            sql.push_str(&format!(" AND {scol} = ?"));
            args.push(text(v));
        }
        SortKeyCondition::BeginsWith(p) => {
            sql.push_str(&format!(
                " AND {scol} >= ? AND substr({scol}, 1, length(?)) = ?"
            ));
            args.extend([text(p), text(p), text(p)]);
        }
        SortKeyCondition::Between(a, b) => {
            if a > b {
                return Err(Error::invalid(format!(
                    "table {table}: BETWEEN bounds {a:?} > {b:?}"
                )));
            }
            sql.push_str(&format!(" AND {scol} BETWEEN ? AND ?"));
            args.extend([text(a), text(b)]);
        }
        SortKeyCondition::Gte(v) => {
            sql.push_str(&format!(" AND {scol} >= ?"));
            args.push(text(v));
        }
        SortKeyCondition::Lte(v) => {
            sql.push_str(&format!(" AND {scol} <= ?"));
            args.push(text(v));
        }
    }
    let (cmp, dir) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    if let Some(c) = &q.start_after {
        if q.use_gsi1 {
            let ik = c.index_key.as_ref().ok_or_else(|| {
                Error::invalid(format!(
                    "table {table}: a gsi1 query cursor needs its index key"
                ))
            })?;
            sql.push_str(&format!(" AND (gsi1sk, pk, sk) {cmp} (?, ?, ?)"));
            args.extend([text(&ik.sk), text(&c.key.pk), text(&c.key.sk)]);
        } else {
            sql.push_str(&format!(" AND sk {cmp} ?"));
            args.push(text(&c.key.sk));
        }
    }
    if q.use_gsi1 {
        sql.push_str(&format!(" ORDER BY gsi1sk {dir}, pk {dir}, sk {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY sk {dir}"));
    }
    sql.push_str(" LIMIT ?");
    args.push(Value::Integer(i64::from(limit) + 1));
    Ok((sql, args))
}

/// Most expired rows one purge deletes, so that no single write pays for a large backlog.
const PURGE_BATCH: i64 = 256;

/// Deletes up to [`PURGE_BATCH`] items of `table` whose TTL has passed (they are already
/// invisible; this only reclaims space). Uses the table's partial index on `ttl`.
pub(crate) fn purge_expired(conn: &Connection, table: &str, now: i64) -> Result<usize> {
    let t = sql_table(table);
    conn.prepare_cached(&format!(
        "DELETE FROM {t} WHERE (pk, sk) IN
         (SELECT pk, sk FROM {t} WHERE ttl IS NOT NULL AND ttl <= ?1 LIMIT ?2)"
    ))
    .and_then(|mut s| s.execute(params![now, PURGE_BATCH]))
    .map_err(sql_err(format!("purging expired items of table {table}")))
}
