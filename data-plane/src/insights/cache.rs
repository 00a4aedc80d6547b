//! Written answers kept in the tenant's app table, so asking again about data that has not
//! changed costs no model call.
//!
//! The data watermark is the fact sheet itself: an answer is kept under the digest of the
//! facts it was written from (and the model that wrote it), `SUMMARY#{period}` /
//! `{model}#{digest}`. Every number a summary may state is in the sheet, so new data that
//! changes any of them changes the digest and gets a new answer, and new data that changes
//! none of them could not change a grounded answer either. No writer has to bump a counter —
//! the outbox processor's transactions stay as they are — at the price of building the sheet
//! on every request (reads only; the model call is what costs).
//!
//! Kept answers expire after [`KEPT_DAYS`]; an answer the model could not be reached for is
//! never kept, so the next request tries the model again.

use serde_json::Value;
use sha2::{Digest, Sha256};
use tenancy::Error;
use tenancy::ports::{Condition, Item, ItemKey, ItemStore};
use tenancy::table_plan::keys;
use time::OffsetDateTime;

use super::facts::FactSheet;
use super::summary::Answer;

/// Days a kept summary is served before it is written again.
pub const KEPT_DAYS: i64 = 7;

/// The watermark of `sheet`: the SHA-256 of its facts as JSON, in hex (a sheet lists its
/// facts in a fixed order, so the same data gives the same digest).
pub fn watermark(sheet: &FactSheet) -> String {
    let json = serde_json::to_vec(sheet).unwrap_or_default();
    let digest = Sha256::digest(&json);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn key(sheet: &FactSheet, model: &str) -> ItemKey {
    ItemKey::new(
        keys::summary(&sheet.period),
        format!("{model}#{}", watermark(sheet)),
    )
}

/// The summary `model` wrote from exactly `sheet`, if one is kept and has not expired.
pub async fn get(
    items: &dyn ItemStore,
    table: &str,
    sheet: &FactSheet,
    model: &str,
) -> Result<Option<Answer>, Error> {
    let Some(item) = items.get(table, &key(sheet, model)).await? else {
        return Ok(None);
    };
    match serde_json::from_value::<Answer>(Value::Object(item.attrs)) {
        Ok(summary) if summary.facts == *sheet => Ok(Some(summary)),
        // Written by another version, or a digest shared by two sheets: write it again.
        _ => Ok(None),
    }
}

/// Keeps `summary` (written from `summary.facts` by `model`) for [`KEPT_DAYS`].
pub async fn put(
    items: &dyn ItemStore,
    table: &str,
    sheet: &FactSheet,
    model: &str,
    summary: &Answer,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let mut item = Item::new(key(sheet, model));
    item.ttl = Some((now + time::Duration::days(KEPT_DAYS)).unix_timestamp());
    item.attrs = match serde_json::to_value(summary) {
        Ok(Value::Object(map)) => map,
        _ => return Err(Error::invalid("a summary serialises to an object")),
    };
    items.put(table, &item, Condition::None).await
}
