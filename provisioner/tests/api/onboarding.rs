//! Onboarding: ensure steps create or adopt, drift fails the tenant cleanly, the probe leaves
//! nothing behind.

use tenancy::ports::Query;
use tenancy::table_plan::{TableRole, keys};
use tenancy::{JournalPhase, TenantStatus};

use crate::helpers::{TestEnv, phases, tenant};

#[tokio::test]
async fn onboarding_reaches_active_with_one_key_two_tables_and_one_role() {
    let env = TestEnv::new().await;
    let id = tenant("acme");
    let record = env.onboard(&id).await;
    assert!(record.failure.is_none());
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn every_step_journals_intent_before_done_in_plan_order() {
    let env = TestEnv::new().await;
    let id = tenant("journaled");
    env.onboard(&id).await;
    let journal = env.journal(&id).await;
    let run = journal[0].run_id;
    assert!(
        journal.iter().all(|e| e.run_id == run),
        "one run from request to activation"
    );
    let mut expected = vec![
        ("request".to_owned(), JournalPhase::Transition),
        ("begin_provisioning".to_owned(), JournalPhase::Transition),
    ];
    for step in ["key", "app_table", "events_table", "role", "probe"] {
        expected.push((step.to_owned(), JournalPhase::Intent));
        expected.push((step.to_owned(), JournalPhase::Done));
    }
    expected.push(("activate".to_owned(), JournalPhase::Transition));
    assert_eq!(phases(&journal), expected);
    let key_done = journal
        .iter()
        .find(|e| e.step == "key" && e.phase == JournalPhase::Done)
        .unwrap();
    assert!(
        key_done.detail.starts_with("created key"),
        "{}",
        key_done.detail
    );
    assert!(key_done.detail.contains("arn:"), "{}", key_done.detail);
}

#[tokio::test]
async fn provisioning_an_active_tenant_again_changes_nothing() {
    let env = TestEnv::new().await;
    let id = tenant("again");
    let first = env.onboard(&id).await;
    let second = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(second, first);
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn existing_matching_resources_are_adopted_not_duplicated() {
    let env = TestEnv::new().await;
    let id = tenant("adopter");
    let plan = env.provisioner.plan(&id);
    let key = env.backend.keys.create_key(&plan.key).await.unwrap();
    let app = env
        .backend
        .tables
        .create_table(&plan.table_spec(TableRole::App, &key.arn))
        .await
        .unwrap();

    let record = env.onboard(&id).await;
    assert_eq!(record.arns.key_arn.as_deref(), Some(key.arn.as_str()));
    assert_eq!(record.arns.app_table_arn.as_deref(), Some(app.arn.as_str()));
    env.assert_fully_provisioned(&id).await;
    let journal = env.journal(&id).await;
    let done = |step: &str| {
        journal
            .iter()
            .find(|e| e.step == step && e.phase == JournalPhase::Done)
            .unwrap()
            .detail
            .clone()
    };
    assert!(done("key").starts_with("adopted"), "{}", done("key"));
    assert!(
        done("app_table").starts_with("adopted"),
        "{}",
        done("app_table")
    );
    assert!(
        done("events_table").starts_with("created"),
        "{}",
        done("events_table")
    );
}

#[tokio::test]
async fn a_preexisting_table_with_a_different_spec_is_drift_and_the_tenant_fails_leaving_only_that_table()
 {
    let env = TestEnv::new().await;
    let id = tenant("drifted");
    let plan = env.provisioner.plan(&id);
    let record = env
        .provision_over_drift(&id, TableRole::App, |t| t.sort_key = "other".to_owned())
        .await;
    assert_eq!(record.status, TenantStatus::Failed);
    let failure = record.failure.expect("failure recorded");
    assert_eq!(failure.step, "app_table");
    assert!(failure.cause.contains("drift"), "{}", failure.cause);
    assert!(
        failure.cause.contains(&plan.names.app_table),
        "{}",
        failure.cause
    );
    assert!(
        failure.cause.contains("key_schema") && failure.cause.contains("sse_key"),
        "{}",
        failure.cause
    );
    assert_eq!(record.arns, Default::default());
    assert_eq!(record.run_id, None);
    env.assert_none_of_its_own_resources(&id).await;
    let drifted = env
        .backend
        .tables
        .describe_table(&plan.names.app_table)
        .await;
    assert_eq!(
        drifted
            .expect("the drifted table is not the tenant's to remove")
            .spec
            .sort_key,
        "other"
    );

    let journal = env.journal(&id).await;
    let cleanup: Vec<(&str, JournalPhase)> = journal
        .iter()
        .filter(|e| matches!(e.phase, JournalPhase::Undone | JournalPhase::Kept))
        .map(|e| (e.step.as_str(), e.phase))
        .collect();
    assert_eq!(
        cleanup,
        [
            ("role", JournalPhase::Undone),
            ("events_table", JournalPhase::Undone),
            ("app_table", JournalPhase::Kept),
            ("key", JournalPhase::Undone)
        ],
        "rollback runs in reverse step order and keeps the drifted table"
    );
    assert!(
        journal
            .iter()
            .any(|e| e.step == "app_table" && e.phase == JournalPhase::Failed)
    );
}

#[tokio::test]
async fn a_preexisting_role_with_another_policy_is_drift_at_the_role_step() {
    let env = TestEnv::new().await;
    let id = tenant("role-drift");
    let plan = env.provisioner.plan(&id);
    let wrong = plan.role_spec(
        &["arn:aws:dynamodb:local:000000000000:table/elsewhere"],
        "arn:aws:kms:local:000000000000:key/x",
    );
    env.backend.roles.create_role(&wrong).await.unwrap();

    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let record = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(record.status, TenantStatus::Failed);
    let failure = record.failure.unwrap();
    assert_eq!(failure.step, "role");
    assert!(failure.cause.contains("policy"), "{}", failure.cause);
    env.assert_none_of_its_own_resources(&id).await;
    let kept = env.backend.roles.describe_role(&plan.role_name).await;
    assert_eq!(kept.expect("the drifted role is kept").spec, wrong);
}

#[tokio::test]
async fn the_probe_leaves_no_item_in_either_table() {
    let env = TestEnv::new().await;
    let id = tenant("probed");
    env.onboard(&id).await;
    let plan = env.provisioner.plan(&id);
    for table in plan.names.tables() {
        let page = env
            .backend
            .items
            .query(
                table,
                &Query {
                    pk: keys::PROBE.to_owned(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert!(
            page.items.is_empty(),
            "{table} still holds {:?}",
            page.items
        );
    }
}

#[tokio::test]
async fn a_failed_tenant_is_retried_to_active() {
    let env = TestEnv::new().await;
    let id = tenant("comeback");
    let failed = env
        .provision_over_drift(&id, TableRole::Events, |t| t.indexes.clear())
        .await;
    assert_eq!(failed.status, TenantStatus::Failed);
    assert_eq!(failed.failure.as_ref().unwrap().step, "events_table");

    // Rollback kept the drifted table (it is not the tenant's to remove); once an operator
    // removes it, a retry starts from nothing.
    let plan = env.provisioner.plan(&id);
    env.backend
        .tables
        .delete_table(&plan.names.events_table)
        .await
        .unwrap();
    let retried = env.provisioner.retry(&id).await.unwrap();
    assert_eq!(retried.status, TenantStatus::Provisioning);
    assert!(retried.failure.is_none());
    assert!(retried.run_id.is_some());
    assert_ne!(retried.run_id, failed.run_id);
    let active = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(active.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn provisioning_a_failed_tenant_without_retry_is_refused() {
    let env = TestEnv::new().await;
    let id = tenant("no-retry");
    let failed = env
        .provision_over_drift(&id, TableRole::App, |t| t.point_in_time_recovery = false)
        .await;
    assert_eq!(failed.status, TenantStatus::Failed);
    let err = env.provisioner.provision(&id).await.unwrap_err();
    assert!(
        matches!(err, provisioner::Error::IllegalTransition(_)),
        "{err:?}"
    );
}
