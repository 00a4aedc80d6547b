//! One SQLite file per tenant (`tables/{group}.db`) holding that tenant's tables, with a bounded
//! LRU of open connections.
//!
//! Per-tenant files keep every schema small (SQLite parses the whole schema on each new
//! connection, so one file with thousands of tables makes every open slow) and make a tenant's
//! data one file to back up or shred. The LRU bounds open file descriptors when many tenants
//! are active; an evicted connection closes once its last in-flight call finishes.
//!
//! A group's files (`.db`, `-wal`, `-shm`) are removed when its last table is deleted
//! ([`TenantFiles::remove`]): offboarding leaves nothing of the tenant behind, not even the
//! keys (such as user ids) that are stored in clear beside the sealed payloads. Files are
//! created and removed only by table creates and deletes, which hold the catalog's write lock
//! and so are serialised across processes; item calls only open existing files
//! ([`TenantFiles::get`]), so a call racing the removal never re-creates the file.
//!
//! Another process may still have a removed file open: it keeps the unlinked inode, in which
//! every table was dropped before the unlink. The catalog is the authority on what exists, so
//! that process finds the table `NotFound` there before touching the file. And before each use
//! of a cached connection, one `stat` checks that the path still names the file it opened; if
//! the file is gone, or was removed and created anew, the connection is dropped and the current
//! file opened, so no process writes into an unlinked inode. (SQLite itself neither
//! checkpoints into nor deletes the logs of a database that moved while open.)

use std::fs;
use std::io;
use std::num::NonZeroUsize;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use lru::LruCache;
use sha2::{Digest, Sha256};

use crate::embedded::private_file::try_sync_dir;
use crate::embedded::sqlite::{Db, WAL_SUFFIXES, companion};
use crate::error::{Error, ErrorKind, Result};
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

/// Where a file is on disk (device and inode), to tell the file a connection opened from a
/// file created later under the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

/// The file at `path` now, if any.
fn file_id(path: &Path) -> Result<Option<FileId>> {
    match fs::metadata(path) {
        Ok(meta) => Ok(Some(FileId {
            dev: meta.dev(),
            ino: meta.ino(),
        })),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(format!("reading {}", path.display()), e)),
    }
}

fn io_error(what: String, e: io::Error) -> Error {
    Error::unavailable(format!("{what}: {e}")).with_source(e)
}

fn remove_if_exists(path: &Path) -> Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => {
            Err(io_error(format!("removing {}", path.display()), e))
        }
        _ => Ok(()),
    }
}

/// An open connection and the file it opened.
struct Open {
    db: Db,
    file: FileId,
}

pub(crate) struct TenantFiles {
    dir: PathBuf,
    open: Mutex<LruCache<String, Open>>,
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

    /// The connection to a group's existing file, for item calls; never creates the file.
    /// Blocking: call it on the blocking pool.
    ///
    /// Errors: `NotFound` when the group has no file (its last table was deleted, perhaps by
    /// another process, after the caller looked the table up); `Unavailable` when the file
    /// cannot be opened.
    pub(crate) fn get(&self, group: &str) -> Result<Db> {
        self.connection(group, false)
    }

    /// The connection to a group's file, creating the file if missing. Only for table creates
    /// and deletes, under the catalog's write lock, so that no removal of the group interleaves.
    /// Blocking: call it on the blocking pool.
    pub(crate) fn get_or_create(&self, group: &str) -> Result<Db> {
        self.connection(group, true)
    }

    /// Removes a group's files (`.db`, `-wal`, `-shm`) and flushes the directory. Only for
    /// table deletes, under the catalog's write lock, once the catalog holds no table of the
    /// group. Idempotent: files already gone are fine. Blocking.
    ///
    /// This process's connection is evicted first, so its later calls reopen by name and find
    /// no file; a call already running on the evicted connection finishes on the unlinked
    /// inode, whose tables were all dropped, and fails `NotFound`.
    ///
    /// Errors: `Unavailable` when a file cannot be removed (the deletion can be repeated).
    pub(crate) fn remove(&self, group: &str) -> Result<()> {
        let evicted = self.cache()?.pop(group);
        // Closed here (outside the cache lock) unless a call is still using it.
        drop(evicted);
        let path = self.path(group);
        // The database first: once its name is gone no connection can open the group, and logs
        // left without a database are cleared by the next create of the group.
        remove_if_exists(&path)?;
        for suffix in WAL_SUFFIXES.into_iter().chain(["-journal"]) {
            remove_if_exists(&companion(&path, suffix))?;
        }
        if let Err(e) = try_sync_dir(&self.dir) {
            tracing::warn!(
                dir = %self.dir.display(),
                error = %e,
                "could not flush the removal of a tenant file; it may reappear after a crash"
            );
        }
        Ok(())
    }

    fn path(&self, group: &str) -> PathBuf {
        self.dir.join(format!("{group}.db"))
    }

    fn connection(&self, group: &str, create: bool) -> Result<Db> {
        let path = self.path(group);
        let gone = || Error::not_found(format!("tenant file {group}.db does not exist"));
        // A file can change between the `stat`s and SQLite's open only when another process
        // removes and re-creates the group meanwhile; then the open is simply repeated.
        for _ in 0..3 {
            let before = file_id(&path)?;
            if let Some(db) = self.cached(group, before)? {
                return Ok(db);
            }
            // Opened outside the cache lock so that a slow open does not stall other tenants.
            let db = match (before, create) {
                (None, false) => return Err(gone()),
                (None, true) => {
                    // Logs without their database (from a removal cut short, or from a process
                    // that opened the group the instant it was removed) must not be replayed
                    // into the new file.
                    for suffix in WAL_SUFFIXES.into_iter().chain(["-journal"]) {
                        remove_if_exists(&companion(&path, suffix))?;
                    }
                    Db::open(&path, "")?
                }
                (Some(_), true) => Db::open(&path, "")?,
                (Some(_), false) => Db::open_existing(&path).map_err(|e| match e.kind() {
                    ErrorKind::NotFound => gone(),
                    _ => e,
                })?,
            };
            match file_id(&path)? {
                Some(file) if before.is_none_or(|b| b == file) => {
                    return self.insert(group, db, file);
                }
                None if !create => return Err(gone()),
                _ => continue,
            }
        }
        Err(Error::unavailable(format!(
            "tenant file {group}.db kept being replaced while it was opened"
        )))
    }

    /// The cached connection of `group` if it has `current` open. A connection to any other
    /// file (one another process removed, perhaps creating the group anew) is dropped: it
    /// would read and write an unlinked inode.
    fn cached(&self, group: &str, current: Option<FileId>) -> Result<Option<Db>> {
        let mut cache = self.cache()?;
        match cache.get(group) {
            Some(open) if Some(open.file) == current => Ok(Some(open.db.clone())),
            Some(_) => {
                let stale = cache.pop(group);
                drop(cache);
                drop(stale);
                Ok(None)
            }
            None => Ok(None),
        }
    }

    /// Caches `db` (which has `file` open) unless a connection to the same file won the slot
    /// meanwhile, and returns the cached one.
    fn insert(&self, group: &str, db: Db, file: FileId) -> Result<Db> {
        let mut cache = self.cache()?;
        if let Some(open) = cache.get(group).filter(|open| open.file == file) {
            return Ok(open.db.clone());
        }
        let displaced = cache.push(
            group.to_owned(),
            Open {
                db: db.clone(),
                file,
            },
        );
        drop(cache);
        drop(displaced);
        Ok(db)
    }

    fn cache(&self) -> Result<std::sync::MutexGuard<'_, LruCache<String, Open>>> {
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
