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
use tenancy::ports::role_issuer::{INDEX_SUFFIX, KEY_SID, STREAMS_SID, TABLES_SID};
use tenancy::ports::{PolicyDocument, RoleInfo, TableInfo};
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

/// Why the role is not the tenant's role as planned, or `None`: its tags, its trust, and its
/// policy, which must be exactly the tenant policy (`PolicyDocument::tenant`) over the
/// tenant's own tables and one key — nothing added, nothing changed. The ARNs in it are learnt
/// at run time, so they are taken from the policy itself and checked by name; the key it
/// names is returned for the caller to check against the key itself.
pub(crate) fn foreign_role<'r>(
    role: &'r RoleInfo,
    planned_tags: &Tags,
    trusted_principal: &str,
    planned_tables: &[&str],
) -> Result<&'r str, String> {
    if let Some(why) = foreign_tags(planned_tags, &role.spec.tags) {
        return Err(why);
    }
    if role.spec.trusted_principal != trusted_principal {
        return Err(format!(
            "it trusts {}, not the data plane principal {trusted_principal}",
            role.spec.trusted_principal
        ));
    }
    let policy = &role.spec.policy;
    let resources = |sid: &str| {
        policy
            .statements
            .iter()
            .find(|s| s.sid == sid)
            .map(|s| s.resources.as_slice())
            .unwrap_or_default()
    };
    let tables: Vec<&str> = resources(TABLES_SID)
        .iter()
        .map(String::as_str)
        .filter(|r| !r.ends_with(INDEX_SUFFIX))
        .collect();
    let key = match resources(KEY_SID) {
        [key] => key.as_str(),
        _ => return Err("its policy does not name exactly one key".to_owned()),
    };
    let current = PolicyDocument::tenant(&tables, key);
    if current != *policy && without_streams(current) != *policy {
        return Err(
            "its policy is not the tenant policy: statements, actions or resources were added \
             or changed"
                .to_owned(),
        );
    }
    let mut planned: Vec<&str> = planned_tables.to_vec();
    planned.sort_unstable();
    let allowed = policy.allowed_tables();
    if allowed != planned {
        return Err(format!(
            "its policy allows tables {allowed:?}, not this tenant's {planned:?}"
        ));
    }
    Ok(key)
}

/// The tenant policy as roles made before stream reads were granted carry it: the same
/// document without its `TenantStreams` statement. It grants less than today's, so such a
/// role is still the tenant's own: offboarding removes it, and drift reports its policy
/// changed, which `reconcile --repair` puts back.
fn without_streams(mut policy: PolicyDocument) -> PolicyDocument {
    policy.statements.retain(|s| s.sid != STREAMS_SID);
    policy
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
    use tenancy::ports::{PolicyStatement, RoleSpec};

    use super::*;

    fn role(policy: PolicyDocument) -> RoleInfo {
        RoleInfo {
            spec: RoleSpec {
                name: "a_tenant-xyz".to_owned(),
                trusted_principal: "arn:dp".to_owned(),
                policy,
                tags: tags("xyz", "a"),
            },
            arn: "arn:role".to_owned(),
        }
    }

    const TABLES: [&str; 2] = [
        "arn:aws:dynamodb:r:1:table/a_tenant-xyz-app",
        "arn:aws:dynamodb:r:1:table/a_tenant-xyz-events",
    ];
    const PLANNED: [&str; 2] = ["a_tenant-xyz-app", "a_tenant-xyz-events"];

    #[test]
    fn the_tenant_policy_over_the_tenants_tables_is_ours_and_names_its_key() {
        let ours = role(PolicyDocument::tenant(&TABLES, "arn:key"));
        assert_eq!(
            foreign_role(&ours, &tags("xyz", "a"), "arn:dp", &PLANNED),
            Ok("arn:key")
        );
    }

    #[test]
    fn a_role_made_before_stream_reads_were_granted_is_still_ours() {
        let mut older = PolicyDocument::tenant(&TABLES, "arn:key");
        older.statements.retain(|s| s.sid != STREAMS_SID);
        assert_eq!(older.statements.len(), 2);
        assert_eq!(
            foreign_role(&role(older), &tags("xyz", "a"), "arn:dp", &PLANNED),
            Ok("arn:key")
        );
    }

    #[test]
    fn a_role_whose_policy_grants_anything_more_is_not_ours() {
        let mut wider = PolicyDocument::tenant(&TABLES, "arn:key");
        wider.statements.push(PolicyStatement {
            sid: "Extra".to_owned(),
            effect: "Allow".to_owned(),
            actions: vec!["dynamodb:*".to_owned()],
            resources: vec!["*".to_owned()],
        });
        let why = foreign_role(&role(wider), &tags("xyz", "a"), "arn:dp", &PLANNED).unwrap_err();
        assert!(why.contains("not the tenant policy"), "{why}");

        let mut more_actions = PolicyDocument::tenant(&TABLES, "arn:key");
        more_actions.statements[0]
            .actions
            .push("dynamodb:Scan".to_owned());
        assert!(foreign_role(&role(more_actions), &tags("xyz", "a"), "arn:dp", &PLANNED).is_err());

        let mut list_streams = PolicyDocument::tenant(&TABLES, "arn:key");
        list_streams.statements[1]
            .actions
            .push("dynamodb:ListStreams".to_owned());
        list_streams.statements[1].resources.push("*".to_owned());
        let why =
            foreign_role(&role(list_streams), &tags("xyz", "a"), "arn:dp", &PLANNED).unwrap_err();
        assert!(why.contains("not the tenant policy"), "{why}");

        let elsewhere = PolicyDocument::tenant(&["arn:aws:dynamodb:r:1:table/other"], "arn:key");
        let why =
            foreign_role(&role(elsewhere), &tags("xyz", "a"), "arn:dp", &PLANNED).unwrap_err();
        assert!(why.contains("allows tables"), "{why}");
    }

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
