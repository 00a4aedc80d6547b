//! Acting on tenant A's paths never changes tenant B.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{ADMIN_IN_PATHS, Presence, ROUTES, TestApp, fill, json_of, method};

/// Everything observable about a tenant through the API: record, journal, API keys, admins,
/// end-user identity.
async fn snapshot(app: &TestApp, id: &str) -> Value {
    let tenant = app.tenant(id).await;
    let (status, keys) = json_of(app.get(&format!("/tenants/{id}/api-keys")).await).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    let (status, admins) = json_of(app.get(&format!("/tenants/{id}/admins")).await).await;
    assert_eq!(status, StatusCode::OK, "{admins}");
    let (status, identity) = json_of(app.get(&format!("/tenants/{id}/identity")).await).await;
    assert_eq!(status, StatusCode::OK, "{identity}");
    json!({ "tenant": tenant, "keys": keys, "admins": admins, "identity": identity })
}

/// A body that makes the route do its work, where it takes one.
fn body_for(verb: &str, template: &str) -> Option<Value> {
    match (verb, template) {
        ("PATCH", "/tenants/{id}") => Some(json!({
            "name": "Renamed A",
            "owner_email": "new-owner@a.example.com",
            "allowed_origins": ["https://a.example.com"],
        })),
        ("POST", "/tenants/{id}/api-keys") => Some(json!({ "kind": "secret" })),
        ("POST", "/tenants/{id}/admins") => Some(json!({ "email": "admin@tenant-a.example.com" })),
        ("PUT", "/tenants/{id}/identity") => Some(json!({
            "jwks_url": "https://auth.tenant-a.example.com/.well-known/jwks.json",
        })),
        _ => None,
    }
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
    // Where a route takes a key id, it gets B's: A's path must still not reach B's key.
    let b_key_id = b_key["key_id"].as_str().expect("key_id").to_owned();
    // Where a route names an admin, it names B's.
    let (status, b_admin) = json_of(
        app.post(
            "/tenants/tenant-b/admins",
            &json!({"email": ADMIN_IN_PATHS}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{b_admin}");
    let (status, b_identity) = json_of(
        app.put(
            "/tenants/tenant-b/identity",
            &json!({"jwks_url": "https://auth.tenant-b.example.com/jwks.json"}),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{b_identity}");
    let b_before = snapshot(&app, "tenant-b").await;

    let mut scoped: Vec<(&str, &str)> = ROUTES
        .iter()
        .copied()
        .filter(|(_, path)| path.contains("{id}"))
        .collect();
    // Offboarding A last, so every other route acts on a live tenant.
    scoped.sort_by_key(|&(verb, path)| (verb, path) == ("DELETE", "/tenants/{id}"));
    assert!(scoped.len() >= 9, "{scoped:?}");
    for (verb, template) in scoped {
        let path = fill(template, "tenant-a", &b_key_id);
        let mut request = app.request(method(verb), &path);
        if let Some(body) = body_for(verb, template) {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        assert_ne!(response.status(), StatusCode::UNAUTHORIZED, "{verb} {path}");
        assert_eq!(
            snapshot(&app, "tenant-b").await,
            b_before,
            "{verb} {path} changed tenant-b"
        );
    }

    assert_eq!(app.tenant("tenant-a").await["status"], "deleted");
    assert_eq!(app.presence("tenant-b").await, Presence::ALL);
    assert_eq!(app.presence("tenant-a").await, Presence::NONE);
    let (_, introspection) = json_of(
        app.post("/api-keys/introspect", &json!({"key": b_key["key"]}))
            .await,
    )
    .await;
    assert_eq!(
        introspection["active"], true,
        "B's key still verifies: {introspection}"
    );
}
