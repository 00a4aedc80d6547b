//! The browser SDK as the data plane serves and tracks it: the versioned layout under `/sdk/`
//! with its cache headers, the versions every SDK request carries (counted, recorded, and
//! reported to the tenant's admins against the version it published), and the SDK's own
//! failures.

use std::path::Path;

use data_plane::hosting::dist::integrity;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, OPERATOR_TOKEN, TestApp, batch, error_code, event, now, on_both_backends, step_ids,
    tour,
};

/// Lays out `versions` (each with a `spotlight.min.js` and an `admin.min.js` naming it) under
/// `dir` as `scripts/build-sdk.sh` does, `latest` the last.
fn lay_out(dir: &Path, versions: &[&str]) {
    let mut listed = serde_json::Map::new();
    for version in versions {
        let mut files = serde_json::Map::new();
        for name in ["spotlight.min.js", "admin.min.js"] {
            let bytes = format!("/* {name} {version} */");
            for sub in [format!("v{version}"), "latest".to_owned()] {
                std::fs::create_dir_all(dir.join(&sub)).unwrap();
                std::fs::write(dir.join(&sub).join(name), &bytes).unwrap();
            }
            files.insert(
                name.to_owned(),
                json!({"integrity": integrity(bytes.as_bytes()), "bytes": bytes.len()}),
            );
        }
        listed.insert(
            (*version).to_owned(),
            json!({"built_at": "2026-12-01T00:00:00Z", "files": files}),
        );
    }
    let manifest = json!({
        "latest": versions.last().unwrap(), "built_at": "2026-12-01T00:00:00Z", "versions": listed
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

async fn hosting(kind: Backend, versions: &[&str]) -> (TestApp, tempfile::TempDir) {
    let dist = tempfile::tempdir().unwrap();
    lay_out(dist.path(), versions);
    let root = dist.path().to_owned();
    let app = TestApp::spawn_with_on(kind, move |s| s.sdk_dir = root).await;
    (app, dist)
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

#[tokio::test]
async fn pinned_versions_are_immutable_latest_and_the_manifest_are_short_lived() {
    let (app, _dist) = hosting(Backend::Embedded, &["1.0.0", "1.1.0"]).await;

    let pinned = app
        .request(Method::GET, "/sdk/v1.0.0/spotlight.min.js")
        .send()
        .await
        .unwrap();
    assert_eq!(pinned.status(), 200);
    assert_eq!(
        header(&pinned, "cache-control"),
        "public, max-age=31536000, immutable"
    );
    assert_eq!(
        header(&pinned, "content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(header(&pinned, "access-control-allow-origin"), "*");
    let etag = header(&pinned, "etag").to_owned();
    assert!(etag.starts_with('"') && etag.len() > 2, "{etag}");
    assert_eq!(pinned.text().await.unwrap(), "/* spotlight.min.js 1.0.0 */");
    let again = app
        .request(Method::GET, "/sdk/v1.0.0/spotlight.min.js")
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    assert_eq!(header(&again, "etag"), etag);

    let latest = app
        .request(Method::GET, "/sdk/latest/admin.min.js")
        .send()
        .await
        .unwrap();
    assert_eq!(latest.status(), 200);
    assert_eq!(
        header(&latest, "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert!(!header(&latest, "etag").is_empty());
    assert_eq!(latest.text().await.unwrap(), "/* admin.min.js 1.1.0 */");

    let manifest = app
        .request(Method::GET, "/sdk/manifest.json")
        .send()
        .await
        .unwrap();
    assert_eq!(manifest.status(), 200);
    assert_eq!(
        header(&manifest, "cache-control"),
        "public, max-age=60, stale-while-revalidate=300"
    );
    assert_eq!(header(&manifest, "content-type"), "application/json");
    assert!(!header(&manifest, "etag").is_empty());
    let manifest: Value = manifest.json().await.unwrap();
    assert_eq!(manifest["latest"], "1.1.0");
    let sri = manifest["versions"]["1.0.0"]["files"]["spotlight.min.js"]["integrity"]
        .as_str()
        .unwrap();
    assert_eq!(sri, integrity(b"/* spotlight.min.js 1.0.0 */"));
}

#[tokio::test]
async fn a_version_never_built_is_a_404_never_a_fallback() {
    let (app, dist) = hosting(Backend::Embedded, &["1.0.0"]).await;
    for path in [
        "/sdk/v9.9.9/spotlight.min.js",
        "/sdk/v1.0.0/other.js",
        "/sdk/v1.0/spotlight.min.js",
        "/sdk/1.0.0/spotlight.min.js",
        "/sdk/latest/manifest.json",
    ] {
        let response = app.request(Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(error_code(response).await, "sdk_not_found", "{path}");
    }
    // Bytes on disk that no longer match the manifest are not handed out.
    std::fs::write(dist.path().join("v1.0.0/spotlight.min.js"), "tampered with").unwrap();
    let tampered = app
        .request(Method::GET, "/sdk/v1.0.0/spotlight.min.js")
        .send()
        .await
        .unwrap();
    assert_eq!(tampered.status(), 500);

    let bare = TestApp::spawn_with(|s| s.sdk_dir = "/nonexistent/spotlight-sdk".into()).await;
    let response = bare
        .request(Method::GET, "/sdk/manifest.json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scripts/build-sdk.sh"),
        "{body}"
    );
}

async fn metrics(app: &TestApp) -> String {
    app.request(Method::GET, "/metrics")
        .header("authorization", format!("Bearer {OPERATOR_TOKEN}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

async fn content(app: &TestApp, key: &str, bundle: &str, embed: &str) -> u16 {
    app.with_key(
        Method::GET,
        "/v1/sdk/content?url=https://app.example.com/",
        key,
    )
    .header("x-spotlight-bundle-version", bundle)
    .header("x-spotlight-sdk-version", embed)
    .send()
    .await
    .unwrap()
    .status()
    .as_u16()
}

#[tokio::test]
async fn bundle_versions_are_counted_per_tenant_and_made_up_ones_are_unknown() {
    let (app, _dist) = hosting(Backend::Embedded, &["1.0.0"]).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    assert_eq!(
        content(&app, &acme.publishable, "1.0.0", "1.0.0").await,
        200
    );
    assert_eq!(
        content(&app, &acme.publishable, "1.0.0", "latest").await,
        200
    );
    assert_eq!(
        content(&app, &globex.publishable, "7.7.7-evil", "x").await,
        200
    );
    // A tenant's server (no version header) is not an SDK page.
    app.with_key(
        Method::GET,
        "/v1/sdk/content?url=https://app.example.com/",
        &acme.secret,
    )
    .send()
    .await
    .unwrap();
    // A beacon carries the versions in its body.
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let mut beacon = batch(vec![event("impression", id, &steps[0], "u1")]);
    beacon["api_key"] = json!(acme.publishable);
    beacon["bundle_version"] = json!("1.0.0");
    beacon["sdk_version"] = json!("1.0.0");
    let sent = app
        .request(Method::POST, "/v1/sdk/events")
        .header("origin", crate::helpers::ORIGIN)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(beacon.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);

    let text = metrics(&app).await;
    for line in [
        r#"spotlight_sdk_bundle_version_seen_total{tenant_id="acme",version="1.0.0"} 3"#,
        r#"spotlight_sdk_bundle_version_seen_total{tenant_id="globex",version="unknown"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
    assert!(!text.contains("7.7.7"), "{text}");
}

#[tokio::test]
async fn the_sdk_reports_its_failures_by_kind() {
    let (app, _dist) = hosting(Backend::Embedded, &["1.0.0"]).await;
    let acme = app.tenant("acme").await;
    let report = |body: Value| {
        app.with_key(Method::POST, "/v1/sdk/errors", &acme.publishable)
            .json(&body)
            .send()
    };
    for _ in 0..2 {
        let sent = report(json!({"kind": "content_fetch_failed", "message": "HTTP 503"}))
            .await
            .unwrap();
        assert_eq!(sent.status(), 204);
    }
    assert_eq!(
        report(json!({"kind": "render_failed"}))
            .await
            .unwrap()
            .status(),
        204
    );
    let unknown = report(json!({"kind": "exploded"})).await.unwrap();
    assert_eq!(unknown.status(), 400);
    let long = report(json!({"kind": "render_failed", "message": "x".repeat(501)}))
        .await
        .unwrap();
    assert_eq!(long.status(), 400);
    assert!(
        long.json::<Value>().await.unwrap()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("501 characters")
    );
    let keyless = app
        .request(Method::POST, "/v1/sdk/errors")
        .json(&json!({"kind": "render_failed"}))
        .send()
        .await
        .unwrap();
    assert_eq!(keyless.status(), 401);

    let text = metrics(&app).await;
    for line in [
        r#"spotlight_sdk_errors_total{kind="content_fetch_failed"} 2"#,
        r#"spotlight_sdk_errors_total{kind="render_failed"} 1"#,
    ] {
        assert!(text.contains(line), "missing {line} in:\n{text}");
    }
}

async fn versions(app: &TestApp, key: &str) -> Value {
    let response = app
        .with_key(Method::GET, "/v1/admin/sdk/versions", key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn publish_version(app: &TestApp, key: &str, version: &str) -> reqwest::Response {
    app.with_key(Method::PUT, "/v1/admin/sdk/version", key)
        .json(&json!({ "version": version }))
        .send()
        .await
        .unwrap()
}

async fn admins_see_what_their_pages_ran_against_what_they_published(kind: Backend) {
    let (app, _dist) = hosting(kind, &["1.0.0", "1.1.0"]).await;
    let acme = app.tenant("acme").await;

    for refused in ["latest", "9.9.9", "not a version"] {
        let response = publish_version(&app, &acme.secret, refused).await;
        assert_eq!(response.status(), 400, "{refused}");
        let body: Value = response.json().await.unwrap();
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("1.0.0, 1.1.0"),
            "{body}"
        );
    }
    let published = publish_version(&app, &acme.secret, "1.1.0").await;
    assert_eq!(published.status(), 200);

    assert_eq!(
        content(&app, &acme.publishable, "1.1.0", "1.1.0").await,
        200
    );
    assert_eq!(
        content(&app, &acme.publishable, "1.0.0", "1.0.0").await,
        200
    );
    assert_eq!(
        content(&app, &acme.publishable, "1.1.0", "latest").await,
        200
    );
    // Seen again: one sighting per day still.
    assert_eq!(
        content(&app, &acme.publishable, "1.0.0", "1.0.0").await,
        200
    );

    let report = versions(&app, &acme.secret).await;
    assert_eq!(report["published"]["version"], "1.1.0", "{report}");
    assert_eq!(report["latest_built"], "1.1.0");
    let today = &now()[..10];
    let mut seen: Vec<(String, String, u64)> = report["seen"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            assert_eq!(s["last_seen"], today, "{s}");
            (
                s["bundle_version"].as_str().unwrap().to_owned(),
                s["sdk_version"].as_str().unwrap().to_owned(),
                s["days"].as_u64().unwrap(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        vec![
            ("1.0.0".into(), "1.0.0".into(), 1),
            ("1.1.0".into(), "1.1.0".into(), 1),
            ("1.1.0".into(), "latest".into(), 1),
        ]
    );
    let findings: Vec<(&str, &str)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["code"].as_str().unwrap(),
                f["sdk_version"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        findings,
        vec![("stale_pin", "1.0.0"), ("latest_in_production", "latest")]
    );
}

async fn a_tenants_versions_are_its_own(kind: Backend) {
    let (app, _dist) = hosting(kind, &["1.0.0"]).await;
    let acme = app.tenant("acme").await;
    let globex = app.tenant("globex").await;
    assert_eq!(
        publish_version(&app, &acme.secret, "1.0.0").await.status(),
        200
    );
    assert_eq!(
        content(&app, &acme.publishable, "1.0.0", "latest").await,
        200
    );

    let theirs = versions(&app, &globex.secret).await;
    assert_eq!(theirs["published"], Value::Null, "{theirs}");
    assert_eq!(theirs["seen"], json!([]));
    assert_eq!(theirs["findings"], json!([]));
    // Globex's admin token cannot read Acme's report with Acme's publishable key.
    let token = app.admin_token(&globex.id, "ann@globex.example").await;
    let crossed = app
        .with_key(Method::GET, "/v1/admin/sdk/versions", &acme.publishable)
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert!(
        [401, 403].contains(&crossed.status().as_u16()),
        "{}",
        crossed.status()
    );
    let ours = versions(&app, &acme.secret).await;
    assert_eq!(ours["seen"].as_array().unwrap().len(), 1, "{ours}");
}

on_both_backends!(
    admins_see_what_their_pages_ran_against_what_they_published,
    a_tenants_versions_are_its_own
);
