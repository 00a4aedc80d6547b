//! Key facts of the served `/openapi.json`, so that a regression of the contract fails here,
//! without Python; scripts/schemathesis.sh checks the whole document against the server.

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{PUBLIC_ROUTES, ROUTES, TestApp, json_of};

const TENANT_ID_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";

async fn served_document() -> Value {
    let app = TestApp::spawn().await;
    let (status, doc) = json_of(app.get("/openapi.json").await).await;
    assert_eq!(status, StatusCode::OK);
    doc
}

/// Every `(method, path, operation)` of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .iter()
                .map(move |(method, op)| (method.to_uppercase(), path.clone(), op.clone()))
        })
        .collect()
}

fn statuses(op: &Value) -> Vec<&str> {
    op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(String::as_str)
        .collect()
}

fn parameter<'a>(op: &'a Value, name: &str, location: &str) -> Option<&'a Value> {
    op["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name && p["in"] == location)
}

#[tokio::test]
async fn the_document_is_the_one_built_from_the_routes() {
    let doc = served_document().await;
    let built = serde_json::to_value(control_plane::openapi::document()).unwrap();
    assert_eq!(doc, built);
    assert_eq!(operations(&doc).len(), ROUTES.len());
}

#[tokio::test]
async fn every_operator_route_documents_401_and_the_backend_failures() {
    let doc = served_document().await;
    for (method, path, op) in operations(&doc) {
        let found = statuses(&op);
        if PUBLIC_ROUTES.contains(&path.as_str()) {
            assert!(
                !found.contains(&"401"),
                "{method} {path} is public: {found:?}"
            );
            continue;
        }
        for status in ["401", "500", "503"] {
            assert!(
                found.contains(&status),
                "{method} {path} lacks {status}: {found:?}"
            );
        }
        assert_eq!(
            op["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/ErrorBody",
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn every_post_documents_the_idempotency_key_and_its_answers() {
    let doc = served_document().await;
    let posts: Vec<_> = operations(&doc)
        .into_iter()
        .filter(|(method, _, _)| method == "POST")
        .collect();
    assert_eq!(posts.len(), 8, "{posts:?}");
    for (_, path, op) in posts {
        let key = parameter(&op, "Idempotency-Key", "header")
            .unwrap_or_else(|| panic!("POST {path} lacks the Idempotency-Key parameter"));
        assert_eq!(key["required"], false, "POST {path}: {key}");
        assert_eq!(key["schema"]["minLength"], 1, "POST {path}: {key}");
        assert_eq!(key["schema"]["maxLength"], 255, "POST {path}: {key}");
        let found = statuses(&op);
        for status in ["400", "409", "413", "422"] {
            assert!(
                found.contains(&status),
                "POST {path} lacks {status}: {found:?}"
            );
        }
        let described = |status: &str| {
            op["responses"][status]["description"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        };
        assert!(
            described("409").contains("idempotency_key_in_use"),
            "POST {path}"
        );
        assert!(
            described("422").contains("idempotency_key_reused"),
            "POST {path}"
        );
        assert!(
            described("400").contains("invalid_idempotency_key"),
            "POST {path}"
        );
    }
}

#[tokio::test]
async fn every_json_body_documents_413_415_and_400() {
    let doc = served_document().await;
    let mut with_body = 0;
    for (method, path, op) in operations(&doc) {
        if op.get("requestBody").is_none() {
            continue;
        }
        with_body += 1;
        let found = statuses(&op);
        for status in ["400", "413", "415"] {
            assert!(
                found.contains(&status),
                "{method} {path} lacks {status}: {found:?}"
            );
        }
    }
    assert_eq!(
        with_body, 6,
        "POST /tenants, PATCH /tenants/{{id}}, two API-key POSTs, the admin invitation, \
         PUT /tenants/{{id}}/identity"
    );
}

#[tokio::test]
async fn path_and_query_parameters_state_what_the_server_accepts() {
    let doc = served_document().await;
    let mut tenant_paths = 0;
    for (method, path, op) in operations(&doc) {
        if path.contains("{id}") {
            tenant_paths += 1;
            let id = parameter(&op, "id", "path")
                .unwrap_or_else(|| panic!("{method} {path} lacks the id parameter"));
            assert_eq!(id["required"], true);
            let schema = &id["schema"];
            assert_eq!(schema["type"], "string", "{method} {path}: {id}");
            assert_eq!(
                schema["pattern"], TENANT_ID_PATTERN,
                "{method} {path}: {id}"
            );
            assert_eq!(schema["minLength"], 3, "{method} {path}: {id}");
            assert_eq!(schema["maxLength"], 40, "{method} {path}: {id}");
        }
        if path.contains("{key_id}") {
            let key_id = parameter(&op, "key_id", "path").expect("key_id parameter");
            assert_eq!(
                key_id["schema"]["pattern"], "^key_[0-9a-f]{32}$",
                "{key_id}"
            );
        }
        if path.contains("{admin}") {
            let admin = parameter(&op, "admin", "path").expect("admin parameter");
            assert_eq!(admin["required"], true, "{method} {path}: {admin}");
            let pattern = admin["schema"]["pattern"].as_str().expect("a pattern");
            assert!(pattern.starts_with("^([A-Za-z0-9-]{1,128}|"), "{pattern}");
        }
    }
    assert_eq!(tenant_paths, 18);

    let list = &doc["paths"]["/tenants"]["get"];
    let limit = &parameter(list, "limit", "query").expect("limit")["schema"];
    assert_eq!(
        (&limit["type"], &limit["minimum"], &limit["maximum"]),
        (&Value::from("integer"), &Value::from(1), &Value::from(1000)),
        "{limit}"
    );
    let after = &parameter(list, "after", "query").expect("after")["schema"];
    assert_eq!(after["pattern"], TENANT_ID_PATTERN, "{after}");
    let status = &parameter(list, "status", "query").expect("status")["schema"];
    assert_eq!(
        status["$ref"], "#/components/schemas/TenantStatus",
        "{status}"
    );
    for path in ["/tenants", "/tenants/{id}/retry"] {
        let wait = &parameter(&doc["paths"][path]["post"], "wait", "query").expect("wait");
        assert_eq!(wait["schema"]["type"], "boolean", "{path}: {wait}");
    }
}

#[tokio::test]
async fn create_tenant_request_requires_id_name_and_owner_email() {
    let doc = served_document().await;
    let schema = &doc["components"]["schemas"]["CreateTenantRequest"];
    let required: Vec<&str> = schema["required"]
        .as_array()
        .expect("required")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    for field in ["id", "name", "owner_email"] {
        assert!(required.contains(&field), "{field} not required: {schema}");
        assert_eq!(
            schema["properties"][field]["type"], "string",
            "{field} must be a non-null string: {schema}"
        );
    }
    assert!(!required.contains(&"tier") && !required.contains(&"allowed_origins"));
    assert_eq!(schema["properties"]["id"]["pattern"], TENANT_ID_PATTERN);
    assert_eq!(schema["properties"]["name"]["maxLength"], 200);
    assert_eq!(schema["properties"]["owner_email"]["maxLength"], 254);
    assert_eq!(schema["additionalProperties"], false);
}

#[tokio::test]
async fn fields_always_sent_are_required_and_null_ones_nullable() {
    let doc = served_document().await;
    let schemas = &doc["components"]["schemas"];
    let next = &schemas["TenantList"];
    assert!(
        next["required"]
            .as_array()
            .unwrap()
            .contains(&Value::from("next")),
        "{next}"
    );
    assert_eq!(
        next["properties"]["next"]["type"],
        serde_json::json!(["string", "null"]),
        "{next}"
    );
    for (schema, field) in [
        ("TenantView", "failure"),
        ("CreatedApiKey", "expires_at"),
        ("ApiKeyView", "expires_at"),
        ("ApiKeyView", "revoked_at"),
        ("ApiKeyView", "last_used_at"),
    ] {
        let required = schemas[schema]["required"].as_array().unwrap();
        assert!(
            required.contains(&Value::from(field)),
            "{schema}.{field} is always sent"
        );
        let property = schemas[schema]["properties"][field].to_string();
        assert!(
            property.contains("null"),
            "{schema}.{field} may be null: {property}"
        );
    }
    let details = &schemas["ErrorDetail"];
    assert_eq!(
        details["properties"]["details"]["type"], "object",
        "{details}"
    );
}
