//! Acting on tenant A's paths never changes tenant B.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{Presence, TestApp, json_of};

/// Everything observable about a tenant through the API, minus nothing.
async fn snapshot(app: &TestApp, id: &str) -> (Value, Value) {
    let mut tenant = app.tenant(id).await;
    // The journal is compared as a whole too: B's must not grow.
    let journal = tenant["journal"].take();
    let (status, keys) = json_of(app.get(&format!("/tenants/{id}/api-keys")).await).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    (json!({ "tenant": tenant, "journal": journal }), keys)
}

#[tokio::test]
async fn every_tenant_scoped_route_on_one_tenant_leaves_another_untouched() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    app.onboard("tenant-b").await;
    let (status, b_key) = json_of(
        app.post("/tenants/tenant-b/api-keys", &json!({"kind": "secret"}))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b_key}");
    let b_key_id = b_key["key_id"].as_str().expect("key_id").to_owned();
    let b_before = snapshot(&app, "tenant-b").await;

    // Every tenant-scoped route, aimed at A (B's key id included, where a key id is taken).
    let (_, a_key) = json_of(
        app.post(
            "/tenants/tenant-a/api-keys",
            &json!({"kind": "publishable"}),
        )
        .await,
    )
    .await;
    let a_key_id = a_key["key_id"].as_str().expect("key_id").to_owned();
    app.get("/tenants/tenant-a").await;
    app.get("/tenants/tenant-a/api-keys").await;
    app.patch(
        "/tenants/tenant-a",
        &json!({"name": "Renamed A", "allowed_origins": ["https://a.example.com"]}),
    )
    .await;
    app.post_empty("/tenants/tenant-a/suspend").await;
    app.post_empty("/tenants/tenant-a/resume").await;
    app.post_empty("/tenants/tenant-a/retry").await;
    let (status, _) = json_of(
        app.delete(&format!("/tenants/tenant-a/api-keys/{b_key_id}"))
            .await,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "A's path must not reach B's key"
    );
    app.delete(&format!("/tenants/tenant-a/api-keys/{a_key_id}"))
        .await;
    let (status, _) = json_of(app.delete("/tenants/tenant-a").await).await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(snapshot(&app, "tenant-b").await, b_before);
    assert_eq!(app.presence("tenant-b").await, Presence::ALL);
    assert_eq!(app.presence("tenant-a").await, Presence::NONE);
}
