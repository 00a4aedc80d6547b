//! Operator authentication on every route but the public ones, and the OpenAPI document's
//! coverage of the router.

use std::collections::BTreeSet;

use reqwest::StatusCode;

use crate::helpers::{PUBLIC_ROUTES, ROUTES, TestApp, assert_error, fill, json_of, method};

#[tokio::test]
async fn a_missing_a_malformed_and_a_wrong_token_get_the_same_401_body() {
    let app = TestApp::spawn().await;
    let (_, missing) = json_of(
        app.request_without_token(reqwest::Method::GET, "/tenants")
            .await,
    )
    .await;
    let (_, wrong) = json_of(
        app.request_with_token(reqwest::Method::GET, "/tenants", "wrong")
            .await,
    )
    .await;
    let (status, malformed) = json_of(
        app.client
            .get(app.url("/tenants"))
            .header("Authorization", "Token abc")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(missing, wrong);
    assert_eq!(missing, malformed);
}

#[tokio::test]
async fn every_operator_route_refuses_a_missing_or_wrong_token() {
    let app = TestApp::spawn().await;
    let before = app.onboard("guarded").await;
    let wrong_tokens = [
        "wrong".to_owned(),
        format!("{}x", app.token),
        app.token[..app.token.len() - 1].to_owned(),
    ];
    for (verb, template) in ROUTES
        .iter()
        .filter(|(_, path)| !PUBLIC_ROUTES.contains(path))
    {
        let path = fill(template, "guarded", "key_0000000000000000");
        let response = app.request_without_token(method(verb), &path).await;
        assert_eq!(
            response.headers()["www-authenticate"],
            "Bearer",
            "{verb} {path}"
        );
        assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        for token in &wrong_tokens {
            let response = app.request_with_token(method(verb), &path, token).await;
            assert_error(response, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
        let basic = app
            .client
            .request(method(verb), app.url(&path))
            .basic_auth("operator", Some(&app.token));
        assert_error(
            basic.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    // None of the refused requests changed anything.
    let after = app.tenant("guarded").await;
    assert_eq!(
        (&after["status"], &after["version"]),
        (&before["status"], &before["version"])
    );
    assert_eq!(app.tenant_ids().await, ["guarded"]);
    let (_, keys) = json_of(app.get("/tenants/guarded/api-keys").await).await;
    assert_eq!(
        keys["api_keys"],
        serde_json::json!([]),
        "no key was issued: {keys}"
    );
}

/// Auth guards the operator router's routes, so a path no router serves is the JSON 404 with
/// or without a token, and a wrong method on an operator path the JSON 405: both say only what
/// `/openapi.json` already tells anyone.
#[tokio::test]
async fn unknown_paths_and_methods_get_404_and_405_with_or_without_a_token() {
    let app = TestApp::spawn().await;
    for path in ["/admin", "/tenants/acme/nope"] {
        assert_error(
            app.request_without_token(reqwest::Method::GET, path).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        assert_error(app.get(path).await, StatusCode::NOT_FOUND, "not_found").await;
    }
    assert_error(
        app.request_without_token(reqwest::Method::PUT, "/tenants")
            .await,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    )
    .await;
}

#[tokio::test]
async fn health_readiness_and_the_api_document_need_no_token() {
    let app = TestApp::spawn().await;
    let (status, health) = json_of(
        app.request_without_token(reqwest::Method::GET, "/healthz")
            .await,
    )
    .await;
    assert_eq!(
        (status, health["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, ready) = json_of(
        app.request_without_token(reqwest::Method::GET, "/readyz")
            .await,
    )
    .await;
    assert_eq!(
        (status, ready["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, doc) = json_of(
        app.request_without_token(reqwest::Method::GET, "/openapi.json")
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with('3')),
        "{doc}"
    );
}

#[tokio::test]
async fn the_api_document_lists_exactly_the_routes_the_router_serves() {
    let app = TestApp::spawn().await;
    let (_, doc) = json_of(app.get("/openapi.json").await).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .unwrap()
                .keys()
                .map(move |verb| (verb.to_uppercase(), path.clone()))
        })
        .collect();
    let served: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(v, p)| ((*v).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(documented, served);

    // And every documented operation is really routed: without a token it is refused (401)
    // or, for public routes, served — never 404 or 405.
    for (verb, template) in &documented {
        let response = app
            .request_without_token(method(verb), &fill(template, "nobody", "key_x"))
            .await;
        let expected = if PUBLIC_ROUTES.contains(&template.as_str()) {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        assert_eq!(response.status(), expected, "{verb} {template}");
    }

    let scheme = &doc["components"]["securitySchemes"]["operator_token"];
    assert_eq!(scheme["scheme"], "bearer", "{scheme}");
    for public in PUBLIC_ROUTES {
        let security = &doc["paths"][public]["get"]["security"];
        assert_eq!(
            security,
            &serde_json::json!([{}]),
            "{public} must not require the token: {security}"
        );
    }
}
