//! The Lambda transports: API Gateway HTTP API (v2) events through the service the Lambda
//! runtime runs, answered as API Gateway expects; DynamoDB Streams batches of an events table
//! through the stream handler, which folds exactly once and touches no table no tenant owns.

use aws_lambda_events::event::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::event::dynamodb::Event;
use axum::Router;
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use data_plane::events::ingest::OUTBOX_SHARDS;
use data_plane::lambda::{self, StreamOutcome};
use lambda_http::request::LambdaRequest;
use lambda_http::{Adapter, Context, LambdaEvent};
use serde_json::{Value, json};
use tenancy::ApiKeyKind;
use tenancy::ports::{Item, Query};
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use tower::{Service, ServiceExt};

use crate::helpers::{
    Backend, ORIGIN, Tenant, TestApp, batch, event, on_both_backends, step_ids, tour,
};

type Http = Adapter<'static, Response, Router>;

const HOST: &str = "a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com";

/// An API Gateway HTTP API (v2) event, as API Gateway sends it to the function.
fn apigw(
    method: &str,
    path: &str,
    query: &str,
    headers: &[(&str, &str)],
    body: Option<(&str, bool)>,
) -> Value {
    let mut all = json!({
        "accept": "*/*",
        "host": HOST,
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64)",
        "x-amzn-trace-id": "Root=1-6750a7c0-0123456789abcdef01234567",
        "x-forwarded-for": "203.0.113.7",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
    });
    for (name, value) in headers {
        all[*name] = json!(value);
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": all,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "a1b2c3d4e5",
            "domainName": HOST,
            "domainPrefix": "a1b2c3d4e5",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.7",
                "userAgent": "Mozilla/5.0 (X11; Linux x86_64)",
            },
            "requestId": "Cj5bXh0aDoEEMsQ=",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Dec/2026:12:00:00 +0000",
            "timeEpoch": 1_796_126_400_000_i64,
        },
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        let params: serde_json::Map<String, Value> = url::form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), json!(v)))
            .collect();
        event["queryStringParameters"] = Value::Object(params);
    }
    if let Some((body, base64)) = body {
        event["body"] = json!(body);
        event["isBase64Encoded"] = json!(base64);
    }
    event
}

/// Hands `event` to the service the Lambda runtime runs; the response as API Gateway gets it.
async fn invoke(http: &mut Http, event: Value) -> Value {
    let request: ApiGatewayV2httpRequest = serde_json::from_value(event).unwrap();
    let invocation = LambdaEvent::new(LambdaRequest::ApiGatewayV2(request), Context::default());
    let response = http.ready().await.unwrap().call(invocation).await.unwrap();
    serde_json::to_value(response).unwrap()
}

/// The JSON body of an API Gateway response, which must be text.
fn body(response: &Value) -> Value {
    assert_eq!(response["isBase64Encoded"], false, "{response}");
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

fn with_origin<'a>(key: &'a str, origin: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![("x-api-key", key), ("origin", origin)]
}

/// Posts `events` through the HTTP function with the publishable key and the allowed origin.
async fn post_events(http: &mut Http, acme: &Tenant, events: Vec<Value>) -> Value {
    let mut headers = with_origin(&acme.publishable, ORIGIN);
    headers.push(("content-type", "application/json"));
    let sent = batch(events).to_string();
    let response = invoke(
        http,
        apigw("POST", "/v1/sdk/events", "", &headers, Some((&sent, false))),
    )
    .await;
    assert_eq!(response["statusCode"], 200, "{response}");
    body(&response)
}

/// Distinct users per step of `content`'s funnel, read through the HTTP function.
async fn funnel_users(http: &mut Http, acme: &Tenant, content: &str) -> Vec<u64> {
    let path = format!("/v1/admin/analytics/funnels/{content}");
    let response = invoke(
        http,
        apigw("GET", &path, "", &[("x-api-key", &acme.secret)], None),
    )
    .await;
    assert_eq!(response["statusCode"], 200, "{response}");
    body(&response)["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect()
}

#[tokio::test]
async fn content_for_a_page_is_served_through_api_gateway_with_cors_for_the_allowed_origin_only() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let mut http = lambda::http_service(app.state.clone());
    let query = "url=https%3A%2F%2Fapp.example.com%2Fdashboard%2Freports";

    let response = invoke(
        &mut http,
        apigw(
            "GET",
            "/v1/sdk/content",
            query,
            &with_origin(&acme.publishable, ORIGIN),
            None,
        ),
    )
    .await;
    assert_eq!(response["statusCode"], 200, "{response}");
    let headers = &response["headers"];
    assert_eq!(headers["access-control-allow-origin"], ORIGIN);
    assert_eq!(
        headers["access-control-expose-headers"],
        "etag, retry-after"
    );
    assert_eq!(headers["vary"], "origin");
    assert!(
        headers["content-type"]
            .as_str()
            .unwrap()
            .starts_with("application/json")
    );
    let etag = headers["etag"].as_str().unwrap().to_owned();
    assert!(etag.starts_with('"'), "a strong ETag: {etag}");
    let items = body(&response)["items"].clone();
    assert_eq!(items.as_array().unwrap().len(), 1);
    assert_eq!(items[0]["id"], published["id"]);
    assert_eq!(items[0]["version"], 1);

    // The ETag the function sent is honoured on the next invocation.
    let mut headers = with_origin(&acme.publishable, ORIGIN);
    headers.push(("if-none-match", &etag));
    let again = invoke(
        &mut http,
        apigw("GET", "/v1/sdk/content", query, &headers, None),
    )
    .await;
    assert_eq!(again["statusCode"], 304, "{again}");

    // A foreign origin with the same key: refused with the error body and no allow header.
    let foreign = invoke(
        &mut http,
        apigw(
            "GET",
            "/v1/sdk/content",
            query,
            &with_origin(&acme.publishable, "https://evil.example.net"),
            None,
        ),
    )
    .await;
    assert_eq!(foreign["statusCode"], 403, "{foreign}");
    assert!(foreign["headers"]["access-control-allow-origin"].is_null());
    assert_eq!(foreign["headers"]["vary"], "origin");
    assert_eq!(body(&foreign)["error"]["code"], "origin_not_allowed");
}

#[tokio::test]
async fn a_cold_instance_reads_the_origins_for_its_first_preflight() {
    let app = TestApp::spawn().await;
    app.tenant("acme").await;
    // An instance whose origin directory was never read: the preflight must read it first.
    let cold = app.fresh_state();
    assert!(!cold.origins.allows(ORIGIN));
    let mut http = lambda::http_service(cold.clone());
    let preflight = |origin: &str| {
        apigw(
            "OPTIONS",
            "/v1/sdk/events",
            "",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type, x-api-key"),
            ],
            None,
        )
    };
    let allowed = invoke(&mut http, preflight(ORIGIN)).await;
    assert_eq!(allowed["statusCode"], 204, "{allowed}");
    assert_eq!(allowed["headers"]["access-control-allow-origin"], ORIGIN);
    assert_eq!(allowed["headers"]["access-control-max-age"], "600");
    assert!(cold.origins.allows(ORIGIN));
    let foreign = invoke(&mut http, preflight("https://evil.example.net")).await;
    assert_eq!(foreign["statusCode"], 403, "{foreign}");
    assert!(foreign["headers"]["access-control-allow-origin"].is_null());
    assert_eq!(body(&foreign)["error"]["code"], "origin_not_allowed");
}

#[tokio::test]
async fn an_event_batch_is_accepted_from_a_text_body_and_a_base64_body() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let mut http = lambda::http_service(app.state.clone());

    let one = event("impression", id, &steps[0], "anon-1");
    let outcome = post_events(&mut http, &acme, vec![one.clone(), one.clone()]).await;
    assert_eq!(
        outcome,
        json!({"accepted": 1, "duplicates": 1, "rejected": []})
    );

    // API Gateway base64-encodes a body it does not take for text.
    let mut headers = with_origin(&acme.publishable, ORIGIN);
    headers.push(("content-type", "application/json"));
    let two = event("tour_step", id, &steps[1], "anon-1");
    let encoded = STANDARD.encode(batch(vec![two, one]).to_string());
    let response = invoke(
        &mut http,
        apigw(
            "POST",
            "/v1/sdk/events",
            "",
            &headers,
            Some((&encoded, true)),
        ),
    )
    .await;
    assert_eq!(response["statusCode"], 200, "{response}");
    assert_eq!(response["headers"]["access-control-allow-origin"], ORIGIN);
    assert_eq!(
        body(&response),
        json!({"accepted": 1, "duplicates": 1, "rejected": []})
    );
    assert_eq!(app.fold().await, 2, "two events were stored");
}

#[tokio::test]
async fn an_unknown_key_is_a_401_with_the_error_body() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let mut http = lambda::http_service(app.state.clone());
    // Well formed, checksum and all, but never stored.
    let unknown = tenancy::api_key::issue(
        &app.hasher,
        &acme.id,
        ApiKeyKind::Publishable,
        OffsetDateTime::now_utc(),
        None,
    );
    let response = invoke(
        &mut http,
        apigw(
            "GET",
            "/v1/sdk/content",
            "url=https%3A%2F%2Fapp.example.com%2Fdashboard",
            &with_origin(unknown.key.expose(), ORIGIN),
            None,
        ),
    )
    .await;
    assert_eq!(response["statusCode"], 401, "{response}");
    assert!(response["headers"]["access-control-allow-origin"].is_null());
    assert_eq!(body(&response)["error"]["code"], "unauthorized");
}

/// Every outbox record of `acme`'s events table, as the stream of `arn_table` would show their
/// inserts, with an event item's insert and an outbox record's removal among them (both to be
/// ignored).
async fn outbox_records(app: &TestApp, acme: &Tenant, arn_table: &str) -> Vec<Value> {
    let names = app.resources(&acme.id).await;
    let table = &names.events_table;
    let mut outbox: Vec<Item> = Vec::new();
    for shard in 0..OUTBOX_SHARDS {
        let page = app
            .state
            .backend
            .items
            .query(
                table,
                &Query {
                    pk: keys::outbox(shard),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        outbox.extend(page.items);
    }
    assert!(!outbox.is_empty(), "events were posted");
    let mut records: Vec<Value> = outbox
        .iter()
        .enumerate()
        .map(|(n, item)| {
            let mut image = json!({"pk": {"S": item.key.pk}, "sk": {"S": item.key.sk}});
            for (name, value) in &item.attrs {
                if let Some(s) = value.as_str() {
                    image[name] = json!({"S": s});
                }
            }
            record(
                arn_table,
                "INSERT",
                &item.key.pk,
                &item.key.sk,
                Some(image),
                n,
            )
        })
        .collect();
    records.push(record(arn_table, "INSERT", "EID#x", "EID", None, 90));
    records.push(record(
        arn_table,
        "REMOVE",
        &outbox[0].key.pk,
        &outbox[0].key.sk,
        None,
        91,
    ));
    records
}

/// A DynamoDB Streams event as Lambda delivers it.
fn stream(records: Vec<Value>) -> Event {
    serde_json::from_value(json!({ "Records": records })).unwrap()
}

/// One DynamoDB Streams record of a change to `table`.
fn record(table: &str, name: &str, pk: &str, sk: &str, image: Option<Value>, n: usize) -> Value {
    let mut change = json!({
        "ApproximateCreationDateTime": 1_796_126_400.0,
        "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
        "SequenceNumber": format!("{:021}", 100_000 + n),
        "SizeBytes": 256,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    });
    if let Some(image) = image {
        change[if name == "REMOVE" {
            "OldImage"
        } else {
            "NewImage"
        }] = image;
    }
    json!({
        "eventID": format!("c81e728d9d4c2f636f067f89cc14862{n}"),
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "eu-west-1",
        "dynamodb": change,
        "eventSourceARN": format!(
            "arn:aws:dynamodb:eu-west-1:123456789012:table/{table}/stream/2026-12-01T00:00:00.000"
        ),
    })
}

async fn a_stream_batch_folds_its_tenants_outbox_exactly_once(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let mut http = lambda::http_service(app.state.clone());
    let events = vec![
        event("impression", id, &steps[0], "u1"),
        event("impression", id, &steps[0], "u2"),
        event("tour_step", id, &steps[1], "u1"),
    ];
    assert_eq!(post_events(&mut http, &acme, events).await["accepted"], 3);
    assert_eq!(
        funnel_users(&mut http, &acme, id).await,
        [0, 0],
        "not folded yet"
    );

    let p = app.state.settings.backend.table_prefix.as_str();
    let table = &format!("{p}_tenant-acme-events");
    let batch = stream(outbox_records(&app, &acme, table).await);
    assert_eq!(batch.records.len(), 5);
    let outcome = lambda::on_stream(&app.state, &batch).await.unwrap();
    assert_eq!(
        outcome,
        StreamOutcome {
            records: 5,
            tables: [(table.to_owned(), acme.id.clone())].into(),
            folded: 3,
            // The tour's creation and publication.
            published: 2,
            skipped: Default::default(),
        }
    );
    assert_eq!(funnel_users(&mut http, &acme, id).await, [2, 1]);

    // The same batch delivered again: nothing left to fold, no count changes.
    let again = lambda::on_stream(&app.state, &batch).await.unwrap();
    assert_eq!(again.folded, 0);
    assert_eq!(again.tables.len(), 1);
    assert_eq!(funnel_users(&mut http, &acme, id).await, [2, 1]);

    // Records the poller folded first: their stream batch changes nothing either.
    let one_more = vec![event("impression", id, &steps[0], "u3")];
    assert_eq!(post_events(&mut http, &acme, one_more).await["accepted"], 1);
    let late = stream(outbox_records(&app, &acme, table).await);
    assert_eq!(app.fold().await, 1);
    assert_eq!(funnel_users(&mut http, &acme, id).await, [3, 1]);
    assert_eq!(
        lambda::on_stream(&app.state, &late).await.unwrap().folded,
        0
    );
    assert_eq!(funnel_users(&mut http, &acme, id).await, [3, 1]);
}

async fn a_stream_record_of_a_table_no_tenant_owns_is_skipped_and_touches_nothing(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let mut http = lambda::http_service(app.state.clone());
    let events = vec![event("impression", id, &steps[0], "u1")];
    assert_eq!(post_events(&mut http, &acme, events).await["accepted"], 1);

    // acme's own table, but no outbox insert: its removals and other inserts trigger nothing.
    let p = app.state.settings.backend.table_prefix.as_str();
    let others: Vec<Value> = outbox_records(&app, &acme, &format!("{p}_tenant-acme-events"))
        .await
        .into_iter()
        .filter(|r| r["dynamodb"]["Keys"]["pk"]["S"] == "EID#x" || r["eventName"] == "REMOVE")
        .collect();
    assert_eq!(others.len(), 2);
    let outcome = lambda::on_stream(&app.state, &stream(others))
        .await
        .unwrap();
    assert_eq!((outcome.records, outcome.folded), (2, 0));
    assert!(outcome.tables.is_empty() && outcome.skipped.is_empty());

    // A tenant whose record names another events table than the one its name suggests.
    let beta = app.tenant("beta").await;
    let mut record = app
        .state
        .backend
        .registry
        .get_tenant(&beta.id)
        .await
        .unwrap();
    record.resources.events_table = format!("{p}_tenant-beta-events-v2");
    app.state
        .backend
        .registry
        .update_tenant(&record, &[])
        .await
        .unwrap();

    // acme's real outbox keys, under tables that are not acme's events table.
    let mut records = Vec::new();
    for table in [
        format!("{p}_tenant-ghost-events"),
        "otherdeploy_tenant-acme-events".to_owned(),
        format!("{p}_tenant-acme-app"),
        format!("{p}_tenant-beta-events"),
    ] {
        records.extend(outbox_records(&app, &acme, &table).await);
    }
    let outcome = lambda::on_stream(&app.state, &stream(records))
        .await
        .unwrap();
    assert_eq!(outcome.folded, 0);
    assert!(outcome.tables.is_empty());
    let skipped: std::collections::BTreeSet<(String, String)> = outcome
        .skipped
        .iter()
        .map(|(t, why)| (t.clone(), why.clone()))
        .collect();
    let expected = [
        (
            "otherdeploy_tenant-acme-events".to_owned(),
            "not an events table name of this deployment".to_owned(),
        ),
        (
            format!("{p}_tenant-acme-app"),
            "not an events table name of this deployment".to_owned(),
        ),
        (
            format!("{p}_tenant-beta-events"),
            format!("tenant beta's events table is {p}_tenant-beta-events-v2"),
        ),
        (
            format!("{p}_tenant-ghost-events"),
            "no tenant ghost".to_owned(),
        ),
    ];
    assert_eq!(skipped, expected.into_iter().collect());
    assert_eq!(funnel_users(&mut http, &acme, id).await, [0, 0]);
    assert_eq!(app.fold().await, 1, "acme's record is still waiting");
}

on_both_backends!(
    a_stream_batch_folds_its_tenants_outbox_exactly_once,
    a_stream_record_of_a_table_no_tenant_owns_is_skipped_and_touches_nothing,
);
