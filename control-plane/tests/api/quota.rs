//! Quota admission: a tenant whose resources would exceed an account quota is refused with
//! `503 quota_exceeded`, and nothing of it is written or created.

use provisioner::config::Bounded;
use reqwest::StatusCode;

use crate::helpers::{Presence, TestApp, assert_error, tenant_body};

#[tokio::test]
async fn a_tenant_past_the_key_quota_is_a_503_with_the_reason_and_nothing_is_written() {
    // Room for exactly one tenant's key.
    let app = TestApp::spawn_with(|s| s.provisioner.quota_keys = Bounded::must(1)).await;
    app.onboard("first").await;

    let response = app.post("/tenants?wait=true", &tenant_body("second")).await;
    let error = assert_error(response, StatusCode::SERVICE_UNAVAILABLE, "quota_exceeded").await;
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("second"), "{message}");
    assert!(message.contains("SPOTLIGHT_QUOTA_KEYS"), "{message}");
    let details = &error["details"];
    assert_eq!(details["resource"], "keys");
    assert_eq!(details["quota"], 1);
    assert_eq!(details["in_use"], 1);
    assert_eq!(details["needed"], 1);
    assert_eq!(details["live_tenants"], 1);
    assert_eq!(details["setting"], "SPOTLIGHT_QUOTA_KEYS");

    assert_error(
        app.get("/tenants/second").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    let registry = &app.state.provisioner.backend().registry;
    let missing = registry
        .get_tenant(&tenancy::TenantId::parse("second").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.kind(), tenancy::ErrorKind::NotFound);
    assert_eq!(app.presence("second").await, Presence::NONE);
    assert_eq!(app.tenant_ids().await, ["first"]);
}

#[tokio::test]
async fn an_offboarded_tenant_frees_its_quota_for_the_next() {
    // The registry table and one tenant's two tables.
    let app = TestApp::spawn_with(|s| s.provisioner.quota_tables = Bounded::must(3)).await;
    app.onboard("leaving").await;
    let refused = app
        .post("/tenants?wait=true", &tenant_body("waiting"))
        .await;
    let error = assert_error(refused, StatusCode::SERVICE_UNAVAILABLE, "quota_exceeded").await;
    assert_eq!(error["details"]["resource"], "tables");

    let deleted = app.delete("/tenants/leaving").await;
    assert!(deleted.status().is_success(), "{}", deleted.status());
    app.wait_for_status("leaving", &["deleted"]).await;
    app.onboard("waiting").await;
    assert_eq!(app.presence("waiting").await, Presence::ALL);
}
