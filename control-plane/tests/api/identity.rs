//! End-user identity: `PUT`, `GET` and `DELETE /tenants/{id}/identity` — what is accepted,
//! what is refused and how, and that the stored configuration outlives the process.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tenancy::jwt::RsaSigner;

use crate::helpers::{TestApp, assert_error, json_of};

/// A fresh RSA-2048 public JWK named `kid`, as a JWKS publishes it.
fn rsa_jwk(kid: &str) -> Value {
    serde_json::to_value(&RsaSigner::generate(kid).unwrap().jwks().keys[0]).unwrap()
}

/// A fresh P-256 public key as PEM (SubjectPublicKeyInfo).
fn ec_pem() -> String {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap();
    let der = pair.public_key().as_der().unwrap();
    format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        STANDARD.encode(der.as_ref())
    )
}

const PATH: &str = "/tenants/acme/identity";

async fn put(app: &TestApp, body: &Value) -> (StatusCode, Value) {
    json_of(app.put(PATH, body).await).await
}

#[tokio::test]
async fn registered_keys_are_stored_and_shown_as_public_jwks_only() {
    let app = TestApp::spawn().await;
    let before = app.onboard("acme").await;
    let rsa = rsa_jwk("rsa-2026");
    let (status, body) = put(
        &app,
        &json!({
            "keys": [rsa, {"kid": "ec-2026", "pem": ec_pem()}],
            "issuer": "https://auth.acme.example",
            "audience": "spotlight",
        }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["tenant"], "acme");
    assert_eq!(body["keys"][0]["kid"], "rsa-2026");
    assert_eq!(body["keys"][0]["kty"], "RSA");
    assert_eq!(body["keys"][0]["alg"], "RS256");
    assert_eq!(body["keys"][0]["n"], rsa["n"], "the same modulus");
    assert_eq!(body["keys"][1]["kid"], "ec-2026");
    assert_eq!(body["keys"][1]["kty"], "EC");
    assert_eq!(body["keys"][1]["crv"], "P-256");
    assert_eq!(body["keys"][1]["alg"], "ES256");
    assert!(
        body["keys"][1].get("pem").is_none(),
        "shown as a JWK: {body}"
    );
    assert!(body["jwks_url"].is_null());
    assert_eq!(body["issuer"], "https://auth.acme.example");
    assert_eq!(body["audience"], "spotlight");
    assert!(
        body["version"].as_u64() > before["version"].as_u64(),
        "{body}"
    );

    let (status, shown) = json_of(app.get(PATH).await).await;
    assert_eq!(status, StatusCode::OK, "{shown}");
    assert_eq!(shown, body);
    // Only the identity changed: the tenant is as it was, one version on.
    let tenant = app.tenant("acme").await;
    assert_eq!(tenant["status"], "active");
    assert_eq!(tenant["version"], body["version"]);
}

#[tokio::test]
async fn a_put_replaces_the_whole_configuration_and_an_unchanged_one_writes_nothing() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let (status, first) = put(
        &app,
        &json!({"keys": [rsa_jwk("k1")], "issuer": "https://auth.acme.example"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let url = json!({"jwks_url": "https://auth.acme.example/.well-known/jwks.json"});
    let (status, second) = put(&app, &url).await;
    assert_eq!(status, StatusCode::OK, "{second}");
    assert!(second["keys"].is_null(), "{second}");
    assert_eq!(
        second["jwks_url"],
        "https://auth.acme.example/.well-known/jwks.json"
    );
    assert!(second["issuer"].is_null(), "omitted is unset: {second}");
    let (_, again) = put(&app, &url).await;
    assert_eq!(again["version"], second["version"], "nothing changed");
}

#[tokio::test]
async fn unacceptable_configurations_are_400_naming_the_field_and_store_nothing() {
    let app = TestApp::spawn().await;
    let before = app.onboard("acme").await;
    let good = rsa_jwk("good");
    let mut short = rsa_jwk("short");
    let n = URL_SAFE_NO_PAD
        .decode(short["n"].as_str().unwrap())
        .unwrap();
    short["n"] = json!(URL_SAFE_NO_PAD.encode(&n[..128])); // 1024 bits
    let mut private = rsa_jwk("private");
    private["d"] = json!("AQAB");
    let cases = [
        (
            json!({"jwks_url": "http://auth.acme.example/jwks.json"}),
            "jwks_url",
            "must use https",
        ),
        (
            json!({"jwks_url": "https://10.1.2.3/jwks.json"}),
            "jwks_url",
            "non-public address",
        ),
        (
            json!({"jwks_url": "https://169.254.169.254/latest/meta-data/"}),
            "jwks_url",
            "non-public address",
        ),
        (
            json!({"jwks_url": "https://[::1]:8443/jwks.json"}),
            "jwks_url",
            "non-public address",
        ),
        (
            json!({"jwks_url": "https://localhost/jwks.json"}),
            "jwks_url",
            "localhost",
        ),
        (
            json!({"keys": [{"kty": "oct", "kid": "hmac", "k": "c2VjcmV0", "alg": "HS256"}]}),
            "keys",
            "keys[0] (kid \"hmac\"): kty: symmetric (oct) keys are refused",
        ),
        (
            json!({"keys": [good.clone(), short]}),
            "keys",
            "keys[1] (kid \"short\"): n: the RSA key has 1024 bits; RS256 needs at least 2048",
        ),
        (
            json!({"keys": [good.clone(), good.clone()]}),
            "keys",
            "keys[1]: kid \"good\" is also the kid of keys[0]",
        ),
        (json!({"keys": [private]}), "keys", "this is a private key"),
        (
            json!({"keys": [{"kid": "ec", "pem": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----"}]}),
            "keys",
            "is a certificate",
        ),
        (
            json!({"keys": [good.clone()], "jwks_url": "https://auth.acme.example/jwks.json"}),
            "keys",
            "not both",
        ),
        (json!({}), "keys", "either keys"),
        (json!({"keys": []}), "keys", "1 to 10 keys"),
        (json!({"keys": null}), "keys", "must be an array"),
        (
            json!({"keys": [good.clone()], "issuer": ""}),
            "issuer",
            "1 to 1024",
        ),
        (
            json!({"keys": [good.clone()], "audience": 7}),
            "audience",
            "a string or null",
        ),
        (
            json!({"keys": [good], "secret": "x"}),
            "body",
            "unknown field \"secret\"",
        ),
    ];
    for (body, field, message) in cases {
        let error = assert_error(
            app.put(PATH, &body).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
        assert_eq!(error["details"]["field"], field, "{body}: {error}");
        let said = error["message"].as_str().unwrap();
        assert!(said.contains(message), "{body}: {said}");
    }
    assert_error(
        app.get(PATH).await,
        StatusCode::NOT_FOUND,
        "identity_not_configured",
    )
    .await;
    assert_eq!(app.tenant("acme").await["version"], before["version"]);
}

#[tokio::test]
async fn an_unknown_tenant_is_404_on_every_identity_route() {
    let app = TestApp::spawn().await;
    let path = "/tenants/nobody/identity";
    let body = json!({"keys": [rsa_jwk("k1")]});
    assert_error(
        app.put(path, &body).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.get(path).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    assert_error(
        app.delete(path).await,
        StatusCode::NOT_FOUND,
        "tenant_not_found",
    )
    .await;
    // A bad id is refused before any lookup.
    let error = assert_error(
        app.get("/tenants/Not_An_Id/identity").await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "id");
}

#[tokio::test]
async fn delete_answers_what_it_removed_then_there_is_nothing() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    assert_error(
        app.delete(PATH).await,
        StatusCode::NOT_FOUND,
        "identity_not_configured",
    )
    .await;
    let (status, stored) = put(&app, &json!({"keys": [rsa_jwk("k1")]})).await;
    assert_eq!(status, StatusCode::OK, "{stored}");
    let (status, removed) = json_of(app.delete(PATH).await).await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(removed["keys"], stored["keys"]);
    assert!(removed["version"].as_u64() > stored["version"].as_u64());
    assert_error(
        app.get(PATH).await,
        StatusCode::NOT_FOUND,
        "identity_not_configured",
    )
    .await;
    assert_error(
        app.delete(PATH).await,
        StatusCode::NOT_FOUND,
        "identity_not_configured",
    )
    .await;
}

#[tokio::test]
async fn an_offboarded_tenant_cannot_change_its_identity() {
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let (status, body) = json_of(app.delete("/tenants/acme").await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_error(
        app.put(PATH, &json!({"keys": [rsa_jwk("k1")]})).await,
        StatusCode::CONFLICT,
        "tenant_offboarded",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configuration_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let stored = {
        let app = TestApp::spawn_in(dir.path()).await;
        app.onboard("acme").await;
        let (status, stored) = put(
            &app,
            &json!({
                "keys": [rsa_jwk("k1"), {"kid": "k2", "pem": ec_pem()}],
                "audience": "spotlight",
            }),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{stored}");
        stored
    };
    let app = TestApp::spawn_in(dir.path()).await;
    let (status, read) = json_of(app.get(PATH).await).await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert_eq!(read, stored);
    // What the data plane reads is the record itself.
    let id = tenancy::TenantId::parse("acme").unwrap();
    let record = app.state.registry().get_tenant(&id).await.unwrap();
    let identity = record.identity.expect("the record holds the identity");
    assert_eq!(identity.audience(), Some("spotlight"));
    assert!(identity.key("k2").is_some());
}

#[tokio::test]
async fn a_loopback_jwks_url_needs_the_test_setting() {
    let url = json!({"jwks_url": "http://127.0.0.1:5000/jwks.json"});
    let app = TestApp::spawn().await;
    app.onboard("acme").await;
    let error = assert_error(
        app.put(PATH, &url).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "jwks_url");

    let relaxed = TestApp::spawn_with(|s| s.allow_loopback_jwks = true).await;
    relaxed.onboard("acme").await;
    let (status, body) = json_of(relaxed.put(PATH, &url).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Loopback is the only exception the setting makes.
    let error = assert_error(
        relaxed
            .put(PATH, &json!({"jwks_url": "http://10.0.0.1/jwks.json"}))
            .await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    )
    .await;
    assert_eq!(error["details"]["field"], "jwks_url");
}

#[tokio::test]
async fn the_document_describes_the_identity_routes() {
    let app = TestApp::spawn().await;
    let (_, doc) = json_of(app.get("/openapi.json").await).await;
    let item = &doc["paths"]["/tenants/{id}/identity"];
    for method in ["put", "get", "delete"] {
        let op = &item[method];
        assert_eq!(op["tags"], json!(["identity"]), "{method}");
        for status in ["200", "400", "401", "404"] {
            assert!(
                op["responses"].get(status).is_some(),
                "{method} lacks {status}: {op}"
            );
        }
    }
    let request = &doc["components"]["schemas"]["SetIdentityRequest"];
    let variants = request["oneOf"]
        .as_array()
        .expect("oneOf: keys or jwks_url");
    assert_eq!(variants.len(), 2, "{request}");
    assert_eq!(variants[0]["required"], json!(["keys"]));
    assert_eq!(variants[0]["additionalProperties"], false);
    assert_eq!(variants[0]["properties"]["keys"]["maxItems"], 10);
    assert_eq!(
        variants[0]["properties"]["keys"]["items"]["oneOf"]
            .as_array()
            .map(Vec::len),
        Some(3),
        "RSA JWK, EC JWK, PEM"
    );
    assert_eq!(variants[1]["required"], json!(["jwks_url"]));
    assert_eq!(variants[1]["additionalProperties"], false);
    let view = &doc["components"]["schemas"]["IdentityView"];
    for field in [
        "tenant", "keys", "jwks_url", "issuer", "audience", "version",
    ] {
        assert!(
            view["required"]
                .as_array()
                .unwrap()
                .contains(&Value::from(field)),
            "{field}: {view}"
        );
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.contains(&Value::from("identity_not_configured")));
}
