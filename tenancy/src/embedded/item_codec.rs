//! How an item is checked against DynamoDB's limits and laid out in a tenant table row: keys,
//! index keys, TTL and version in the clear (they are queried); `attrs` as JSON sealed with
//! AES-256-GCM under the table's key, bound to (table, pk, sk) so a payload copied to another
//! row or table does not decrypt.

use crate::embedded::crypto::SecretKey;
use crate::error::{Error, Result};
use crate::ports::item_store::{Item, ItemKey, MAX_ITEM_BYTES, MAX_KEY_BYTES};

/// Associated data of a payload: length-prefixed table name, pk and sk (unambiguous whatever
/// bytes they contain).
pub(crate) fn aad(table: &str, key: &ItemKey) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + table.len() + key.pk.len() + key.sk.len());
    for part in [table, key.pk.as_str(), key.sk.as_str()] {
        out.extend_from_slice(&(part.len() as u32).to_be_bytes());
        out.extend_from_slice(part.as_bytes());
    }
    out
}

fn check_key_part(table: &str, what: &str, value: &str) -> Result<()> {
    if value.is_empty() {
        return Err(Error::invalid(format!(
            "table {table}: {what} must not be empty"
        )));
    }
    if value.len() > MAX_KEY_BYTES {
        return Err(Error::invalid(format!(
            "table {table}: {what} is {} bytes, over the {MAX_KEY_BYTES}-byte key limit",
            value.len()
        )));
    }
    Ok(())
}

/// Checks a table key: both parts non-empty and at most 1 KiB.
pub(crate) fn check_key(table: &str, key: &ItemKey) -> Result<()> {
    check_key_part(table, "pk", &key.pk)?;
    check_key_part(table, "sk", &key.sk)
}

/// A validated item ready to be written: its payload serialised (not yet sealed).
pub(crate) struct Encoded {
    pub key: ItemKey,
    pub gsi1: Option<ItemKey>,
    pub ttl: Option<i64>,
    pub version: i64,
    pub payload: Vec<u8>,
}

/// Checks an item against the limits and seals its attributes under `key`.
pub(crate) fn encode(table: &str, item: &Item, key: &SecretKey) -> Result<Encoded> {
    check_key(table, &item.key)?;
    if let Some(g) = &item.gsi1 {
        check_key_part(table, "gsi1pk", &g.pk)?;
        check_key_part(table, "gsi1sk", &g.sk)?;
    }
    let version = i64::try_from(item.version).map_err(|_| {
        Error::invalid(format!(
            "table {table}: version {} is too large",
            item.version
        ))
    })?;
    let json = serde_json::to_vec(&item.attrs)
        .map_err(|e| Error::invalid(format!("table {table}: attributes do not serialise: {e}")))?;
    let size = item.key.pk.len()
        + item.key.sk.len()
        + item.gsi1.as_ref().map_or(0, |g| g.pk.len() + g.sk.len())
        + 16
        + json.len();
    if size > MAX_ITEM_BYTES {
        return Err(Error::invalid(format!(
            "table {table}: item ({}, {}) is {size} bytes, over the {MAX_ITEM_BYTES}-byte item limit",
            item.key.pk, item.key.sk
        )));
    }
    let payload = key.seal(&json, &aad(table, &item.key))?;
    Ok(Encoded {
        key: item.key.clone(),
        gsi1: item.gsi1.clone(),
        ttl: item.ttl,
        version,
        payload,
    })
}

/// Columns every item read selects, in the order [`decode`] expects.
pub(crate) const COLUMNS: &str = "pk, sk, gsi1pk, gsi1sk, ttl, version, payload";

/// Rebuilds an item from a row selected with [`COLUMNS`].
pub(crate) fn decode(table: &str, row: &rusqlite::Row<'_>, key: &SecretKey) -> Result<Item> {
    let read = |e: rusqlite::Error| {
        Error::unavailable(format!("table {table}: unreadable row: {e}")).with_source(e)
    };
    let item_key = ItemKey {
        pk: row.get(0).map_err(read)?,
        sk: row.get(1).map_err(read)?,
    };
    let gsi1pk: Option<String> = row.get(2).map_err(read)?;
    let gsi1sk: Option<String> = row.get(3).map_err(read)?;
    let ttl: Option<i64> = row.get(4).map_err(read)?;
    let version: i64 = row.get(5).map_err(read)?;
    let payload: Vec<u8> = row.get(6).map_err(read)?;
    // A payload that does not authenticate is corrupt data (tampered, moved, damaged on disk):
    // reading it again gives the same answer, so it is `Invalid`, not retryable `Unavailable`.
    let json = key.open(&payload, &aad(table, &item_key)).ok_or_else(|| {
        Error::invalid(format!(
            "table {table}: payload of item ({}, {}) does not authenticate (tampered, moved \
             or corrupted on disk)",
            item_key.pk, item_key.sk
        ))
    })?;
    let attrs = serde_json::from_slice(&json).map_err(|e| {
        Error::invalid(format!(
            "table {table}: payload of item ({}, {}) is not JSON: {e}",
            item_key.pk, item_key.sk
        ))
    })?;
    Ok(Item {
        key: item_key,
        gsi1: match (gsi1pk, gsi1sk) {
            (Some(pk), Some(sk)) => Some(ItemKey { pk, sk }),
            _ => None,
        },
        ttl,
        version: u64::try_from(version).unwrap_or_default(),
        attrs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn associated_data_cannot_be_confused_by_moving_separators() {
        assert_ne!(
            aad("t", &ItemKey::new("a#b", "c")),
            aad("t", &ItemKey::new("a", "b#c"))
        );
        assert_ne!(
            aad("ta", &ItemKey::new("b", "c")),
            aad("t", &ItemKey::new("ab", "c"))
        );
    }
}
