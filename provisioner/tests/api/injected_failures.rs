//! Failures injected in-process at each step: rollback to zero resources, `Failed` naming the
//! step, and a retry that reaches `Active` once the failure is gone.

use std::sync::{Arc, Mutex};

use tenancy::{JournalPhase, TenantId, TenantStatus};

use crate::helpers::{TestEnv, tenant};

/// Fails `provision:{when}:{step}`, checks the rollback, removes the failpoint and retries.
async fn fail_then_retry(when: &str, step: &str) {
    let env = TestEnv::new().await;
    let id = tenant("injected");
    let failpoint = format!("provision:{when}:{step}");
    fail::cfg(failpoint.clone(), "return").unwrap();

    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let failed = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(failed.status, TenantStatus::Failed);
    let failure = failed.failure.clone().expect("failure recorded");
    assert_eq!(failure.step, step);
    assert_eq!(failure.cause, format!("injected failure at {failpoint}"));
    env.assert_no_resources(&id).await;
    let journal = env.journal(&id).await;
    assert!(
        journal
            .iter()
            .any(|e| e.step == step && e.phase == JournalPhase::Failed)
    );
    assert_eq!(
        journal
            .iter()
            .filter(|e| e.phase == JournalPhase::Undone)
            .count(),
        4
    );

    fail::remove(&failpoint);
    env.provisioner.retry(&id).await.unwrap();
    let active = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(active.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}

macro_rules! injected_failure_tests {
    ($($name:ident => ($when:literal, $step:literal),)*) => {$(
        #[tokio::test]
        async fn $name() {
            fail_then_retry($when, $step).await;
        }
    )*};
}

injected_failure_tests! {
    a_failure_before_the_key_rolls_back_to_nothing_and_a_retry_succeeds => ("before", "key"),
    a_failure_after_the_key_rolls_back_to_nothing_and_a_retry_succeeds => ("after", "key"),
    a_failure_before_the_app_table_rolls_back_to_nothing_and_a_retry_succeeds => ("before", "app_table"),
    a_failure_after_the_app_table_rolls_back_to_nothing_and_a_retry_succeeds => ("after", "app_table"),
    a_failure_before_the_events_table_rolls_back_to_nothing_and_a_retry_succeeds => ("before", "events_table"),
    a_failure_after_the_events_table_rolls_back_to_nothing_and_a_retry_succeeds => ("after", "events_table"),
    a_failure_before_the_role_rolls_back_to_nothing_and_a_retry_succeeds => ("before", "role"),
    a_failure_after_the_role_rolls_back_to_nothing_and_a_retry_succeeds => ("after", "role"),
    a_failure_before_the_probe_rolls_back_to_nothing_and_a_retry_succeeds => ("before", "probe"),
    a_failure_after_the_probe_rolls_back_to_nothing_and_a_retry_succeeds => ("after", "probe"),
}

/// Provisions a new tenant while, at `failpoint`, another caller offboards it to the end.
/// Returns the provisioning run's error.
async fn provision_while_offboarding_at(
    env: &TestEnv,
    id: &TenantId,
    failpoint: &str,
) -> provisioner::Error {
    env.provisioner
        .request(TestEnv::new_tenant(id))
        .await
        .unwrap();
    let offboarder = env.provisioner.clone();
    let target = id.clone();
    let offboarded = Arc::new(Mutex::new(None));
    let result = offboarded.clone();
    fail::cfg_callback(failpoint, move || {
        let provisioner = offboarder.clone();
        let target = target.clone();
        let record = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(provisioner.offboard(&target))
        })
        .join()
        .unwrap();
        *result.lock().unwrap() = Some(record.map(|r| r.status));
    })
    .unwrap();

    let err = env.provisioner.provision(id).await.unwrap_err();
    assert_eq!(
        offboarded
            .lock()
            .unwrap()
            .take()
            .expect("offboarding ran")
            .unwrap(),
        TenantStatus::Deleted
    );
    assert_eq!(env.record(id).await.status, TenantStatus::Deleted);
    err
}

#[tokio::test]
async fn offboarding_mid_run_supersedes_the_provisioning_run_which_stops_without_further_steps() {
    let env = TestEnv::new().await;
    let id = tenant("overtaken");
    let err = provision_while_offboarding_at(&env, &id, "provision:after:app_table").await;
    assert!(
        matches!(err, provisioner::Error::Superseded { .. }),
        "{err:?}"
    );
    env.assert_no_resources(&id).await;
    let journal = env.journal(&id).await;
    assert!(
        !journal
            .iter()
            .any(|e| e.step == "events_table" && e.phase == JournalPhase::Intent),
        "the superseded run must not start another step"
    );
}

#[tokio::test]
async fn a_resource_created_just_after_offboarding_finished_is_removed_by_the_superseded_run() {
    let env = TestEnv::new().await;
    let id = tenant("late-key");
    // Offboarding runs to the end after the run checked it still owns the tenant but before
    // it creates the key: offboarding's cleanup cannot have seen that key.
    let err = provision_while_offboarding_at(&env, &id, "provision:before:key").await;
    assert!(
        matches!(err, provisioner::Error::Superseded { .. }),
        "{err:?}"
    );
    env.assert_no_resources(&id).await;
}

#[tokio::test]
async fn a_step_broken_by_offboarding_stops_as_superseded_without_journaling_a_failure() {
    let env = TestEnv::new().await;
    let id = tenant("broken-under");
    // Offboarding disables the key before the events table is created with it, so that step
    // fails — because the run lost the tenant, not because provisioning went wrong.
    let err = provision_while_offboarding_at(&env, &id, "provision:before:events_table").await;
    assert!(
        matches!(err, provisioner::Error::Superseded { .. }),
        "{err:?}"
    );
    env.assert_no_resources(&id).await;
    let journal = env.journal(&id).await;
    assert!(
        !journal.iter().any(|e| e.phase == JournalPhase::Failed),
        "{journal:#?}"
    );
}
