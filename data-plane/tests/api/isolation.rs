//! Cross-tenant attempts on every tenant-scoped route: A's key never reaches B's data, and a
//! tenant named in a path, query or body changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, batch, error_code, event, on_both_backends, step_ids, tour,
};

async fn a_key_of_a_never_reaches_the_content_of_b(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let published = app.publish(&b.secret, tour()).await;
    let id = published["id"].as_str().unwrap();
    for (method, path) in [
        (Method::GET, format!("/v1/admin/content/{id}")),
        (Method::PUT, format!("/v1/admin/content/{id}")),
        (Method::POST, format!("/v1/admin/content/{id}/publish")),
        (Method::POST, format!("/v1/admin/content/{id}/archive")),
        (Method::GET, format!("/v1/admin/content/{id}/versions/1")),
        (Method::GET, format!("/v1/admin/analytics/funnels/{id}")),
    ] {
        let response = app
            .with_key(method.clone(), &path, &a.secret)
            .header("if-match", "\"2\"")
            .json(&tour())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{method} {path}");
        let text = response.text().await.unwrap();
        assert!(!text.contains("Welcome"), "{method} {path} leaked: {text}");
    }
    let listed: Value = app
        .with_key(Method::GET, "/v1/admin/content", &a.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    let page: Value = app
        .with_key(
            Method::GET,
            "/v1/sdk/content?url=https://app.example.com/dashboard",
            &a.publishable,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"], json!([]));
    // B's content is untouched by A's attempts.
    let still: Value = app
        .with_key(Method::GET, &format!("/v1/admin/content/{id}"), &b.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (still["revision"].clone(), still["status"].clone()),
        (json!(2), json!("published"))
    );
}

async fn events_sent_with_a_key_of_a_naming_content_of_b_are_rejected_and_b_counts_nothing(
    kind: Backend,
) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let published = app.publish(&b.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let outcome: Value = app
        .with_key(Method::POST, "/v1/sdk/events", &a.publishable)
        .json(&batch(vec![event("impression", id, &steps[0], "u1")]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["rejected"][0]["code"], "unknown_content");
    app.fold().await;
    let funnel: Value = app
        .with_key(
            Method::GET,
            &format!("/v1/admin/analytics/funnels/{id}"),
            &b.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(funnel["steps"][0]["users"], 0);
}

async fn a_tenant_smuggled_into_a_query_or_a_body_is_refused_not_followed(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    app.publish(&b.secret, tour()).await;
    for path in [
        "/v1/sdk/content?url=https://app.example.com/dashboard&tenant=tenant-b",
        "/v1/sdk/content?url=https://app.example.com/dashboard&tenant_id=tenant-b",
        "/v1/admin/analytics/overview?tenant_id=tenant-b",
    ] {
        let response = app
            .with_key(Method::GET, path, &a.secret)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
        assert_eq!(error_code(response).await, "invalid_request");
    }
    let mut body = tour();
    body["tenant_id"] = json!("tenant-b");
    let response = app
        .with_key(Method::POST, "/v1/admin/content", &a.secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let listed: Value = app
        .with_key(Method::GET, "/v1/admin/content", &b.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        listed["items"].as_array().unwrap().len(),
        1,
        "B gained nothing"
    );
}

async fn an_admin_token_of_b_with_a_publishable_key_of_a_is_refused(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let token_b = app.admin_token(&b.id, "admin@b.example").await;
    let with_token = |key: &str| {
        app.with_key(Method::GET, "/v1/admin/content", key)
            .header("authorization", format!("Bearer {token_b}"))
    };
    let refused = with_token(&a.publishable).send().await.unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(error_code(refused).await, "unauthorized");
    let served = with_token(&b.publishable).send().await.unwrap();
    assert_eq!(served.status(), 200, "B's own admin with B's key is served");
}

on_both_backends!(
    a_key_of_a_never_reaches_the_content_of_b,
    events_sent_with_a_key_of_a_naming_content_of_b_are_rejected_and_b_counts_nothing,
    a_tenant_smuggled_into_a_query_or_a_body_is_refused_not_followed,
    an_admin_token_of_b_with_a_publishable_key_of_a_is_refused,
);
