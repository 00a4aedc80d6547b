//! The ownership rule: a drifted resource under a tenant's planned name — another deployment's,
//! an operator's, or ours changed behind our back — survives that tenant's failed onboarding,
//! its retry and its offboarding; only what is the tenant's own is removed.

use tenancy::naming::{TAG_MANAGED_BY, Tags};
use tenancy::ports::{KeySpec, KeyState, RoleSpec};
use tenancy::table_plan::{TableRole, TableSpec};
use tenancy::{JournalPhase, TenantId, TenantStatus};

use crate::helpers::{TestEnv, tenant};

/// Tags of the same tenant id under another deployment.
fn other_deployments_tags(env: &TestEnv, id: &TenantId) -> Tags {
    let mut tags = env.provisioner.plan(id).tags;
    tags.insert(TAG_MANAGED_BY.to_owned(), "other".to_owned());
    tags
}

/// Fails onboarding, retries it (failing again: the drift is still there), then offboards;
/// after each, `survives` checks the planted resource is as planted, and the tenant's own
/// resources are gone. Returns the journal.
async fn fail_retry_and_offboard(
    env: &TestEnv,
    id: &TenantId,
    drift_step: &str,
    survives: impl AsyncFn(&TestEnv),
) -> Vec<tenancy::JournalEntry> {
    env.provisioner
        .request(TestEnv::new_tenant(id))
        .await
        .unwrap();
    let failed = env.provisioner.provision(id).await.unwrap();
    assert_eq!(failed.status, TenantStatus::Failed, "{failed:#?}");
    let failure = failed.failure.as_ref().unwrap();
    assert_eq!(failure.step, drift_step, "{failure:?}");
    assert!(failure.cause.contains("drift"), "{}", failure.cause);
    survives(env).await;
    env.assert_none_of_its_own_resources(id).await;

    env.provisioner.retry(id).await.unwrap();
    let again = env.provisioner.provision(id).await.unwrap();
    assert_eq!(
        again.status,
        TenantStatus::Failed,
        "the drift is still there"
    );
    assert_eq!(again.failure.as_ref().unwrap().step, drift_step);
    survives(env).await;
    env.assert_none_of_its_own_resources(id).await;

    let deleted = env.provisioner.offboard(id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    survives(env).await;
    env.assert_none_of_its_own_resources(id).await;

    let journal = env.journal(id).await;
    let kept: Vec<_> = journal
        .iter()
        .filter(|e| e.phase == JournalPhase::Kept)
        .collect();
    assert_eq!(
        kept.len(),
        3,
        "both rollbacks and the offboarding report the kept resource: {kept:#?}"
    );
    assert!(kept.iter().all(|e| e.step == drift_step), "{kept:#?}");
    assert!(
        kept.iter()
            .all(|e| e.detail.contains("not this tenant's to remove")),
        "{kept:#?}"
    );
    journal
}

#[tokio::test]
async fn a_planted_role_trusting_another_principal_survives_onboarding_retry_and_offboarding() {
    let env = TestEnv::new().await;
    let id = tenant("planted-role");
    let plan = env.provisioner.plan(&id);
    // Tagged exactly as the tenant's would be: only the trust differs.
    let planted = RoleSpec {
        trusted_principal: "arn:aws:iam::000000000000:role/someone-else".to_owned(),
        ..plan.role_spec(
            &[
                "arn:aws:dynamodb:local:000000000000:table/x",
                "arn:aws:dynamodb:local:000000000000:table/y",
            ],
            "arn:aws:kms:local:000000000000:key/k",
        )
    };
    env.backend.roles.create_role(&planted).await.unwrap();

    let journal = fail_retry_and_offboard(&env, &id, "role", async |env: &TestEnv| {
        let role = env.backend.roles.describe_role(&planted.name).await;
        assert_eq!(role.expect("the planted role survives").spec, planted);
    })
    .await;
    let kept = journal
        .iter()
        .find(|e| e.phase == JournalPhase::Kept)
        .unwrap();
    assert!(kept.detail.contains("someone-else"), "{}", kept.detail);
}

#[tokio::test]
async fn another_deployments_table_under_a_planned_name_survives_with_its_items() {
    let env = TestEnv::new().await;
    let id = tenant("shared-name");
    let plan = env.provisioner.plan(&id);
    let mut theirs = plan.table_spec(TableRole::App, "unused");
    theirs.sse_key = None;
    theirs.tags = other_deployments_tags(&env, &id);
    env.backend.tables.create_table(&theirs).await.unwrap();
    let item = tenancy::ports::Item::new(tenancy::ports::ItemKey::new("theirs", "data"));
    env.backend
        .items
        .put(&theirs.name, &item, Default::default())
        .await
        .unwrap();

    let journal = fail_retry_and_offboard(&env, &id, "app_table", async |env: &TestEnv| {
        let table = env.backend.tables.describe_table(&theirs.name).await;
        assert_eq!(table.expect("their table survives").spec, theirs);
        let read = env.backend.items.get(&theirs.name, &item.key).await;
        assert!(read.unwrap().is_some(), "with its data");
    })
    .await;
    let kept = journal
        .iter()
        .find(|e| e.phase == JournalPhase::Kept)
        .unwrap();
    assert!(
        kept.detail.contains("spotlight:managed-by"),
        "{}",
        kept.detail
    );
}

#[tokio::test]
async fn a_foreign_key_under_the_tenants_alias_is_never_scheduled_for_deletion() {
    let env = TestEnv::new().await;
    let id = tenant("planted-key");
    let plan = env.provisioner.plan(&id);
    let theirs = KeySpec {
        tags: other_deployments_tags(&env, &id),
        ..plan.key.clone()
    };
    let planted = env.backend.keys.create_key(&theirs).await.unwrap();

    let journal = fail_retry_and_offboard(&env, &id, "key", async |env: &TestEnv| {
        let key = env
            .backend
            .keys
            .describe_key(&planted.key_id)
            .await
            .unwrap();
        assert_eq!(key.state, KeyState::Enabled, "their key is still usable");
        assert_eq!(key.alias.as_deref(), Some(plan.key.alias.as_str()));
    })
    .await;
    // Drift at the first step: no later step ran, and no rollback touched any other name.
    assert!(
        !journal
            .iter()
            .any(|e| e.step == "app_table" && e.phase == JournalPhase::Intent),
        "no step after the drifted one ran"
    );
}

#[tokio::test]
async fn a_table_of_the_tenants_shape_encrypted_under_a_foreign_key_is_kept() {
    let env = TestEnv::new().await;
    let id = tenant("foreign-sse");
    let plan = env.provisioner.plan(&id);
    let foreign_key = env
        .backend
        .keys
        .create_key(&KeySpec {
            alias: "alias/someone-elses-key".to_owned(),
            description: "not Spotlight's".to_owned(),
            tags: Tags::new(),
        })
        .await
        .unwrap();
    // The tenant's tags and table shape, but another key: an ensure would not adopt it.
    let lookalike: TableSpec = plan.table_spec(TableRole::Events, &foreign_key.arn);
    env.backend.tables.create_table(&lookalike).await.unwrap();

    let journal = fail_retry_and_offboard(&env, &id, "events_table", async |env: &TestEnv| {
        let table = env.backend.tables.describe_table(&lookalike.name).await;
        assert_eq!(table.expect("the lookalike survives").spec, lookalike);
        let key = env.backend.keys.describe_key(&foreign_key.key_id).await;
        assert_eq!(key.unwrap().state, KeyState::Enabled);
    })
    .await;
    let kept = journal
        .iter()
        .find(|e| e.phase == JournalPhase::Kept)
        .unwrap();
    assert!(kept.detail.contains("its key"), "{}", kept.detail);
}

#[tokio::test]
async fn once_an_operator_removes_the_drifted_resource_a_retry_succeeds() {
    let env = TestEnv::new().await;
    let id = tenant("cleared");
    let plan = env.provisioner.plan(&id);
    let mut odd = plan.table_spec(TableRole::App, "unused");
    odd.sse_key = None;
    odd.ttl_attribute = None;
    env.backend.tables.create_table(&odd).await.unwrap();
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let failed = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(failed.status, TenantStatus::Failed);

    env.backend.tables.delete_table(&odd.name).await.unwrap();
    env.provisioner.retry(&id).await.unwrap();
    let active = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(active.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}
