//! [`Llm`] on Amazon Bedrock's Converse API: one request per completion (system prompt,
//! messages, token cap, temperature), tokens from the answer's `usage` block. The SDK client is
//! built from the shared AWS configuration, as every AWS adapter's is.

use std::time::Instant;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_bedrockruntime::types::{
    ContentBlock, ConversationRole, ConverseOutput, InferenceConfiguration,
    Message as BedrockMessage, SystemContentBlock,
};

use super::llm::{ChatRequest, Completion, Llm, LlmError, Role};

pub struct BedrockLlm {
    client: aws_sdk_bedrockruntime::Client,
    model_id: String,
}

impl BedrockLlm {
    pub fn new(client: aws_sdk_bedrockruntime::Client, model_id: impl Into<String>) -> Self {
        BedrockLlm {
            client,
            model_id: model_id.into(),
        }
    }
}

/// A failed call as the port's error: throttling, timeouts and the service's own troubles are
/// worth another try; a refused request (a bad model id, no access, a prompt too long) is not.
fn llm_error<E, R>(model: &str, err: SdkError<E, R>) -> LlmError
where
    E: ProvideErrorMetadata + std::fmt::Debug,
    R: std::fmt::Debug,
{
    let (code, message) = match &err {
        SdkError::ServiceError(service) => (
            service.err().code().unwrap_or("unknown").to_owned(),
            service.err().message().unwrap_or_default().to_owned(),
        ),
        SdkError::TimeoutError(_) => ("timeout".to_owned(), "timed out".to_owned()),
        SdkError::DispatchFailure(_) => ("dispatch".to_owned(), "could not be sent".to_owned()),
        other => ("unreadable".to_owned(), format!("{other:?}")),
    };
    let what = format!("Bedrock model {model}: {code}: {message}");
    match code.as_str() {
        "ValidationException" | "AccessDeniedException" | "ResourceNotFoundException" => {
            LlmError::Refused(what)
        }
        _ => LlmError::Unavailable(what),
    }
}

#[async_trait]
impl Llm for BedrockLlm {
    fn model(&self) -> &str {
        &self.model_id
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let mut converse = self
            .client
            .converse()
            .model_id(&self.model_id)
            .system(SystemContentBlock::Text(request.system.clone()))
            .inference_config(
                InferenceConfiguration::builder()
                    .max_tokens(i32::try_from(request.max_tokens).unwrap_or(i32::MAX))
                    .temperature(request.temperature)
                    .build(),
            );
        for message in &request.messages {
            let role = match message.role {
                Role::User => ConversationRole::User,
                Role::Assistant => ConversationRole::Assistant,
            };
            let built = BedrockMessage::builder()
                .role(role)
                .content(ContentBlock::Text(message.text.clone()))
                .build()
                .map_err(|e| LlmError::Refused(format!("building a Bedrock message: {e}")))?;
            converse = converse.messages(built);
        }
        let out = converse
            .send()
            .await
            .map_err(|e| llm_error(&self.model_id, e))?;
        let text: String = match out.output() {
            Some(ConverseOutput::Message(message)) => message
                .content()
                .iter()
                .filter_map(|block| block.as_text().ok())
                .cloned()
                .collect::<Vec<_>>()
                .join(""),
            _ => {
                return Err(LlmError::Unavailable(format!(
                    "Bedrock model {} answered without a message",
                    self.model_id
                )));
            }
        };
        let usage = out.usage();
        let tokens = |n: Option<i32>| n.map_or(0, |n| u32::try_from(n).unwrap_or(0));
        Ok(Completion {
            text,
            input_tokens: tokens(usage.map(|u| u.input_tokens())),
            output_tokens: tokens(usage.map(|u| u.output_tokens())),
            model: self.model_id.clone(),
            latency: started.elapsed(),
        })
    }
}
