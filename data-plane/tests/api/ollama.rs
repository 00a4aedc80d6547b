//! The Ollama adapter over HTTP against a loopback server speaking Ollama's `/api/chat`: the
//! request it sends, the token accounting, and which failures are tried again. The same
//! adapter against a real model is in `local_model`.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::post;
use data_plane::insights::llm::{Llm, LlmError, conformance};
use data_plane::insights::ollama::{ATTEMPTS, OllamaLlm, SEED};
use serde_json::{Value, json};

/// What the fake answers, in order (a status, a body and a delay), and what it was sent.
#[derive(Clone, Default)]
struct Fake {
    answers: Arc<Mutex<Vec<(u16, Value, Duration)>>>,
    seen: Arc<Mutex<Vec<Value>>>,
}

async fn chat(State(fake): State<Fake>, body: axum::body::Bytes) -> impl IntoResponse {
    fake.seen
        .lock()
        .unwrap()
        .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
    let (status, answer, delay) = fake.answers.lock().unwrap().remove(0);
    tokio::time::sleep(delay).await;
    (StatusCode::from_u16(status).unwrap(), axum::Json(answer))
}

fn answer(text: &str) -> (u16, Value, Duration) {
    (
        200,
        json!({
            "model": "smollm2:135m",
            "created_at": "2026-12-02T10:00:00Z",
            "message": {"role": "assistant", "content": text},
            "done": true,
            "done_reason": "stop",
            "total_duration": 812_000_000u64,
            "prompt_eval_count": 287,
            "eval_count": 21
        }),
        Duration::ZERO,
    )
}

async fn serve(answers: Vec<(u16, Value, Duration)>, timeout: Duration) -> (OllamaLlm, Fake) {
    let fake = Fake {
        answers: Arc::new(Mutex::new(answers)),
        ..Fake::default()
    };
    let app = Router::new()
        .route("/ollama/api/chat", post(chat))
        .with_state(fake.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let base = url::Url::parse(&format!("http://{addr}/ollama/")).unwrap();
    let llm = OllamaLlm::new(&base, "smollm2:135m", timeout)
        .unwrap()
        .with_first_backoff(Duration::from_millis(10));
    (llm, fake)
}

#[tokio::test]
async fn it_sends_the_system_prompt_messages_and_limits_without_streaming_and_reads_the_counts() {
    let (llm, fake) = serve(
        vec![
            answer("120 impressions [f1]."),
            answer("120 impressions [f1]."),
        ],
        Duration::from_secs(5),
    )
    .await;
    conformance::a_completion_has_text_the_model_and_its_tokens(&llm).await;
    let request = conformance::request();
    let done = llm.complete(&request).await.unwrap();
    assert_eq!((done.input_tokens, done.output_tokens), (287, 21));
    assert_eq!(done.text, "120 impressions [f1].");
    assert_eq!(done.model, "smollm2:135m");

    let sent = fake.seen.lock().unwrap().remove(0);
    assert_eq!(sent["model"], "smollm2:135m");
    assert_eq!(sent["stream"], false);
    assert_eq!(
        sent["messages"][0],
        json!({"role": "system", "content": request.system})
    );
    assert_eq!(
        sent["messages"][1],
        json!({"role": "user", "content": request.messages[0].text})
    );
    assert_eq!(sent["options"]["num_predict"], 200);
    assert_eq!(sent["options"]["temperature"], 0.0);
    assert_eq!(sent["options"]["seed"], SEED);
}

#[tokio::test]
async fn a_busy_or_failing_server_is_tried_again_and_a_refusal_is_not() {
    let (llm, fake) = serve(
        vec![
            (503, json!({"error": "loading model"}), Duration::ZERO),
            (500, json!({"error": "out of memory"}), Duration::ZERO),
            answer("120 impressions [f1]."),
            (
                404,
                json!({"error": "model 'smollm2:135m' not found"}),
                Duration::ZERO,
            ),
        ],
        Duration::from_secs(5),
    )
    .await;
    let request = conformance::request();
    let done = llm.complete(&request).await.unwrap();
    assert_eq!(done.text, "120 impressions [f1].");
    assert_eq!(fake.seen.lock().unwrap().len(), 3);

    let refused = llm.complete(&request).await.unwrap_err();
    assert!(
        matches!(refused, LlmError::Refused(ref m) if m.contains("404") && m.contains("not found")),
        "{refused:?}"
    );
    assert_eq!(
        fake.seen.lock().unwrap().len(),
        4,
        "a refusal is asked once"
    );
}

#[tokio::test]
async fn a_server_that_never_answers_in_time_gives_up_after_the_bounded_attempts() {
    let slow = (0..ATTEMPTS)
        .map(|_| {
            let (status, body, _) = answer("late");
            (status, body, Duration::from_secs(5))
        })
        .collect();
    let (llm, fake) = serve(slow, Duration::from_millis(200)).await;
    let err = llm.complete(&conformance::request()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable(ref m) if m.contains("timed out")),
        "{err:?}"
    );
    assert_eq!(fake.seen.lock().unwrap().len(), ATTEMPTS);
}

#[tokio::test]
async fn an_unreachable_server_and_an_unreadable_answer_are_unavailable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = url::Url::parse(&format!("http://{addr}/")).unwrap();
    let llm = OllamaLlm::new(&base, "smollm2:135m", Duration::from_secs(1))
        .unwrap()
        .with_first_backoff(Duration::from_millis(10));
    let err = llm.complete(&conformance::request()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable(ref m) if m.contains("could not connect")),
        "{err:?}"
    );

    let garbage = (0..ATTEMPTS)
        .map(|_| (200, json!({"done": true}), Duration::ZERO))
        .collect();
    let (llm, _) = serve(garbage, Duration::from_secs(5)).await;
    let err = llm.complete(&conformance::request()).await.unwrap_err();
    assert!(
        matches!(err, LlmError::Unavailable(ref m) if m.contains("does not read as a chat answer")),
        "{err:?}"
    );
}
