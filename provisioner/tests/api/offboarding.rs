//! Offboarding: resources removed, key disabled (crypto-shredding), API keys revoked,
//! tombstone kept; idempotent and resumable.

use tenancy::ports::KeyState;
use tenancy::table_plan::TableRole;
use tenancy::{ApiKeyKind, ApiKeyRecord, ErrorKind, TenantStatus};
use time::OffsetDateTime;

use crate::helpers::{TestEnv, tenant};

#[tokio::test]
async fn offboarding_removes_tables_and_role_and_the_tenants_data_can_no_longer_be_decrypted() {
    let env = TestEnv::new().await;
    let id = tenant("leaver");
    let active = env.onboard(&id).await;
    let key_id = active.arns.key_id.clone().unwrap();
    let tenant_file = env
        .settings
        .data_dir
        .join("tables")
        .join(format!("{id}.db"));
    assert!(
        tenant_file.exists(),
        "the tenant's tables live in {tenant_file:?}"
    );
    let secret = env
        .backend
        .keys
        .encrypt(&key_id, b"tenant data", b"aad")
        .await
        .unwrap();
    assert_eq!(
        env.backend
            .keys
            .decrypt(&key_id, &secret, b"aad")
            .await
            .unwrap(),
        b"tenant data"
    );

    let deleted = env.provisioner.offboard(&id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    assert_eq!(
        deleted.arns,
        Default::default(),
        "a tombstone keeps no ARNs"
    );
    assert_eq!(deleted.run_id, None);
    env.assert_no_resources(&id).await;
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", tenant_file.display());
        assert!(
            !std::path::Path::new(&file).exists(),
            "{file} outlived offboarding"
        );
    }

    let key = env.backend.keys.describe_key(&key_id).await.unwrap();
    assert!(
        matches!(key.state, KeyState::PendingDeletion { .. }),
        "{:?}",
        key.state
    );
    let err = env
        .backend
        .keys
        .decrypt(&key_id, &secret, b"aad")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AccessDenied);
}

#[tokio::test]
async fn offboarding_twice_returns_the_same_tombstone() {
    let env = TestEnv::new().await;
    let id = tenant("twice");
    env.onboard(&id).await;
    let first = env.provisioner.offboard(&id).await.unwrap();
    let second = env.provisioner.offboard(&id).await.unwrap();
    assert_eq!(second, first);
    env.assert_no_resources(&id).await;
}

#[tokio::test]
async fn a_deleted_tenants_id_can_be_neither_requested_nor_provisioned_again() {
    let env = TestEnv::new().await;
    let id = tenant("gone");
    env.onboard(&id).await;
    env.provisioner.offboard(&id).await.unwrap();
    let err = env
        .provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, provisioner::Error::Port(e) if e.kind() == ErrorKind::AlreadyExists),
        "{err:?}"
    );
    let err = env.provisioner.provision(&id).await.unwrap_err();
    assert!(
        matches!(err, provisioner::Error::IllegalTransition(_)),
        "{err:?}"
    );
    env.assert_no_resources(&id).await;
}

#[tokio::test]
async fn offboarding_a_failed_tenant_leaves_a_tombstone() {
    let env = TestEnv::new().await;
    let id = tenant("failed-leaver");
    let failed = env
        .provision_over_drift(&id, TableRole::App, |t| t.ttl_attribute = None)
        .await;
    assert_eq!(failed.status, TenantStatus::Failed);

    let deleted = env.provisioner.offboard(&id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    assert!(deleted.failure.is_none());
    env.assert_none_of_its_own_resources(&id).await;
    let plan = env.provisioner.plan(&id);
    let drifted = env
        .backend
        .tables
        .describe_table(&plan.names.app_table)
        .await;
    assert!(
        drifted.is_ok(),
        "the drifted table is not the tenant's to remove"
    );
}

#[tokio::test]
async fn offboarding_a_tenant_that_was_never_provisioned_tolerates_the_missing_resources() {
    let env = TestEnv::new().await;
    let id = tenant("never-ran");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let deleted = env.provisioner.offboard(&id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    let journal = env.journal(&id).await;
    let role = journal.iter().find(|e| e.step == "role").unwrap();
    assert!(role.detail.contains("absent"), "{}", role.detail);
}

#[tokio::test]
async fn offboarding_revokes_every_api_key_of_the_tenant() {
    let env = TestEnv::new().await;
    let id = tenant("keyed");
    env.onboard(&id).await;
    let now = OffsetDateTime::now_utc();
    for (i, kind) in [ApiKeyKind::Publishable, ApiKeyKind::Secret]
        .into_iter()
        .enumerate()
    {
        let key = ApiKeyRecord {
            key_id: format!("key_test{i}"),
            tenant: id.clone(),
            kind,
            prefix: format!("sp_{i}"),
            hash: format!("{i:064}"),
            created_at: now,
            expires_at: None,
            revoked_at: None,
            last_used_at: None,
            created_by_request: None,
        };
        env.backend.registry.put_api_key(&key).await.unwrap();
    }
    env.provisioner.offboard(&id).await.unwrap();
    let keys = env.backend.registry.list_api_keys(&id).await.unwrap();
    assert_eq!(keys.len(), 2);
    assert!(keys.iter().all(|k| k.revoked_at.is_some()), "{keys:#?}");
}

#[tokio::test]
async fn an_interrupted_offboarding_is_finished_by_offboarding_again() {
    let env = TestEnv::new().await;
    let id = tenant("half-gone");
    env.onboard(&id).await;
    // A run that began offboarding and died before its cleanup.
    let begun = env.provisioner.begin_offboarding(&id).await.unwrap();
    assert_eq!(begun.status, TenantStatus::Deprovisioning);

    let deleted = env.provisioner.offboard(&id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    env.assert_no_resources(&id).await;
    let journal = env.journal(&id).await;
    let finish = journal
        .iter()
        .find(|e| e.step == "finish_offboarding")
        .unwrap();
    assert_eq!(
        Some(finish.run_id),
        begun.run_id,
        "the existing offboarding run was continued"
    );
}

#[tokio::test]
async fn offboarding_removes_the_tenants_admins_and_no_one_elses() {
    use tenancy::ports::{AdminEmail, AdminRef};
    let env = TestEnv::new().await;
    let (leaver, stayer) = (tenant("leaver"), tenant("stayer"));
    env.onboard(&leaver).await;
    env.onboard(&stayer).await;
    let identity = &env.backend.identity;
    let ann = AdminEmail::parse("ann@leaver.io").unwrap();
    let bob = AdminEmail::parse("bob@stayer.io").unwrap();
    identity.invite_admin(&leaver, &ann).await.unwrap();
    identity.invite_admin(&stayer, &bob).await.unwrap();
    let token = identity
        .mint_token(&leaver, &AdminRef::Email(ann.clone()))
        .await
        .unwrap();

    env.provisioner.offboard(&leaver).await.unwrap();

    assert_eq!(identity.list_admins(&leaver).await.unwrap(), Vec::new());
    // A token issued before offboarding no longer verifies: its admin is gone.
    let refused = identity
        .verify_token(&token.token)
        .await
        .map_err(|e| e.kind());
    assert_eq!(refused.err(), Some(ErrorKind::AccessDenied));
    let kept = identity.list_admins(&stayer).await.unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].email, bob);
    let journal = env.provisioner.status(&leaver, 50).await.unwrap().journal;
    assert!(
        journal
            .iter()
            .any(|e| e.step == "admins" && e.detail == "tenant admins removed: 1"),
        "{journal:#?}"
    );
}
