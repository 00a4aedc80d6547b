//! `GET /tenants/{id}/drift`: a tenant's own resources only, JSON errors.

use reqwest::StatusCode;

use crate::helpers::{TestApp, assert_error, json_of};

#[tokio::test]
async fn one_tenants_drift_never_shows_another_tenants_resources() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    app.onboard("tenant-b").await;
    let b_plan = app
        .state
        .provisioner
        .plan(&tenancy::TenantId::parse("tenant-b").unwrap());
    // B's table goes missing out of band.
    app.state
        .provisioner
        .backend()
        .tables
        .delete_table(&b_plan.names.app_table)
        .await
        .unwrap();

    let (status, a) = json_of(app.get("/tenants/tenant-a/drift").await).await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["tenant"], "tenant-a");
    assert_eq!(a["checked"], true);
    assert_eq!(a["findings"], serde_json::json!([]), "{a}");
    assert!(!a.to_string().contains("tenant-b"), "{a}");

    let (status, b) = json_of(app.get("/tenants/tenant-b/drift").await).await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let findings = b["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 1, "{b}");
    assert_eq!(findings[0]["resource"], "app_table");
    assert_eq!(findings[0]["name"], b_plan.names.app_table);
    assert_eq!(findings[0]["problem"], "missing");
    assert!(!b.to_string().contains("tenant-a"), "{b}");
}

#[tokio::test]
async fn drift_of_an_unknown_tenant_is_a_json_404() {
    let app = TestApp::spawn().await;
    let error = assert_error(
        app.get("/tenants/nobody/drift").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert!(
        error["message"].as_str().unwrap().contains("nobody"),
        "{error}"
    );
}

#[tokio::test]
async fn drift_of_an_invalid_tenant_id_is_a_json_400() {
    let app = TestApp::spawn().await;
    assert_error(
        app.get("/tenants/Not_Valid/drift").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
}
