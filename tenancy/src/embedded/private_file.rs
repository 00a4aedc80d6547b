//! Private directories and files for secrets (the master key, the control plane's operator
//! token and API-key pepper): a directory only its owner can enter, and files created whole or
//! not at all.
//!
//! A secret file is published atomically: written to a private temporary file next to it,
//! fsynced, hard-linked into place (which fails if the name exists) and the directory fsynced.
//! So a crash never leaves an empty or half-written file under the real name, and of two
//! processes starting together on a fresh directory exactly one publishes; the other reads the
//! winner's content.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Mode of a private directory.
pub const PRIVATE_DIR_MODE: u32 = 0o700;
/// Mode of a private file.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// Who published a private file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Published {
    /// This call created the file with the given contents.
    Created,
    /// The file already existed (another process, or an earlier start, published first);
    /// these are its contents, which the caller must use instead of its own.
    Existing(Vec<u8>),
}

/// Makes `dir` (and missing parents) a directory only its owner can enter.
///
/// A missing directory is created with mode 0700. An existing one whose mode grants anything
/// to group or others is tightened to 0700, with a warning: files created inside it (SQLite
/// databases, secrets) take the process umask, and only the directory keeps others out.
///
/// Errors: the I/O error of creating the directory or changing its mode (for example when
/// another user owns it); `InvalidInput` when `dir` exists but is not a directory.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    match fs::metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => fs::DirBuilder::new()
            .recursive(true)
            .mode(PRIVATE_DIR_MODE)
            .create(dir),
        Err(e) => Err(e),
        Ok(meta) if !meta.is_dir() => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} exists and is not a directory", dir.display()),
        )),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    dir = %dir.display(),
                    mode = format!("{mode:o}"),
                    "data directory was open to other users; restricting it to 700"
                );
                fs::set_permissions(dir, fs::Permissions::from_mode(PRIVATE_DIR_MODE))?;
            }
            Ok(())
        }
    }
}

/// Makes the file at `path` readable and writable only by its owner: when `create` and the file
/// is missing, it is created empty with mode 0600; an existing file whose mode grants anything
/// to group or others is tightened to 0600, with a warning (like [`create_private_dir`]).
/// Returns whether the file exists.
///
/// For database files: SQLite creates its files with the process umask (typically 0644), and
/// gives the `-wal` and `-shm` files it creates the mode of the database file, so a database
/// created here keeps its logs private too. The descriptor of a created file is closed at once
/// and an existing file is never opened (only `stat` and `chmod` by path): closing any
/// descriptor of a file drops every POSIX lock this process holds on it, which would silently
/// release the locks of a SQLite connection to that file.
///
/// Errors: the I/O error of creating the file, reading its mode or changing it.
pub(crate) fn restrict_file(path: &Path, create: bool) -> io::Result<bool> {
    if create {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(PRIVATE_FILE_MODE)
            .open(path)
        {
            Ok(created) => {
                drop(created);
                return Ok(true);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    match fs::metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    file = %path.display(),
                    mode = format!("{mode:o}"),
                    "database file was open to other users; restricting it to 600"
                );
                fs::set_permissions(path, fs::Permissions::from_mode(PRIVATE_FILE_MODE))?;
            }
            Ok(true)
        }
    }
}

/// Publishes `contents` at `path` with mode 0600, unless a file is already there.
///
/// Returns [`Published::Created`] when this call published, or the existing file's contents.
/// Never overwrites and never exposes a partial file under `path`. The parent directory must
/// exist (see [`create_private_dir`]).
///
/// Errors: the I/O error of writing, linking or reading, with the temporary file removed.
pub fn publish_private_file(path: &Path, contents: &[u8]) -> io::Result<Published> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} names no file", path.display()),
        )
    })?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        uuid::Uuid::new_v4().simple()
    ));
    let written = write_synced(&tmp, contents);
    let linked = written.and_then(|()| fs::hard_link(&tmp, path));
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir);
            Ok(Published::Created)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            let mut existing = Vec::new();
            fs::File::open(path)?.read_to_end(&mut existing)?;
            Ok(Published::Existing(existing))
        }
        Err(e) => Err(e),
    }
}

/// Creates `path` (mode 0600, must not exist) holding `contents`, flushed to disk.
fn write_synced(path: &Path, contents: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(PRIVATE_FILE_MODE)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

/// Flushes a directory entry change (best effort: not every filesystem allows it).
fn sync_dir(dir: &Path) {
    let _ = try_sync_dir(dir);
}

/// Flushes a directory entry change (a created, linked or removed name), reporting failure.
pub(crate) fn try_sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_missing_directory_is_created_private_with_its_parents() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a").join("b");
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn an_existing_directory_open_to_others_is_tightened() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        fs::create_dir(&dir).unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
    }

    #[test]
    fn a_file_where_the_directory_should_be_is_refused() {
        let root = tempfile::tempdir().unwrap();
        let path = root.path().join("file");
        fs::write(&path, b"x").unwrap();
        let err = create_private_dir(&path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }

    #[test]
    fn a_restricted_file_is_created_private_or_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        assert!(
            !restrict_file(&path, false).unwrap(),
            "missing and not created"
        );
        assert!(!path.exists());
        assert!(restrict_file(&path, true).unwrap());
        assert_eq!(mode(&path), 0o600);
        fs::write(&path, b"kept").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(restrict_file(&path, true).unwrap());
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            fs::read(&path).unwrap(),
            b"kept",
            "an existing file is not truncated"
        );
    }

    #[test]
    fn the_first_publish_wins_and_later_ones_read_its_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        assert_eq!(
            publish_private_file(&path, b"first").unwrap(),
            Published::Created
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            publish_private_file(&path, b"second").unwrap(),
            Published::Existing(b"first".to_vec())
        );
        assert_eq!(fs::read(&path).unwrap(), b"first");
        let leftovers: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .filter(|n| n != "secret")
            .collect();
        assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    }

    #[test]
    fn racing_publishers_agree_on_one_complete_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        let results: Vec<_> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..8)
                .map(|i| {
                    let path = &path;
                    s.spawn(move || {
                        let mine = format!("contents-{i}").into_bytes();
                        let seen = match publish_private_file(path, &mine).unwrap() {
                            Published::Created => mine,
                            Published::Existing(theirs) => theirs,
                        };
                        assert!(!seen.is_empty(), "a publisher saw an empty file");
                        seen
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let on_disk = fs::read(&path).unwrap();
        assert!(
            results.iter().all(|r| *r == on_disk),
            "every publisher uses the file on disk"
        );
    }
}
