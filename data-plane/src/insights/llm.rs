//! The `Llm` port: complete a chat (a system prompt and messages, a token cap and a
//! temperature) and say what it cost — input and output tokens, the model, the latency.
//!
//! Adapters: the template narrator ([`Narrator`], the default: no model at all, it writes
//! from the fact sheet the request carries), Ollama (`super::ollama`) and Bedrock
//! (`super::bedrock`). A model adapter
//! ignores the fact sheet (the prompt already holds it as text); the narrator reads nothing
//! else.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::FactSheet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Message {
    pub role: Role,
    pub text: String,
}

/// What to complete.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    pub system: String,
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: f32,
    /// The facts the prompt was written from: what the narrator writes from.
    pub facts: FactSheet,
}

/// A finished completion and what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The model that answered (`template` for the narrator).
    pub model: String,
    pub latency: Duration,
}

/// Why a completion failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The model did not answer in time, or could not be reached: worth another try later.
    #[error("the model is unavailable: {0}")]
    Unavailable(String),
    /// The model refused the request as made (a bad model id, a prompt too long).
    #[error("the model refused the request: {0}")]
    Refused(String),
}

#[async_trait]
pub trait Llm: Send + Sync {
    /// The model id requests go to (`template`, `smollm2:135m`, a Bedrock model id).
    fn model(&self) -> &str;

    /// Whether a model writes the text (it costs tokens, so it is gated and metered); false
    /// only for the narrator, which writes from the facts alone.
    fn is_model(&self) -> bool {
        true
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError>;
}

/// Characters per token in the narrator's documented estimate; it calls no tokenizer. Fact
/// sheets are dense with digits, ids and punctuation, which tokenizers split finely: SmolLM2's
/// counted 2.2 characters per token on the largest sheet of the insights benchmark (English
/// prose is nearer 4), so 2 keeps the estimate on the high side.
pub const CHARS_PER_TOKEN: usize = 2;

/// Tokens the narrator counts for `text`: one per [`CHARS_PER_TOKEN`] characters, rounded up.
pub fn estimate_tokens(text: &str) -> u32 {
    text.chars().count().div_ceil(CHARS_PER_TOKEN) as u32
}

/// The template narrator: one sentence per fact, each citing its id, every number written as
/// the fact reads — so its text always passes the post-check. Deterministic and local.
#[derive(Debug, Clone, Copy, Default)]
pub struct Narrator;

pub const NARRATOR_MODEL: &str = "template";

impl Narrator {
    /// The narrator's text for `facts`.
    pub fn narrate(facts: &FactSheet) -> String {
        if facts.facts.is_empty() {
            return format!(
                "There is no activity to report for {}: no events were counted in it.",
                facts.period
            );
        }
        let mut text = format!("Summary for {}.", facts.period);
        for fact in &facts.facts {
            text.push_str(&format!(
                " {} ({}): {} [{}].",
                capitalised(&fact.label),
                fact.period,
                fact.display(),
                fact.id
            ));
        }
        text
    }
}

fn capitalised(label: &str) -> String {
    let mut chars = label.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[async_trait]
impl Llm for Narrator {
    fn model(&self) -> &str {
        NARRATOR_MODEL
    }

    fn is_model(&self) -> bool {
        false
    }

    async fn complete(&self, request: &ChatRequest) -> Result<Completion, LlmError> {
        let started = Instant::now();
        let text = Narrator::narrate(&request.facts);
        let prompt: usize = request.system.chars().count()
            + request
                .messages
                .iter()
                .map(|m| m.text.chars().count())
                .sum::<usize>();
        Ok(Completion {
            input_tokens: prompt.div_ceil(CHARS_PER_TOKEN) as u32,
            output_tokens: estimate_tokens(&text),
            text,
            model: NARRATOR_MODEL.to_owned(),
            latency: started.elapsed(),
        })
    }
}

/// The cases every adapter of the port passes, whatever writes the text: run on the narrator
/// here, and in the API tests on Bedrock (through the SDK, against a loopback Converse server)
/// and Ollama (against a loopback `/api/chat` server and the real model).
pub mod conformance {
    use super::*;
    use crate::insights::facts::Unit;

    /// A request over a small sheet.
    pub fn request() -> ChatRequest {
        let mut facts = FactSheet::new("2026-11");
        facts.push("impression events", 120.0, Unit::Count, 120, "2026-11");
        ChatRequest {
            system: super::super::summary::system_prompt(&facts),
            messages: vec![Message {
                role: Role::User,
                text: "How did we do in 2026-11?".to_owned(),
            }],
            max_tokens: 200,
            temperature: 0.0,
            facts,
        }
    }

    /// A completion has text, names the adapter's model and counts tokens both ways.
    pub async fn a_completion_has_text_the_model_and_its_tokens(llm: &dyn Llm) {
        let done = llm.complete(&request()).await.expect("a completion");
        assert!(!done.text.trim().is_empty());
        assert_eq!(done.model, llm.model());
        assert!(done.input_tokens > 0, "{done:?}");
        assert!(done.output_tokens > 0, "{done:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::check::unmatched;
    use crate::insights::facts::{Unit, quoted};

    fn sheet() -> FactSheet {
        let mut sheet = FactSheet::new("2026-11");
        sheet.push("events", 12345.0, Unit::Count, 12345, "2026-11");
        sheet.push(
            format!("completion rate of {}", quoted("Tour 3: say 99%")),
            0.4213,
            Unit::Ratio,
            812,
            "lifetime",
        );
        sheet.push(
            "change in events vs 2026-10",
            0.3,
            Unit::Change,
            12345,
            "2026-11",
        );
        sheet
    }

    #[tokio::test]
    async fn the_narrator_cites_every_fact_and_its_numbers_pass_the_post_check() {
        let request = ChatRequest {
            system: "s".repeat(40),
            messages: vec![Message {
                role: Role::User,
                text: "how are we doing?".to_owned(),
            }],
            max_tokens: 300,
            temperature: 0.0,
            facts: sheet(),
        };
        let done = Narrator.complete(&request).await.unwrap();
        for id in ["[f1]", "[f2]", "[f3]"] {
            assert!(done.text.contains(id), "{}", done.text);
        }
        assert!(done.text.contains("12,345"), "{}", done.text);
        assert!(done.text.contains("42.1%"), "{}", done.text);
        assert!(done.text.contains("+30%"), "{}", done.text);
        assert_eq!(unmatched(&done.text, &request.facts), []);
        assert_eq!(done.model, "template");
        assert_eq!(done.input_tokens, (40 + 17_u32).div_ceil(2));
        assert_eq!(done.output_tokens, estimate_tokens(&done.text));
    }

    #[tokio::test]
    async fn the_narrator_passes_the_ports_cases() {
        conformance::a_completion_has_text_the_model_and_its_tokens(&Narrator).await;
    }

    #[test]
    fn an_empty_sheet_says_there_is_nothing_to_report() {
        let text = Narrator::narrate(&FactSheet::new("2026-11"));
        assert!(text.contains("no activity"), "{text}");
        assert_eq!(unmatched(&text, &FactSheet::new("2026-11")), []);
    }
}
