//! Content for a page, and its management.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, error_code, on_both_backends, step_ids, tour};

async fn a_page_gets_the_published_content_that_targets_it_with_an_etag_and_304(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let page = "/v1/sdk/content?url=https://app.example.com/dashboard/reports";
    let response = app
        .with_key(Method::GET, page, &acme.publishable)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["items"].as_array().unwrap().len(), 1);
    assert_eq!(body["items"][0]["id"], published["id"]);
    assert_eq!(body["items"][0]["version"], 1);
    let sent: Vec<String> = step_ids(&json!({"body": body["items"][0]}));
    assert_eq!(sent, step_ids(&published), "step ids are stable");

    let again = app
        .with_key(Method::GET, page, &acme.publishable)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    let elsewhere = app
        .with_key(
            Method::GET,
            "/v1/sdk/content?url=https://app.example.com/settings",
            &acme.publishable,
        )
        .send()
        .await
        .unwrap();
    let body: Value = elsewhere.json().await.unwrap();
    assert_eq!(body["items"], json!([]));
}

#[tokio::test]
async fn a_url_that_is_not_an_absolute_http_url_is_a_400() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    for url in ["/dashboard", "javascript:alert(1)", "notaurl"] {
        let response = app
            .with_key(
                Method::GET,
                &format!("/v1/sdk/content?url={url}"),
                &acme.secret,
            )
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert_eq!(error_code(response).await, "invalid_request");
    }
}

async fn an_invalid_draft_cannot_be_published_and_the_422_names_every_problem(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let bad = json!({
        "kind": "tour",
        "name": "Broken",
        "targeting": {"urls": ["*.example.com/x"]},
        "steps": [{"title": "A", "body": "b", "target": "div[[["}],
    });
    let created = app
        .with_key(Method::POST, "/v1/admin/content", &acme.secret)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);
    let draft: Value = created.json().await.unwrap();
    let id = draft["id"].as_str().unwrap();
    let response = app
        .with_key(
            Method::POST,
            &format!("/v1/admin/content/{id}/publish"),
            &acme.secret,
        )
        .header("if-match", "\"1\"")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "content_invalid");
    let paths: Vec<&str> = body["error"]["details"]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["path"].as_str().unwrap())
        .collect();
    assert!(paths.contains(&"targeting.urls[0]"), "{paths:?}");
    assert!(paths.contains(&"steps[0].target"), "{paths:?}");
}

async fn a_change_needs_if_match_and_a_stale_one_is_a_412(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let created: Value = app
        .with_key(Method::POST, "/v1/admin/content", &acme.secret)
        .json(&tour())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let path = format!("/v1/admin/content/{}", created["id"].as_str().unwrap());
    let without = app
        .with_key(Method::PUT, &path, &acme.secret)
        .json(&tour())
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 428);
    let first = app
        .with_key(Method::PUT, &path, &acme.secret)
        .header("if-match", "\"1\"")
        .json(&tour())
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");
    let stale = app
        .with_key(Method::PUT, &path, &acme.secret)
        .header("if-match", "\"1\"")
        .json(&tour())
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    assert_eq!(error_code(stale).await, "precondition_failed");
}

async fn a_publishable_key_alone_cannot_reach_the_admin_routes(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let response = app
        .with_key(Method::GET, "/v1/admin/content", &acme.publishable)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(error_code(response).await, "unauthorized");
}

on_both_backends!(
    a_page_gets_the_published_content_that_targets_it_with_an_etag_and_304,
    an_invalid_draft_cannot_be_published_and_the_422_names_every_problem,
    a_change_needs_if_match_and_a_stale_one_is_a_412,
    a_publishable_key_alone_cannot_reach_the_admin_routes,
);
