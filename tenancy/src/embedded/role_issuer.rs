//! Embedded `RoleIssuer`: roles and their inline policies as rows of `cloud.db`, and scoped
//! store handles ([`ScopedItemStore`]) that enforce a role's policy in front of the item store.

use std::sync::Arc;

use async_trait::async_trait;
use rusqlite::{OptionalExtension, params};

use crate::embedded::cloud_ids;
use crate::embedded::sqlite::{Db, is_unique_violation, sql_err};
use crate::embedded::timestamps::{now, to_nanos};
use crate::error::{Error, Result};
use crate::ports::item_store::ItemStore;
use crate::ports::role_issuer::{
    PolicyDocument, RoleInfo, RoleIssuer, RoleSpec, RoleSummary, validate_role_name,
};
use crate::scoped::ScopedItemStore;

pub(crate) struct EmbeddedRoleIssuer {
    cloud: Db,
    items: Arc<dyn ItemStore>,
}

impl EmbeddedRoleIssuer {
    pub(crate) fn new(cloud: Db, items: Arc<dyn ItemStore>) -> Self {
        EmbeddedRoleIssuer { cloud, items }
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
        validate_role_name(&spec.name)?;
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

    async fn put_role_policy(&self, name: &str, policy: &PolicyDocument) -> Result<()> {
        let name = name.to_owned();
        let policy = policy.clone();
        self.cloud
            .call(move |conn| {
                let mut info = load(conn, &name)?;
                info.spec.policy = policy;
                let raw = serde_json::to_string(&info.spec).map_err(|e| {
                    Error::invalid(format!("role {name}: spec does not serialise: {e}"))
                })?;
                conn.execute(
                    "UPDATE roles SET spec = ?2 WHERE name = ?1",
                    params![name, raw],
                )
                .map_err(sql_err(format!("putting the policy of role {name}")))?;
                Ok(())
            })
            .await
    }

    async fn list_roles(&self, prefix: &str) -> Result<Vec<RoleSummary>> {
        let prefix = prefix.to_owned();
        self.cloud
            .call(move |conn| {
                let names: Vec<String> = conn
                    .prepare_cached(
                        "SELECT name FROM roles WHERE substr(name, 1, length(?1)) = ?1 ORDER BY name",
                    )
                    .and_then(|mut s| s.query_map([&prefix], |r| r.get(0))?.collect())
                    .map_err(sql_err(format!("listing roles starting with {prefix:?}")))?;
                names
                    .iter()
                    .map(|name| {
                        let info = load(conn, name)?;
                        Ok(RoleSummary {
                            name: info.spec.name,
                            arn: info.arn,
                            tags: info.spec.tags,
                        })
                    })
                    .collect()
            })
            .await
    }

    /// The policy is read once, when the handle is made ([`ScopedItemStore`]).
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>> {
        let info = self.describe_role(role_name).await?;
        Ok(Arc::new(ScopedItemStore::new(&info, self.items.clone())))
    }
}
