//! Embedded `StreamTriggers`: triggers as rows of `cloud.db`, one per (stream, function).
//!
//! Nothing is invoked: the embedded backend has no functions, and the serving process (or
//! `data-plane process-outbox`) folds the outbox itself. The rows keep the port's rules — a
//! trigger needs an existing table's current stream, and a stream links to a function once —
//! so that the provisioner's trigger step runs, resumes and is undone the same way on both
//! backends.

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};
use uuid::Uuid;

use crate::embedded::cloud_ids;
use crate::embedded::sqlite::{Db, is_unique_violation, sql_err};
use crate::embedded::table_admin::stream_arn;
use crate::embedded::timestamps::{now, to_nanos};
use crate::error::{Error, Result};
use crate::ports::stream_trigger::{
    StreamTriggers, TriggerInfo, TriggerSpec, TriggerState, stream_table_arn,
};
use crate::table_plan::TableSpec;

pub(crate) struct EmbeddedStreamTriggers {
    cloud: Db,
}

impl EmbeddedStreamTriggers {
    pub(crate) fn new(cloud: Db) -> Self {
        EmbeddedStreamTriggers { cloud }
    }
}

/// Whether `stream` is the current stream of a table in the catalog.
fn stream_exists(conn: &rusqlite::Connection, stream: &str) -> Result<bool> {
    let Some(table_arn) = stream_table_arn(stream) else {
        return Ok(false);
    };
    let row: Option<(String, i64)> = conn
        .query_row(
            "SELECT spec, created_at FROM tables WHERE arn = ?1",
            [table_arn],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(sql_err(format!("looking up the table of stream {stream}")))?;
    let Some((raw, created_at)) = row else {
        return Ok(false);
    };
    let spec: TableSpec = serde_json::from_str(&raw).map_err(|e| {
        Error::unavailable(format!(
            "catalog entry of table {table_arn} is unreadable: {e}"
        ))
    })?;
    Ok(stream_arn(&spec, table_arn, created_at).as_deref() == Some(stream))
}

fn decode(id: String, raw: &str) -> Result<TriggerInfo> {
    let spec = serde_json::from_str(raw).map_err(|e| {
        Error::unavailable(format!("stored spec of trigger {id} is unreadable: {e}"))
    })?;
    Ok(TriggerInfo {
        arn: cloud_ids::trigger_arn(&id),
        id,
        spec,
        state: TriggerState::Enabled,
    })
}

#[async_trait]
impl StreamTriggers for EmbeddedStreamTriggers {
    async fn create_trigger(&self, spec: &TriggerSpec) -> Result<TriggerInfo> {
        let spec = spec.clone();
        self.cloud
            .write(move |tx| {
                let stream = &spec.stream_arn;
                if !stream_exists(tx, stream)? {
                    return Err(Error::not_found(format!(
                        "stream {stream} does not exist: no table has it as its current stream"
                    )));
                }
                let id = Uuid::new_v4().to_string();
                let raw = serde_json::to_string(&spec).map_err(|e| {
                    Error::invalid(format!("trigger of {stream}: spec does not serialise: {e}"))
                })?;
                match tx.execute(
                    "INSERT INTO triggers (id, stream_arn, function_arn, spec, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, stream, spec.function.as_str(), raw, to_nanos(now())?],
                ) {
                    Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                        "a trigger of stream {stream} to function {} already exists",
                        spec.function
                    ))),
                    Err(e) => Err(sql_err(format!("creating a trigger of {stream}"))(e)),
                    Ok(_) => decode(id, &raw),
                }
            })
            .await
    }

    async fn triggers_of_stream(&self, stream_arn: &str) -> Result<Vec<TriggerInfo>> {
        let stream = stream_arn.to_owned();
        self.cloud
            .call(move |conn| {
                let rows: Vec<(String, String)> = conn
                    .prepare_cached(
                        "SELECT id, spec FROM triggers WHERE stream_arn = ?1 ORDER BY id",
                    )
                    .and_then(|mut s| {
                        s.query_map([&stream], |r| Ok((r.get(0)?, r.get(1)?)))?
                            .collect()
                    })
                    .map_err(sql_err(format!("listing the triggers of {stream}")))?;
                rows.into_iter().map(|(id, raw)| decode(id, &raw)).collect()
            })
            .await
    }

    async fn describe_trigger(&self, id: &str) -> Result<TriggerInfo> {
        let id = id.to_owned();
        self.cloud
            .call(move |conn| {
                let raw: Option<String> = conn
                    .query_row("SELECT spec FROM triggers WHERE id = ?1", [&id], |r| {
                        r.get(0)
                    })
                    .optional()
                    .map_err(sql_err(format!("reading trigger {id}")))?;
                let raw =
                    raw.ok_or_else(|| Error::not_found(format!("trigger {id} does not exist")))?;
                decode(id, &raw)
            })
            .await
    }

    async fn delete_trigger(&self, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.cloud
            .call(move |conn| {
                let deleted = conn
                    .execute("DELETE FROM triggers WHERE id = ?1", [&id])
                    .map_err(sql_err(format!("deleting trigger {id}")))?;
                if deleted == 0 {
                    return Err(Error::not_found(format!("trigger {id} does not exist")));
                }
                Ok(())
            })
            .await
    }
}
