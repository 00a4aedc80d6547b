//! Drift, repair and sweep on the embedded backend, through the CLI (`drift`, `reconcile
//! --repair`, `sweep [--delete]`): out-of-band changes are made through the ports, as an
//! operator's own tools would make them.

use serde_json::Value;
use tenancy::naming::{TAG_MANAGED_BY, TAG_TENANT, Tags};
use tenancy::ports::{KeySpec, KeyState, PolicyStatement, RoleSpec};
use tenancy::{ErrorKind, TenantId};

use crate::helpers::{PREFIX, TestEnv, tenant};

fn json_of(env: &TestEnv, args: &[&str]) -> Value {
    let out = env.cli(args, None);
    assert!(
        out.status.success(),
        "provisioner {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn drift(env: &TestEnv, id: &TenantId) -> Value {
    json_of(env, &["drift", "--tenant", id.as_str()])
}

/// `(resource, name, problem, field)` of every finding.
fn findings(report: &Value) -> Vec<(String, String, String, String)> {
    report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_owned();
            (s("resource"), s("name"), s("problem"), s("field"))
        })
        .collect()
}

fn finding(
    resource: &str,
    name: &str,
    problem: &str,
    field: &str,
) -> (String, String, String, String) {
    (
        resource.to_owned(),
        name.to_owned(),
        problem.to_owned(),
        field.to_owned(),
    )
}

#[tokio::test]
async fn an_active_tenant_as_provisioned_has_no_drift() {
    let env = TestEnv::new().await;
    let id = tenant("steady");
    env.onboard(&id).await;
    let report = drift(&env, &id);
    assert_eq!(report["checked"], true, "{report}");
    assert_eq!(report["status"], "active");
    assert_eq!(findings(&report), [], "{report}");
}

#[tokio::test]
async fn a_table_deleted_out_of_band_is_drift_and_repair_recreates_it_empty() {
    let env = TestEnv::new().await;
    let id = tenant("lost-table");
    let neighbour = tenant("lost-table-x");
    env.onboard(&id).await;
    env.onboard(&neighbour).await;
    let plan = env.provisioner.plan(&id);
    env.backend
        .tables
        .delete_table(&plan.names.app_table)
        .await
        .unwrap();

    let report = drift(&env, &id);
    assert_eq!(
        findings(&report),
        [finding(
            "app_table",
            &plan.names.app_table,
            "missing",
            "existence"
        )],
        "{report}"
    );
    assert_eq!(report["findings"][0]["found"], "absent");
    assert_eq!(
        findings(&drift(&env, &neighbour)),
        [],
        "the neighbour has no drift"
    );

    let repaired = json_of(&env, &["reconcile", "--repair"]);
    let repairs = repaired["repairs"].as_array().unwrap();
    let mine = repairs
        .iter()
        .find(|r| r["drift"]["tenant"] == id.as_str())
        .expect("a repair report for the tenant");
    let action = mine["repaired"][0]["action"].as_str().unwrap();
    assert!(
        action.contains("empty"),
        "the report says the table came back empty: {action}"
    );
    assert_eq!(mine["not_repaired"], serde_json::json!([]));
    assert_eq!(findings(&drift(&env, &id)), []);
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn a_widened_role_policy_is_drift_and_repair_puts_the_tenant_policy_back() {
    let env = TestEnv::new().await;
    let id = tenant("widened");
    env.onboard(&id).await;
    let plan = env.provisioner.plan(&id);
    let role = env
        .backend
        .roles
        .describe_role(&plan.role_name)
        .await
        .unwrap();
    let mut wider = role.spec.policy.clone();
    wider.statements.push(PolicyStatement {
        sid: "Everything".to_owned(),
        effect: "Allow".to_owned(),
        actions: vec!["dynamodb:*".to_owned()],
        resources: vec!["*".to_owned()],
    });
    env.backend
        .roles
        .put_role_policy(&plan.role_name, &wider)
        .await
        .unwrap();

    let report = drift(&env, &id);
    assert_eq!(
        findings(&report),
        [finding("role", &plan.role_name, "changed", "policy")],
        "{report}"
    );
    let found = report["findings"][0]["found"].as_str().unwrap();
    assert!(found.contains("Everything"), "{found}");

    json_of(&env, &["reconcile", "--repair"]);
    assert_eq!(findings(&drift(&env, &id)), []);
    let role = env
        .backend
        .roles
        .describe_role(&plan.role_name)
        .await
        .unwrap();
    assert_eq!(
        role.spec.policy.statements.len(),
        wider.statements.len() - 1
    );
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn a_key_pending_deletion_is_drift_that_repair_reports_and_leaves() {
    let env = TestEnv::new().await;
    let id = tenant("doomed-key");
    let record = env.onboard(&id).await;
    let key_id = record.arns.key_id.clone().unwrap();
    env.backend
        .keys
        .schedule_key_deletion(&key_id, 7)
        .await
        .unwrap();
    let report = drift(&env, &id);
    let found = findings(&report);
    assert!(
        found.contains(&finding(
            "key",
            &env.provisioner.plan(&id).names.key_alias,
            "changed",
            "state"
        )),
        "{report}"
    );
    let out = env.cli(&["reconcile", "--repair"], None);
    assert_eq!(out.status.code(), Some(1), "something was left unrepaired");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CancelKeyDeletion"), "{stderr}");
}

#[tokio::test]
async fn drift_of_an_unknown_tenant_is_an_error_naming_it() {
    let env = TestEnv::new().await;
    let out = env.cli(&["drift", "--tenant", "nobody"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("nobody"), "{stderr}");
}

/// A role tagged as this deployment's for a tenant with no record, as a killed run leaves
/// behind when its tenant's record is gone.
fn orphan_role(env: &TestEnv, ghost: &str) -> RoleSpec {
    let plan = env.provisioner.plan(&tenant(ghost));
    plan.role_spec(
        &["arn:aws:dynamodb:us-east-1:000000000000:table/none"],
        "arn:aws:kms:us-east-1:000000000000:key/none",
    )
}

#[tokio::test]
async fn sweep_finds_an_orphan_role_and_delete_removes_it_and_nothing_else() {
    let env = TestEnv::new().await;
    let kept = tenant("keeper");
    env.onboard(&kept).await;
    let orphan = orphan_role(&env, "ghost");
    env.backend.roles.create_role(&orphan).await.unwrap();
    // Another deployment's role under a name of ours: not ours to sweep.
    let mut foreign = orphan_role(&env, "stranger");
    foreign
        .tags
        .insert(TAG_MANAGED_BY.to_owned(), "elsewhere".to_owned());
    env.backend.roles.create_role(&foreign).await.unwrap();

    let listed = json_of(&env, &["sweep"]);
    let orphans = listed["orphans"].as_array().unwrap();
    assert_eq!(orphans.len(), 1, "{listed}");
    assert_eq!(orphans[0]["kind"], "role");
    assert_eq!(orphans[0]["id"], orphan.name);
    assert_eq!(orphans[0]["tenant"], "ghost");
    assert!(
        orphans[0].get("outcome").is_none(),
        "listing removes nothing"
    );
    env.backend.roles.describe_role(&orphan.name).await.unwrap();

    let swept = json_of(&env, &["sweep", "--delete"]);
    assert_eq!(swept["orphans"][0]["outcome"], "deleted", "{swept}");
    let gone = env.backend.roles.describe_role(&orphan.name).await;
    assert_eq!(gone.map_err(|e| e.kind()).err(), Some(ErrorKind::NotFound));
    env.backend
        .roles
        .describe_role(&foreign.name)
        .await
        .unwrap();
    assert_eq!(json_of(&env, &["sweep"])["orphans"], serde_json::json!([]));
    env.assert_fully_provisioned(&kept).await;
}

#[tokio::test]
async fn sweep_finds_a_second_key_tagged_for_a_tenant_and_only_schedules_its_deletion() {
    let env = TestEnv::new().await;
    let id = tenant("two-keys");
    env.onboard(&id).await;
    // A second key tagged for the tenant (as an interrupted creation without adoption would
    // leave): made with an alias of its own, which scheduling deletion releases.
    let extra = env
        .backend
        .keys
        .create_key(&KeySpec {
            alias: format!("alias/{PREFIX}_stray"),
            description: "stray".to_owned(),
            tags: Tags::from([
                (TAG_TENANT.to_owned(), id.as_str().to_owned()),
                (TAG_MANAGED_BY.to_owned(), PREFIX.to_owned()),
            ]),
        })
        .await
        .unwrap();
    let report = drift(&env, &id);
    assert!(
        findings(&report).contains(&finding("key", &extra.key_id, "extra", "existence")),
        "{report}"
    );
    let listed = json_of(&env, &["sweep"]);
    assert_eq!(listed["orphans"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["orphans"][0]["id"], extra.key_id);

    let swept = json_of(&env, &["sweep", "--delete"]);
    let outcome = swept["orphans"][0]["outcome"].as_str().unwrap();
    assert!(outcome.starts_with("scheduled for deletion"), "{outcome}");
    let key = env.backend.keys.describe_key(&extra.key_id).await.unwrap();
    assert!(
        matches!(key.state, KeyState::PendingDeletion { .. }),
        "{:?}",
        key.state
    );
    assert_eq!(json_of(&env, &["sweep"])["orphans"], serde_json::json!([]));
    assert_eq!(findings(&drift(&env, &id)), []);
    env.assert_fully_provisioned(&id).await;
}
