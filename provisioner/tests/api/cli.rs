//! The `provisioner` binary: JSON out, clear errors, non-zero exit on failure.

use serde_json::Value;

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
