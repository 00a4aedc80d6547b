//! Crash tests: the built binary is killed (`abort`, no cleanup) at a failpoint, then `apply`
//! runs again without failpoints and must end with exactly one of each resource.

use tenancy::TenantStatus;

use crate::helpers::{TestEnv, tenant};

/// Aborts a fresh `apply` at `failpoint`, then applies again.
async fn crash_then_apply_again(failpoint: &str) {
    let env = TestEnv::new().await;
    let id = tenant("crashy");
    // A neighbour whose table names start with crashy's: the checks below must not count its
    // resources as crashy's.
    env.onboard(&tenant("crashy-x")).await;
    let crashed = env.cli(
        &[
            "apply",
            "--tenant",
            "crashy",
            "--owner-email",
            "ops@example.com",
        ],
        Some(&format!("{failpoint}=return(abort)")),
    );
    assert!(!crashed.status.success());
    assert_eq!(
        crashed.status.code(),
        None,
        "killed by a signal, not an orderly exit: {crashed:?}"
    );
    let left = env.record(&id).await;
    assert_eq!(
        left.status,
        TenantStatus::Provisioning,
        "the crash left the run in flight"
    );

    let resumed = env.cli(&["apply", "--tenant", "crashy"], None);
    assert!(
        resumed.status.success(),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let record = env.record(&id).await;
    assert_eq!(record.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}

macro_rules! crash_tests {
    ($($name:ident => $failpoint:literal,)*) => {$(
        #[tokio::test]
        async fn $name() {
            crash_then_apply_again($failpoint).await;
        }
    )*};
}

crash_tests! {
    a_crash_before_creating_the_key_resumes_to_exactly_one_of_each => "provision:before:key",
    a_crash_after_creating_the_key_resumes_to_exactly_one_of_each => "provision:after:key",
    a_crash_before_creating_the_app_table_resumes_to_exactly_one_of_each => "provision:before:app_table",
    a_crash_after_creating_the_app_table_resumes_to_exactly_one_of_each => "provision:after:app_table",
    a_crash_before_creating_the_events_table_resumes_to_exactly_one_of_each => "provision:before:events_table",
    a_crash_after_creating_the_events_table_resumes_to_exactly_one_of_each => "provision:after:events_table",
    a_crash_before_creating_the_role_resumes_to_exactly_one_of_each => "provision:before:role",
    a_crash_after_creating_the_role_resumes_to_exactly_one_of_each => "provision:after:role",
    a_crash_before_the_probe_resumes_to_exactly_one_of_each => "provision:before:probe",
    a_crash_after_the_probe_resumes_to_exactly_one_of_each => "provision:after:probe",
}

#[tokio::test]
async fn a_crash_during_rollback_is_finished_on_resume_and_a_later_apply_succeeds() {
    let env = TestEnv::new().await;
    let id = tenant("crash-rollback");
    let crashed = env.cli(
        &[
            "apply",
            "--tenant",
            "crash-rollback",
            "--owner-email",
            "ops@example.com",
        ],
        Some("provision:before:role=return;rollback:after:events_table=return(abort)"),
    );
    assert_eq!(crashed.status.code(), None, "{crashed:?}");
    assert_eq!(env.record(&id).await.status, TenantStatus::Provisioning);

    // The run that takes over (under a fresh run id) carries the crashed run's Failed entry
    // and finishes the rollback instead of re-running the steps.
    let resumed = env.cli(&["apply", "--tenant", "crash-rollback"], None);
    assert_eq!(
        resumed.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&resumed.stderr)
    );
    let stderr = String::from_utf8_lossy(&resumed.stderr);
    assert!(stderr.contains("step role failed"), "{stderr}");
    let failed = env.record(&id).await;
    assert_eq!(failed.status, TenantStatus::Failed);
    assert_eq!(failed.failure.unwrap().step, "role");
    env.assert_no_resources(&id).await;

    // Applying a failed tenant retries it.
    let retried = env.cli(&["apply", "--tenant", "crash-rollback"], None);
    assert!(
        retried.status.success(),
        "{}",
        String::from_utf8_lossy(&retried.stderr)
    );
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn a_crash_during_offboarding_is_finished_by_destroying_again() {
    let env = TestEnv::new().await;
    let id = tenant("crash-leaver");
    env.onboard(&id).await;
    let crashed = env.cli(
        &["destroy", "--tenant", "crash-leaver"],
        Some("offboard:after:events_table=return(abort)"),
    );
    assert_eq!(crashed.status.code(), None, "{crashed:?}");
    assert_eq!(env.record(&id).await.status, TenantStatus::Deprovisioning);

    let again = env.cli(&["destroy", "--tenant", "crash-leaver"], None);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    assert_eq!(env.record(&id).await.status, TenantStatus::Deleted);
    env.assert_no_resources(&id).await;
}
