//! Model metering and its limits: every model call's tokens and cost land in the registry per
//! tenant and day; past its monthly budget a tenant gets the narrator and no model is called;
//! past its model request rate it gets `429` with `Retry-After` — and another tenant none of
//! this.

use std::sync::Arc;

use data_plane::config::Price;
use reqwest::Method;
use serde_json::{Value, json};
use tenancy::ports::total_usage;
use tenancy::settings::Bounded;
use time::OffsetDateTime;

use crate::helpers::{
    Backend, CountingModel, TestApp, batch, event, on_both_backends, step_ids, tour,
};

async fn ask(app: &TestApp, key: &str, text: &str) -> reqwest::Response {
    app.with_key(Method::POST, "/v1/admin/chat", key)
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap()
}

/// A tour with one user's impression, so questions about it have facts to answer from.
async fn with_facts(app: &TestApp, key: &str) {
    let published = app.publish(key, tour()).await;
    let content = published["id"].as_str().unwrap().to_owned();
    let steps = step_ids(&published);
    let sent = app
        .with_key(Method::POST, "/v1/sdk/events", key)
        .json(&batch(vec![event("impression", &content, &steps[0], "u1")]))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    app.fold().await;
}

async fn metered_app(
    kind: Backend,
    model: Arc<CountingModel>,
    budget: u64,
    rate: u64,
    burst: u64,
) -> TestApp {
    TestApp::spawn_with_llm_and(kind, model, move |settings| {
        settings.llm_prices.insert(
            "counting-model".to_owned(),
            Price {
                input_per_1k: 0.002,
                output_per_1k: 0.01,
            },
        );
        settings.monthly_tokens_standard = Bounded::must(budget);
        settings.llm_rate_per_minute = Bounded::must(rate);
        settings.llm_burst = Bounded::must(burst);
    })
    .await
}

async fn every_model_call_is_metered_per_tenant_and_day_and_the_budget_turns_to_the_narrator(
    kind: Backend,
) {
    let model = Arc::new(CountingModel::default());
    // Each answer takes 550 tokens. The budget is checked before a call: the first two start
    // under 1,000 (the second takes usage to 1,100 — a soft limit, it overshoots by one
    // answer), the third finds it spent.
    let app = metered_app(kind, model.clone(), 1_000, 100, 100).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    with_facts(&app, &a.secret).await;
    with_facts(&app, &b.secret).await;

    for _ in 0..2 {
        let response = ask(&app, &a.secret, "How are our tours doing?").await;
        assert_eq!(response.status(), 200);
    }
    assert_eq!(model.calls(), 2);
    let today = OffsetDateTime::now_utc().date();
    let usage = app
        .state
        .backend
        .registry
        .usage(&a.id, today, today)
        .await
        .unwrap();
    assert_eq!(usage.len(), 1, "{usage:?}");
    assert_eq!(usage[0].model, "counting-model");
    let total = total_usage(&usage);
    assert_eq!(
        (total.calls, total.input_tokens, total.output_tokens),
        (2, 1000, 100)
    );
    // 2 × (500 × 0.002 + 50 × 0.01) / 1000 = $0.003
    assert_eq!(total.cost_nano_usd, 3_000_000);

    // Past the budget: the narrator's answer, said so, and no model call.
    let over: Value = ask(&app, &a.secret, "How are our tours doing?")
        .await
        .json()
        .await
        .unwrap();
    let record = &over["answer"]["answer"];
    assert_eq!(record["over_budget"], true, "{over}");
    assert_eq!(
        (record["source"].as_str(), record["outcome"].as_str()),
        (Some("narrator"), Some("fallback"))
    );
    assert_eq!(record["model_calls"], 0);
    assert_eq!(model.calls(), 2);
    let summary: Value = app
        .with_key(
            Method::GET,
            &format!(
                "/v1/admin/insights/summary?period={}",
                &today.to_string()[..7]
            ),
            &a.secret,
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(summary["over_budget"], true, "{summary}");
    assert_eq!(model.calls(), 2);

    // B's budget is its own.
    let theirs: Value = ask(&app, &b.secret, "How are our tours doing?")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(theirs["answer"]["answer"]["source"], "model", "{theirs}");
    assert_eq!(model.calls(), 3);
    let b_usage = total_usage(
        &app.state
            .backend
            .registry
            .usage(&b.id, today, today)
            .await
            .unwrap(),
    );
    assert_eq!(b_usage.calls, 1);
}

on_both_backends!(
    every_model_call_is_metered_per_tenant_and_day_and_the_budget_turns_to_the_narrator
);

#[tokio::test]
async fn a_tenant_over_its_model_rate_gets_429_with_retry_after_and_another_tenant_does_not() {
    let model = Arc::new(CountingModel::default());
    let app = metered_app(Backend::Embedded, model.clone(), 1_000_000, 1, 2).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    with_facts(&app, &a.secret).await;
    with_facts(&app, &b.secret).await;
    for _ in 0..2 {
        assert_eq!(
            ask(&app, &a.secret, "How are our tours doing?")
                .await
                .status(),
            200
        );
    }
    let limited = ask(&app, &a.secret, "How are our tours doing?").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("model requests"),
        "{body}"
    );
    assert_eq!(
        model.calls(),
        2,
        "the limited request did not reach the model"
    );
    // A question that needs no model is not limited, and B's rate is its own.
    assert_eq!(
        ask(&app, &a.secret, "What's the weather?").await.status(),
        200
    );
    assert_eq!(
        ask(&app, &b.secret, "How are our tours doing?")
            .await
            .status(),
        200
    );
    assert_eq!(model.calls(), 3);
}
