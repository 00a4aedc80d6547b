//! CORS: an allow header only for an allowed origin, echoed exactly; never `*`.

use reqwest::Method;

use crate::helpers::{Backend, ORIGIN, TestApp, error_code, on_both_backends};

const PAGE: &str = "/v1/sdk/content?url=https://app.example.com/dashboard";

async fn an_allowed_origin_is_echoed_exactly_with_vary(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let response = app
        .with_key(Method::GET, PAGE, &acme.publishable)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    assert_eq!(response.headers()["vary"], "origin");
}

async fn foreign_null_and_look_alike_origins_get_403_and_no_allow_header(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    for origin in [
        "https://evil.example",
        "null",
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "https://app.example.com:8443",
        "https://APP.example.com",
        "https://app.example.co",
    ] {
        let response = app
            .request(Method::GET, PAGE)
            .header("x-api-key", &acme.publishable)
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 403, "{origin}");
        assert!(
            !response
                .headers()
                .contains_key("access-control-allow-origin"),
            "{origin}"
        );
        assert_eq!(error_code(response).await, "origin_not_allowed");

        let preflight = app
            .request(Method::OPTIONS, PAGE)
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
            .await
            .unwrap();
        assert!(
            !preflight
                .headers()
                .contains_key("access-control-allow-origin"),
            "preflight from {origin}"
        );
    }
}

async fn a_publishable_key_without_an_origin_and_a_secret_key_with_one_are_refused(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let no_origin = app
        .request(Method::GET, PAGE)
        .header("x-api-key", &acme.publishable)
        .send()
        .await
        .unwrap();
    assert_eq!(no_origin.status(), 403);
    let secret_in_browser = app
        .request(Method::GET, PAGE)
        .header("x-api-key", &acme.secret)
        .header("origin", ORIGIN)
        .send()
        .await
        .unwrap();
    assert_eq!(secret_in_browser.status(), 403);
    assert!(
        !secret_in_browser
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

async fn a_preflight_from_an_allowed_origin_is_answered_and_never_with_a_wildcard(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    app.tenant("acme").await;
    let response = app
        .request(Method::OPTIONS, "/v1/sdk/events")
        .header("origin", ORIGIN)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "x-api-key, content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(response.headers()["access-control-allow-origin"], ORIGIN);
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    assert!(allowed.contains("x-api-key") && !allowed.contains('*'));
}

on_both_backends!(
    an_allowed_origin_is_echoed_exactly_with_vary,
    foreign_null_and_look_alike_origins_get_403_and_no_allow_header,
    a_publishable_key_without_an_origin_and_a_secret_key_with_one_are_refused,
    a_preflight_from_an_allowed_origin_is_answered_and_never_with_a_wildcard,
);
