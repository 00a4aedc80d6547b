//! Embedded adapters: every port on SQLite (bundled, WAL) and local AES-256-GCM keys, all in one
//! data directory that two processes may share.

use std::path::PathBuf;

use crate::backend::Backend;
use crate::error::Result;

/// How to open the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub data_dir: PathBuf,
    /// Principal recorded as trusted by tenant roles.
    pub data_plane_principal: String,
    /// Bound on tenant database connections kept open (LRU).
    pub open_tenant_files: usize,
}

/// Opens (creating if needed) the data directory and returns one adapter per port.
pub fn open(options: &EmbeddedOptions) -> Result<Backend> {
    let _ = options;
    Err(crate::error::Error::unavailable("embedded adapters are being written"))
}
