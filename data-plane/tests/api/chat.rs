//! `POST /v1/admin/chat` and `GET /v1/admin/chat/{session_id}`: a question classified, only
//! the facts its intent needs, the answer checked and stored with the question; sessions are
//! the tenant's own.

use std::sync::Arc;

use data_plane::config::Price;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, CountingModel, TestApp, batch, error_code, event, on_both_backends, step_ids, tour,
};

async fn ask(app: &TestApp, key: &str, body: Value) -> (u16, Value) {
    let response = app
        .with_key(Method::POST, "/v1/admin/chat", key)
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn history(app: &TestApp, key: &str, session: &str) -> (u16, Value) {
    let response = app
        .with_key(Method::GET, &format!("/v1/admin/chat/{session}"), key)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// A published tour named "Welcome" that four users saw the first step of and one the second.
async fn welcome_tour(app: &TestApp, key: &str) -> String {
    let mut body = tour();
    body["name"] = json!("Welcome");
    let published = app.publish(key, body).await;
    let content = published["id"].as_str().unwrap().to_owned();
    let steps = step_ids(&published);
    let events: Vec<Value> = (0..4)
        .map(|u| event("impression", &content, &steps[0], &format!("u{u}")))
        .chain([event("impression", &content, &steps[1], "u0")])
        .collect();
    let sent = app
        .with_key(Method::POST, "/v1/sdk/events", key)
        .json(&batch(events))
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    app.fold().await;
    content
}

async fn a_question_gets_the_facts_of_its_intent_and_the_session_keeps_both(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let content = welcome_tour(&app, &a.secret).await;

    let (status, first) = ask(
        &app,
        &a.secret,
        json!({"text": "Where do users drop off in the Welcome tour?"}),
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let session = first["session_id"].as_str().unwrap().to_owned();
    let classification = &first["question"]["classification"];
    assert_eq!(classification["intent"], "funnel", "{first}");
    assert_eq!(classification["content_ids"], json!([content]));
    assert_eq!(classification["period_from"], "default");
    let answer = &first["answer"];
    assert_eq!(
        (answer["seq"].as_u64(), answer["role"].as_str()),
        (Some(2), Some("assistant"))
    );
    let record = &answer["answer"];
    assert_eq!(
        (record["outcome"].as_str(), record["source"].as_str()),
        (Some("grounded"), Some("narrator"))
    );
    // Only the funnel's facts: users per step and the completion rate, nothing about events.
    let labels: Vec<&str> = record["facts"]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels.len(), 3, "{labels:?}");
    assert!(
        labels[0].starts_with("users who reached step"),
        "{labels:?}"
    );
    assert!(
        labels[2].starts_with("completion rate of tour \"Welcome\""),
        "{labels:?}"
    );
    let text = answer["text"].as_str().unwrap();
    assert!(text.contains("25%"), "{text}");

    let (status, second) = ask(
        &app,
        &a.secret,
        json!({"session_id": session, "text": "How did events compare with last month?"}),
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["session_id"], session.as_str());
    assert_eq!(second["question"]["seq"], 3);
    assert_eq!(second["question"]["classification"]["intent"], "comparison");
    assert_eq!(second["question"]["classification"]["period_from"], "asked");

    let (status, all) = history(&app, &a.secret, &session).await;
    assert_eq!(status, 200, "{all}");
    let messages = all["messages"].as_array().unwrap();
    let order: Vec<(u64, &str)> = messages
        .iter()
        .map(|m| (m["seq"].as_u64().unwrap(), m["role"].as_str().unwrap()))
        .collect();
    assert_eq!(
        order,
        [(1, "user"), (2, "assistant"), (3, "user"), (4, "assistant")]
    );
    assert_eq!(messages[1], first["answer"]);
    assert_eq!(messages[2], second["question"]);
}

async fn sessions_are_the_tenants_own(kind: Backend) {
    let app = TestApp::spawn_on(kind).await;
    let a = app.tenant("tenant-a").await;
    let b = app.tenant("tenant-b").await;
    welcome_tour(&app, &a.secret).await;
    let (_, first) = ask(&app, &a.secret, json!({"text": "How are our tours doing?"})).await;
    let session = first["session_id"].as_str().unwrap().to_owned();

    // B can neither read A's session nor add to it, and learns nothing of it.
    let response = app
        .with_key(Method::GET, &format!("/v1/admin/chat/{session}"), &b.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(error_code(response).await, "chat_session_not_found");
    let (status, body) = ask(
        &app,
        &b.secret,
        json!({"session_id": session, "text": "How are our tours doing?"}),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("chat_session_not_found"))
    );

    // B's own question is answered from B's facts: none of A's.
    let (status, own) = ask(&app, &b.secret, json!({"text": "How are our tours doing?"})).await;
    assert_eq!(status, 200);
    assert_ne!(own["session_id"], session.as_str());
    assert_eq!(
        own["answer"]["answer"]["facts"]["facts"],
        json!([]),
        "{own}"
    );

    let (_, all) = history(&app, &a.secret, &session).await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 2);
}

on_both_backends!(
    a_question_gets_the_facts_of_its_intent_and_the_session_keeps_both,
    sessions_are_the_tenants_own
);

#[tokio::test]
async fn bad_questions_and_unknown_sessions_are_refused_with_what_was_wrong() {
    let app = TestApp::spawn().await;
    let a = app.tenant("tenant-a").await;
    for (body, status, code) in [
        (json!({"text": "   "}), 400, "invalid_request"),
        (json!({"text": "x".repeat(1001)}), 400, "invalid_request"),
        (
            json!({"text": "hi", "mood": "curious"}),
            400,
            "invalid_json",
        ),
        (
            json!({"session_id": "not-a-uuid", "text": "hi"}),
            400,
            "invalid_json",
        ),
        (
            json!({"session_id": "6f9619ff-8b86-4d11-b42d-00c04fc964ff", "text": "hi"}),
            404,
            "chat_session_not_found",
        ),
    ] {
        let (got, answer) = ask(&app, &a.secret, body.clone()).await;
        assert_eq!(
            (got, answer["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {answer}"
        );
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, answer) = history(&app, &a.secret, "not-a-uuid").await;
    assert_eq!(
        (status, answer["error"]["details"]["field"].as_str()),
        (400, Some("session_id"))
    );
}

#[tokio::test]
async fn a_question_the_facts_cannot_answer_costs_no_model_call_and_a_model_answer_its_price() {
    let model = Arc::new(CountingModel::default());
    let app = TestApp::spawn_with_llm_and(Backend::Embedded, model.clone(), |settings| {
        settings.llm_prices.insert(
            "counting-model".to_owned(),
            Price {
                input_per_1k: 0.002,
                output_per_1k: 0.01,
            },
        );
    })
    .await;
    let a = app.tenant("tenant-a").await;
    welcome_tour(&app, &a.secret).await;

    let (status, other) = ask(
        &app,
        &a.secret,
        json!({"text": "What's the weather in Paris?"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(other["question"]["classification"]["intent"], "other");
    assert_eq!(other["answer"]["answer"]["model_calls"], 0);
    assert!(other["answer"]["text"].as_str().unwrap().contains("funnel"));
    assert_eq!(model.calls(), 0);

    let (_, funnel) = ask(
        &app,
        &a.secret,
        json!({"text": "What is the Welcome tour's completion?"}),
    )
    .await;
    let record = &funnel["answer"]["answer"];
    assert_eq!(
        (record["source"].as_str(), record["model"].as_str()),
        (Some("model"), Some("counting-model"))
    );
    assert_eq!(
        (
            record["input_tokens"].as_u64(),
            record["output_tokens"].as_u64()
        ),
        (Some(500), Some(50))
    );
    // 500 × 0.002 / 1000 + 50 × 0.01 / 1000
    assert!(
        (record["cost_usd"].as_f64().unwrap() - 0.0015).abs() < 1e-12,
        "{record}"
    );
    assert_eq!(model.calls(), 1);
}

#[tokio::test]
async fn a_full_session_asks_for_a_new_one() {
    let app = TestApp::spawn().await;
    let a = app.tenant("tenant-a").await;
    let (_, first) = ask(&app, &a.secret, json!({"text": "hello"})).await;
    let session = first["session_id"].as_str().unwrap().to_owned();
    for _ in 1..50 {
        let (status, _) = ask(
            &app,
            &a.secret,
            json!({"session_id": session, "text": "hello"}),
        )
        .await;
        assert_eq!(status, 200);
    }
    let (status, full) = ask(
        &app,
        &a.secret,
        json!({"session_id": session, "text": "hello"}),
    )
    .await;
    assert_eq!(
        (status, full["error"]["code"].as_str()),
        (409, Some("chat_session_full")),
        "{full}"
    );
    let (_, all) = history(&app, &a.secret, &session).await;
    assert_eq!(all["messages"].as_array().unwrap().len(), 100);
}
