//! Quota admission in `request`, and through it the CLI: a tenant whose resources would
//! exceed an account quota is refused before anything is written or created, and a tenant
//! offboarded to its tombstone no longer counts.

use provisioner::config::{Bounded, Settings};
use provisioner::quota::QuotaResource;
use provisioner::{Error, Provisioner};
use tenancy::ErrorKind;

use crate::helpers::{TestEnv, tenant};

/// `env`'s provisioner, held to a quota of `roles` IAM roles.
fn with_role_quota(env: &TestEnv, roles: u64) -> Provisioner {
    let settings = Settings {
        quota_roles: Bounded::new(roles).unwrap(),
        ..env.settings.clone()
    };
    Provisioner::new(env.backend.clone(), settings)
}

#[tokio::test]
async fn a_tenant_past_the_role_quota_is_refused_before_any_record_or_resource() {
    let env = TestEnv::new().await;
    env.onboard(&tenant("one")).await;
    env.onboard(&tenant("two")).await;
    let held = with_role_quota(&env, 2);

    let refused = held
        .request(TestEnv::new_tenant(&tenant("three")))
        .await
        .unwrap_err();
    let Error::QuotaExceeded(quota) = &refused else {
        panic!("not a quota refusal: {refused:?}");
    };
    assert_eq!(quota.resource, QuotaResource::Roles);
    assert_eq!((quota.quota, quota.in_use, quota.needed), (2, 2, 1));
    assert_eq!(quota.live_tenants, 2);
    let message = refused.to_string();
    assert!(message.contains("three"), "{message}");
    assert!(message.contains("SPOTLIGHT_QUOTA_ROLES"), "{message}");

    let missing = env.backend.registry.get_tenant(&tenant("three")).await;
    assert_eq!(
        missing.map_err(|e| e.kind()).err(),
        Some(ErrorKind::NotFound)
    );
    env.assert_no_resources(&tenant("three")).await;
    // One more role of quota admits it.
    with_role_quota(&env, 3)
        .request(TestEnv::new_tenant(&tenant("three")))
        .await
        .expect("admitted under a larger quota");
}

#[tokio::test]
async fn an_offboarded_tenant_no_longer_counts_against_the_quota() {
    let env = TestEnv::new().await;
    env.onboard(&tenant("leaving")).await;
    let held = with_role_quota(&env, 1);
    assert!(matches!(
        held.request(TestEnv::new_tenant(&tenant("next"))).await,
        Err(Error::QuotaExceeded(_))
    ));
    let gone = env.provisioner.offboard(&tenant("leaving")).await.unwrap();
    assert_eq!(gone.status, tenancy::TenantStatus::Deleted);
    held.request(TestEnv::new_tenant(&tenant("next")))
        .await
        .expect("the tombstone holds no role");
}

#[tokio::test]
async fn the_cli_refuses_a_tenant_past_the_table_quota_and_creates_nothing() {
    let env = TestEnv::new().await;
    env.onboard(&tenant("present")).await;
    // The registry table and the present tenant's two tables fill a quota of three.
    let out = env.cli_with(
        &[
            "apply",
            "--tenant",
            "refused",
            "--owner-email",
            "ops@example.com",
        ],
        None,
        &[("SPOTLIGHT_QUOTA_TABLES", "3")],
    );
    assert!(
        !out.status.success(),
        "the CLI admitted a tenant past its quota"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused was not admitted"), "{stderr}");
    assert!(stderr.contains("SPOTLIGHT_QUOTA_TABLES"), "{stderr}");
    let missing = env.backend.registry.get_tenant(&tenant("refused")).await;
    assert_eq!(
        missing.map_err(|e| e.kind()).err(),
        Some(ErrorKind::NotFound)
    );
    env.assert_no_resources(&tenant("refused")).await;

    let admitted = env.cli_with(
        &[
            "apply",
            "--tenant",
            "refused",
            "--owner-email",
            "ops@example.com",
        ],
        None,
        &[("SPOTLIGHT_QUOTA_TABLES", "5")],
    );
    assert!(
        admitted.status.success(),
        "{}",
        String::from_utf8_lossy(&admitted.stderr)
    );
    env.assert_fully_provisioned(&tenant("refused")).await;
}
