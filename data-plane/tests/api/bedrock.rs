//! The Bedrock adapter through the real SDK against a loopback server that speaks Converse's
//! wire format (no AWS-compatible server implements Converse here): the request the SDK sends,
//! the token accounting, errors, and a summary whose model invents a number.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use data_plane::insights::bedrock::BedrockLlm;
use data_plane::insights::llm::{Llm, LlmError, conformance};
use data_plane::insights::summary::{Outcome, Source, summarise};
use serde_json::{Value, json};

/// What the fake answers, in order, and what it was sent.
#[derive(Clone, Default)]
struct Converse {
    answers: Arc<Mutex<Vec<(u16, Value)>>>,
    seen: Arc<Mutex<Vec<(String, Value)>>>,
}

async fn converse(
    State(fake): State<Converse>,
    Path(model): Path<String>,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let request: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    fake.seen.lock().unwrap().push((model, request));
    let (status, answer) = fake.answers.lock().unwrap().remove(0);
    let mut response = (StatusCode::from_u16(status).unwrap(), axum::Json(answer)).into_response();
    if status >= 400 {
        let code = if status == 400 {
            "ValidationException"
        } else {
            "ThrottlingException"
        };
        response
            .headers_mut()
            .insert("x-amzn-errortype", code.parse().unwrap());
    }
    response
}

fn answer(text: &str) -> (u16, Value) {
    (
        200,
        json!({
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {"inputTokens": 321, "outputTokens": 17, "totalTokens": 338},
            "metrics": {"latencyMs": 42}
        }),
    )
}

async fn serve(answers: Vec<(u16, Value)>) -> (BedrockLlm, Converse) {
    let fake = Converse {
        answers: Arc::new(Mutex::new(answers)),
        ..Converse::default()
    };
    let app = Router::new()
        .route("/model/{model}/converse", post(converse))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let config = aws_sdk_bedrockruntime::config::Builder::new()
        .behavior_version(aws_sdk_bedrockruntime::config::BehaviorVersion::latest())
        .region(aws_sdk_bedrockruntime::config::Region::new("us-east-1"))
        .endpoint_url(format!("http://{addr}"))
        .credentials_provider(aws_sdk_bedrockruntime::config::Credentials::new(
            "test", "test", None, None, "loopback",
        ))
        .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_bedrockruntime::Client::from_conf(config);
    (BedrockLlm::new(client, "amazon.nova-micro-v1:0"), fake)
}

#[tokio::test]
async fn the_sdk_sends_the_system_prompt_messages_and_limits_and_reads_the_usage() {
    let (llm, fake) = serve(vec![answer("There were 120 impressions [f1].")]).await;
    conformance::a_completion_has_text_the_model_and_its_tokens(&llm).await;
    let request = conformance::request();
    let (model, sent) = fake.seen.lock().unwrap().remove(0);
    assert_eq!(model, "amazon.nova-micro-v1:0");
    assert_eq!(sent["system"][0]["text"], request.system);
    assert_eq!(sent["messages"][0]["role"], "user");
    assert_eq!(
        sent["messages"][0]["content"][0]["text"],
        request.messages[0].text
    );
    assert_eq!(sent["inferenceConfig"]["maxTokens"], 200);
    assert_eq!(sent["inferenceConfig"]["temperature"], 0.0);

    let (llm, _) = serve(vec![answer("There were 120 impressions [f1].")]).await;
    let done = llm.complete(&request).await.unwrap();
    assert_eq!((done.input_tokens, done.output_tokens), (321, 17));
    assert_eq!(done.text, "There were 120 impressions [f1].");
}

#[tokio::test]
async fn a_refused_request_and_a_throttled_one_are_told_apart() {
    let (llm, _) = serve(vec![
        (
            400,
            json!({"message": "The provided model identifier is invalid."}),
        ),
        (429, json!({"message": "Too many requests"})),
    ])
    .await;
    let request = conformance::request();
    let refused = llm.complete(&request).await.unwrap_err();
    assert!(
        matches!(refused, LlmError::Refused(ref m) if m.contains("ValidationException")),
        "{refused:?}"
    );
    let throttled = llm.complete(&request).await.unwrap_err();
    assert!(
        matches!(throttled, LlmError::Unavailable(_)),
        "{throttled:?}"
    );
}

#[tokio::test]
async fn a_model_that_invents_a_number_is_asked_again_and_its_tokens_are_counted() {
    let (llm, fake) = serve(vec![
        answer("There were 130 impressions."),
        answer("There were 120 impressions [f1]."),
    ])
    .await;
    let summary = summarise(&llm, conformance::request().facts).await;
    assert_eq!(
        (summary.outcome, summary.source),
        (Outcome::Regenerated, Source::Model)
    );
    assert_eq!(summary.model_calls, 2);
    assert_eq!((summary.input_tokens, summary.output_tokens), (642, 34));
    assert_eq!(summary.rejected, ["130"]);
    let seen = fake.seen.lock().unwrap();
    let retry = &seen[1].1["messages"];
    assert_eq!(retry[1]["role"], "assistant");
    assert!(
        retry[2]["content"][0]["text"]
            .as_str()
            .unwrap()
            .contains("130")
    );
}
