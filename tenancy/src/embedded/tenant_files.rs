//! One SQLite file per tenant (`tables/{group}.db`) holding that tenant's tables, with a bounded
//! LRU of open connections.
//!
//! Per-tenant files keep every schema small (SQLite parses the whole schema on each new
//! connection, so one file with thousands of tables makes every open slow) and make a tenant's
//! data one file to back up or shred. The LRU bounds open file descriptors when many tenants
//! are active; an evicted connection closes once its last in-flight call finishes.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Mutex;

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::embedded::sqlite::Db;
use crate::error::{Error, Result};
use crate::naming::{TAG_TENANT, Tags};

pub(crate) const DIR_NAME: &str = "tables";
/// Group of tables created without a `spotlight:tenant` tag.
pub(crate) const UNTAGGED: &str = "_untagged";

/// The file group of a table: its `spotlight:tenant` tag when that is a safe file name
/// (`[a-z0-9-]`, at most 64 characters, as every tenant id is), a digest of it otherwise, and
/// `_untagged` without the tag. Names starting with `_` are never tenant ids, so the three
/// never collide.
pub(crate) fn group_of(tags: &Tags) -> String {
    match tags.get(TAG_TENANT) {
        None => UNTAGGED.to_owned(),
        Some(t)
            if !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') =>
        {
            t.clone()
        }
        Some(t) => {
            let digest = Sha256::digest(t.as_bytes());
            let hex: String = digest.iter().take(12).map(|b| format!("{b:02x}")).collect();
            format!("_h{hex}")
        }
    }
}

pub(crate) struct TenantFiles {
    dir: PathBuf,
    open: Mutex<LruCache<String, Db>>,
}

impl TenantFiles {
    pub(crate) fn new(dir: PathBuf, capacity: usize) -> Result<Self> {
        crate::embedded::private_file::create_private_dir(&dir).map_err(|e| {
            Error::unavailable(format!("creating {}: {e}", dir.display())).with_source(e)
        })?;
        let capacity = NonZeroUsize::new(capacity).unwrap_or(NonZeroUsize::MIN);
        Ok(TenantFiles {
            dir,
            open: Mutex::new(LruCache::new(capacity)),
        })
    }

    /// The connection to a group's file, opening (and creating) it if needed. Blocking: call it
    /// on the blocking pool.
    pub(crate) fn get(&self, group: &str) -> Result<Db> {
        if let Some(db) = self.cache()?.get(group) {
            return Ok(db.clone());
        }
        // Opened outside the lock so that a slow open does not stall other tenants; if two
        // threads race, one connection wins the slot and the other is dropped.
        let db = Db::open(&self.dir.join(format!("{group}.db")), "")?;
        Ok(self.cache()?.get_or_insert(group.to_owned(), || db).clone())
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, LruCache<String, Db>>> {
        self.open
            .lock()
            .map_err(|_| Error::unavailable("tenant file cache is unusable after a panic"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_safe_file_names_and_never_collide_with_tenant_ids() {
        assert_eq!(group_of(&Tags::new()), UNTAGGED);
        let tagged = |v: &str| Tags::from([(TAG_TENANT.to_owned(), v.to_owned())]);
        assert_eq!(group_of(&tagged("acme")), "acme");
        let odd = group_of(&tagged("../etc/passwd"));
        assert!(
            odd.starts_with("_h") && odd.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'),
            "{odd}"
        );
        assert_ne!(group_of(&tagged("A")), group_of(&tagged("a")));
    }
}
