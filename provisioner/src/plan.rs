//! The per-tenant resource plan: every resource a tenant gets, fully specified, derived only from
//! the deployment prefix and the tenant id (and, for specs that reference them, the ARNs the
//! earlier steps produced).

use serde::Serialize;
use tenancy::TenantId;
use tenancy::naming::{ResourceNames, TablePrefix, Tags, tenant_tags};
use tenancy::ports::stream_trigger::{BATCH_SIZE, BATCHING_WINDOW_SECS};
use tenancy::ports::{FunctionArn, KeySpec, PolicyDocument, RoleSpec, TriggerSpec};
use tenancy::settings::Settings;
use tenancy::table_plan::{TableRole, TableSpec, tenant_tables};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TenantPlan {
    pub tenant: TenantId,
    pub names: ResourceNames,
    pub tags: Tags,
    pub key: KeySpec,
    /// Table specs with `sse_key` set to the key alias until the key's ARN is known.
    pub tables: Vec<(TableRole, TableSpec)>,
    pub role_name: String,
    pub trusted_principal: String,
    /// The function the events table's stream triggers, when the deployment has a stream
    /// handler (`SPOTLIGHT_STREAM_HANDLER_ARN`); without one there is no trigger step.
    pub stream_handler: Option<FunctionArn>,
}

impl TenantPlan {
    pub fn new(prefix: &TablePrefix, tenant: &TenantId, trusted_principal: &str) -> Self {
        let names = ResourceNames::for_tenant(prefix, tenant);
        let tags = tenant_tags(prefix, tenant);
        let key = KeySpec {
            alias: names.key_alias.clone(),
            description: format!("Spotlight data key of tenant {tenant}"),
            tags: tags.clone(),
        };
        let tables = tenant_tables(&names, Some(&names.key_alias), &tags).to_vec();
        TenantPlan {
            tenant: tenant.clone(),
            role_name: names.role_name.clone(),
            names,
            tags,
            key,
            tables,
            trusted_principal: trusted_principal.to_owned(),
            stream_handler: None,
        }
    }

    /// The plan a deployment configured by `settings` makes for `tenant`.
    pub fn for_settings(settings: &Settings, tenant: &TenantId) -> Self {
        TenantPlan::new(
            &settings.table_prefix,
            tenant,
            &settings.data_plane_principal,
        )
        .with_stream_handler(settings.stream_handler_arn.clone())
    }

    /// The plan with (or without) a trigger from the events table's stream to `handler`.
    pub fn with_stream_handler(self, handler: Option<FunctionArn>) -> Self {
        TenantPlan {
            stream_handler: handler,
            ..self
        }
    }

    /// The trigger as it must exist once the events table's stream ARN is known, when the
    /// plan has one.
    pub fn trigger_spec(&self, stream_arn: &str) -> Option<TriggerSpec> {
        self.stream_handler.as_ref().map(|function| TriggerSpec {
            stream_arn: stream_arn.to_owned(),
            function: function.clone(),
            batch_size: BATCH_SIZE,
            batching_window_secs: BATCHING_WINDOW_SECS,
            tags: self.tags.clone(),
        })
    }

    /// The table spec as it must exist once the key's ARN is known.
    pub fn table_spec(&self, role: TableRole, key_arn: &str) -> TableSpec {
        let (_, spec) = self
            .tables
            .iter()
            .find(|(r, _)| *r == role)
            .expect("plan has both tables");
        TableSpec {
            sse_key: Some(key_arn.to_owned()),
            ..spec.clone()
        }
    }

    /// The role spec once the tables' and key's ARNs are known.
    pub fn role_spec(&self, table_arns: &[&str], key_arn: &str) -> RoleSpec {
        RoleSpec {
            name: self.role_name.clone(),
            trusted_principal: self.trusted_principal.clone(),
            policy: PolicyDocument::tenant(table_arns, key_arn),
            tags: self.tags.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tenancy::naming::TAG_TENANT;

    use super::*;

    fn plan() -> TenantPlan {
        TenantPlan::new(
            &TablePrefix::parse("qa").unwrap(),
            &TenantId::parse("acme").unwrap(),
            "arn:dp",
        )
    }

    #[test]
    fn every_planned_resource_is_named_after_the_tenant_and_tagged_with_it() {
        let plan = plan();
        assert_eq!(plan.key.alias, "alias/qa_tenant-acme");
        assert_eq!(
            plan.key.tags.get(TAG_TENANT).map(String::as_str),
            Some("acme")
        );
        let names: Vec<&str> = plan.tables.iter().map(|(_, t)| t.name.as_str()).collect();
        assert_eq!(names, ["qa_tenant-acme-app", "qa_tenant-acme-events"]);
        assert!(plan.tables.iter().all(|(_, t)| t.tags == plan.tags));
    }

    #[test]
    fn specs_take_the_arns_earlier_steps_learned() {
        let plan = plan();
        let events = plan.table_spec(TableRole::Events, "arn:key");
        assert_eq!(events.name, "qa_tenant-acme-events");
        assert_eq!(events.sse_key.as_deref(), Some("arn:key"));
        let role = plan.role_spec(
            &["arn:aws:dynamodb:r:1:table/qa_tenant-acme-app"],
            "arn:key",
        );
        assert_eq!(role.name, "qa_tenant-acme");
        assert_eq!(role.trusted_principal, "arn:dp");
        assert_eq!(role.policy.allowed_tables(), ["qa_tenant-acme-app"]);
    }

    #[test]
    fn a_trigger_is_planned_only_with_a_stream_handler_and_carries_the_tenants_tags() {
        assert_eq!(plan().trigger_spec("arn:stream"), None);
        let handler = FunctionArn::parse("arn:aws:lambda:r:123456789012:function:fold").unwrap();
        let plan = plan().with_stream_handler(Some(handler.clone()));
        let spec = plan.trigger_spec("arn:stream").unwrap();
        assert_eq!(spec.stream_arn, "arn:stream");
        assert_eq!(spec.function, handler);
        assert_eq!(spec.tags, plan.tags);
        assert_eq!(spec.batch_size, BATCH_SIZE);
    }
}
