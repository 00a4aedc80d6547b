//! Which deployment a data directory belongs to.
//!
//! A data directory holds one deployment's registry, cloud account and tenant files. Two
//! deployments on one directory would share a registry that knows nothing of the other's
//! prefix, and each could take the other's resources for its own, so the first process to open
//! a directory records its prefix in `registry.db`, and a process started with another prefix
//! is refused with an error that names both.

use rusqlite::OptionalExtension;

use crate::embedded::sqlite::{Db, sql_err};
use crate::error::{Error, Result};
use crate::naming::TablePrefix;

/// Version of the resource naming scheme (`crate::naming`) the directory's resources follow.
/// 2: `{prefix}_tenant-{id}…`. Directories of scheme 1 (`{prefix}tenant-{id}…`) cannot be
/// read by this version: their tenants' resources live under other names.
const NAMING_SCHEME: i64 = 2;

pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS deployment (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    prefix TEXT NOT NULL,
    naming INTEGER NOT NULL
);
";

/// Records `prefix` as the directory's deployment, or checks that it is the one recorded.
/// Atomic across processes (one immediate transaction). Errors: `Invalid` when the directory
/// belongs to another prefix, or holds tenants of an earlier naming scheme.
pub(crate) fn claim(registry: &Db, prefix: &TablePrefix, dir: &std::path::Path) -> Result<()> {
    registry.transaction(|tx| {
        tx.execute_batch(SCHEMA)
            .map_err(sql_err("creating the deployment record"))?;
        let found: Option<(String, i64)> = tx
            .query_row(
                "SELECT prefix, naming FROM deployment WHERE id = 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(sql_err("reading the deployment record"))?;
        match found {
            Some((recorded, naming)) if recorded == prefix.as_str() && naming == NAMING_SCHEME => {
                Ok(())
            }
            Some((recorded, NAMING_SCHEME)) => Err(Error::invalid(format!(
                "data directory {} belongs to the deployment with prefix {recorded:?}, not {:?} \
                 (SPOTLIGHT_TABLE_PREFIX): start with that prefix, or give this deployment a \
                 data directory of its own (SPOTLIGHT_DATA_DIR)",
                dir.display(),
                prefix.as_str()
            ))),
            Some((_, naming)) => Err(Error::invalid(format!(
                "data directory {} uses resource naming scheme {naming}, which this version \
                 cannot read (it uses scheme {NAMING_SCHEME}); start with a new data directory",
                dir.display()
            ))),
            None => {
                let tenants: i64 = tx
                    .query_row("SELECT count(*) FROM tenants", [], |r| r.get(0))
                    .map_err(sql_err("counting tenants"))?;
                if tenants > 0 {
                    return Err(Error::invalid(format!(
                        "data directory {} holds tenants of an earlier Spotlight whose resource \
                         names differ from this version's; start with a new data directory",
                        dir.display()
                    )));
                }
                tx.execute(
                    "INSERT INTO deployment (id, prefix, naming) VALUES (1, ?1, ?2)",
                    rusqlite::params![prefix.as_str(), NAMING_SCHEME],
                )
                .map_err(sql_err("recording the deployment"))?;
                Ok(())
            }
        }
    })
}
