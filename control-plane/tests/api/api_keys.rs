//! Tenant API keys over HTTP: issue, list, revoke, introspect; isolation between tenants;
//! offboarding revokes keys.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tenancy::api_key::{self, ApiKey};
use tenancy::{ApiKeyKind, TenantId};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::helpers::{TestApp, assert_error, json_of};

/// `POST /tenants/{tenant}/api-keys` for `kind`; asserts 201 and returns the body.
async fn issue(app: &TestApp, tenant: &str, kind: &str) -> Value {
    let response = app
        .post(
            &format!("/tenants/{tenant}/api-keys"),
            &json!({ "kind": kind }),
        )
        .await;
    let (status, body) = json_of(response).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "issuing a {kind} key for {tenant}: {body}"
    );
    body
}

/// `POST /api-keys/introspect` for `key`; asserts 200 and returns the body.
async fn introspect(app: &TestApp, key: &str) -> Value {
    let (status, body) = json_of(
        app.post("/api-keys/introspect", &json!({ "key": key }))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "introspecting: {body}");
    body
}

/// `GET /tenants/{tenant}/api-keys`; asserts 200 and returns the `api_keys` array.
async fn list(app: &TestApp, tenant: &str) -> Vec<Value> {
    let (status, body) = json_of(app.get(&format!("/tenants/{tenant}/api-keys")).await).await;
    assert_eq!(status, StatusCode::OK, "listing keys of {tenant}: {body}");
    body["api_keys"].as_array().expect("api_keys array").clone()
}

fn key_of(issued: &Value) -> &str {
    issued["key"]
        .as_str()
        .expect("the full key in the creation response")
}

#[tokio::test]
async fn issued_keys_carry_their_kinds_prefix_and_verify() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;

    for (kind, prefix) in [("publishable", "spk_pub_"), ("secret", "spk_sec_")] {
        let issued = issue(&app, "acme", kind).await;
        let key = key_of(&issued);
        assert!(
            key.starts_with(prefix),
            "{kind} key {key} must start with {prefix}"
        );
        assert_eq!(key.len(), 46);
        assert_eq!(issued["kind"], kind);
        assert!(
            key.starts_with(issued["prefix"].as_str().unwrap()),
            "{issued}"
        );
        assert!(
            issued["key_id"].as_str().unwrap().starts_with("key_"),
            "{issued}"
        );
        assert!(issued["created_at"].is_string(), "{issued}");
        assert!(issued["expires_at"].is_null(), "{issued}");

        let answer = introspect(&app, key).await;
        assert_eq!(answer["active"], true, "{answer}");
        assert_eq!(answer["tenant"], "acme", "{answer}");
        assert_eq!(answer["kind"], kind, "{answer}");
        assert_eq!(answer["key_id"], issued["key_id"], "{answer}");
        assert!(answer.get("reason").is_none(), "{answer}");
    }
}

#[tokio::test]
async fn the_creation_response_may_not_be_cached() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let response = app
        .post("/tenants/acme/api-keys", &json!({ "kind": "secret" }))
        .await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn a_key_can_be_issued_with_a_future_expiry() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let expires_at = (OffsetDateTime::now_utc() + time::Duration::days(30))
        .replace_nanosecond(0)
        .unwrap()
        .format(&Rfc3339)
        .unwrap();
    let response = app
        .post(
            "/tenants/acme/api-keys",
            &json!({ "kind": "secret", "expires_at": expires_at }),
        )
        .await;
    let (status, issued) = json_of(response).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["expires_at"], expires_at.as_str());
    assert_eq!(introspect(&app, key_of(&issued)).await["active"], true);
}

#[tokio::test]
async fn listing_shows_prefixes_but_never_keys_or_hashes() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let first = issue(&app, "acme", "publishable").await;
    let second = issue(&app, "acme", "secret").await;

    let keys = list(&app, "acme").await;
    assert_eq!(keys.len(), 2, "{keys:?}");
    // Newest first.
    assert_eq!(keys[0]["key_id"], second["key_id"]);
    assert_eq!(keys[1]["key_id"], first["key_id"]);

    let (_, raw_listing) = json_of(app.get("/tenants/acme/api-keys").await).await;
    let text = raw_listing.to_string();
    let hasher = &app.state.api_keys;
    for issued in [&first, &second] {
        let key = key_of(issued);
        assert!(!text.contains(&key[12..]), "listing leaks the key: {text}");
        let hash = hasher.hash(&ApiKey::parse(key).unwrap());
        assert!(!text.contains(&hash), "listing leaks the hash: {text}");
    }
    for view in &keys {
        let fields: Vec<&str> = view
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert!(
            !fields.contains(&"key") && !fields.contains(&"hash"),
            "{view}"
        );
        assert_eq!(view["prefix"].as_str().unwrap().len(), 12, "{view}");
        assert!(
            view["revoked_at"].is_null() && view["last_used_at"].is_null(),
            "{view}"
        );
    }
}

#[tokio::test]
async fn introspection_does_not_count_as_use() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let issued = issue(&app, "acme", "secret").await;
    assert_eq!(introspect(&app, key_of(&issued)).await["active"], true);
    let keys = list(&app, "acme").await;
    assert!(keys[0]["last_used_at"].is_null(), "{keys:?}");
}

#[tokio::test]
async fn a_revoked_key_no_longer_verifies() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let issued = issue(&app, "acme", "secret").await;
    let key_id = issued["key_id"].as_str().unwrap();

    let (status, revoked) = json_of(
        app.delete(&format!("/tenants/acme/api-keys/{key_id}"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{revoked}");
    assert_eq!(revoked["key_id"], key_id);
    assert!(revoked["revoked_at"].is_string(), "{revoked}");
    assert!(
        revoked.get("key").is_none() && revoked.get("hash").is_none(),
        "{revoked}"
    );

    let answer = introspect(&app, key_of(&issued)).await;
    assert_eq!(answer["active"], false, "{answer}");
    assert_eq!(answer["reason"], "revoked", "{answer}");
    assert_eq!(answer["key_id"], key_id, "{answer}");
}

#[tokio::test]
async fn revoking_twice_keeps_the_first_revocation() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let issued = issue(&app, "acme", "publishable").await;
    let path = format!(
        "/tenants/acme/api-keys/{}",
        issued["key_id"].as_str().unwrap()
    );

    let (first_status, first) = json_of(app.delete(&path).await).await;
    let (second_status, second) = json_of(app.delete(&path).await).await;
    assert_eq!(
        (first_status, second_status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(first["revoked_at"], second["revoked_at"]);
}

#[tokio::test]
async fn rotation_keeps_the_new_key_working_after_the_old_one_is_revoked() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let old = issue(&app, "acme", "secret").await;
    let new = issue(&app, "acme", "secret").await;
    assert_eq!(introspect(&app, key_of(&old)).await["active"], true);
    assert_eq!(introspect(&app, key_of(&new)).await["active"], true);

    let path = format!("/tenants/acme/api-keys/{}", old["key_id"].as_str().unwrap());
    assert_eq!(app.delete(&path).await.status(), StatusCode::OK);
    assert_eq!(introspect(&app, key_of(&old)).await["active"], false);
    assert_eq!(introspect(&app, key_of(&new)).await["active"], true);
}

#[tokio::test]
async fn an_expired_key_does_not_verify() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    // The API refuses past expiries, so store a key whose expiry has passed directly.
    let now = OffsetDateTime::now_utc();
    let tenant = TenantId::parse("acme").unwrap();
    let issued = api_key::issue(
        &app.state.api_keys,
        &tenant,
        ApiKeyKind::Secret,
        now - time::Duration::days(2),
        Some(now - time::Duration::days(1)),
    );
    app.state
        .registry()
        .put_api_key(&issued.record)
        .await
        .unwrap();

    let answer = introspect(&app, issued.key.expose()).await;
    assert_eq!(answer["active"], false, "{answer}");
    assert_eq!(answer["reason"], "expired", "{answer}");
    assert_eq!(answer["tenant"], "acme", "{answer}");
}

#[tokio::test]
async fn a_key_with_a_bad_checksum_is_refused_as_malformed() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let issued = issue(&app, "acme", "secret").await;
    let key = key_of(&issued);
    let typo_char = if &key[20..21] == "x" { "y" } else { "x" };
    let typo = format!("{}{typo_char}{}", &key[..20], &key[21..]);

    for presented in [typo.as_str(), "spk_sec_short", "not a key at all", ""] {
        let answer = introspect(&app, presented).await;
        assert_eq!(answer["active"], false, "{presented:?}: {answer}");
        assert_eq!(answer["reason"], "malformed", "{presented:?}: {answer}");
        assert!(answer.get("tenant").is_none(), "{answer}");
    }
}

#[tokio::test]
async fn a_well_formed_key_that_was_never_issued_is_unknown() {
    let app = TestApp::spawn().await;
    let stranger = ApiKey::generate(ApiKeyKind::Publishable);
    let answer = introspect(&app, stranger.expose()).await;
    assert_eq!(answer["active"], false, "{answer}");
    assert_eq!(answer["reason"], "unknown", "{answer}");
}

#[tokio::test]
async fn another_tenant_cannot_list_or_revoke_a_tenants_keys() {
    let app = TestApp::spawn().await;
    app.onboard("tenant-a").await;
    app.onboard("tenant-b").await;
    let a_key = issue(&app, "tenant-a", "secret").await;
    let a_key_id = a_key["key_id"].as_str().unwrap();
    issue(&app, "tenant-b", "secret").await;

    let b_keys = list(&app, "tenant-b").await;
    assert_eq!(b_keys.len(), 1);
    assert!(b_keys.iter().all(|k| k["key_id"] != a_key_id), "{b_keys:?}");

    let response = app
        .delete(&format!("/tenants/tenant-b/api-keys/{a_key_id}"))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "api_key_not_found").await;

    let answer = introspect(&app, key_of(&a_key)).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["tenant"], "tenant-a", "{answer}");
    assert!(list(&app, "tenant-a").await[0]["revoked_at"].is_null());
}

#[tokio::test]
async fn offboarding_a_tenant_revokes_its_keys_and_stops_new_ones() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let publishable = issue(&app, "acme", "publishable").await;
    let secret = issue(&app, "acme", "secret").await;

    let response = app.delete("/tenants/acme").await;
    assert!(
        response.status().is_success(),
        "DELETE /tenants/acme: {}",
        response.status()
    );
    app.wait_for_status("acme", &["deleted"]).await;

    for issued in [&publishable, &secret] {
        let answer = introspect(&app, key_of(issued)).await;
        assert_eq!(answer["active"], false, "{answer}");
        assert_eq!(answer["reason"], "revoked", "{answer}");
    }
    assert!(
        list(&app, "acme")
            .await
            .iter()
            .all(|k| k["revoked_at"].is_string())
    );

    let response = app
        .post("/tenants/acme/api-keys", &json!({ "kind": "secret" }))
        .await;
    let error = assert_error(response, StatusCode::CONFLICT, "tenant_offboarded").await;
    assert_eq!(error["details"]["status"], "deleted", "{error}");
}

#[tokio::test]
async fn a_suspended_tenant_can_still_be_issued_keys() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let (status, body) = json_of(app.post_empty("/tenants/acme/suspend").await).await;
    assert_eq!(status, StatusCode::OK, "suspending: {body}");
    let issued = issue(&app, "acme", "secret").await;
    assert_eq!(introspect(&app, key_of(&issued)).await["active"], true);
}

#[tokio::test]
async fn unknown_tenants_are_404_on_every_key_route() {
    let app = TestApp::spawn().await;
    let create = app
        .post("/tenants/nobody/api-keys", &json!({ "kind": "secret" }))
        .await;
    assert_error(create, StatusCode::NOT_FOUND, "tenant_not_found").await;
    assert_error(
        app.get("/tenants/nobody/api-keys").await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    let key_id = api_key::ApiKeyId::new();
    let revoke = app
        .delete(&format!("/tenants/nobody/api-keys/{key_id}"))
        .await;
    assert_error(revoke, StatusCode::NOT_FOUND, "tenant_not_found").await;
}

#[tokio::test]
async fn a_key_id_that_does_not_exist_is_404() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let key_id = api_key::ApiKeyId::new();
    let response = app
        .delete(&format!("/tenants/acme/api-keys/{key_id}"))
        .await;
    assert_error(response, StatusCode::NOT_FOUND, "api_key_not_found").await;
}

#[tokio::test]
async fn bad_requests_get_the_common_400_body() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let cases = [
        json!({ "kind": "secret", "scopes": ["all"] }),
        json!({ "kind": "admin" }),
        json!({}),
        json!({ "kind": "secret", "expires_at": "2001-01-01T00:00:00Z" }),
        json!({ "kind": "secret", "expires_at": "2999-01-01T00:00:00Z" }),
        json!({ "kind": "secret", "expires_at": "next tuesday" }),
    ];
    for body in cases {
        let response = app.post("/tenants/acme/api-keys", &body).await;
        let (status, error) = json_of(response).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {error}");
        assert!(error["error"]["code"].is_string(), "{body}: {error}");
    }
    assert!(list(&app, "acme").await.is_empty());

    let bad_id = app
        .post("/tenants/Not_An_Id/api-keys", &json!({ "kind": "secret" }))
        .await;
    let error = assert_error(bad_id, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["details"]["field"], "id", "{error}");

    let bad_key_id = app.delete("/tenants/acme/api-keys/not-a-key-id").await;
    let error = assert_error(bad_key_id, StatusCode::BAD_REQUEST, "invalid_request").await;
    assert_eq!(error["details"]["field"], "key_id", "{error}");

    let no_key = app
        .post("/api-keys/introspect", &json!({ "token": "spk_sec_x" }))
        .await;
    assert_error(no_key, StatusCode::BAD_REQUEST, "invalid_json").await;
}

#[tokio::test]
async fn retrying_a_creation_with_the_same_idempotency_key_returns_the_same_key() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let body = json!({ "kind": "secret" });
    let first = app
        .with_idempotency_key("issue-1", "/tenants/acme/api-keys", &body)
        .await;
    let (first_status, first) = json_of(first).await;
    let again = app
        .with_idempotency_key("issue-1", "/tenants/acme/api-keys", &body)
        .await;
    let (again_status, again) = json_of(again).await;
    assert_eq!(
        (first_status, again_status),
        (StatusCode::CREATED, StatusCode::CREATED),
        "{first} {again}"
    );
    assert_eq!(first["key_id"], again["key_id"]);
    assert_eq!(first["key"], again["key"]);
    assert_eq!(list(&app, "acme").await.len(), 1);
}

#[tokio::test]
async fn a_key_kept_for_idempotent_replay_is_never_stored_in_clear() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let body = json!({ "kind": "secret" });
    let created = app
        .with_idempotency_key("issue-sealed", "/tenants/acme/api-keys", &body)
        .await;
    let (status, created) = json_of(created).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["key"].as_str().unwrap().to_owned();
    // The registry database and its write-ahead log hold every stored response.
    let mut seen = 0;
    for entry in std::fs::read_dir(&app.data_dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("registry.db") {
            let bytes = std::fs::read(&path).unwrap();
            seen += bytes.len();
            assert!(
                !bytes.windows(key.len()).any(|w| w == key.as_bytes()),
                "{name} holds the issued key in clear"
            );
        }
    }
    assert!(seen > 0, "no registry files were read");
    let replayed = app
        .with_idempotency_key("issue-sealed", "/tenants/acme/api-keys", &body)
        .await;
    let (_, replayed) = json_of(replayed).await;
    assert_eq!(replayed["key"], created["key"]);
}

#[tokio::test]
async fn the_openapi_document_describes_every_key_route() {
    let app = TestApp::spawn().await;
    let (status, doc) = json_of(app.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    let paths = &doc["paths"];
    assert!(
        paths["/tenants/{id}/api-keys"]["post"].is_object(),
        "{paths}"
    );
    assert!(
        paths["/tenants/{id}/api-keys"]["get"].is_object(),
        "{paths}"
    );
    assert!(
        paths["/tenants/{id}/api-keys/{key_id}"]["delete"].is_object(),
        "{paths}"
    );
    assert!(paths["/api-keys/introspect"]["post"].is_object(), "{paths}");
    let schemas = &doc["components"]["schemas"];
    for name in [
        "CreateApiKeyRequest",
        "CreatedApiKey",
        "ApiKeyView",
        "ApiKeyList",
        "Introspection",
    ] {
        assert!(schemas[name].is_object(), "schema {name} missing");
    }
}
