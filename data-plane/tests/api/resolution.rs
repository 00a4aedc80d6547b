//! What the status gate and the key's state answer.

use reqwest::Method;
use tenancy::TenantStatus;

use crate::helpers::{Backend, TestApp, error_code, on_both_backends};

const PAGE: &str = "/v1/sdk/content?url=https://app.example.com/";

async fn set_status(app: &TestApp, id: &tenancy::TenantId, status: TenantStatus) {
    let registry = &app.state.backend.registry;
    let mut record = registry.get_tenant(id).await.unwrap();
    record.status = status;
    registry.update_tenant(&record, &[]).await.unwrap();
}

async fn suspended_is_403_provisioning_is_503_with_retry_after_and_failed_is_503(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    for (name, status, code, answer) in [
        ("sus", TenantStatus::Suspended, "tenant_suspended", 403),
        (
            "pro",
            TenantStatus::Provisioning,
            "tenant_provisioning",
            503,
        ),
        ("fai", TenantStatus::Failed, "tenant_failed", 503),
        ("off", TenantStatus::Deprovisioning, "unauthorized", 401),
    ] {
        let tenant = app.tenant(name).await;
        set_status(&app, &tenant.id, status).await;
        let response = app
            .with_key(Method::GET, PAGE, &tenant.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), answer, "{name}");
        if status == TenantStatus::Provisioning {
            assert!(response.headers().contains_key("retry-after"));
        }
        assert_eq!(error_code(response).await, code, "{name}");
    }
}

async fn a_revoked_key_is_refused_once_the_cache_ttl_passes(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let ok = app
        .with_key(Method::GET, PAGE, &acme.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), 200);
    let registry = &app.state.backend.registry;
    let keys = registry.list_api_keys(&acme.id).await.unwrap();
    for key in keys {
        registry
            .revoke_api_key(&acme.id, &key.key_id, time::OffsetDateTime::now_utc())
            .await
            .unwrap();
    }
    app.past_cache_ttl().await;
    let refused = app
        .with_key(Method::GET, PAGE, &acme.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(error_code(refused).await, "unauthorized");
}

async fn no_key_a_malformed_key_and_a_key_in_the_query_string_are_401(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let none = app.request(Method::GET, PAGE).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let malformed = app
        .request(Method::GET, PAGE)
        .header("x-api-key", "spk_sec_nope")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), 401);
    let in_query = app
        .request(Method::GET, &format!("{PAGE}&api_key={}", acme.secret))
        .send()
        .await
        .unwrap();
    assert_eq!(
        in_query.status(),
        401,
        "a key in the query string is never read"
    );
}

on_both_backends!(
    suspended_is_403_provisioning_is_503_with_retry_after_and_failed_is_503,
    a_revoked_key_is_refused_once_the_cache_ttl_passes,
    no_key_a_malformed_key_and_a_key_in_the_query_string_are_401,
);
