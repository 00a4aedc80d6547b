//! `master.key`: the 32 random bytes that wrap every tenant key of the embedded key vault.
//!
//! Created once, with mode 0600, and published atomically (`private_file`: written to a
//! private temporary file, fsynced, then hard-linked into place), so two processes starting together on a fresh data
//! directory agree on one key and neither can read a half-written file. An existing file whose
//! mode lets anyone but its owner read it, or whose size is wrong, stops start-up: silently
//! using a leaked or truncated key would be worse than not starting.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::embedded::crypto::{KEY_LEN, SecretKey};
use crate::embedded::private_file;
use crate::error::{Error, Result};

pub(crate) const FILE_NAME: &str = "master.key";

/// Reads `dir/master.key`, creating it first if it does not exist.
pub(crate) fn load_or_create(dir: &Path) -> Result<SecretKey> {
    let path = dir.join(FILE_NAME);
    if !path.exists() {
        create(&path)?;
    }
    load(&path)
}

fn create(path: &Path) -> Result<()> {
    // Losing the race is fine: `load` then reads (and checks) the winner's key.
    private_file::publish_private_file(path, SecretKey::random().as_bytes())
        .map(drop)
        .map_err(|e| Error::unavailable(format!("writing {}: {e}", path.display())).with_source(e))
}

fn load(path: &Path) -> Result<SecretKey> {
    let shown = path.display();
    let meta = fs::symlink_metadata(path)
        .map_err(|e| Error::unavailable(format!("reading {shown}: {e}")).with_source(e))?;
    if !meta.file_type().is_file() {
        return Err(Error::invalid(format!(
            "{shown} must be a regular file (not a link or directory)"
        )));
    }
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(Error::invalid(format!(
            "{shown} has mode {mode:o}, which lets other users read the master key; \
             restrict it to 600 (chmod 600) before starting"
        )));
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(Error::invalid(format!(
            "{shown} holds {} bytes, expected exactly {KEY_LEN}; it is truncated or not a master key",
            meta.len()
        )));
    }
    let mut bytes = Vec::with_capacity(KEY_LEN);
    fs::File::open(path)
        .and_then(|mut f| f.read_to_end(&mut bytes))
        .map_err(|e| Error::unavailable(format!("reading {shown}: {e}")).with_source(e))?;
    SecretKey::from_slice(&bytes)
        .ok_or_else(|| Error::invalid(format!("{shown} changed size while being read")))
}

#[cfg(test)]
mod tests {
    use std::fs::OpenOptions;
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;

    use super::*;

    #[test]
    fn a_created_key_is_private_and_read_back_identically() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(FILE_NAME))
            .unwrap()
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600);
        let second = load_or_create(dir.path()).unwrap();
        assert_eq!(first.as_bytes(), second.as_bytes());
    }

    #[test]
    fn a_world_readable_key_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = dir.path().join(FILE_NAME);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
        assert!(err.message().contains("644"), "{err}");
    }

    #[test]
    fn a_truncated_key_stops_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(FILE_NAME);
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .unwrap()
            .write_all(b"short")
            .unwrap();
        let err = load_or_create(dir.path()).unwrap_err();
        assert_eq!(err.kind(), crate::ErrorKind::Invalid);
    }
}
