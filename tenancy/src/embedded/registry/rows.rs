//! How registry rows map to records: tenant records as JSON with their version alongside,
//! journal entries and API keys column by column, timestamps as Unix nanoseconds.

use rusqlite::{Connection, OptionalExtension, Row, params};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::embedded::sqlite::sql_err;
use crate::embedded::timestamps::{from_nanos, to_nanos};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::record::{
    ApiKeyKind, ApiKeyRecord, JournalEntry, JournalPhase, RequestId, TenantRecord,
};

pub(super) fn phase_str(p: JournalPhase) -> &'static str {
    match p {
        JournalPhase::Intent => "intent",
        JournalPhase::Done => "done",
        JournalPhase::Failed => "failed",
        JournalPhase::Undone => "undone",
        JournalPhase::Kept => "kept",
        JournalPhase::Transition => "transition",
    }
}

pub(super) fn phase_parse(raw: &str) -> Option<JournalPhase> {
    [
        JournalPhase::Intent,
        JournalPhase::Done,
        JournalPhase::Failed,
        JournalPhase::Undone,
        JournalPhase::Kept,
        JournalPhase::Transition,
    ]
    .into_iter()
    .find(|p| phase_str(*p) == raw)
}

pub(super) fn conversion(
    col: usize,
    e: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, Box::new(e))
}

pub(super) fn bad_value(col: usize, what: &str, raw: &str) -> rusqlite::Error {
    conversion(
        col,
        Error::unavailable(format!("unknown {what} {raw:?} in the registry")),
    )
}

pub(super) fn decode_record(raw: &str, version: i64) -> Result<TenantRecord> {
    let mut record: TenantRecord = serde_json::from_str(raw)
        .map_err(|e| Error::unavailable(format!("stored tenant record is unreadable: {e}")))?;
    record.version = u64::try_from(version).unwrap_or_default();
    Ok(record)
}

pub(super) fn encode_record(record: &TenantRecord, version: u64) -> Result<String> {
    let mut stored = record.clone();
    stored.version = version;
    serde_json::to_string(&stored).map_err(|e| {
        Error::invalid(format!(
            "tenant {}: record does not serialise: {e}",
            record.id
        ))
    })
}

pub(super) fn insert_journal(conn: &Connection, entry: &JournalEntry) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO journal (tenant, run_id, step, phase, detail, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .and_then(|mut s| {
        s.execute(params![
            entry.tenant.as_str(),
            entry.run_id.to_string(),
            entry.step,
            phase_str(entry.phase),
            entry.detail,
            to_nanos(entry.at).unwrap_or_default()
        ])
    })
    .map(drop)
    .map_err(sql_err(format!("appending to the journal of tenant {}", entry.tenant)))
}

pub(super) fn check_entries(record: &TenantRecord, entries: &[JournalEntry]) -> Result<()> {
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

pub(super) fn read_journal(r: &Row<'_>) -> rusqlite::Result<JournalEntry> {
    let tenant: String = r.get(0)?;
    let run_id: String = r.get(1)?;
    let phase: String = r.get(3)?;
    Ok(JournalEntry {
        tenant: TenantId::parse(&tenant).map_err(|e| conversion(0, e))?,
        run_id: Uuid::parse_str(&run_id).map_err(|e| conversion(1, e))?,
        step: r.get(2)?,
        phase: phase_parse(&phase).ok_or_else(|| bad_value(3, "journal phase", &phase))?,
        detail: r.get(4)?,
        at: from_nanos(r.get(5)?)?,
    })
}

pub(super) const API_KEY_COLUMNS: &str =
    "key_id, tenant, hash, kind, prefix, created_at, expires_at, revoked_at, last_used_at, request";

pub(super) fn opt_time(v: Option<i64>) -> rusqlite::Result<Option<OffsetDateTime>> {
    v.map(from_nanos).transpose()
}

pub(super) fn read_api_key(r: &Row<'_>) -> rusqlite::Result<ApiKeyRecord> {
    let tenant: String = r.get(1)?;
    let kind: String = r.get(3)?;
    Ok(ApiKeyRecord {
        key_id: r.get(0)?,
        tenant: TenantId::parse(&tenant).map_err(|e| conversion(1, e))?,
        hash: r.get(2)?,
        kind: match kind.as_str() {
            "publishable" => ApiKeyKind::Publishable,
            "secret" => ApiKeyKind::Secret,
            other => return Err(bad_value(3, "API key kind", other)),
        },
        prefix: r.get(4)?,
        created_at: from_nanos(r.get(5)?)?,
        expires_at: opt_time(r.get(6)?)?,
        revoked_at: opt_time(r.get(7)?)?,
        last_used_at: opt_time(r.get(8)?)?,
        created_by_request: r.get::<_, Option<String>>(9)?.map(RequestId::from_stored),
    })
}

pub(super) fn api_key_by_id(
    conn: &Connection,
    tenant: &TenantId,
    key_id: &str,
) -> Result<Option<ApiKeyRecord>> {
    conn.query_row(
        &format!("SELECT {API_KEY_COLUMNS} FROM api_keys WHERE key_id = ?1 AND tenant = ?2"),
        params![key_id, tenant.as_str()],
        read_api_key,
    )
    .optional()
    .map_err(sql_err(format!(
        "reading API key {key_id} of tenant {tenant}"
    )))
}
