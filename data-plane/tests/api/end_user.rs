//! End users' tokens on the SDK routes: progress for a verified user only, trait targeting
//! from the token's claims, completed content not offered again, and the token attacks the
//! tenant's registered keys must refuse — each a 401 with the error body.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::Method;
use serde_json::{Value, json};
use tenancy::end_user::{EndUserIdentity, FetchPolicy, IdentitySpec};
use tenancy::jwt::RsaSigner;

use crate::helpers::{Backend, Tenant, TestApp, error_code, on_both_backends, tour};

/// Registers `signer`'s public key as `tenant`'s end-user identity, with audience `spotlight`.
async fn register(app: &TestApp, tenant: &Tenant, signer: &RsaSigner) {
    let jwk = serde_json::to_value(&signer.jwks().keys[0]).unwrap();
    let identity = EndUserIdentity::new(
        IdentitySpec {
            keys: Some(vec![jwk]),
            audience: Some("spotlight".to_owned()),
            ..IdentitySpec::default()
        },
        &FetchPolicy::PUBLIC_ONLY,
    )
    .unwrap();
    app.provisioner
        .set_identity(&tenant.id, Some(identity))
        .await
        .unwrap();
}

fn claims(sub: &str, extra: Value) -> Value {
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut claims = json!({"sub": sub, "aud": "spotlight", "iat": now, "exp": now + 600});
    claims
        .as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    claims
}

const PAGE: &str = "/v1/sdk/content?url=https://app.example.com/dashboard";

async fn a_verified_user_has_progress_and_completed_content_is_not_offered_again(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let signer = RsaSigner::generate("acme-1").unwrap();
    register(&app, &acme, &signer).await;
    let published = app.publish(&acme.secret, tour()).await;
    let id = published["id"].as_str().unwrap();
    let token = signer.sign(&claims("user-42", json!({}))).unwrap();
    let user = |method: Method, path: &str| {
        app.with_key(method, path, &acme.publishable)
            .header("x-user-token", &token)
    };

    let offered: Value = user(Method::GET, PAGE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(offered["items"].as_array().unwrap().len(), 1);

    let path = format!("/v1/sdk/progress/{id}");
    let started = user(Method::PUT, &path)
        .json(&json!({"state": "in_progress", "content_version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(started.status(), 200);
    assert_eq!(started.headers()["etag"], "\"1\"");
    let conflict = user(Method::PUT, &path)
        .json(&json!({"state": "completed", "content_version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(conflict.status(), 412, "a second create without If-Match");
    let done = user(Method::PUT, &path)
        .header("if-match", "\"1\"")
        .json(&json!({"state": "completed", "content_version": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);

    let listed: Value = user(Method::GET, "/v1/sdk/progress")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"][0]["state"], "completed");
    let after: Value = user(Method::GET, PAGE)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        after["items"],
        json!([]),
        "a completed tour is not offered again"
    );
    let anonymous: Value = app
        .with_key(Method::GET, PAGE, &acme.publishable)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        anonymous["items"].as_array().unwrap().len(),
        1,
        "others still see it"
    );

    let no_token = app
        .with_key(Method::GET, "/v1/sdk/progress", &acme.publishable)
        .send()
        .await
        .unwrap();
    assert_eq!(no_token.status(), 401);
}

async fn content_with_trait_rules_shows_only_to_users_whose_claims_match(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let signer = RsaSigner::generate("acme-1").unwrap();
    register(&app, &acme, &signer).await;
    let mut body = tour();
    body["targeting"]["traits"] = json!([{"op": "eq", "trait": "plan", "value": "pro"}]);
    app.publish(&acme.secret, body).await;
    let count = |token: Option<String>| {
        let mut request = app.with_key(Method::GET, PAGE, &acme.publishable);
        if let Some(token) = token {
            request = request.header("x-user-token", token);
        }
        async move {
            let page: Value = request.send().await.unwrap().json().await.unwrap();
            page["items"].as_array().unwrap().len()
        }
    };
    let pro = signer.sign(&claims("u1", json!({"plan": "pro"}))).unwrap();
    let free = signer.sign(&claims("u2", json!({"plan": "free"}))).unwrap();
    assert_eq!(count(Some(pro)).await, 1);
    assert_eq!(count(Some(free)).await, 0);
    assert_eq!(
        count(None).await,
        0,
        "trait-targeted content never shows anonymously"
    );
}

async fn forged_expired_and_foreign_tokens_are_refused_with_401(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let signer_a = RsaSigner::generate("a-1").unwrap();
    let signer_b = RsaSigner::generate("b-1").unwrap();
    register(&app, &a, &signer_a).await;
    register(&app, &b, &signer_b).await;
    let good = signer_a.sign(&claims("u1", json!({}))).unwrap();
    let parts: Vec<&str> = good.split('.').collect();
    let encode = |v: Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(&v).unwrap());
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let attacks = [
        (
            "alg none",
            format!(
                "{}.{}.",
                encode(json!({"alg": "none", "kid": "a-1"})),
                parts[1]
            ),
        ),
        (
            "tampered payload",
            format!(
                "{}.{}.{}",
                parts[0],
                encode(claims("admin", json!({}))),
                parts[2]
            ),
        ),
        (
            "expired",
            signer_a
                .sign(&json!({"sub": "u1", "aud": "spotlight", "exp": now - 3600}))
                .unwrap(),
        ),
        (
            "wrong audience",
            signer_a
                .sign(&json!({"sub": "u1", "aud": "other", "exp": now + 600}))
                .unwrap(),
        ),
        (
            "a token of tenant B",
            signer_b.sign(&claims("u1", json!({}))).unwrap(),
        ),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (attack, token) in attacks {
        let response = app
            .with_key(Method::GET, "/v1/sdk/progress", &a.publishable)
            .header("x-user-token", token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401, "{attack}");
        assert_eq!(error_code(response).await, "unauthorized", "{attack}");
    }
    let served = app
        .with_key(Method::GET, "/v1/sdk/progress", &a.publishable)
        .header("x-user-token", good)
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200, "the real token still works");
}

/// The same user id at two tenants is two users: B's token never writes through A's key, A's
/// user cannot record progress on B's content, and neither sees the other's progress.
async fn a_user_of_b_never_reaches_the_progress_of_a(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let signer_a = RsaSigner::generate("a-1").unwrap();
    let signer_b = RsaSigner::generate("b-1").unwrap();
    register(&app, &a, &signer_a).await;
    register(&app, &b, &signer_b).await;
    let content_a = app.publish(&a.secret, tour()).await;
    let content_b = app.publish(&b.secret, tour()).await;
    let (id_a, id_b) = (
        content_a["id"].as_str().unwrap(),
        content_b["id"].as_str().unwrap(),
    );
    let token_a = signer_a.sign(&claims("u1", json!({}))).unwrap();
    let token_b = signer_b.sign(&claims("u1", json!({}))).unwrap();
    let put = |key: &str, token: &str, id: &str| {
        app.with_key(Method::PUT, &format!("/v1/sdk/progress/{id}"), key)
            .header("x-user-token", token)
            .json(&json!({"state": "completed", "content_version": 1}))
    };

    let refused = put(&a.publishable, &token_b, id_a).send().await.unwrap();
    assert_eq!(refused.status(), 401, "B's token with A's key");
    assert_eq!(error_code(refused).await, "unauthorized");
    let foreign = put(&a.publishable, &token_a, id_b).send().await.unwrap();
    assert_eq!(foreign.status(), 404, "B's content through A's key");
    assert_eq!(error_code(foreign).await, "content_not_found");

    let stored = put(&b.publishable, &token_b, id_b).send().await.unwrap();
    assert_eq!(stored.status(), 200, "{}", stored.text().await.unwrap());
    let progress_of = |key: &str, token: &str| {
        let request = app
            .with_key(Method::GET, "/v1/sdk/progress", key)
            .header("x-user-token", token);
        async move {
            let answer: Value = request.send().await.unwrap().json().await.unwrap();
            answer["items"].as_array().unwrap().len()
        }
    };
    assert_eq!(progress_of(&b.publishable, &token_b).await, 1);
    assert_eq!(
        progress_of(&a.publishable, &token_a).await,
        0,
        "A's u1 is not B's u1"
    );
}

on_both_backends!(
    a_verified_user_has_progress_and_completed_content_is_not_offered_again,
    content_with_trait_rules_shows_only_to_users_whose_claims_match,
    forged_expired_and_foreign_tokens_are_refused_with_401,
    a_user_of_b_never_reaches_the_progress_of_a,
);
