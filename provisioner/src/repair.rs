//! Repair: converges what drift found, where that can be done safely, for tenants whose
//! resources should all exist (`active`, `suspended`).
//!
//! What is repaired: a missing table is created again from the plan (empty: its items are
//! gone, and the report says so); a missing role is created again; a missing stream trigger
//! is created (how tenants onboarded before the deployment had a stream handler get theirs);
//! a role policy changed out
//! of band is put back to the tenant policy — the latter only after the role itself, read
//! right before the change, carries this tenant's and this deployment's tags (the ownership
//! rule, `crate::runner::ownership`). Everything else is reported with the reason it was left:
//! the ports cannot change it in place (trust, tags, a table's key or stream), or Spotlight
//! must not decide it (a key pending deletion, a key gone, an extra key — that is `sweep`'s).

use serde::Serialize;
use tenancy::ports::TenantFilter;
use tenancy::table_plan::TableRole;
use tenancy::{Backend, TenantId, TenantRecord, TenantStatus};

use crate::drift::{self, DriftReport, Field, Finding, Problem, ResourceKind};
use crate::error::Result;
use crate::plan::TenantPlan;
use crate::runner::ownership::foreign_tags;

/// A finding and what was done about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Repaired {
    pub finding: Finding,
    pub action: String,
}

/// A finding left as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotRepaired {
    pub finding: Finding,
    pub reason: String,
}

/// One tenant's repair: its drift before, what was repaired and what was not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RepairReport {
    pub drift: DriftReport,
    pub repaired: Vec<Repaired>,
    pub not_repaired: Vec<NotRepaired>,
}

impl RepairReport {
    /// Whether nothing was left unrepaired.
    pub fn is_complete(&self) -> bool {
        self.not_repaired.is_empty()
    }
}

impl crate::runner::Provisioner {
    /// Repairs one tenant. Errors: `NotFound` for an unknown tenant.
    pub async fn repair(&self, id: &TenantId) -> Result<RepairReport> {
        let record = self.record(id).await?;
        repair(self.backend(), &self.plan(id), &record).await
    }

    /// Repairs every active and suspended tenant, in id order.
    pub async fn repair_all(&self) -> Result<Vec<RepairReport>> {
        let mut reports = Vec::new();
        for status in [TenantStatus::Active, TenantStatus::Suspended] {
            let mut filter = TenantFilter {
                status: Some(status),
                after: None,
                limit: 0,
            };
            loop {
                let page = self.backend().registry.list_tenants(&filter).await?;
                for record in &page.tenants {
                    reports.push(repair(self.backend(), &self.plan(&record.id), record).await?);
                }
                match page.next {
                    Some(next) => filter.after = Some(next),
                    None => break,
                }
            }
        }
        Ok(reports)
    }
}

/// Checks the tenant of `record` for drift and repairs what can be repaired.
pub async fn repair(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
) -> Result<RepairReport> {
    let drift = drift::check(backend, plan, record).await?;
    let mut report = RepairReport {
        drift: drift.clone(),
        repaired: Vec::new(),
        not_repaired: Vec::new(),
    };
    if !matches!(
        record.status,
        TenantStatus::Active | TenantStatus::Suspended
    ) {
        for finding in drift.findings {
            report.not_repaired.push(NotRepaired {
                finding,
                reason: format!(
                    "tenant is {}: only active and suspended tenants are repaired",
                    record.status
                ),
            });
        }
        return Ok(report);
    }
    for finding in drift.findings {
        // Read again right before each change: a tenant that offboarding (or any run) has
        // taken since must not get back what that run is removing.
        let now = backend.registry.get_tenant(&record.id).await?;
        if now.version != record.version || now.run_id.is_some() {
            report.not_repaired.push(NotRepaired {
                finding,
                reason: format!(
                    "the tenant changed while being repaired (now {}): left for the next pass",
                    now.status
                ),
            });
            continue;
        }
        match fix(backend, plan, record, &finding).await? {
            Ok(action) => report.repaired.push(Repaired { finding, action }),
            Err(reason) => report.not_repaired.push(NotRepaired { finding, reason }),
        }
    }
    Ok(report)
}

/// Repairs one finding: `Ok(action)` when done, `Err(reason)` when left as it is.
async fn fix(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
    finding: &Finding,
) -> Result<std::result::Result<String, String>> {
    let key_arn = record.arns.key_arn.as_deref();
    Ok(match (finding.resource, finding.problem, finding.field) {
        (ResourceKind::AppTable | ResourceKind::EventsTable, Problem::Missing, _) => {
            let Some(key_arn) = key_arn else {
                return Ok(Err(
                    "the record holds no key ARN to encrypt the table under".to_owned(),
                ));
            };
            let role = if finding.resource == ResourceKind::AppTable {
                TableRole::App
            } else {
                TableRole::Events
            };
            let table = backend
                .tables
                .create_table(&plan.table_spec(role, key_arn))
                .await?;
            let mut action = format!(
                "recreated table {} empty: the items it held are gone (restore them from a backup)",
                table.spec.name
            );
            let recorded = match role {
                TableRole::App => record.arns.app_table_arn.as_deref(),
                TableRole::Events => record.arns.events_table_arn.as_deref(),
            };
            if recorded != Some(table.arn.as_str()) {
                action.push_str(&format!(
                    "; its ARN {} differs from the record's {recorded:?}, so the role's policy \
                     still names the old one",
                    table.arn
                ));
            }
            Ok(action)
        }
        (ResourceKind::StreamTrigger, Problem::Missing, _) => {
            let table = backend
                .tables
                .describe_table(&plan.names.events_table)
                .await?;
            let Some(spec) = table
                .stream_arn
                .as_deref()
                .and_then(|s| plan.trigger_spec(s))
            else {
                let why = crate::runner::no_stream(&plan.names.events_table);
                return Ok(Err(why.message().to_owned()));
            };
            let trigger = match backend.triggers.create_trigger(&spec).await {
                // Made meanwhile (an onboarding run, another repair): nothing left to do.
                Err(e) if e.kind() == tenancy::ErrorKind::AlreadyExists => {
                    return Ok(Ok(format!(
                        "a trigger of stream {} to function {} exists now",
                        spec.stream_arn, spec.function
                    )));
                }
                made => made?,
            };
            Ok(format!(
                "created trigger {} of stream {} to function {}",
                trigger.arn, spec.stream_arn, spec.function
            ))
        }
        (ResourceKind::StreamTrigger, Problem::Extra, _) => {
            // Read right before the delete: only a trigger whose own tags are this tenant's.
            let id = tenancy::ports::trigger_id_of_arn(&finding.name);
            let trigger = match backend.triggers.describe_trigger(id).await {
                Err(e) if e.kind() == tenancy::ErrorKind::NotFound => {
                    return Ok(Ok(format!("trigger {} is gone already", finding.name)));
                }
                found => found?,
            };
            if let Some(why) = foreign_tags(&plan.tags, &trigger.spec.tags) {
                return Ok(Err(format!("the trigger is not this tenant's: {why}")));
            }
            match backend.triggers.delete_trigger(id).await {
                Err(e) if e.kind() == tenancy::ErrorKind::NotFound => {}
                deleted => deleted?,
            }
            Ok(format!(
                "deleted trigger {} to function {}, which no plan has",
                trigger.arn, trigger.spec.function
            ))
        }
        (ResourceKind::Role, Problem::Missing, _) => {
            let expected = expected_role(backend, plan, record).await?;
            let role = backend.roles.create_role(&expected.spec).await?;
            Ok(format!(
                "recreated role {} with the tenant policy",
                role.spec.name
            ))
        }
        (ResourceKind::Role, Problem::Changed, Field::Policy) => {
            // Read right before the change: only this tenant's role is changed.
            let role = backend.roles.describe_role(&plan.role_name).await?;
            if let Some(why) = foreign_tags(&plan.tags, &role.spec.tags) {
                return Ok(Err(format!("the role is not this tenant's: {why}")));
            }
            let expected = expected_role(backend, plan, record).await?;
            // A role someone else may assume must not be given the tenant's data.
            if role.spec.trusted_principal != expected.spec.trusted_principal {
                return Ok(Err(format!(
                    "the role trusts {} instead of {}: its policy is not put back",
                    role.spec.trusted_principal, expected.spec.trusted_principal
                )));
            }
            backend
                .roles
                .put_role_policy(&plan.role_name, &expected.spec.policy)
                .await?;
            Ok(format!(
                "put back the tenant policy of role {}",
                plan.role_name
            ))
        }
        (ResourceKind::Role, Problem::Changed, Field::Trust) => Err(
            "a role's trust policy is not changed in place: remove the role and repair again to \
             recreate it"
                .to_owned(),
        ),
        (_, Problem::Changed, Field::Tags) => Err(
            "tags are not re-applied: a resource whose ownership tags changed is not treated as \
             this tenant's"
                .to_owned(),
        ),
        (ResourceKind::Key, Problem::Missing, _) => Err(
            "the tenant's key is gone: what it encrypted cannot be decrypted, and a new key \
             would not bring it back"
                .to_owned(),
        ),
        (ResourceKind::Key, Problem::Changed, Field::State) => Err(
            "a key pending deletion is not cancelled by Spotlight: cancel the deletion with \
             KMS CancelKeyDeletion and enable the key if the tenant should keep it"
                .to_owned(),
        ),
        (ResourceKind::Key, Problem::Extra, _) => {
            Err("an extra key is left for `provisioner sweep --delete`".to_owned())
        }
        (_, _, field) => Err(format!(
            "{field:?} of a {:?} is not changed in place: remove the resource and repair again \
             to recreate it (a table comes back empty)",
            finding.resource
        )),
    })
}

/// The role the plan makes over the record's ARNs, or the ARNs the backend reports for the
/// tables and key where the record has none.
async fn expected_role(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
) -> Result<tenancy::ports::RoleInfo> {
    let mut table_arns = Vec::new();
    for name in plan.names.tables() {
        let arn = match backend.tables.describe_table(name).await {
            Ok(t) => t.arn,
            // The record's ARN is used instead (`drift::expected_role`).
            Err(e) if e.kind() == tenancy::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e.into()),
        };
        table_arns.push(arn);
    }
    let key = match backend.keys.describe_key(&plan.names.key_alias).await {
        Ok(key) => Some(key),
        Err(e) if e.kind() == tenancy::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    Ok(drift::expected_role(
        plan,
        record,
        key.as_ref(),
        &table_arns,
    ))
}
