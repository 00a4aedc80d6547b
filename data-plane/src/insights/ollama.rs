//! [`Llm`] on an Ollama server (or anything speaking its API, as `scripts/local-model.sh`'s
//! server does): one `POST {base}/api/chat` with `stream: false` per completion, tokens from
//! the answer's `prompt_eval_count` and `eval_count`.
//!
//! Every call has a timeout; a call that times out, cannot connect or meets a busy server
//! (429, 5xx) is tried again, at most [`ATTEMPTS`] calls in all with a jittered pause, because
//! a local server restarting or loading its model is common and brief. A refusal (an unknown
//! model, a request it cannot read) is not tried again.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use serde::{Deserialize, Serialize};

use super::llm::{ChatRequest, Completion, Llm, LlmError, Role};

/// Calls per completion, the first included.
pub const ATTEMPTS: usize = 3;
/// The sampling seed sent with every request: with temperature 0 the same prompt gets the
/// same answer, so a summary can be reproduced.
pub const SEED: u64 = 42;

pub struct OllamaLlm {
    http: reqwest::Client,
    chat_url: url::Url,
    model: String,
    first_backoff: Duration,
}

impl OllamaLlm {
    /// A client of the server at `base` (`http://127.0.0.1:11434`) asking `model`, each call
    /// given at most `timeout`.
    pub fn new(
        base: &url::Url,
        model: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, LlmError> {
        let chat_url = base
            .join("api/chat")
            .map_err(|e| LlmError::Refused(format!("Ollama URL {base}: {e}")))?;
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .build()
            .map_err(|e| LlmError::Unavailable(format!("building the Ollama HTTP client: {e}")))?;
        Ok(OllamaLlm {
            http,
            chat_url,
            model: model.into(),
            first_backoff: Duration::from_millis(200),
        })
    }

    /// The same client, pausing `first_backoff` before its first retry (tests keep it short).
    pub fn with_first_backoff(mut self, first_backoff: Duration) -> Self {
        self.first_backoff = first_backoff;
        self
    }

    async fn call(&self, body: &ChatBody<'_>) -> Result<ChatAnswer, Failure> {
        let response = self
            .http
            .post(self.chat_url.clone())
            .json(body)
            .send()
            .await
            .map_err(|e| Failure::retry(format!("{}: {}", self.what(), transport(&e))))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            Failure::retry(format!(
                "{}: reading the answer: {}",
                self.what(),
                transport(&e)
            ))
        })?;
        if !status.is_success() {
            let why = serde_json::from_slice::<ErrorAnswer>(&bytes)
                .map(|e| e.error)
                .unwrap_or_else(|_| String::from_utf8_lossy(&bytes).chars().take(200).collect());
            let what = format!("{}: HTTP {status}: {why}", self.what());
            return Err(if status.as_u16() == 429 || status.is_server_error() {
                Failure::retry(what)
            } else {
                Failure::refused(what)
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| {
            Failure::retry(format!(
                "{}: an answer that does not read as a chat answer: {e}",
                self.what()
            ))
        })
    }

    fn what(&self) -> String {
        format!("Ollama model {} at {}", self.model, self.chat_url)
    }
}

/// Why a transport call failed, in words (reqwest's own message names the URL, not the cause).
fn transport(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".to_owned()
    } else if e.is_connect() {
        "could not connect".to_owned()
    } else {
        e.to_string()
    }
}

/// A failed call and whether another may succeed.
#[derive(Debug)]
struct Failure {
    error: LlmError,
    retryable: bool,
}

impl Failure {
    fn retry(what: String) -> Self {
        Failure {
            error: LlmError::Unavailable(what),
            retryable: true,
        }
    }
    fn refused(what: String) -> Self {
        Failure {
            error: LlmError::Refused(what),
            retryable: false,
        }
    }
}

#[derive(Debug, Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: Vec<WireMessage<'a>>,
    stream: bool,
    options: Options,
}

#[derive(Debug, Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Debug, Serialize)]
struct Options {
    temperature: f32,
    num_predict: u32,
    seed: u64,
}

#[derive(Debug, Deserialize)]
struct ChatAnswer {
    message: AnswerMessage,
    /// Absent when the server had the whole prompt evaluated already (Ollama's prompt cache).
    #[serde(default)]
    prompt_eval_count: u32,
    #[serde(default)]
    eval_count: u32,
}

#[derive(Debug, Deserialize)]
struct AnswerMessage {
    content: String,
}

#[derive(Debug, Deserialize)]
struct ErrorAnswer {
    error: String,
}

#[async_trait]
impl Llm for OllamaLlm {
    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let mut messages = vec![WireMessage {
            role: "system",
            content: &request.system,
        }];
        messages.extend(request.messages.iter().map(|m| WireMessage {
            role: match m.role {
                Role::User => "user",
                Role::Assistant => "assistant",
            },
            content: &m.text,
        }));
        let body = ChatBody {
            model: &self.model,
            messages,
            stream: false,
            options: Options {
                temperature: request.temperature,
                num_predict: request.max_tokens,
                seed: SEED,
            },
        };
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(Duration::from_secs(2))
            .with_max_times(ATTEMPTS - 1)
            .with_jitter();
        let answer = (|| self.call(&body))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f| f.retryable)
            .notify(|f, pause| {
                tracing::warn!(error = %f.error, ?pause, "model call failed; trying again");
            })
            .await
            .map_err(|f| f.error)?;
        Ok(Completion {
            text: answer.message.content,
            input_tokens: answer.prompt_eval_count,
            output_tokens: answer.eval_count,
            model: self.model.clone(),
            latency: started.elapsed(),
        })
    }
}
