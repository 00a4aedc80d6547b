//! Embedded [`EventSink`]: [`EventLog`], every domain event published, one row per
//! publication, in `event-log.db` in the data directory — the local stand-in for an
//! EventBridge bus, which local consumers and tests read back ([`EventLog::published`]).
//!
//! Like a bus, the log is one for the deployment, every event naming its tenant, and it keeps
//! what it is given: an event published twice is there twice (the sink promises at least once;
//! consumers deduplicate by the event's id), so a test can tell a publication repeated from
//! one made once. A batch is written in one transaction: every event of it that a sink may
//! take is logged, or none is.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::params;

use crate::embedded::sqlite::{Db, sql_err};
use crate::embedded::timestamps::{now, to_nanos};
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::ports::event_sink::{DomainEvent, EventSink, EventSource, Unpublished};

pub(crate) const FILE_NAME: &str = "event-log.db";

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS published (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    source       TEXT NOT NULL,
    detail_type  TEXT NOT NULL,
    detail       TEXT NOT NULL,
    published_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS published_by_tenant ON published (tenant, seq);
";

/// The embedded event sink, and the way to read back what it was given.
#[derive(Clone)]
pub struct EventLog {
    db: Db,
}

impl EventLog {
    /// The log of the data directory `dir`, created if it is not there yet. Any number of
    /// handles, in any number of processes, may have it open: what one publishes the others
    /// read.
    ///
    /// Errors: `Unavailable` when the file cannot be opened or created.
    pub fn open(dir: &Path) -> Result<EventLog> {
        Ok(EventLog {
            db: Db::open(&dir.join(FILE_NAME), SCHEMA)?,
        })
    }

    /// Every publication of an event of `tenant`, in the order they were made; never another
    /// tenant's. Errors: `Unavailable` when the log cannot be read; `Invalid` for a row that
    /// does not read back (written by something else).
    pub async fn published(&self, tenant: &TenantId) -> Result<Vec<DomainEvent>> {
        let tenant = tenant.clone();
        self.db
            .call(move |conn| {
                let what = || format!("reading the event log of tenant {tenant}");
                let mut statement = conn
                    .prepare("SELECT source, detail FROM published WHERE tenant = ?1 ORDER BY seq")
                    .map_err(sql_err(what()))?;
                let rows = statement
                    .query_map(params![tenant.as_str()], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(sql_err(what()))?;
                let mut events = Vec::new();
                for row in rows {
                    let (source, detail) = row.map_err(sql_err(what()))?;
                    let source = EventSource::parse(&source)
                        .map_err(|e| Error::invalid(format!("{}: {e}", what())))?;
                    let event = DomainEvent::from_detail(source, &detail)?;
                    if event.tenant != tenant {
                        return Err(Error::invalid(format!(
                            "{}: a row of tenant {tenant} holds an event of tenant {}",
                            what(),
                            event.tenant
                        )));
                    }
                    events.push(event);
                }
                Ok(events)
            })
            .await
    }
}

#[async_trait]
impl EventSink for EventLog {
    async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<Unpublished>> {
        let mut unpublished = Vec::new();
        let mut rows = Vec::with_capacity(events.len());
        for (index, event) in events.iter().enumerate() {
            match event.checked_detail() {
                Ok(detail) => rows.push((
                    event.tenant.as_str().to_owned(),
                    event.id.to_string(),
                    event.source.as_str().to_owned(),
                    event.detail_type.as_str().to_owned(),
                    detail,
                )),
                Err(error) => unpublished.push(Unpublished { index, error }),
            }
        }
        if rows.is_empty() {
            return Ok(unpublished);
        }
        let at = to_nanos(now())?;
        self.db
            .write(move |tx| {
                let mut insert = tx
                    .prepare_cached(
                        "INSERT INTO published \
                         (tenant, event_id, source, detail_type, detail, published_at) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )
                    .map_err(sql_err("writing the event log"))?;
                for (tenant, id, source, detail_type, detail) in &rows {
                    insert
                        .execute(params![tenant, id, source, detail_type, detail, at])
                        .map_err(sql_err(format!(
                            "logging domain event {id} of tenant {tenant}"
                        )))?;
                }
                Ok(())
            })
            .await?;
        Ok(unpublished)
    }
}
