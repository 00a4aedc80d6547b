//! Timestamps as SQLite stores them: integer nanoseconds since the Unix epoch (UTC), which sort
//! and compare in SQL and round-trip `OffsetDateTime` exactly.

use time::OffsetDateTime;

use crate::error::{Error, Result};

pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc()
}

pub(crate) fn to_nanos(at: OffsetDateTime) -> Result<i64> {
    i64::try_from(at.unix_timestamp_nanos())
        .map_err(|_| Error::invalid(format!("timestamp {at} is outside the storable range")))
}

pub(crate) fn from_nanos(nanos: i64) -> rusqlite::Result<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(nanos)).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, Box::new(e))
    })
}
