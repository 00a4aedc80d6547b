//! Faults and drift on `SPOTLIGHT_BACKEND=aws`, against moto: the CLI really killed (`abort`
//! at a failpoint) after each provisioning step, between KMS CreateKey and CreateAlias, and
//! after each offboarding step, then run again; and drift, repair and sweep of out-of-band
//! changes. Every count below is read back through the AWS adapters (listing by tags and name
//! prefix), never from the registry.

use tenancy::naming::TAG_MANAGED_BY;
use tenancy::ports::{KeyState, PolicyStatement};
use tenancy::{Backend, ErrorKind, TablePrefix};

use crate::aws::{aws_env, fresh_prefix, moto_sdk_config, run};
use crate::helpers::{TestEnv, tenant};

/// A deployment of its own on the shared moto, bootstrapped, and the AWS adapters over it.
async fn deployment(env: &TestEnv, name: &str) -> (String, Backend) {
    let parsed = fresh_prefix(name);
    let prefix = parsed.as_str().to_owned();
    run(env, &prefix, &["bootstrap"]);
    let clients = tenancy::aws::AwsClients::from_config(&moto_sdk_config().await);
    let aws = tenancy::aws::backend(&clients, &parsed, &env.settings.data_plane_principal);
    (prefix, aws)
}

/// Runs the CLI on `prefix` with `failpoint` set to abort; asserts it died by a signal.
fn crash(env: &TestEnv, prefix: &str, args: &[&str], failpoint: &str) {
    let vars = aws_env(prefix);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = env.cli_with(args, Some(&format!("{failpoint}=return(abort)")), &vars);
    assert_eq!(
        out.status.code(),
        None,
        "killed at {failpoint}, not an orderly exit: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Enabled keys tagged for `tenant` in the deployment.
async fn enabled_keys(aws: &Backend, env: &TestEnv, prefix: &str, tenant_id: &str) -> Vec<String> {
    let plan = provisioner::TenantPlan::new(
        &TablePrefix::parse(prefix).unwrap(),
        &tenant(tenant_id),
        &env.settings.data_plane_principal,
    );
    aws.keys
        .list_keys(&plan.tags)
        .await
        .unwrap()
        .into_iter()
        .filter(|k| k.state == KeyState::Enabled)
        .map(|k| k.key_id)
        .collect()
}

/// Exactly one enabled key (the one its alias names), the two tables and the one role of
/// the tenant exist in the deployment, and sweep finds nothing.
async fn assert_exactly_one_of_each(env: &TestEnv, prefix: &str, aws: &Backend, id: &str) {
    let parsed = TablePrefix::parse(prefix).unwrap();
    let plan =
        provisioner::TenantPlan::new(&parsed, &tenant(id), &env.settings.data_plane_principal);
    let key = aws.keys.describe_key(&plan.names.key_alias).await.unwrap();
    assert_eq!(
        enabled_keys(aws, env, prefix, id).await,
        std::slice::from_ref(&key.key_id)
    );
    let mut tables = aws.tables.list_tables(&parsed.name_start()).await.unwrap();
    tables.retain(|t| *t != parsed.registry_table());
    assert_eq!(tables, plan.names.tables());
    let roles: Vec<String> = aws
        .roles
        .list_roles(&parsed.name_start())
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(roles, std::slice::from_ref(&plan.role_name));
    let swept = run(env, prefix, &["sweep"]);
    assert_eq!(swept["orphans"], serde_json::json!([]), "{swept}");
    let drift = run(env, prefix, &["drift", "--tenant", id]);
    assert_eq!(drift["findings"], serde_json::json!([]), "{drift}");
}

async fn crash_provisioning_then_resume(failpoint: &str) {
    let env = TestEnv::new().await;
    let (prefix, aws) = deployment(&env, "crash").await;
    crash(
        &env,
        &prefix,
        &["apply", "--tenant", "acme", "--owner-email", "ops@acme.io"],
        failpoint,
    );
    let resumed = run(&env, &prefix, &["apply", "--tenant", "acme"]);
    assert_eq!(resumed["status"], "active", "{resumed}");
    assert_exactly_one_of_each(&env, &prefix, &aws, "acme").await;
}

macro_rules! aws_crash_tests {
    ($($name:ident => $failpoint:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_provisioning_then_resume($failpoint).await;
        }
    )*};
}

aws_crash_tests! {
    killed_before_the_key_resumes_to_one_of_each => "provision:before:key",
    killed_between_create_key_and_create_alias_adopts_the_key => "kms:after:create_key",
    killed_after_the_key_resumes_to_one_of_each => "provision:after:key",
    killed_after_the_app_table_resumes_to_one_of_each => "provision:after:app_table",
    killed_after_the_events_table_resumes_to_one_of_each => "provision:after:events_table",
    killed_after_the_role_resumes_to_one_of_each => "provision:after:role",
    killed_after_the_probe_resumes_to_one_of_each => "provision:after:probe",
}

async fn crash_offboarding_then_resume(failpoint: &str) {
    let env = TestEnv::new().await;
    let (prefix, aws) = deployment(&env, "leave").await;
    let active = run(
        &env,
        &prefix,
        &["apply", "--tenant", "acme", "--owner-email", "ops@acme.io"],
    );
    assert_eq!(active["status"], "active", "{active}");
    crash(&env, &prefix, &["destroy", "--tenant", "acme"], failpoint);
    let deleted = run(&env, &prefix, &["destroy", "--tenant", "acme"]);
    assert_eq!(deleted["status"], "deleted", "{deleted}");

    let parsed = TablePrefix::parse(&prefix).unwrap();
    let mut tables = aws.tables.list_tables(&parsed.name_start()).await.unwrap();
    tables.retain(|t| *t != parsed.registry_table());
    assert_eq!(tables, Vec::<String>::new());
    assert_eq!(
        aws.roles.list_roles(&parsed.name_start()).await.unwrap(),
        []
    );
    assert_eq!(
        enabled_keys(&aws, &env, &prefix, "acme").await,
        Vec::<String>::new()
    );
    let swept = run(&env, &prefix, &["sweep"]);
    assert_eq!(swept["orphans"], serde_json::json!([]), "{swept}");
}

macro_rules! aws_offboarding_crash_tests {
    ($($name:ident => $failpoint:literal,)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            crash_offboarding_then_resume($failpoint).await;
        }
    )*};
}

aws_offboarding_crash_tests! {
    offboarding_killed_after_the_role_finishes_on_a_second_destroy => "offboard:after:role",
    offboarding_killed_after_the_events_table_finishes_on_a_second_destroy => "offboard:after:events_table",
    offboarding_killed_after_the_app_table_finishes_on_a_second_destroy => "offboard:after:app_table",
    offboarding_killed_after_the_key_finishes_on_a_second_destroy => "offboard:after:key",
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drift_on_aws_is_repaired_and_an_orphan_role_is_swept() {
    let env = TestEnv::new().await;
    let (prefix, aws) = deployment(&env, "drift").await;
    let active = run(
        &env,
        &prefix,
        &["apply", "--tenant", "acme", "--owner-email", "ops@acme.io"],
    );
    assert_eq!(active["status"], "active", "{active}");
    let parsed = TablePrefix::parse(&prefix).unwrap();
    let plan =
        provisioner::TenantPlan::new(&parsed, &tenant("acme"), &env.settings.data_plane_principal);
    // moto reports a table's SSE key as a bare key id: drift compares key ids, so an
    // untouched tenant has none.
    let clean = run(&env, &prefix, &["drift", "--tenant", "acme"]);
    assert_eq!(clean["findings"], serde_json::json!([]), "{clean}");

    // Out of band: the events table deleted, the role's policy widened, and a role tagged
    // as ours for a tenant with no record.
    aws.tables
        .delete_table(&plan.names.events_table)
        .await
        .unwrap();
    let role = aws.roles.describe_role(&plan.role_name).await.unwrap();
    let mut wider = role.spec.policy.clone();
    wider.statements.push(PolicyStatement {
        sid: "Everything".to_owned(),
        effect: "Allow".to_owned(),
        actions: vec!["dynamodb:*".to_owned()],
        resources: vec!["*".to_owned()],
    });
    aws.roles
        .put_role_policy(&plan.role_name, &wider)
        .await
        .unwrap();
    let ghost = provisioner::TenantPlan::new(
        &parsed,
        &tenant("ghost"),
        &env.settings.data_plane_principal,
    );
    let orphan = ghost.role_spec(
        &["arn:aws:dynamodb:us-east-1:000000000000:table/none"],
        "arn:aws:kms:us-east-1:000000000000:key/none",
    );
    aws.roles.create_role(&orphan).await.unwrap();
    assert_eq!(
        orphan.tags.get(TAG_MANAGED_BY).map(String::as_str),
        Some(prefix.as_str())
    );

    let drift = run(&env, &prefix, &["drift", "--tenant", "acme"]);
    let found: Vec<(String, String)> = drift["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["resource"].as_str().unwrap().to_owned(),
                f["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            ("events_table".to_owned(), "existence".to_owned()),
            ("role".to_owned(), "policy".to_owned())
        ],
        "{drift}"
    );

    let repaired = run(&env, &prefix, &["reconcile", "--repair"]);
    assert_eq!(
        repaired["repairs"][0]["repaired"].as_array().unwrap().len(),
        2,
        "{repaired}"
    );
    assert_eq!(
        repaired["repairs"][0]["not_repaired"],
        serde_json::json!([])
    );
    let table = aws
        .tables
        .describe_table(&plan.names.events_table)
        .await
        .unwrap();
    assert!(table.spec.stream, "recreated with its stream");
    let role = aws.roles.describe_role(&plan.role_name).await.unwrap();
    assert_eq!(
        role.spec.policy.statements.len(),
        wider.statements.len() - 1
    );

    let swept = run(&env, &prefix, &["sweep"]);
    assert_eq!(swept["orphans"].as_array().unwrap().len(), 1, "{swept}");
    assert_eq!(swept["orphans"][0]["id"], orphan.name);
    let deleted = run(&env, &prefix, &["sweep", "--delete"]);
    assert_eq!(deleted["orphans"][0]["outcome"], "deleted", "{deleted}");
    let gone = aws
        .roles
        .describe_role(&orphan.name)
        .await
        .map_err(|e| e.kind());
    assert_eq!(gone.err(), Some(ErrorKind::NotFound));
    assert_exactly_one_of_each(&env, &prefix, &aws, "acme").await;
}
