//! The `provisioner` binary: JSON out, clear errors, non-zero exit on failure.

use serde_json::Value;
use tenancy::TenantStatus;
use tenancy::table_plan::TableRole;

use crate::helpers::{PREFIX, TestEnv, tenant};

fn json(stdout: &[u8]) -> Value {
    serde_json::from_slice(stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}",
            String::from_utf8_lossy(stdout)
        )
    })
}

#[tokio::test]
async fn plan_prints_the_resource_plan_as_json_and_creates_nothing() {
    let env = TestEnv::new().await;
    let out = env.cli(&["plan", "--tenant", "planned"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan = json(&out.stdout);
    assert_eq!(
        plan["names"]["app_table"],
        format!("{PREFIX}_tenant-planned-app")
    );
    assert_eq!(
        plan["key"]["alias"],
        format!("alias/{PREFIX}_tenant-planned")
    );
    assert_eq!(plan["tags"]["spotlight:tenant"], "planned");
    assert!(
        env.backend
            .registry
            .get_tenant(&tenant("planned"))
            .await
            .is_err()
    );
    env.assert_no_resources(&tenant("planned")).await;
}

#[tokio::test]
async fn apply_requests_and_provisions_a_new_tenant_and_prints_the_active_record() {
    let env = TestEnv::new().await;
    let out = env.cli(
        &[
            "apply",
            "--tenant",
            "cli-made",
            "--name",
            "CLI Made",
            "--owner-email",
            "ops@example.com",
            "--tier",
            "enterprise",
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(&out.stdout);
    assert_eq!(record["status"], "active");
    assert_eq!(record["tier"], "enterprise");
    assert_eq!(record["name"], "CLI Made");
    env.assert_fully_provisioned(&tenant("cli-made")).await;

    let again = env.cli(&["apply", "--tenant", "cli-made"], None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        json(&again.stdout),
        record,
        "applying an active tenant changes nothing"
    );
}

#[tokio::test]
async fn apply_for_an_unknown_tenant_without_an_owner_email_fails_and_says_why() {
    let env = TestEnv::new().await;
    let out = env.cli(&["apply", "--tenant", "anonymous"], None);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--owner-email is required"), "{stderr}");
    assert!(
        env.backend
            .registry
            .get_tenant(&tenant("anonymous"))
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_invalid_tenant_id_is_rejected_before_anything_runs() {
    let env = TestEnv::new().await;
    let out = env.cli(
        &[
            "apply",
            "--tenant",
            "Not_Valid",
            "--owner-email",
            "ops@example.com",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(2), "clap usage error");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("lowercase"), "{stderr}");
}

#[tokio::test]
async fn destroy_offboards_and_status_shows_the_tombstone_with_its_journal() {
    let env = TestEnv::new().await;
    let id = tenant("cli-gone");
    env.onboard(&id).await;
    let out = env.cli(&["destroy", "--tenant", "cli-gone"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(json(&out.stdout)["status"], "deleted");
    env.assert_no_resources(&id).await;

    let out = env.cli(&["status", "--tenant", "cli-gone", "--journal", "3"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = json(&out.stdout);
    assert_eq!(report["record"]["status"], "deleted");
    let journal = report["journal"].as_array().unwrap();
    assert_eq!(journal.len(), 3);
    assert_eq!(journal[2]["step"], "finish_offboarding");
}

#[tokio::test]
async fn status_of_an_unknown_tenant_exits_non_zero() {
    let env = TestEnv::new().await;
    let out = env.cli(&["status", "--tenant", "nobody"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nobody"));
}

#[tokio::test]
async fn another_deployment_cannot_act_on_this_deployments_data_directory() {
    let env = TestEnv::new().await;
    env.onboard(&tenant("xyz")).await;
    // The prefixes whose names used to collide: `a` + `tenant-xyz` and `a-tenant` + `xyz`.
    for other in [format!("{PREFIX}-tenant"), String::new(), "a".to_owned()] {
        let out = env.cli_as(&other, &["destroy", "--tenant", "xyz"], None);
        assert!(!out.status.success(), "prefix {other:?} was let in");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("belongs to the deployment with prefix"),
            "{stderr}"
        );
    }
    env.assert_fully_provisioned(&tenant("xyz")).await;
}

#[tokio::test]
async fn a_numeric_setting_out_of_its_bounds_stops_the_cli_naming_the_setting() {
    let env = TestEnv::new().await;
    for (variable, value, bounds) in [
        (
            "SPOTLIGHT_KEY_DELETION_WINDOW_DAYS",
            "18446744073709551615",
            "from 0 to 30",
        ),
        ("SPOTLIGHT_KEY_DELETION_WINDOW_DAYS", "-1", "from 0 to 30"),
        ("SPOTLIGHT_OPEN_TENANT_FILES", "0", "from 1 to 100000"),
    ] {
        let out = env.cli_with(
            &["status", "--tenant", "nobody"],
            None,
            &[(variable, value)],
        );
        assert_eq!(out.status.code(), Some(1), "{variable}={value}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(variable), "{stderr}");
        assert!(stderr.contains(bounds), "{stderr}");
        assert!(stderr.contains(value), "{stderr}");
    }
}

#[tokio::test]
async fn reconcile_all_drives_a_tenant_a_dead_process_left_provisioning_to_active() {
    let env = TestEnv::new().await;
    let id = tenant("cli-orphan");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    env.leave_provisioning(&id).await;

    // Within the run lease (here from the control plane's variable) the tenant may still be
    // another process's: left alone.
    let out = env.cli_with(
        &["reconcile"],
        None,
        &[("SPOTLIGHT_RUN_LEASE_SECS", "3600")],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({ "resumed": [], "keys_destroyed": 0 })
    );
    assert_eq!(env.record(&id).await.status, TenantStatus::Provisioning);

    let out = env.cli(&["reconcile", "--all"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        json(&out.stdout),
        serde_json::json!({
            "resumed": [{
                "tenant": "cli-orphan",
                "run": "provision",
                "from": "provisioning",
                "ended": "active",
            }],
            "keys_destroyed": 0,
        })
    );
    env.assert_fully_provisioned(&id).await;

    let again = env.cli(&["reconcile", "--all"], None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(
        json(&again.stdout),
        serde_json::json!({ "resumed": [], "keys_destroyed": 0 }),
        "a second pass finds nothing to do"
    );
}

#[tokio::test]
async fn reconcile_exits_non_zero_when_a_resumed_run_ends_failed_and_prints_why() {
    let env = TestEnv::new().await;
    let id = tenant("cli-drift");
    // A table under the tenant's planned name that differs from the plan: the run meets drift.
    let mut odd = env
        .provisioner
        .plan(&id)
        .table_spec(TableRole::App, "unused");
    odd.sse_key = None;
    odd.sort_key = "other".to_owned();
    env.backend.tables.create_table(&odd).await.unwrap();
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();

    let out = env.cli(&["reconcile", "--all", "--timeout-secs", "120"], None);
    assert_eq!(out.status.code(), Some(1));
    let summary = json(&out.stdout);
    let run = &summary["resumed"][0];
    assert_eq!(run["tenant"], "cli-drift", "{summary}");
    assert_eq!(run["ended"], "failed", "{summary}");
    assert!(run["failure"]["step"].is_string(), "{summary}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tenant cli-drift is failed"), "{stderr}");
    assert_eq!(env.record(&id).await.status, TenantStatus::Failed);
}

#[tokio::test]
async fn reconcile_refuses_a_lease_outside_its_bounds() {
    let env = TestEnv::new().await;
    for lease in ["4", "86401", "soon"] {
        let out = env.cli(&["reconcile", "--lease-secs", lease], None);
        assert_eq!(out.status.code(), Some(2), "clap usage error for {lease}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("--lease-secs"), "{stderr}");
    }
}

/// `provisioner admin …` on the embedded backend: invite, list, mint a token that the
/// backend verifies, remove; refusals exit non-zero and say why.
#[tokio::test]
async fn admin_commands_invite_list_mint_and_remove_a_tenant_admin() {
    let env = TestEnv::new().await;
    let ok = |args: &[&str]| {
        let out = env.cli(args, None);
        assert!(
            out.status.success(),
            "provisioner {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        json(&out.stdout)
    };
    let refused = |args: &[&str]| {
        let out = env.cli(args, None);
        assert!(!out.status.success(), "provisioner {args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let stderr = refused(&[
        "admin",
        "invite",
        "--tenant",
        "crew",
        "--email",
        "a@crew.io",
    ]);
    assert!(stderr.contains("crew"), "{stderr}");
    ok(&["apply", "--tenant", "crew", "--owner-email", "ops@crew.io"]);
    let stderr = refused(&["admin", "invite", "--tenant", "crew", "--email", "nope"]);
    assert!(stderr.contains("email"), "{stderr}");

    let ann = ok(&[
        "admin",
        "invite",
        "--tenant",
        "crew",
        "--email",
        "Ann@Crew.io",
    ]);
    assert_eq!(ann["email"], "ann@crew.io");
    assert_eq!(ann["tenant"], "crew");
    let listed = ok(&["admin", "list", "--tenant", "crew"]);
    assert_eq!(listed["admins"].as_array().unwrap().len(), 1, "{listed}");
    let minted = ok(&[
        "admin",
        "token",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    let verified = env
        .backend
        .identity
        .verify_token(minted["token"].as_str().unwrap())
        .await
        .expect("the minted token verifies");
    assert_eq!(verified.tenant.as_str(), "crew");
    assert_eq!(verified.subject.as_str(), ann["id"]);

    let removed = ok(&[
        "admin",
        "remove",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    assert_eq!(removed["id"], ann["id"]);
    assert_eq!(
        ok(&["admin", "list", "--tenant", "crew"])["admins"],
        serde_json::json!([])
    );
    let stderr = refused(&[
        "admin",
        "token",
        "--tenant",
        "crew",
        "--email",
        "ann@crew.io",
    ]);
    assert!(stderr.contains("no admin"), "{stderr}");
}
