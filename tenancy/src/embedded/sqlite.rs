//! SQLite plumbing shared by every embedded adapter: how a database file is opened (WAL,
//! durable commits, busy timeout), how blocking calls leave the async runtime, and how SQLite
//! errors become port errors.
//!
//! Two processes (control plane and data plane) may open the same files. WAL lets readers run
//! beside one writer; writers start with `BEGIN IMMEDIATE` so that two processes never both
//! hold a read lock and then deadlock upgrading it; `busy_timeout` makes a writer wait for the
//! other instead of failing at once.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::error::{Error, ErrorKind, Result};

/// How long a connection waits for another writer before giving up with `Unavailable`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// One SQLite connection, shared by the adapters of this process. rusqlite connections are
/// blocking and not `Sync`; the mutex serialises this process's use of it, and
/// [`Db::call`] runs the work on tokio's blocking pool so the async runtime never waits on
/// disk or on another process's lock.
#[derive(Clone)]
pub(crate) struct Db {
    inner: Arc<DbInner>,
}

struct DbInner {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl Db {
    /// Opens (creating if needed) the database at `path`, configures it and applies `schema`
    /// (idempotent DDL) in one immediate transaction.
    pub(crate) fn open(path: &Path, schema: &str) -> Result<Db> {
        let mut conn = open_connection(path)?;
        if !schema.is_empty() {
            let tx = immediate(&mut conn, path)?;
            tx.execute_batch(schema).map_err(sql_err(format!(
                "creating the schema of {}",
                path.display()
            )))?;
            tx.commit().map_err(sql_err(format!(
                "creating the schema of {}",
                path.display()
            )))?;
        }
        Ok(Db {
            inner: Arc::new(DbInner {
                conn: Mutex::new(conn),
                path: path.to_owned(),
            }),
        })
    }

    /// Runs `f` with the connection on the blocking pool.
    pub(crate) async fn call<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        blocking(move || db.with_conn(f)).await
    }

    /// Runs `f` with the connection on the current thread. Only for code already running on
    /// the blocking pool (inside [`Db::call`] or [`blocking`]).
    pub(crate) fn with_conn<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.lock()?;
        f(&mut conn)
    }

    /// Runs `f` in one write transaction (`BEGIN IMMEDIATE`) on the current thread, committing
    /// when `f` succeeds and rolling back when it fails. Only for code on the blocking pool.
    pub(crate) fn transaction<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T>,
    ) -> Result<T> {
        let path = self.inner.path.clone();
        self.with_conn(|conn| {
            let tx = immediate(conn, &path)?;
            let out = f(&tx)?;
            tx.commit()
                .map_err(sql_err(format!("committing to {}", path.display())))?;
            Ok(out)
        })
    }

    /// [`Db::transaction`] on the blocking pool.
    pub(crate) async fn write<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> Result<T> + Send + 'static,
    {
        let db = self.clone();
        blocking(move || db.transaction(f)).await
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>> {
        self.inner.conn.lock().map_err(|_| {
            Error::unavailable(format!(
                "connection to {} is unusable: a previous call panicked while holding it",
                self.inner.path.display()
            ))
        })
    }
}

/// Runs blocking work on tokio's blocking pool.
pub(crate) async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::unavailable(format!("embedded storage task failed: {e}")))?
}

/// A configured connection: WAL (readers beside one writer, across processes), `FULL`
/// synchronous commits (an acknowledged write survives power loss), foreign keys, a busy
/// timeout so concurrent writers queue instead of failing, and `secure_delete`, which zeroes
/// deleted and overwritten content instead of leaving it in free space — destroyed key
/// material and deleted tenant data must not be recoverable from the files.
pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    let what = || format!("opening {}", path.display());
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql_err(what()))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err(what()))?;
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(sql_err(what()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::unavailable(format!(
            "{} refused WAL mode (got {mode})",
            path.display()
        )));
    }
    conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;")
        .map_err(sql_err(what()))?;
    Ok(conn)
}

/// Starts a write transaction that takes the write lock up front (`BEGIN IMMEDIATE`).
pub(crate) fn immediate<'c>(conn: &'c mut Connection, path: &Path) -> Result<Transaction<'c>> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(sql_err(format!("starting a write on {}", path.display())))
}

/// Maps a SQLite error to the port's kinds (see [`classify`]). `what` says what was being
/// done, and for whom.
pub(crate) fn sql_err(what: impl Into<String>) -> impl FnOnce(rusqlite::Error) -> Error {
    let what = what.into();
    move |e| {
        let kind = classify(&e);
        Error::new(kind, format!("{what}: {e}")).with_source(e)
    }
}

/// The port kind of a SQLite error:
///
/// - busy / locked (another process holds the write lock past the busy timeout): `Unavailable`,
///   retryable — the one case where trying again is the fix;
/// - a uniqueness or primary-key violation: `AlreadyExists`;
/// - a NOT NULL, CHECK or foreign-key violation: `Invalid` — the row itself is wrong, and
///   retrying it unchanged cannot succeed (reporting it as `AlreadyExists` would send callers
///   down their "adopt the existing thing" path);
/// - a missing table: `NotFound`;
/// - anything else (full disk, read-only or corrupt file, I/O error): `Unavailable`. These are
///   not really retryable, but `ErrorKind` has no "backend broken" kind and none of the others
///   fits: `Invalid` would blame the request, `AccessDenied` the caller. Callers bound their
///   retries, and the message (with the SQLite error as source) tells the operator what to fix.
fn classify(e: &rusqlite::Error) -> ErrorKind {
    match e {
        rusqlite::Error::SqliteFailure(f, msg) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => ErrorKind::Unavailable,
            ErrorCode::ConstraintViolation if is_unique_code(f.extended_code) => {
                ErrorKind::AlreadyExists
            }
            ErrorCode::ConstraintViolation => ErrorKind::Invalid,
            _ if msg.as_deref().is_some_and(|m| m.contains("no such table")) => ErrorKind::NotFound,
            _ => ErrorKind::Unavailable,
        },
        _ if e.to_string().contains("no such table") => ErrorKind::NotFound,
        _ => ErrorKind::Unavailable,
    }
}

fn is_unique_code(extended_code: std::ffi::c_int) -> bool {
    matches!(
        extended_code,
        rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
    )
}

/// Whether `e` is a uniqueness or primary-key violation (the row already exists). Other
/// constraint violations (NOT NULL, CHECK, foreign key) are not.
pub(crate) fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == ErrorCode::ConstraintViolation && is_unique_code(f.extended_code))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,
                             n INTEGER CHECK (n > 0));
             INSERT INTO t VALUES ('a', 'x', 1);",
        )
        .unwrap();
        conn
    }

    fn kind_of(conn: &Connection, sql: &str) -> ErrorKind {
        let e = conn.execute(sql, []).unwrap_err();
        sql_err("test")(e).kind()
    }

    #[test]
    fn uniqueness_violations_are_already_exists() {
        let conn = table();
        assert_eq!(
            kind_of(&conn, "INSERT INTO t VALUES ('a', 'y', 1)"),
            ErrorKind::AlreadyExists
        );
        assert_eq!(
            kind_of(&conn, "INSERT INTO t VALUES ('b', 'x', 1)"),
            ErrorKind::AlreadyExists
        );
        let e = conn
            .execute("INSERT INTO t VALUES ('a', 'y', 1)", [])
            .unwrap_err();
        assert!(is_unique_violation(&e));
    }

    #[test]
    fn not_null_and_check_violations_are_invalid_and_not_retryable() {
        let conn = table();
        for sql in [
            "INSERT INTO t VALUES ('b', NULL, 1)",
            "INSERT INTO t VALUES ('b', 'y', 0)",
        ] {
            let kind = kind_of(&conn, sql);
            assert_eq!(kind, ErrorKind::Invalid, "{sql}");
            assert!(!kind.is_retryable(), "{sql}");
            let e = conn.execute(sql, []).unwrap_err();
            assert!(!is_unique_violation(&e), "{sql}");
        }
    }

    #[test]
    fn a_writer_held_off_by_another_is_unavailable_and_retryable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut holder = open_connection(&path).unwrap();
        holder.execute_batch("CREATE TABLE t (x)").unwrap();
        let _lock = immediate(&mut holder, &path).unwrap();
        let other = open_connection(&path).unwrap();
        other.busy_timeout(Duration::ZERO).unwrap();
        let e = other.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let kind = sql_err("test")(e).kind();
        assert_eq!(kind, ErrorKind::Unavailable);
        assert!(kind.is_retryable());
    }

    #[test]
    fn connections_zero_deleted_content() {
        let dir = tempfile::tempdir().unwrap();
        let conn = open_connection(&dir.path().join("db")).unwrap();
        let on: i64 = conn
            .query_row("PRAGMA secure_delete", [], |r| r.get(0))
            .unwrap();
        assert_eq!(on, 1);
    }
}
