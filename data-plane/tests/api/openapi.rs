//! The served document: what the routes and layers answer, from the same registrations.

use reqwest::Method;
use serde_json::Value;

use crate::helpers::TestApp;

#[tokio::test]
async fn the_document_lists_every_route_with_the_error_body_and_the_codes() {
    let app = TestApp::spawn().await;
    let doc: Value = app
        .request(Method::GET, "/openapi.json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    std::fs::write(
        std::env::temp_dir().join("data-plane-openapi.json"),
        serde_json::to_vec_pretty(&doc).unwrap(),
    )
    .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/sdk/content",
        "/v1/sdk/events",
        "/v1/admin/content",
        "/v1/admin/content/{content_id}/publish",
        "/v1/admin/analytics/funnels/{content_id}",
        "/healthz",
    ] {
        assert!(paths.contains_key(path), "{path} is not documented");
    }
    let events = &paths["/v1/sdk/events"]["post"]["responses"];
    for status in ["200", "400", "401", "403", "413", "429"] {
        assert!(
            events.get(status).is_some(),
            "POST /v1/sdk/events lacks {status}"
        );
    }
    let codes = doc["components"]["schemas"]["ErrorCode"]["enum"]
        .as_array()
        .unwrap();
    assert!(codes.iter().any(|c| c == "content_invalid"));
    assert!(doc["components"]["schemas"].get("SdkEvent").is_some());
    for union in ["TraitRule", "Question"] {
        for variant in doc["components"]["schemas"][union]["oneOf"]
            .as_array()
            .unwrap()
        {
            assert_eq!(variant["additionalProperties"], false, "{union}: {variant}");
        }
    }
}
