//! Per-tenant resource names, derived in one place from the deployment prefix and the tenant id.
//!
//! Every name is `{prefix}_{rest}`: the prefix, then [`DELIMITER`], which neither a prefix nor a
//! tenant id may contain. So the first `_` of a name says where its deployment's prefix ends,
//! and:
//! - no two (prefix, tenant id) pairs yield the same name for any resource kind (the table
//!   names of one tenant end in `-app` or `-events`, so they never meet each other either);
//! - a pattern over one deployment's names, `{prefix}_*` (as IAM policies use), can never match
//!   another deployment's names — with prefixes `a` and `a-tenant`, `a_*` does not match
//!   `a-tenant_…`, and `a-tenant_*` does not match `a_tenant-…`;
//! - `{prefix}_tenant-*` matches a deployment's tenant resources and not its registry table
//!   (`{prefix}_tenants-metadata`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::InvalidInput;
use crate::id::TenantId;

/// The deployment's name prefix (`SPOTLIGHT_TABLE_PREFIX`): `[a-z0-9-]{0,16}`. It prefixes
/// tables, key aliases and role names (followed by [`DELIMITER`]), so two deployments can
/// share one account.
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

    /// Name of the shared registry table (`{prefix}_tenants-metadata`).
    pub fn registry_table(&self) -> String {
        format!("{}{DELIMITER}tenants-metadata", self.0)
    }

    /// What every resource name of this deployment starts with: `{prefix}_`.
    pub fn name_start(&self) -> String {
        format!("{}{DELIMITER}", self.0)
    }
}

impl Default for TablePrefix {
    fn default() -> Self {
        TablePrefix("spotlight".to_owned())
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

/// Ends the deployment prefix in every resource name. Valid in DynamoDB table names, KMS alias
/// names and IAM role names alike, and in neither a [`TablePrefix`] nor a [`TenantId`].
pub const DELIMITER: char = '_';

/// Tag keys every Spotlight resource carries.
pub const TAG_TENANT: &str = "spotlight:tenant";
pub const TAG_MANAGED_BY: &str = "spotlight:managed-by";

/// The deterministic names of one tenant's resources. Deterministic names are what make every
/// provisioning step an ensure: a re-run finds what an earlier run created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceNames {
    /// `{prefix}_tenant-{t}-app`: content, progress, users, messages, metrics, aggregates.
    pub app_table: String,
    /// `{prefix}_tenant-{t}-events`: raw interactions keyed time-first, dedupe markers, outbox.
    pub events_table: String,
    /// `alias/{prefix}_tenant-{t}`.
    pub key_alias: String,
    /// `{prefix}_tenant-{t}` (at most 16 + 1 + 7 + 40 = 64 characters, IAM's limit).
    pub role_name: String,
}

impl ResourceNames {
    pub fn for_tenant(prefix: &TablePrefix, tenant: &TenantId) -> Self {
        let base = format!("{}tenant-{}", prefix.name_start(), tenant.as_str());
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
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    #[test]
    fn longest_prefix_and_id_still_fit_every_aws_name_limit() {
        let prefix = TablePrefix::parse(&"p".repeat(16)).unwrap();
        let id = TenantId::parse(&"t".repeat(40)).unwrap();
        let names = ResourceNames::for_tenant(&prefix, &id);
        assert!(names.role_name.len() <= 64, "{}", names.role_name.len());
        assert!(names.key_alias.len() <= 256);
        assert!(names.app_table.len() <= 255 && names.events_table.len() <= 255);
        assert!(prefix.registry_table().len() <= 255);
    }

    #[test]
    fn names_follow_the_documented_pattern() {
        let names =
            ResourceNames::for_tenant(&TablePrefix::default(), &TenantId::parse("acme").unwrap());
        assert_eq!(names.app_table, "spotlight_tenant-acme-app");
        assert_eq!(names.events_table, "spotlight_tenant-acme-events");
        assert_eq!(names.key_alias, "alias/spotlight_tenant-acme");
        assert_eq!(names.role_name, "spotlight_tenant-acme");
        assert_eq!(
            TablePrefix::default().registry_table(),
            "spotlight_tenants-metadata"
        );
    }

    #[test]
    fn the_prefixes_that_used_to_collide_no_longer_do() {
        // `a-` + `tenant-xyz` and `a-tenant-` + `xyz` both gave `a-tenant-tenant-xyz…` once;
        // likewise the empty prefix and `tenant-`.
        let pairs = [
            ("a-", "tenant-xyz"),
            ("a-tenant-", "xyz"),
            ("", "tenant-xyz"),
        ];
        let pairs = pairs.into_iter().chain([("tenant-", "xyz")]);
        let mut seen = HashMap::new();
        for (prefix, id) in pairs {
            for (kind, name) in all_names(prefix, id) {
                if let Some(other) = seen.insert((kind, name.clone()), (prefix, id)) {
                    panic!("{name} ({kind}) is both {other:?} and {:?}", (prefix, id));
                }
            }
        }
    }

    #[test]
    fn prefix_is_checked() {
        assert!(TablePrefix::parse("").is_ok());
        assert!(TablePrefix::parse("a-b-").is_ok());
        assert!(TablePrefix::parse("Prod_").is_err());
        assert!(
            TablePrefix::parse("a_b").is_err(),
            "the delimiter is refused"
        );
        assert!(TablePrefix::parse(&"a".repeat(17)).is_err());
    }

    /// Every name a (prefix, tenant) pair produces, with the namespace it lives in: tables
    /// (tenant tables and the registry share one), key aliases, roles.
    fn all_names(prefix: &str, id: &str) -> Vec<(&'static str, String)> {
        let prefix = TablePrefix::parse(prefix).unwrap();
        let names = ResourceNames::for_tenant(&prefix, &TenantId::parse(id).unwrap());
        vec![
            ("table", names.app_table),
            ("table", names.events_table),
            ("table", prefix.registry_table()),
            ("alias", names.key_alias),
            ("role", names.role_name),
        ]
    }

    fn prefixes() -> impl Strategy<Value = String> {
        // Short alphabet so that generated prefixes and ids overlap often.
        "[at-][at-]{0,6}|[at-]{0,16}"
    }

    fn tenant_ids() -> impl Strategy<Value = String> {
        "[at0][at0]{0,3}(-[at0]{1,4}){0,3}"
            .prop_filter("valid tenant id", |s| TenantId::parse(s).is_ok())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// No two (prefix, tenant id) pairs name one resource, in any namespace; the only
        /// name two pairs share is the registry table of one prefix.
        #[test]
        fn no_two_deployments_or_tenants_share_a_resource_name(
            pairs in proptest::collection::vec((prefixes(), tenant_ids()), 2..12)
        ) {
            let mut seen: HashMap<(&str, String), (String, String)> = HashMap::new();
            for (prefix, id) in &pairs {
                for (kind, name) in all_names(prefix, id) {
                    let owner = if name.ends_with("tenants-metadata") {
                        (prefix.clone(), String::new())
                    } else {
                        (prefix.clone(), id.clone())
                    };
                    if let Some(previous) = seen.insert((kind, name.clone()), owner.clone()) {
                        prop_assert_eq!(&previous, &owner, "{} named twice", name);
                    }
                }
            }
        }

        /// A pattern over one deployment's names (`{prefix}_*`) matches none of another's.
        #[test]
        fn a_deployments_name_pattern_matches_no_other_deployments_names(
            p in prefixes(), q in prefixes(), id in tenant_ids()
        ) {
            prop_assume!(p != q);
            let start = TablePrefix::parse(&p).unwrap().name_start();
            for (_, name) in all_names(&q, &id) {
                let bare = name.strip_prefix("alias/").unwrap_or(&name);
                prop_assert!(!bare.starts_with(&start), "{} matches {}*", bare, start);
            }
        }
    }
}
