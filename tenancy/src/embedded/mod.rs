//! Embedded adapters: every port on SQLite (bundled, WAL) and local AES-256-GCM keys, all in one
//! data directory that two processes may share.
//!
//! Data directory layout:
//!
//! ```text
//! registry.db        Registry: tenants, journal, API keys, idempotency records; and the
//!                    deployment (prefix) the directory belongs to
//! cloud.db           the embedded cloud account: key vault keys, roles, table catalog
//! identity.db        tenant admins (one row per admin: the user and its record)
//! identity.key       the local token issuer's RSA key (PKCS#8, mode 0600)
//! event-log.db       EventSink: every domain event published, in publication order
//! master.key         32 random bytes (mode 0600) wrapping every tenant key
//! tables/{group}.db  one file per tenant holding that tenant's tables; removed (with its
//!                    -wal and -shm) when the tenant's last table is deleted
//! ```
//!
//! The directory is made private at open (0700; an existing directory open to other users is
//! tightened, with a warning). Every database file is mode 0600 whatever the umask: created so
//! before SQLite opens it, with `-wal` and `-shm` taking its mode; an existing one open to
//! others is tightened at open, with a warning.
//!
//! Modules: `sqlite` (connections, blocking calls, error mapping), `private_file` (private
//! directories and atomically published secret files, also used by the control plane), `master_key`,
//! `crypto`, `cloud_ids` (fake account, region and ARNs), `cloud` (`cloud.db` schema),
//! `tenant_files` (per-tenant files and their LRU), one module per port (`event_log` is the
//! event sink's), `item_codec`
//! (item limits and payload sealing) and `item_rows` (row-level SQL of a tenant table).

use std::path::PathBuf;
use std::sync::Arc;

use crate::backend::{Backend, Capabilities};
use crate::error::{Error, Result};
use crate::naming::TablePrefix;

mod cloud;
mod cloud_ids;
mod crypto;
mod deployment;
mod event_log;
mod identity;
mod item_codec;
mod item_rows;
mod item_store;
mod key_vault;
mod master_key;
pub mod private_file;
mod registry;
mod role_issuer;
mod sqlite;
mod stream_trigger;
mod table_admin;
mod tenant_files;
mod timestamps;

pub use event_log::EventLog;
pub use identity::{
    KEY_FILE_NAME as IDENTITY_KEY_FILE, TOKEN_LIFETIME, load_or_create_signer, token_rules,
};
pub use key_vault::{MAX_PLAINTEXT_BYTES, MAX_WINDOW_DAYS};

/// What the embedded adapters can do (see [`Capabilities`]): a window of 0 days destroys a
/// key at once, and only `destroy_due_keys` (or an open) destroys keys whose window ended;
/// each tenant's tables live in their own file, so no transaction spans two tenants; a
/// disabled key refuses item access at once, in every process sharing the directory.
pub const CAPABILITIES: Capabilities = Capabilities {
    min_key_deletion_window_days: 0,
    destroys_keys_itself: false,
    cross_tenant_transactions: false,
    disabled_key_denies_item_access: true,
    pending_deletion_refuses_key_use: true,
    mints_admin_tokens: true,
};

/// How to open the embedded backend.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    pub data_dir: PathBuf,
    /// The deployment the directory belongs to. The first open records it; opening with
    /// another prefix is refused.
    pub deployment: TablePrefix,
    /// Principal recorded as trusted by tenant roles.
    pub data_plane_principal: String,
    /// Bound on tenant database connections kept open (LRU; 0 is treated as 1).
    pub open_tenant_files: usize,
}

/// Opens (creating if needed) the data directory and returns one adapter per port.
///
/// Safe to call from several processes on the same directory at once: the master key is
/// published atomically, schemas are created idempotently inside write transactions, and every
/// write takes SQLite's write lock up front.
///
/// Errors: `Invalid` when the directory belongs to another deployment (prefix), or when
/// `master.key` exists but is readable by others or has the wrong size; `Unavailable` when the
/// directory or a database cannot be opened.
pub fn open(options: &EmbeddedOptions) -> Result<Backend> {
    let dir = &options.data_dir;
    create_private_dir(dir)?;
    let master = master_key::load_or_create(dir)?;
    let registry_db = sqlite::Db::open(&dir.join(registry::FILE_NAME), registry::SCHEMA)?;
    // Refused before anything in the directory is altered.
    deployment::claim(&registry_db, &options.deployment, dir)?;
    registry::upgrade(&registry_db)?;
    let cloud_path = dir.join(cloud::FILE_NAME);
    let cloud_db = sqlite::Db::open(&cloud_path, cloud::SCHEMA)?;
    let catalog_db = sqlite::Db::open(&cloud_path, "")?;
    let identity = identity::EmbeddedIdentity::new(
        sqlite::Db::open(&dir.join(identity::FILE_NAME), identity::SCHEMA)?,
        dir,
        identity::token_rules(&options.deployment),
    );
    let files = Arc::new(tenant_files::TenantFiles::new(
        dir.join(tenant_files::DIR_NAME),
        options.open_tenant_files,
    )?);

    let vault = Arc::new(key_vault::Vault::new(cloud_db.clone(), master));
    // Keys whose window ended while no process was running are shredded now, not whenever
    // something next touches them (after offboarding, nothing does).
    match vault.destroy_due_keys(timestamps::now()) {
        Ok(0) => {}
        Ok(n) => tracing::info!(
            keys = n,
            "destroyed the material of keys past their deletion time"
        ),
        Err(e) => {
            tracing::warn!(error = %e, "could not destroy keys past their deletion time at open")
        }
    }
    let items: Arc<dyn crate::ports::ItemStore> = Arc::new(item_store::EmbeddedItemStore::new(
        catalog_db,
        vault.clone(),
        files.clone(),
    ));
    Ok(Backend {
        registry: Arc::new(registry::EmbeddedRegistry::new(registry_db)),
        tables: Arc::new(table_admin::EmbeddedTableAdmin::new(
            cloud_db.clone(),
            vault.clone(),
            files,
        )),
        keys: Arc::new(key_vault::EmbeddedKeyVault::new(vault)),
        roles: Arc::new(role_issuer::EmbeddedRoleIssuer::new(
            cloud_db.clone(),
            items.clone(),
        )),
        triggers: Arc::new(stream_trigger::EmbeddedStreamTriggers::new(cloud_db)),
        items,
        identity: Arc::new(identity),
        event_sink: Arc::new(event_log::EventLog::open(dir)?),
        data_plane_principal: options.data_plane_principal.clone(),
        capabilities: CAPABILITIES,
    })
}

/// Makes the data directory private (it holds the master key and tenant data): created with
/// mode 0700, or tightened to 0700 with a warning when it exists open to other users.
fn create_private_dir(dir: &std::path::Path) -> Result<()> {
    private_file::create_private_dir(dir).map_err(|e| {
        Error::unavailable(format!(
            "making data directory {} private (mode 700): {e}",
            dir.display()
        ))
        .with_source(e)
    })
}
