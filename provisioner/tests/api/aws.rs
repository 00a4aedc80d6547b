//! The `provisioner` CLI on `SPOTLIGHT_BACKEND=aws`, through the real AWS SDK, against moto on
//! loopback (`scripts/test.sh` starts it and sets `SPOTLIGHT_TEST_MOTO_ENDPOINT`): bootstrap,
//! onboard a tenant to `active`, check its resources through the AWS adapters, offboard it.

use serde_json::Value;
use tenancy::ports::KeyState;
use tenancy::{ErrorKind, TablePrefix};

use crate::helpers::{TestEnv, tenant};

pub(crate) use tenancy::conformance::moto::{
    endpoint as moto, fresh_prefix, sdk_config as moto_sdk_config,
};

/// The environment of a process talking to moto as deployment `prefix`.
pub(crate) fn aws_env(prefix: &str) -> Vec<(&'static str, String)> {
    tenancy::conformance::moto::process_env(&TablePrefix::parse(prefix).expect("a valid prefix"))
}

pub(crate) fn run(env: &TestEnv, prefix: &str, args: &[&str]) -> Value {
    run_with(env, prefix, &[], args)
}

/// [`run`] with further variables set.
pub(crate) fn run_with(
    env: &TestEnv,
    prefix: &str,
    extra: &[(&'static str, String)],
    args: &[&str],
) -> Value {
    let mut vars = aws_env(prefix);
    vars.extend_from_slice(extra);
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = env.cli_with(args, None, &vars);
    assert!(
        out.status.success(),
        "provisioner {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_onboarded_on_aws_has_its_resources_and_offboarding_removes_them() {
    let env = TestEnv::new().await;
    let prefix = fresh_prefix("e2e").as_str().to_owned();
    let boot = run(&env, &prefix, &["bootstrap"]);
    assert_eq!(
        boot["ensured"],
        format!("registry table {prefix}_tenants-metadata")
    );
    run(&env, &prefix, &["bootstrap"]); // idempotent

    let id = tenant("acme");
    let active = run(
        &env,
        &prefix,
        &["apply", "--tenant", "acme", "--owner-email", "ops@acme.io"],
    );
    assert_eq!(active["status"], "active", "{active}");

    // What exists, seen through the AWS adapters themselves.
    let clients = tenancy::aws::AwsClients::from_config(&moto_sdk_config().await);
    let prefix = TablePrefix::parse(&prefix).unwrap();
    let aws = tenancy::aws::backend(&clients, &prefix, &env.settings.data_plane_principal);
    let plan = provisioner::TenantPlan::new(&prefix, &id, &env.settings.data_plane_principal);
    let key = aws.keys.describe_key(&plan.names.key_alias).await.unwrap();
    assert_eq!(key.state, KeyState::Enabled);
    assert_eq!(key.tags, plan.tags);
    for name in plan.names.tables() {
        let table = aws.tables.describe_table(name).await.unwrap();
        assert_eq!(
            table.spec.sse_key.as_deref(),
            Some(key.arn.as_str()),
            "{name}"
        );
        assert_eq!(table.spec.tags, plan.tags, "{name}");
        // The events table streams new and old images (the outbox); the app table does not.
        assert_eq!(
            table.spec.stream,
            *name == plan.names.events_table,
            "{name}"
        );
    }
    let role = aws.roles.describe_role(&plan.role_name).await.unwrap();
    assert_eq!(role.spec.policy.allowed_tables(), plan.names.tables());
    assert_eq!(
        role.spec.trusted_principal,
        env.settings.data_plane_principal
    );

    let deleted = run(&env, prefix.as_str(), &["destroy", "--tenant", "acme"]);
    assert_eq!(deleted["status"], "deleted", "{deleted}");
    for name in plan.names.tables() {
        let gone = aws.tables.describe_table(name).await.map_err(|e| e.kind());
        assert_eq!(gone.err(), Some(ErrorKind::NotFound), "{name}");
    }
    let role = aws
        .roles
        .describe_role(&plan.role_name)
        .await
        .map_err(|e| e.kind());
    assert_eq!(role.err(), Some(ErrorKind::NotFound));
    let key = aws.keys.describe_key(&key.key_id).await.unwrap();
    assert!(
        matches!(key.state, KeyState::PendingDeletion { .. }),
        "{:?}",
        key.state
    );
}

/// Bootstrap ensures the Cognito user pool and app client once and prints the settings to
/// use; with them, `provisioner admin` invites, lists and removes admins on Cognito, and
/// refuses to mint tokens (admins sign in to Cognito).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_ensures_the_user_pool_and_its_settings_drive_the_admin_commands() {
    let env = TestEnv::new().await;
    let prefix = fresh_prefix("id").as_str().to_owned();
    let boot = run(&env, &prefix, &["bootstrap"]);
    let identity = boot["identity"].clone();
    let pool = identity["SPOTLIGHT_COGNITO_USER_POOL_ID"]
        .as_str()
        .unwrap_or_else(|| panic!("no pool id in {boot}"))
        .to_owned();
    assert_eq!(
        run(&env, &prefix, &["bootstrap"])["identity"],
        identity,
        "a second bootstrap finds the same pool and client"
    );
    assert_eq!(
        identity["SPOTLIGHT_IDENTITY_JWKS_URL"],
        format!("{}/{pool}/.well-known/jwks.json", moto())
    );
    assert_eq!(
        identity["SPOTLIGHT_IDENTITY_ISSUER"],
        format!("https://cognito-idp.us-east-1.amazonaws.com/{pool}")
    );

    // The settings exactly as bootstrap printed them.
    let mut vars: Vec<(String, String)> = aws_env(&prefix)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    for (name, value) in identity.as_object().unwrap() {
        vars.push((name.clone(), value.as_str().unwrap().to_owned()));
    }
    let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let cli = |args: &[&str]| env.cli_with(args, None, &vars);
    let ok = |args: &[&str]| {
        let out = cli(args);
        assert!(
            out.status.success(),
            "provisioner {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).expect("JSON on stdout")
    };
    ok(&["apply", "--tenant", "crew", "--owner-email", "ops@crew.io"]);
    let ann = ok(&[
        "admin",
        "invite",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    assert_eq!(ann["tenant"], "crew");
    let listed = ok(&["admin", "list", "--tenant", "crew"]);
    assert_eq!(listed["admins"][0]["id"], ann["id"], "{listed}");
    let refused = cli(&[
        "admin",
        "token",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Cognito"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(&[
        "admin",
        "remove",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    assert_eq!(
        ok(&["admin", "list", "--tenant", "crew"])["admins"],
        serde_json::json!([])
    );
    ok(&["destroy", "--tenant", "crew"]);
}
