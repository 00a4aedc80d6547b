//! Event batches: limits before any write, per-event rejections, dedupe, beacons, the funnel.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, batch, error_code, event, now, on_both_backends, step_ids, tour,
};

async fn post(app: &TestApp, key: &str, body: &Value) -> reqwest::Response {
    app.with_key(Method::POST, "/v1/sdk/events", key)
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn a_duplicate_event_is_acknowledged_and_counted_once(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let one = event("impression", id, &steps[0], "anon-1");
    let body = batch(vec![one.clone(), one.clone()]);
    let first: Value = post(&app, &acme.publishable, &body)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (first["accepted"].clone(), first["duplicates"].clone()),
        (json!(1), json!(1))
    );
    let again: Value = post(&app, &acme.publishable, &batch(vec![one]))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        (again["accepted"].clone(), again["duplicates"].clone()),
        (json!(0), json!(1))
    );
    assert_eq!(app.fold().await, 1);
    let funnel: Value = app
        .with_key(
            Method::GET,
            &format!("/v1/admin/analytics/funnels/{id}"),
            &acme.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(funnel["steps"][0]["users"], 1);
    assert_eq!(funnel["events"]["impression"], 1);
}

async fn the_funnel_counts_distinct_users_per_step_and_selector_health_their_misses(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let events = vec![
        event("impression", id, &steps[0], "u1"),
        event("impression", id, &steps[0], "u1"),
        event("impression", id, &steps[0], "u2"),
        event("tour_step", id, &steps[1], "u1"),
        event("target_missing", id, &steps[1], "u1"),
    ];
    let outcome: Value = post(&app, &acme.publishable, &batch(events))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["accepted"], 5);
    app.fold().await;
    let funnel: Value = app
        .with_key(
            Method::GET,
            &format!("/v1/admin/analytics/funnels/{id}"),
            &acme.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let users: Vec<u64> = funnel["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["users"].as_u64().unwrap())
        .collect();
    assert_eq!(users, [2, 1]);
    assert_eq!(funnel["completion_rate"], 0.5);
    let health: Value = app
        .with_key(
            Method::GET,
            "/v1/admin/analytics/selector-health",
            &acme.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let second = &health["steps"][1];
    assert_eq!(
        (second["reached"].clone(), second["missed"].clone()),
        (json!(1), json!(1))
    );
    let overview: Value = app
        .with_key(Method::GET, "/v1/admin/analytics/overview", &acme.secret)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let today = overview["days"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["events"]["impression"], 3);
}

async fn over_the_batch_limits_is_a_413_and_nothing_is_stored(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let many: Vec<Value> = (0..501)
        .map(|_| event("impression", id, &steps[0], "u"))
        .collect();
    let response = post(&app, &acme.publishable, &batch(many)).await;
    assert_eq!(response.status(), 413);
    assert_eq!(error_code(response).await, "payload_too_large");
    let mut big = event("impression", id, &steps[0], "u");
    big["props"] = json!({"pad": "x".repeat(600 * 1024)});
    let response = post(&app, &acme.publishable, &batch(vec![big])).await;
    assert_eq!(response.status(), 413);
    assert_eq!(app.fold().await, 0, "nothing was stored");
}

async fn an_oversized_or_malformed_event_is_rejected_alone(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let acme = app.tenant("acme").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let mut big = event("impression", id, &steps[0], "u");
    big["props"] = json!({"pad": "x".repeat(40 * 1024)});
    let mut old = event("impression", id, &steps[0], "u");
    old["ts"] = json!("2020-01-01T00:00:00Z");
    let events = vec![
        event("impression", id, &steps[0], "u"),
        big,
        json!({"type": "impression"}),
        old,
        event("impression", "c_nobody", &steps[0], "u"),
    ];
    let outcome: Value = post(&app, &acme.publishable, &batch(events))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(outcome["accepted"], 1);
    let codes: Vec<(u64, &str)> = outcome["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["index"].as_u64().unwrap(), r["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        codes,
        [
            (1, "event_too_large"),
            (2, "invalid_event"),
            (3, "ts_out_of_range"),
            (4, "unknown_content")
        ]
    );
}

#[tokio::test]
async fn an_unparseable_body_is_a_400_and_another_media_type_a_415() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let response = app
        .with_key(Method::POST, "/v1/sdk/events", &acme.secret)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(error_code(response).await, "invalid_json");
    let response = app
        .with_key(Method::POST, "/v1/sdk/events", &acme.secret)
        .header("content-type", "application/xml")
        .body("<x/>")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 415);
}

#[tokio::test]
async fn a_beacon_carries_its_key_in_a_text_plain_body_and_a_header_wins() {
    let app = TestApp::spawn().await;
    let acme = app.tenant("acme").await;
    let other = app.tenant("other").await;
    let published = app.publish(&acme.secret, tour()).await;
    let (id, steps) = (published["id"].as_str().unwrap(), step_ids(&published));
    let body = json!({
        "sent_at": now(),
        "api_key": acme.publishable,
        "events": [event("dismiss", id, &steps[0], "u1")],
    });
    let beacon = app
        .request(Method::POST, "/v1/sdk/events")
        .header("origin", crate::helpers::ORIGIN)
        .header("content-type", "text/plain;charset=UTF-8")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(beacon.status(), 200);
    let outcome: Value = beacon.json().await.unwrap();
    assert_eq!(outcome["accepted"], 1);
    // With a header, the body's key is ignored: the events are then the header tenant's,
    // which never published this content.
    let body = json!({
        "sent_at": now(),
        "api_key": acme.publishable,
        "events": [event("dismiss", id, &steps[0], "u2")],
    });
    let headed: Value = app
        .with_key(Method::POST, "/v1/sdk/events", &other.publishable)
        .header("content-type", "text/plain")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(headed["accepted"], 0);
    assert_eq!(headed["rejected"][0]["code"], "unknown_content");
}

#[tokio::test]
async fn a_tenant_over_its_rate_gets_429_with_retry_after_and_another_is_served() {
    let app = TestApp::spawn_with(|s| {
        s.tenant_rate = tenancy::settings::Bounded::must(1);
        s.tenant_burst = tenancy::settings::Bounded::must(2);
    })
    .await;
    let noisy = app.tenant("noisy").await;
    let quiet = app.tenant("quiet").await;
    let page = "/v1/sdk/content?url=https://app.example.com/";
    let mut limited = None;
    for _ in 0..5 {
        let response = app
            .with_key(Method::GET, page, &noisy.secret)
            .send()
            .await
            .unwrap();
        if response.status() == 429 {
            limited = Some(response);
            break;
        }
    }
    let limited = limited.expect("the noisy tenant was limited");
    assert!(limited.headers().contains_key("retry-after"));
    assert_eq!(error_code(limited).await, "rate_limited");
    let quiet_answer = app
        .with_key(Method::GET, page, &quiet.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(quiet_answer.status(), 200);
}

on_both_backends!(
    a_duplicate_event_is_acknowledged_and_counted_once,
    the_funnel_counts_distinct_users_per_step_and_selector_health_their_misses,
    over_the_batch_limits_is_a_413_and_nothing_is_stored,
    an_oversized_or_malformed_event_is_rejected_alone,
);
