//! The ownership rule: what a run may remove.
//!
//! Rollback, offboarding and reconcile remove a resource under a planned name only when the
//! resource itself — read from the backend just before the delete, never inferred from its
//! name — says it is this tenant's:
//!
//! - its `spotlight:tenant` and `spotlight:managed-by` tags name this tenant and this
//!   deployment, and
//! - it is what the plan describes: what an ensure step creates, or adopts because it matches.
//!
//! Anything else found under a planned name — another deployment's resource, something an
//! operator made, a resource of ours changed behind our back — is drift: it is reported in the
//! journal (`Kept`) and left in place, for an operator to remove by hand if it should go.

use tenancy::naming::{TAG_MANAGED_BY, TAG_TENANT, Tags};
use tenancy::ports::{RoleInfo, TableInfo};
use tenancy::table_plan::TableSpec;

/// Why a resource carrying `actual` tags is not this tenant's (`planned` tags name the tenant
/// and the deployment), or `None` when its tags say it is.
pub(crate) fn foreign_tags(planned: &Tags, actual: &Tags) -> Option<String> {
    let mut reasons = Vec::new();
    for key in [TAG_TENANT, TAG_MANAGED_BY] {
        let want = planned.get(key).map(String::as_str).unwrap_or_default();
        match actual.get(key) {
            Some(have) if have == want => {}
            Some(have) => reasons.push(format!("its tag {key} is {have:?}, not {want:?}")),
            None => reasons.push(format!("it has no {key} tag")),
        }
    }
    (!reasons.is_empty()).then(|| reasons.join(" and "))
}

/// Why the role is not the tenant's role as planned (tags, trust, tables), or `None`.
pub(crate) fn foreign_role(
    role: &RoleInfo,
    planned_tags: &Tags,
    trusted_principal: &str,
    planned_tables: &[&str],
) -> Option<String> {
    if let Some(why) = foreign_tags(planned_tags, &role.spec.tags) {
        return Some(why);
    }
    if role.spec.trusted_principal != trusted_principal {
        return Some(format!(
            "it trusts {}, not the data plane principal {trusted_principal}",
            role.spec.trusted_principal
        ));
    }
    let mut planned: Vec<&str> = planned_tables.to_vec();
    planned.sort_unstable();
    let allowed = role.spec.policy.allowed_tables();
    if allowed != planned {
        return Some(format!(
            "its policy allows tables {allowed:?}, not this tenant's {planned:?}"
        ));
    }
    None
}

/// Why the table is not the tenant's table as planned (tags, then every spec field but the
/// encryption key, which the caller checks against the key itself), or `None`.
pub(crate) fn foreign_table(table: &TableInfo, planned: &TableSpec) -> Option<String> {
    if let Some(why) = foreign_tags(&planned.tags, &table.spec.tags) {
        return Some(why);
    }
    let comparable = TableSpec {
        sse_key: table.spec.sse_key.clone(),
        ..planned.clone()
    };
    let differences = comparable.differences(&table.spec);
    (!differences.is_empty())
        .then(|| format!("it differs from the plan in {}", differences.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(tenant: &str, deployment: &str) -> Tags {
        Tags::from([
            (TAG_TENANT.to_owned(), tenant.to_owned()),
            (TAG_MANAGED_BY.to_owned(), deployment.to_owned()),
        ])
    }

    #[test]
    fn only_both_tags_naming_this_tenant_and_deployment_make_a_resource_ours() {
        let planned = tags("xyz", "a");
        assert_eq!(foreign_tags(&planned, &planned), None);
        let mut extra = planned.clone();
        extra.insert("team".to_owned(), "ops".to_owned());
        assert_eq!(foreign_tags(&planned, &extra), None, "extra tags are fine");

        let other_deployment = foreign_tags(&planned, &tags("xyz", "a-tenant")).unwrap();
        assert!(
            other_deployment.contains("spotlight:managed-by"),
            "{other_deployment}"
        );
        let other_tenant = foreign_tags(&planned, &tags("tenant-xyz", "a")).unwrap();
        assert!(other_tenant.contains("spotlight:tenant"), "{other_tenant}");
        let untagged = foreign_tags(&planned, &Tags::new()).unwrap();
        assert!(untagged.contains("no spotlight:tenant tag"), "{untagged}");
    }
}
