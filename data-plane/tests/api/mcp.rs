//! `/mcp` through the official MCP client (`rmcp`, Streamable HTTP): the tools listed, a call
//! that returns exactly what the admin route returns, and another tenant's key that sees only
//! its own data.

use std::collections::HashMap;

use reqwest::Method;
use reqwest::header::{HeaderName, HeaderValue};
use rmcp::ServiceExt;
use rmcp::model::{CallToolRequestParams, CallToolResult, ClientConfig};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::helpers::{Backend, ORIGIN, TestApp, batch, event, on_both_backends, step_ids, tour};

type Client = RunningService<RoleClient, ClientConfig>;

async fn connect(app: &TestApp, key: &str) -> Client {
    let headers = HashMap::from([(
        HeaderName::from_static("x-api-key"),
        HeaderValue::from_str(key).unwrap(),
    )]);
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(format!("{}/mcp", app.url))
            .custom_headers(headers),
    );
    ClientConfig::default().serve(transport).await.unwrap()
}

async fn call(client: &Client, tool: &'static str, args: Value) -> CallToolResult {
    let Value::Object(args) = args else {
        panic!("arguments are an object")
    };
    client
        .call_tool(CallToolRequestParams::new(tool).with_arguments(args))
        .await
        .unwrap()
}

/// The JSON text of a tool's answer.
fn json_of(result: &CallToolResult) -> Value {
    let text = &result.content[0].as_text().expect("a text answer").text;
    serde_json::from_str(text).unwrap()
}

async fn the_tools_answer_what_the_routes_answer_for_the_callers_tenant_only(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    let published = app.publish(&a.secret, tour()).await;
    let content = published["id"].as_str().unwrap().to_owned();
    let steps = step_ids(&published);
    let sent = app
        .with_key(Method::POST, "/v1/sdk/events", &a.secret)
        .json(&batch(vec![
            event("impression", &content, &steps[0], "u1"),
            event("impression", &content, &steps[0], "u2"),
            event("impression", &content, &steps[1], "u1"),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    app.fold().await;
    let theirs = app.publish(&b.secret, tour()).await;

    let client = connect(&app, &a.secret).await;
    let mut tools: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.into_owned())
        .collect();
    tools.sort();
    assert_eq!(
        tools,
        [
            "funnel",
            "list_content",
            "metric_series",
            "overview",
            "selector_health",
            "summary"
        ]
    );

    let funnel = call(&client, "funnel", json!({ "content_id": content })).await;
    assert_ne!(funnel.is_error, Some(true), "{funnel:?}");
    let route: Value = app
        .with_key(
            Method::GET,
            &format!("/v1/admin/analytics/funnels/{content}"),
            &a.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json_of(&funnel), route);
    assert_eq!(route["steps"][0]["users"], 2, "{route}");

    let listed = json_of(&call(&client, "list_content", json!({})).await).to_string();
    assert!(listed.contains(&content), "{listed}");
    assert!(!listed.contains(theirs["id"].as_str().unwrap()), "{listed}");
    let summary = json_of(&call(&client, "summary", json!({ "period": "2026-13" })).await);
    assert_eq!(summary["error"]["code"], "invalid_request", "{summary}");

    // B's key: A's content does not exist for it, and its list is its own.
    let other = connect(&app, &b.secret).await;
    let refused = call(&other, "funnel", json!({ "content_id": content })).await;
    assert_eq!(refused.is_error, Some(true), "{refused:?}");
    assert_eq!(json_of(&refused)["error"]["code"], "content_not_found");
    let listed = json_of(&call(&other, "list_content", json!({})).await).to_string();
    assert!(!listed.contains(&content), "{listed}");
    assert!(listed.contains(theirs["id"].as_str().unwrap()), "{listed}");
    // The summary and metrics tools, too, answer from the caller's tenant alone.
    let month = &OffsetDateTime::now_utc().date().to_string()[..7];
    let uploaded = app
        .with_key(Method::POST, "/v1/admin/metrics", &a.secret)
        .header("content-type", "text/csv")
        .body(format!("subject,period,value\nrevenue,{month},1250\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(uploaded.status(), 200);
    let ours = json_of(&call(&client, "summary", json!({ "period": month })).await);
    assert!(
        !ours["facts"]["facts"].as_array().unwrap().is_empty(),
        "{ours}"
    );
    let theirs_summary = json_of(&call(&other, "summary", json!({ "period": month })).await);
    assert_eq!(
        theirs_summary["facts"]["facts"],
        json!([]),
        "{theirs_summary}"
    );
    let series = json!({ "subject": "revenue", "from": month });
    let ours = json_of(&call(&client, "metric_series", series.clone()).await);
    assert_eq!(ours["values"][0]["value"], 1250.0, "{ours}");
    let theirs_series = json_of(&call(&other, "metric_series", series).await);
    assert_eq!(theirs_series["values"], json!([]), "{theirs_series}");
    client.cancel().await.unwrap();
    other.cancel().await.unwrap();
}

on_both_backends!(the_tools_answer_what_the_routes_answer_for_the_callers_tenant_only);

#[tokio::test]
async fn mcp_without_a_key_or_without_an_admin_is_refused_before_the_protocol() {
    let app = TestApp::spawn().await;
    let a = app.tenant("tenant-a").await;
    let initialize = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                   "clientInfo": {"name": "test", "version": "1"}}
    });
    let response = app
        .request(Method::POST, "/mcp")
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized", "{body}");

    // A browser's publishable key without an admin token is no admin.
    let response = app
        .with_key(Method::POST, "/mcp", &a.publishable)
        .header("origin", ORIGIN)
        .header("accept", "application/json, text/event-stream")
        .json(&initialize)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("unauthorized")),
        "{body}"
    );
}
