//! Drift: what exists for a tenant compared with its registry record and its plan.
//!
//! [`check`] reads every planned resource from the backend and reports each difference as a
//! [`Finding`] saying what was expected and what was found; it changes nothing. The expected
//! role policy is always `PolicyDocument::tenant` over the ARNs the record holds (through
//! [`TenantPlan::role_spec`]), so whatever that document contains is what is compared.
//!
//! Key references are compared as key ids: DynamoDB reports a table's SSE key as an ARN, moto
//! as a bare key id, and the record holds both.
//!
//! Only a tenant whose resources should all exist (`active`, `suspended`, `upgrading`) is
//! checked for missing or changed ones; a tenant with a run under way is reported unchecked
//! (the run is changing its resources), and one that is `failed` or `deleted` should have no
//! resources left: a table or role still there, or a key not yet scheduled for deletion, is
//! reported `extra`.

use serde::Serialize;
use tenancy::ports::{
    KeyInfo, KeyState, RoleInfo, TableInfo, TriggerInfo, TriggerState, trigger_id_of_arn,
};
use tenancy::table_plan::{TableRole, TableSpec};
use tenancy::{Backend, ErrorKind, TenantId, TenantRecord, TenantStatus};

use crate::error::Result;
use crate::plan::TenantPlan;
use crate::runner::ownership::foreign_tags;

/// Which of a tenant's resources a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResourceKind {
    Key,
    AppTable,
    EventsTable,
    Role,
    /// The events table's stream → the stream handler (when the deployment has one).
    StreamTrigger,
}

/// What is wrong with the resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Problem {
    /// The plan has it; the backend does not.
    Missing,
    /// It exists, and `field` differs from the plan.
    Changed,
    /// It exists, and nothing plans it (a second key tagged for the tenant, a resource left
    /// after the tenant failed or was deleted).
    Extra,
}

/// The part of a resource that differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The whole resource (missing or extra).
    Existence,
    /// `spotlight:tenant` / `spotlight:managed-by`.
    Tags,
    /// A key's state (enabled, pending deletion).
    State,
    Alias,
    /// The principal a role trusts.
    Trust,
    /// A role's inline policy.
    Policy,
    /// The key a table is encrypted under.
    SseKey,
    Stream,
    KeySchema,
    Indexes,
    TtlAttribute,
    PointInTimeRecovery,
    /// A trigger's batch size and batching window.
    Batching,
}

/// One difference between the plan and what exists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    pub resource: ResourceKind,
    /// The resource's name (table or role name, key alias) or, for a key found by its tags,
    /// its key id.
    pub name: String,
    pub problem: Problem,
    pub field: Field,
    /// What the plan says (`absent` for an extra resource).
    pub expected: String,
    /// What the backend reports (`absent` for a missing resource).
    pub found: String,
}

/// A tenant's drift: every finding, or why its resources were not checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct DriftReport {
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub status: TenantStatus,
    /// False while a run is changing the tenant's resources (`requested`, `provisioning`,
    /// `deprovisioning`): nothing was compared.
    pub checked: bool,
    pub findings: Vec<Finding>,
}

impl DriftReport {
    /// Whether what exists is what the record and plan say.
    pub fn is_clean(&self) -> bool {
        self.findings.is_empty()
    }
}

const ABSENT: &str = "absent";

/// What a tenant's status says should exist.
enum Expect {
    Everything,
    Nothing,
    /// A run is changing the resources.
    InFlight,
}

fn expectation(status: TenantStatus) -> Expect {
    match status {
        TenantStatus::Active | TenantStatus::Suspended | TenantStatus::Upgrading => {
            Expect::Everything
        }
        TenantStatus::Failed | TenantStatus::Deleted => Expect::Nothing,
        TenantStatus::Requested | TenantStatus::Provisioning | TenantStatus::Deprovisioning => {
            Expect::InFlight
        }
    }
}

/// The key id in a key reference: the last path segment of an ARN (`…:key/{id}`), or the
/// reference itself.
pub(crate) fn key_id_of(reference: &str) -> &str {
    match reference.rsplit_once(":key/") {
        Some((_, id)) => id,
        None => reference,
    }
}

impl crate::runner::Provisioner {
    /// The tenant's drift. Errors: `NotFound` for an unknown tenant.
    pub async fn drift(&self, id: &TenantId) -> Result<DriftReport> {
        let record = self.record(id).await?;
        check(self.backend(), &self.plan(id), &record).await
    }
}

/// Compares what exists for the tenant of `record` with its plan. Reads only.
pub async fn check(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
) -> Result<DriftReport> {
    let mut findings = Vec::new();
    let checked = match expectation(record.status) {
        Expect::InFlight => false,
        Expect::Everything => {
            let key = check_key(backend, plan, record, &mut findings).await?;
            let mut table_arns = Vec::new();
            for (role, _) in &plan.tables {
                let arn =
                    check_table(backend, plan, record, *role, key.as_ref(), &mut findings).await?;
                table_arns.push(arn);
            }
            check_role(
                backend,
                plan,
                record,
                key.as_ref(),
                &table_arns,
                &mut findings,
            )
            .await?;
            check_trigger(backend, plan, &mut findings).await?;
            true
        }
        Expect::Nothing => {
            check_nothing_left(backend, plan, record, &mut findings).await?;
            true
        }
    };
    Ok(DriftReport {
        tenant: record.id.clone(),
        status: record.status,
        checked,
        findings,
    })
}

/// The described resource, or `None` when the backend says it does not exist.
fn present<T>(result: tenancy::Result<T>) -> Result<Option<T>> {
    match result {
        Ok(info) => Ok(Some(info)),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("unprintable: {e}"))
}

fn key_state(state: &KeyState) -> String {
    match state {
        KeyState::Enabled => "enabled".to_owned(),
        KeyState::PendingDeletion { deletion_at } => {
            format!("pending deletion (destroyed at {deletion_at})")
        }
        KeyState::Destroyed => "destroyed".to_owned(),
    }
}

/// The tenant's key (by the id the record holds, else its alias), and any other key tagged
/// for the tenant that is still enabled.
async fn check_key(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
    findings: &mut Vec<Finding>,
) -> Result<Option<KeyInfo>> {
    let alias = &plan.names.key_alias;
    let reference = record.arns.key_id.as_deref().unwrap_or(alias);
    let finding = |problem, field, expected: String, found: String| Finding {
        resource: ResourceKind::Key,
        name: alias.clone(),
        problem,
        field,
        expected,
        found,
    };
    let key = present(backend.keys.describe_key(reference).await)?;
    match &key {
        None => findings.push(finding(
            Problem::Missing,
            Field::Existence,
            format!("key {reference}"),
            ABSENT.to_owned(),
        )),
        Some(key) => {
            if key.state != KeyState::Enabled {
                findings.push(finding(
                    Problem::Changed,
                    Field::State,
                    key_state(&KeyState::Enabled),
                    key_state(&key.state),
                ));
            }
            if key.alias.as_deref() != Some(alias.as_str()) {
                findings.push(finding(
                    Problem::Changed,
                    Field::Alias,
                    alias.clone(),
                    key.alias.clone().unwrap_or_else(|| ABSENT.to_owned()),
                ));
            }
            if foreign_tags(&plan.tags, &key.tags).is_some() {
                findings.push(finding(
                    Problem::Changed,
                    Field::Tags,
                    json(&plan.tags),
                    json(&key.tags),
                ));
            }
        }
    }
    for other in backend.keys.list_keys(&plan.tags).await? {
        let ours = key.as_ref().is_some_and(|k| k.key_id == other.key_id);
        if !ours && other.state == KeyState::Enabled {
            findings.push(Finding {
                resource: ResourceKind::Key,
                name: other.key_id.clone(),
                problem: Problem::Extra,
                field: Field::Existence,
                expected: ABSENT.to_owned(),
                found: format!(
                    "enabled key {} ({}) tagged for this tenant",
                    other.key_id,
                    other.alias.as_deref().unwrap_or("no alias")
                ),
            });
        }
    }
    Ok(key)
}

/// One planned table; returns its ARN (the record's when the table is missing) for the role's
/// expected policy.
async fn check_table(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
    role: TableRole,
    key: Option<&KeyInfo>,
    findings: &mut Vec<Finding>,
) -> Result<String> {
    let key_arn = key
        .map(|k| k.arn.clone())
        .or_else(|| record.arns.key_arn.clone())
        .unwrap_or_default();
    let planned = plan.table_spec(role, &key_arn);
    let resource = match role {
        TableRole::App => ResourceKind::AppTable,
        TableRole::Events => ResourceKind::EventsTable,
    };
    let recorded_arn = match role {
        TableRole::App => record.arns.app_table_arn.clone(),
        TableRole::Events => record.arns.events_table_arn.clone(),
    };
    let finding = |problem, field, expected: String, found: String| Finding {
        resource,
        name: planned.name.clone(),
        problem,
        field,
        expected,
        found,
    };
    let Some(table) = present(backend.tables.describe_table(&planned.name).await)? else {
        findings.push(finding(
            Problem::Missing,
            Field::Existence,
            format!("table {}", planned.name),
            ABSENT.to_owned(),
        ));
        return Ok(recorded_arn.unwrap_or_default());
    };
    if foreign_tags(&planned.tags, &table.spec.tags).is_some() {
        findings.push(finding(
            Problem::Changed,
            Field::Tags,
            json(&planned.tags),
            json(&table.spec.tags),
        ));
    }
    let found_key = table.spec.sse_key.as_deref().map(key_id_of);
    if found_key != Some(key_id_of(&key_arn)) {
        findings.push(finding(
            Problem::Changed,
            Field::SseKey,
            key_arn.clone(),
            table
                .spec
                .sse_key
                .clone()
                .unwrap_or_else(|| "the backend's default key".to_owned()),
        ));
    }
    // The key was compared by id above; every other field as the ensure step compares it.
    let comparable = TableSpec {
        sse_key: table.spec.sse_key.clone(),
        ..planned.clone()
    };
    for field in comparable.differences(&table.spec) {
        let (field, expected, found) = table_field(field, &planned, &table);
        findings.push(finding(Problem::Changed, field, expected, found));
    }
    Ok(table.arn)
}

/// The trigger from the events table's stream to the stream handler, when the plan has one
/// and the table has a stream (a missing table or stream is reported as the table's).
async fn check_trigger(
    backend: &Backend,
    plan: &TenantPlan,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let Some(function) = &plan.stream_handler else {
        return Ok(());
    };
    let table = present(
        backend
            .tables
            .describe_table(&plan.names.events_table)
            .await,
    )?;
    let Some(stream) = table.and_then(|t| t.stream_arn) else {
        return Ok(());
    };
    let planned = plan
        .trigger_spec(&stream)
        .expect("a plan with a stream handler plans its trigger");
    let name = format!("{stream} -> {function}");
    let finding = |problem, field, expected: String, found: String| Finding {
        resource: ResourceKind::StreamTrigger,
        name: name.clone(),
        problem,
        field,
        expected,
        found,
    };
    let (mut ours, others): (Vec<TriggerInfo>, Vec<TriggerInfo>) = backend
        .triggers
        .triggers_of_stream(&stream)
        .await?
        .into_iter()
        .partition(|t| t.spec.function == *function);
    // A trigger tagged for the tenant to another function (an earlier stream handler's): a
    // second consumer of the stream that nothing plans.
    for other in others
        .iter()
        .filter(|t| foreign_tags(&plan.tags, &t.spec.tags).is_none())
    {
        findings.push(Finding {
            resource: ResourceKind::StreamTrigger,
            name: other.arn.clone(),
            problem: Problem::Extra,
            field: Field::Existence,
            expected: ABSENT.to_owned(),
            found: format!(
                "trigger {} of the stream to function {}",
                other.arn, other.spec.function
            ),
        });
    }
    let Some(trigger) = ours.pop() else {
        findings.push(finding(
            Problem::Missing,
            Field::Existence,
            format!("trigger of stream {stream} to function {function}"),
            ABSENT.to_owned(),
        ));
        return Ok(());
    };
    for difference in crate::runner::trigger_differences(&planned, &trigger) {
        let (field, expected, found) = match difference.as_str() {
            "state" => (
                Field::State,
                json(&TriggerState::Enabled),
                json(&trigger.state),
            ),
            "batching" => (
                Field::Batching,
                format!(
                    "{} records, {} s",
                    planned.batch_size, planned.batching_window_secs
                ),
                format!(
                    "{} records, {} s",
                    trigger.spec.batch_size, trigger.spec.batching_window_secs
                ),
            ),
            _ => (Field::Tags, json(&planned.tags), json(&trigger.spec.tags)),
        };
        findings.push(finding(Problem::Changed, field, expected, found));
    }
    Ok(())
}

/// A differing table field (a name from `TableSpec::differences`) with both values.
fn table_field(field: &str, planned: &TableSpec, table: &TableInfo) -> (Field, String, String) {
    let found = &table.spec;
    match field {
        "stream" => (Field::Stream, json(&planned.stream), json(&found.stream)),
        "indexes" => (Field::Indexes, json(&planned.indexes), json(&found.indexes)),
        "ttl_attribute" => (
            Field::TtlAttribute,
            json(&planned.ttl_attribute),
            json(&found.ttl_attribute),
        ),
        "point_in_time_recovery" => (
            Field::PointInTimeRecovery,
            json(&planned.point_in_time_recovery),
            json(&found.point_in_time_recovery),
        ),
        _ => (
            Field::KeySchema,
            format!("{} / {}", planned.partition_key, planned.sort_key),
            format!("{} / {}", found.partition_key, found.sort_key),
        ),
    }
}

/// The role: tags, trust and the policy `PolicyDocument::tenant` makes over the tenant's
/// table ARNs and key ARN.
async fn check_role(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
    key: Option<&KeyInfo>,
    table_arns: &[String],
    findings: &mut Vec<Finding>,
) -> Result<()> {
    let name = &plan.role_name;
    let finding = |problem, field, expected: String, found: String| Finding {
        resource: ResourceKind::Role,
        name: name.clone(),
        problem,
        field,
        expected,
        found,
    };
    let Some(role) = present(backend.roles.describe_role(name).await)? else {
        findings.push(finding(
            Problem::Missing,
            Field::Existence,
            format!("role {name}"),
            ABSENT.to_owned(),
        ));
        return Ok(());
    };
    let expected = expected_role(plan, record, key, table_arns);
    if foreign_tags(&plan.tags, &role.spec.tags).is_some() {
        findings.push(finding(
            Problem::Changed,
            Field::Tags,
            json(&plan.tags),
            json(&role.spec.tags),
        ));
    }
    if role.spec.trusted_principal != expected.spec.trusted_principal {
        findings.push(finding(
            Problem::Changed,
            Field::Trust,
            expected.spec.trusted_principal.clone(),
            role.spec.trusted_principal.clone(),
        ));
    }
    if role.spec.policy != expected.spec.policy {
        findings.push(finding(
            Problem::Changed,
            Field::Policy,
            json(&expected.spec.policy),
            json(&role.spec.policy),
        ));
    }
    Ok(())
}

/// The role as the plan makes it from the record's ARNs (the described ones where the record
/// has none).
pub(crate) fn expected_role(
    plan: &TenantPlan,
    record: &TenantRecord,
    key: Option<&KeyInfo>,
    table_arns: &[String],
) -> RoleInfo {
    let key_arn = record
        .arns
        .key_arn
        .clone()
        .or_else(|| key.map(|k| k.arn.clone()))
        .unwrap_or_default();
    let recorded = [&record.arns.app_table_arn, &record.arns.events_table_arn];
    let tables: Vec<String> = recorded
        .iter()
        .zip(table_arns)
        .map(|(recorded, found)| recorded.as_ref().cloned().unwrap_or_else(|| found.clone()))
        .collect();
    let tables: Vec<&str> = tables.iter().map(String::as_str).collect();
    RoleInfo {
        spec: plan.role_spec(&tables, &key_arn),
        arn: record.arns.role_arn.clone().unwrap_or_default(),
    }
}

/// A failed or deleted tenant: its tables and role should be gone and its keys at least
/// scheduled for deletion.
async fn check_nothing_left(
    backend: &Backend,
    plan: &TenantPlan,
    record: &TenantRecord,
    findings: &mut Vec<Finding>,
) -> Result<()> {
    if let Some(arn) = &record.arns.stream_trigger_arn
        && let Some(trigger) = present(
            backend
                .triggers
                .describe_trigger(trigger_id_of_arn(arn))
                .await,
        )?
        && foreign_tags(&plan.tags, &trigger.spec.tags).is_none()
    {
        findings.push(Finding {
            resource: ResourceKind::StreamTrigger,
            name: trigger.arn.clone(),
            problem: Problem::Extra,
            field: Field::Existence,
            expected: ABSENT.to_owned(),
            found: format!(
                "trigger {} of stream {} to function {}",
                trigger.arn, trigger.spec.stream_arn, trigger.spec.function
            ),
        });
    }
    for (role, spec) in &plan.tables {
        if let Some(table) = present(backend.tables.describe_table(&spec.name).await)?
            && foreign_tags(&plan.tags, &table.spec.tags).is_none()
        {
            findings.push(Finding {
                resource: match role {
                    TableRole::App => ResourceKind::AppTable,
                    TableRole::Events => ResourceKind::EventsTable,
                },
                name: spec.name.clone(),
                problem: Problem::Extra,
                field: Field::Existence,
                expected: ABSENT.to_owned(),
                found: format!("table {}", table.arn),
            });
        }
    }
    if let Some(role) = present(backend.roles.describe_role(&plan.role_name).await)?
        && foreign_tags(&plan.tags, &role.spec.tags).is_none()
    {
        findings.push(Finding {
            resource: ResourceKind::Role,
            name: plan.role_name.clone(),
            problem: Problem::Extra,
            field: Field::Existence,
            expected: ABSENT.to_owned(),
            found: format!("role {}", role.arn),
        });
    }
    for key in backend.keys.list_keys(&plan.tags).await? {
        if key.state == KeyState::Enabled {
            findings.push(Finding {
                resource: ResourceKind::Key,
                name: key.key_id.clone(),
                problem: Problem::Extra,
                field: Field::Existence,
                expected: "scheduled for deletion".to_owned(),
                found: format!("enabled key {}", key.key_id),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_reference_is_compared_by_its_key_id() {
        assert_eq!(
            key_id_of("arn:aws:kms:us-east-1:000000000000:key/1234-abcd"),
            "1234-abcd"
        );
        assert_eq!(key_id_of("1234-abcd"), "1234-abcd");
        assert_eq!(
            key_id_of("alias/spotlight_tenant-acme"),
            "alias/spotlight_tenant-acme"
        );
    }
}
