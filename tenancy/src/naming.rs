//! Per-tenant resource names, derived in one place from the deployment prefix and the tenant id.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;
use crate::id::TenantId;

/// The deployment's name prefix (`SPOTLIGHT_TABLE_PREFIX`): `[a-z0-9-]{0,16}`. It prefixes
/// tables, key aliases and role names, so two deployments can share one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TablePrefix(String);

impl TablePrefix {
    pub const MAX_LEN: usize = 16;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "table_prefix",
                "must be at most 16 characters",
            ));
        }
        if !raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(InvalidInput::new(
                "table_prefix",
                "may contain only lowercase letters a-z, digits and '-'",
            ));
        }
        Ok(TablePrefix(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Name of the shared registry table (`tenants-metadata`) under this prefix.
    pub fn registry_table(&self) -> String {
        format!("{}tenants-metadata", self.0)
    }
}

impl Default for TablePrefix {
    fn default() -> Self {
        TablePrefix("spotlight-".to_owned())
    }
}

impl TryFrom<String> for TablePrefix {
    type Error = InvalidInput;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TablePrefix::parse(&value)
    }
}

impl From<TablePrefix> for String {
    fn from(v: TablePrefix) -> Self {
        v.0
    }
}

/// Tag keys every Spotlight resource carries.
pub const TAG_TENANT: &str = "spotlight:tenant";
pub const TAG_MANAGED_BY: &str = "spotlight:managed-by";

/// The deterministic names of one tenant's resources. Deterministic names are what make every
/// provisioning step an ensure: a re-run finds what an earlier run created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceNames {
    /// `{prefix}tenant-{t}-app`: content, progress, users, messages, metrics, aggregates.
    pub app_table: String,
    /// `{prefix}tenant-{t}-events`: raw interactions keyed time-first, dedupe markers, outbox.
    pub events_table: String,
    /// `alias/{prefix}tenant-{t}`.
    pub key_alias: String,
    /// `{prefix}tenant-{t}` (at most 16 + 7 + 40 = 63 characters; IAM allows 64).
    pub role_name: String,
}

impl ResourceNames {
    pub fn for_tenant(prefix: &TablePrefix, tenant: &TenantId) -> Self {
        let base = format!("{}tenant-{}", prefix.as_str(), tenant.as_str());
        ResourceNames {
            app_table: format!("{base}-app"),
            events_table: format!("{base}-events"),
            key_alias: format!("alias/{base}"),
            role_name: base,
        }
    }

    /// Both table names, app first.
    pub fn tables(&self) -> [&str; 2] {
        [&self.app_table, &self.events_table]
    }
}

/// Resource tags: `spotlight:tenant={t}`, `spotlight:managed-by={prefix}`.
pub type Tags = BTreeMap<String, String>;

pub fn tenant_tags(prefix: &TablePrefix, tenant: &TenantId) -> Tags {
    Tags::from([
        (TAG_TENANT.to_owned(), tenant.as_str().to_owned()),
        (TAG_MANAGED_BY.to_owned(), prefix.as_str().to_owned()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_prefix_and_id_still_fit_iam_role_names() {
        let prefix = TablePrefix::parse(&"p".repeat(16)).unwrap();
        let id = TenantId::parse(&"t".repeat(40)).unwrap();
        let names = ResourceNames::for_tenant(&prefix, &id);
        assert!(names.role_name.len() <= 64, "{}", names.role_name.len());
        assert!(names.key_alias.len() <= 256);
        assert!(names.app_table.len() <= 255);
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        let names =
            ResourceNames::for_tenant(&TablePrefix::default(), &TenantId::parse("acme").unwrap());
        assert_eq!(names.app_table, "spotlight-tenant-acme-app");
        assert_eq!(names.events_table, "spotlight-tenant-acme-events");
        assert_eq!(names.key_alias, "alias/spotlight-tenant-acme");
        assert_eq!(names.role_name, "spotlight-tenant-acme");
    }

    #[test]
    fn prefix_is_checked() {
        assert!(TablePrefix::parse("").is_ok());
        assert!(TablePrefix::parse("Prod_").is_err());
        assert!(TablePrefix::parse(&"a".repeat(17)).is_err());
    }
}
