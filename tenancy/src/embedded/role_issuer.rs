//! Embedded `RoleIssuer`: roles and their inline policies as rows of `cloud.db`, and scoped
//! store handles that enforce a role's policy in front of the item store.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::embedded::cloud_ids;
use crate::embedded::sqlite::{Db, is_unique_violation, sql_err};
use crate::embedded::timestamps::{now, to_nanos};
use crate::error::{Error, Result};
use crate::ports::item_store::{Condition, Item, ItemKey, ItemStore, Page, Query, WriteOp};
use crate::ports::role_issuer::{RoleInfo, RoleIssuer, RoleSpec};

pub(crate) struct EmbeddedRoleIssuer {
    cloud: Db,
    items: Arc<dyn ItemStore>,
}

impl EmbeddedRoleIssuer {
    pub(crate) fn new(cloud: Db, items: Arc<dyn ItemStore>) -> Self {
        EmbeddedRoleIssuer { cloud, items }
    }
}

/// IAM's rule for role names: 1–64 of `[A-Za-z0-9+=,.@_-]`.
fn validate_name(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "role name {name:?} must be 1 to 64 characters of letters, digits and +=,.@_-"
        )))
    }
}

fn load(conn: &rusqlite::Connection, name: &str) -> Result<RoleInfo> {
    let row: Option<(String, String)> = conn
        .query_row("SELECT arn, spec FROM roles WHERE name = ?1", [name], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(sql_err(format!("reading role {name}")))?;
    let (arn, raw) = row.ok_or_else(|| Error::not_found(format!("role {name} does not exist")))?;
    let spec = serde_json::from_str(&raw).map_err(|e| {
        Error::unavailable(format!("stored spec of role {name} is unreadable: {e}"))
    })?;
    Ok(RoleInfo { spec, arn })
}

#[async_trait]
impl RoleIssuer for EmbeddedRoleIssuer {
    async fn create_role(&self, spec: &RoleSpec) -> Result<RoleInfo> {
        validate_name(&spec.name)?;
        let spec = spec.clone();
        self.cloud
            .call(move |conn| {
                let arn = cloud_ids::role_arn(&spec.name);
                let raw = serde_json::to_string(&spec).map_err(|e| {
                    Error::invalid(format!("role {}: spec does not serialise: {e}", spec.name))
                })?;
                match conn.execute(
                    "INSERT INTO roles (name, arn, spec, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![spec.name, arn, raw, to_nanos(now())?],
                ) {
                    Err(e) if is_unique_violation(&e) => Err(Error::already_exists(format!(
                        "role {} already exists",
                        spec.name
                    ))),
                    Err(e) => Err(sql_err(format!("creating role {}", spec.name))(e)),
                    Ok(_) => Ok(RoleInfo { spec, arn }),
                }
            })
            .await
    }

    async fn describe_role(&self, name: &str) -> Result<RoleInfo> {
        let name = name.to_owned();
        self.cloud.call(move |conn| load(conn, &name)).await
    }

    async fn delete_role(&self, name: &str) -> Result<()> {
        let name = name.to_owned();
        self.cloud
            .call(move |conn| {
                let n = conn
                    .execute("DELETE FROM roles WHERE name = ?1", [&name])
                    .map_err(sql_err(format!("deleting role {name}")))?;
                if n == 0 {
                    return Err(Error::not_found(format!("role {name} does not exist")));
                }
                Ok(())
            })
            .await
    }

    /// The policy is read once, when the handle is made (like credentials from AssumeRole,
    /// which keep the permissions they were issued with until they expire).
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>> {
        let info = self.describe_role(role_name).await?;
        Ok(Arc::new(ScopedItemStore {
            role: info.spec.name.clone(),
            allowed: info.spec.policy.allowed_tables().into_iter().collect(),
            inner: self.items.clone(),
        }))
    }
}

/// An item store acting as one role: every table its policy does not name is refused before
/// the backend is touched.
pub(crate) struct ScopedItemStore {
    role: String,
    allowed: BTreeSet<String>,
    inner: Arc<dyn ItemStore>,
}

impl ScopedItemStore {
    fn check(&self, table: &str) -> Result<()> {
        if self.allowed.contains(table) {
            Ok(())
        } else {
            Err(Error::access_denied(format!(
                "role {} is not allowed to access table {table}",
                self.role
            )))
        }
    }
}

#[async_trait]
impl ItemStore for ScopedItemStore {
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()> {
        self.check(table)?;
        self.inner.put(table, item, condition).await
    }

    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>> {
        self.check(table)?;
        self.inner.get(table, key).await
    }

    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()> {
        self.check(table)?;
        self.inner.delete(table, key, condition).await
    }

    async fn query(&self, table: &str, query: &Query) -> Result<Page> {
        self.check(table)?;
        self.inner.query(table, query).await
    }

    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()> {
        for op in ops {
            self.check(op.table())?;
        }
        self.inner.transact_write(ops).await
    }

    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>> {
        self.check(table)?;
        self.inner.batch_get(table, keys).await
    }

    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()> {
        self.check(table)?;
        self.inner.batch_write(table, puts, deletes).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_follow_iam_rules() {
        assert!(validate_name("spotlight-tenant-acme").is_ok());
        assert!(validate_name("a+=,.@_-").is_ok());
        for bad in ["", "has space", "slash/no", &"r".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad:?}");
        }
    }
}
