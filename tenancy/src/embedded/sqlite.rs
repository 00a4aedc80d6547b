//! SQLite plumbing shared by every embedded adapter: how a database file is opened (WAL,
//! durable commits, busy timeout), how blocking calls leave the async runtime, and how SQLite
//! errors become port errors.
//!
//! Two processes (control plane and data plane) may open the same files. WAL lets readers run
//! beside one writer; writers start with `BEGIN IMMEDIATE` so that two processes never both
//! hold a read lock and then deadlock upgrading it; `busy_timeout` makes a writer wait for the
//! other instead of failing at once.
//!
//! Every database file is private to the process owner (mode 0600), `-wal` and `-shm`
//! included; see [`open_connection`].
//!
//! # Group commit
//!
//! A commit with `synchronous=FULL` waits for the disk (an fsync, milliseconds), so one file
//! takes only a few hundred commits a second however small they are. [`Db::grouped`] lets
//! writes that arrive together share one: each caller queues its transaction and asks for the
//! connection; whoever gets it runs every queued transaction in one SQLite transaction, each
//! inside a savepoint of its own (a failing one is rolled back alone, exactly as if it had run
//! by itself), commits once, and only then answers each caller. Nothing is acknowledged
//! before the commit that holds it is on disk, and a failed commit fails every transaction
//! of the group, none of which is then stored. Readers never see a group half done: the
//! connection is held from `BEGIN` to `COMMIT`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, mpsc};
use std::time::{Duration, Instant};

use rusqlite::{Connection, ErrorCode, OpenFlags, Transaction, TransactionBehavior};

use crate::embedded::private_file::restrict_file;
use crate::error::{Error, ErrorKind, Result};

/// How long a connection waits for another writer before giving up with `Unavailable`.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest pause between two attempts of an open-time statement that found the file busy.
const MAX_OPEN_PAUSE: Duration = Duration::from_millis(50);
/// Suffixes of the files SQLite keeps beside a database in WAL mode.
pub(crate) const WAL_SUFFIXES: [&str; 2] = ["-wal", "-shm"];

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
    /// Transactions waiting for the next group commit ([`Db::grouped`]).
    queued: Mutex<Vec<Box<dyn Queued>>>,
}

/// A transaction waiting in [`DbInner::queued`].
trait Queued: Send {
    /// Runs it inside a savepoint of the group's transaction, keeping its outcome. `Err` when
    /// the savepoint itself failed: the group's transaction can no longer be trusted.
    fn run(&mut self, conn: &Connection) -> Result<()>;
    /// Answers its caller once the group's commit is known (`Err`: nothing was stored).
    fn answer(self: Box<Self>, commit: std::result::Result<(), &Error>);
}

struct Pending<T, F> {
    work: Option<F>,
    outcome: Option<Result<T>>,
    reply: mpsc::SyncSender<Result<T>>,
}

impl<T, F> Queued for Pending<T, F>
where
    T: Send,
    F: FnOnce(&Connection) -> Result<T> + Send,
{
    fn run(&mut self, conn: &Connection) -> Result<()> {
        if let Some(work) = self.work.take() {
            self.outcome = Some(in_savepoint(conn, work)?);
        }
        Ok(())
    }

    fn answer(self: Box<Self>, commit: std::result::Result<(), &Error>) {
        let answer = match (commit, self.outcome) {
            // Its own refusal stands whatever became of the others.
            (_, Some(Err(own))) => Err(own),
            (Ok(()), Some(Ok(value))) => Ok(value),
            (Err(e), _) => Err(e.detached()),
            (Ok(()), None) => Err(Error::unavailable("a grouped write was never run")),
        };
        // The caller waits for this; it cannot have gone.
        let _ = self.reply.send(answer);
    }
}

/// Runs `work` inside a savepoint: kept when it succeeds, undone alone when it fails. The
/// outer `Err`: the savepoint could not be taken, kept or undone.
fn in_savepoint<T>(
    conn: &Connection,
    work: impl FnOnce(&Connection) -> Result<T>,
) -> Result<Result<T>> {
    conn.execute_batch("SAVEPOINT grouped")
        .map_err(sql_err("starting a grouped write"))?;
    let outcome = work(conn);
    let end = if outcome.is_ok() {
        "RELEASE grouped"
    } else {
        "ROLLBACK TO grouped; RELEASE grouped"
    };
    conn.execute_batch(end)
        .map_err(sql_err("ending a grouped write"))?;
    Ok(outcome)
}

impl Db {
    /// Opens (creating if needed) the database at `path`, configures it and applies `schema`
    /// (idempotent DDL) in one immediate transaction.
    pub(crate) fn open(path: &Path, schema: &str) -> Result<Db> {
        Db::configure(open_connection(path)?, path, schema)
    }

    /// Opens the existing database at `path`, never creating it.
    ///
    /// Errors: `NotFound` when there is no file at `path`; otherwise as [`Db::open`].
    pub(crate) fn open_existing(path: &Path) -> Result<Db> {
        Db::configure(connect(path, false)?, path, "")
    }

    fn configure(mut conn: Connection, path: &Path, schema: &str) -> Result<Db> {
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
                queued: Mutex::new(Vec::new()),
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

    /// [`Db::transaction`] for the hot write paths, sharing its commit with the writes
    /// queued beside it (see the module docs): `Ok` only once the commit holding it is on
    /// disk. `work` runs on whichever thread leads the group, so it owns what it uses. Only
    /// for code on the blocking pool.
    pub(crate) fn grouped<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        let (reply, answer) = mpsc::sync_channel(1);
        self.queue()?.push(Box::new(Pending {
            work: Some(work),
            outcome: None,
            reply,
        }));
        self.lead()?;
        // Answered by this thread's group, or by an earlier one that took this write along.
        answer.recv().map_err(|_| {
            Error::unavailable(format!(
                "a grouped write to {} was lost: the thread committing it failed",
                self.inner.path.display()
            ))
        })?
    }

    /// Takes the connection, then every queued write, and commits them as one group. Finds
    /// none when an earlier group took them (this caller's included) while it waited.
    fn lead(&self) -> Result<()> {
        let conn = self.lock()?;
        let mut group = std::mem::take(&mut *self.queue()?);
        if group.is_empty() {
            return Ok(());
        }
        let path = self.inner.path.display();
        let began = conn
            .execute_batch("BEGIN IMMEDIATE")
            .map_err(sql_err(format!("starting a write on {path}")));
        let commit = began.and_then(|()| {
            let ran = group
                .iter_mut()
                .try_for_each(|write| write.run(&conn))
                .and_then(|()| {
                    conn.execute_batch("COMMIT")
                        .map_err(sql_err(format!("committing to {path}")))
                });
            if ran.is_err() {
                // Nothing of the group may stay: every caller is told it failed.
                let _ = conn.execute_batch("ROLLBACK");
            }
            ran
        });
        drop(conn);
        for write in group {
            write.answer(commit.as_ref().map(|_| ()));
        }
        Ok(())
    }

    fn queue(&self) -> Result<MutexGuard<'_, Vec<Box<dyn Queued>>>> {
        self.inner.queued.lock().map_err(|_| {
            Error::unavailable(format!(
                "the write queue of {} is unusable: a previous write panicked",
                self.inner.path.display()
            ))
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
///
/// The file is created (if missing) with mode 0600 before SQLite opens it, and SQLite gives the
/// `-wal` and `-shm` files it creates the database file's mode, so none of them is readable by
/// other users whatever the umask. An existing database, `-wal` or `-shm` file open to group or
/// others (a data directory from before this rule) is tightened to 0600 with a warning.
///
/// Switching a fresh file to WAL takes an exclusive lock without going through the busy
/// handler, so when another connection is switching or reading the same fresh file at that
/// moment (two processes opening a fresh data directory together) SQLite reports
/// `SQLITE_BUSY` at once. Open-time statements are therefore retried while busy, with short
/// pauses, until [`BUSY_TIMEOUT`] has passed; then the last error is returned (`Unavailable`,
/// retryable).
pub(crate) fn open_connection(path: &Path) -> Result<Connection> {
    connect(path, true)
}

/// [`open_connection`], creating the file only when `create`; `NotFound` when it is missing
/// and may not be created.
fn connect(path: &Path, create: bool) -> Result<Connection> {
    let what = || format!("opening {}", path.display());
    let io_err = |e: std::io::Error| Error::unavailable(format!("{}: {e}", what())).with_source(e);
    if !restrict_file(path, create).map_err(io_err)? {
        return Err(Error::not_found(format!(
            "{} does not exist",
            path.display()
        )));
    }
    for suffix in WAL_SUFFIXES {
        restrict_file(&companion(path, suffix), false).map_err(io_err)?;
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags).map_err(|e| {
        // Removed between the check above and SQLite's open.
        if !create && error_code(&e) == Some(ErrorCode::CannotOpen) && !path.exists() {
            Error::not_found(format!("{} does not exist", path.display())).with_source(e)
        } else {
            sql_err(what())(e)
        }
    })?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_err(what()))?;
    let mode: String = retry_while_busy(BUSY_TIMEOUT, || {
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
    })
    .map_err(sql_err(what()))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(Error::unavailable(format!(
            "{} refused WAL mode (got {mode})",
            path.display()
        )));
    }
    retry_while_busy(BUSY_TIMEOUT, || {
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
        )
    })
    .map_err(sql_err(what()))?;
    Ok(conn)
}

/// The path of a file SQLite keeps beside the database at `path`: `{path}{suffix}`.
pub(crate) fn companion(path: &Path, suffix: &str) -> PathBuf {
    let mut name = OsString::from(path.as_os_str());
    name.push(suffix);
    PathBuf::from(name)
}

/// Runs `f` until it succeeds or fails with something other than busy / locked, pausing
/// between attempts (1 ms, doubling up to [`MAX_OPEN_PAUSE`]); once `timeout` has passed since
/// the first attempt, the busy error is returned.
fn retry_while_busy<T>(
    timeout: Duration,
    mut f: impl FnMut() -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(1);
    loop {
        match f() {
            Err(e) if is_busy(&e) && started.elapsed() < timeout => {
                std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                pause = (pause * 2).min(MAX_OPEN_PAUSE);
            }
            result => return result,
        }
    }
}

fn error_code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        error_code(e),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked)
    )
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

    /// Writers on many threads at once, some of them failing: every caller hears its own
    /// outcome, the failed ones left nothing, all the others are stored.
    #[test]
    fn grouped_writes_commit_together_and_fail_alone() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(
            &dir.path().join("group.db"),
            "CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT NOT NULL);",
        )
        .unwrap();
        let outcomes: Vec<Result<i64>> = std::thread::scope(|scope| {
            let writers: Vec<_> = (0..48i64)
                .map(|k| {
                    let db = db.clone();
                    scope.spawn(move || {
                        db.grouped(move |conn| {
                            conn.execute("INSERT INTO t VALUES (?1, 'x')", [k])
                                .map_err(sql_err("inserting"))?;
                            // Every seventh fails after writing: its row must not stay.
                            if k % 7 == 3 {
                                return Err(Error::condition_failed(format!("{k} refused")));
                            }
                            // Every eleventh collides with a row another writer stores.
                            if k % 11 == 5 {
                                conn.execute("INSERT INTO t VALUES (1000, 'y')", [])
                                    .map_err(sql_err("colliding"))?;
                            }
                            Ok(k)
                        })
                    })
                })
                .collect();
            writers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let stored: Vec<i64> = db
            .with_conn(|conn| {
                let mut stmt = conn
                    .prepare("SELECT k FROM t WHERE k < 1000 ORDER BY k")
                    .unwrap();
                let rows = stmt.query_map([], |r| r.get(0)).unwrap();
                Ok(rows.map(|r| r.unwrap()).collect())
            })
            .unwrap();
        let mut collided = 0;
        for (k, outcome) in (0..48i64).zip(&outcomes) {
            match outcome {
                Ok(v) => {
                    assert_eq!(*v, k);
                    assert!(stored.contains(&k), "{k} acknowledged but not stored");
                }
                Err(e) => {
                    assert!(!stored.contains(&k), "{k} refused but stored");
                    if k % 7 == 3 {
                        assert_eq!(e.kind(), ErrorKind::ConditionFailed);
                    } else {
                        assert_eq!(k % 11, 5, "{k} failed: {e}");
                        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
                        collided += 1;
                    }
                }
            }
        }
        let eleventh = (0..48).filter(|k| k % 11 == 5 && k % 7 != 3).count();
        assert_eq!(
            collided,
            eleventh - 1,
            "one of them stored row 1000, the rest collided"
        );
        assert_eq!(stored.len(), outcomes.iter().filter(|o| o.is_ok()).count());
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

    fn busy() -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY), None)
    }

    #[test]
    fn open_time_statements_are_retried_while_busy() {
        let mut calls = 0;
        let out = retry_while_busy(BUSY_TIMEOUT, || {
            calls += 1;
            if calls < 3 { Err(busy()) } else { Ok(calls) }
        });
        assert_eq!(out.unwrap(), 3);
    }

    #[test]
    fn a_busy_error_is_returned_once_the_timeout_has_passed() {
        let started = Instant::now();
        let timeout = Duration::from_millis(30);
        let e = retry_while_busy(timeout, || Err::<(), _>(busy())).unwrap_err();
        assert!(is_busy(&e), "{e}");
        assert!(started.elapsed() >= timeout);
        let mut calls = 0;
        let other = retry_while_busy(timeout, || {
            calls += 1;
            Err::<(), _>(rusqlite::Error::InvalidQuery)
        });
        assert!(other.is_err());
        assert_eq!(calls, 1, "errors other than busy are not retried");
    }

    #[test]
    fn connections_opening_one_fresh_file_at_once_all_get_wal() {
        // Each round races four connections (as four processes would) to switch one fresh
        // file to WAL; without retrying busy switches, some rounds fail.
        for _ in 0..25 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("db");
            let start = std::sync::Barrier::new(4);
            std::thread::scope(|s| {
                let opens: Vec<_> = (0..4)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            open_connection(&path)
                        })
                    })
                    .collect();
                for open in opens {
                    let conn = open.join().unwrap().unwrap();
                    let mode: String = conn
                        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
                        .unwrap();
                    assert_eq!(mode, "wal");
                }
            });
        }
    }

    #[test]
    fn database_files_and_their_logs_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let conn = open_connection(&path).unwrap();
        conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
            .unwrap();
        for file in [
            path.clone(),
            companion(&path, "-wal"),
            companion(&path, "-shm"),
        ] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", file.display());
        }
    }

    #[test]
    fn opening_an_existing_database_never_creates_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let err = Db::open_existing(&path).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
        assert!(!path.exists());
        drop(Db::open(&path, "").unwrap());
        Db::open_existing(&path).unwrap();
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
