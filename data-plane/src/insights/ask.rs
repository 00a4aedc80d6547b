//! Where every request for written text — a summary, a chat answer — meets the model: the
//! answer is written and checked ([`summary::write`]), and its cost estimated at the
//! configured price. Routes call [`answer`], never the `Llm` port directly.

use service::ApiError;

use super::facts::FactSheet;
use super::llm::{Message, NARRATOR_MODEL, Narrator};
use super::session::AnswerRecord;
use super::summary::{self, Answer, Outcome, Source};
use crate::http::tenant::TenantContext;
use crate::state::AppState;

/// An answer and what it cost.
#[derive(Debug, Clone)]
pub struct Written {
    pub answer: Answer,
    pub cost_usd: f64,
    /// The tenant was past its monthly token budget: the narrator answered, no model was asked.
    pub over_budget: bool,
}

impl Written {
    /// The answer's text and how it was written, as a chat session keeps them.
    pub fn into_record(self) -> (String, AnswerRecord) {
        let Written {
            answer,
            cost_usd,
            over_budget,
        } = self;
        (
            answer.text,
            AnswerRecord {
                outcome: answer.outcome,
                source: answer.source,
                model: answer.model,
                model_calls: answer.model_calls,
                input_tokens: answer.input_tokens,
                output_tokens: answer.output_tokens,
                cost_usd,
                rejected: answer.rejected,
                model_error: answer.model_error,
                over_budget,
                facts: answer.facts,
            },
        )
    }
}

/// The configured model's checked answer to the last of `messages`, `system` carrying
/// `facts`. A sheet with no facts is the narrator's to answer: there is nothing a model could
/// add, so no tokens are spent on it.
pub async fn write(
    state: &AppState,
    _context: &TenantContext,
    system: String,
    messages: Vec<Message>,
    facts: FactSheet,
) -> Result<Written, ApiError> {
    if facts.facts.is_empty() && state.llm.model() != NARRATOR_MODEL {
        return Ok(Written {
            answer: narrated(state, Narrator::narrate(&facts), facts),
            cost_usd: 0.0,
            over_budget: false,
        });
    }
    let answer = summary::write(state.llm.as_ref(), system, messages, facts).await;
    let cost_usd =
        state
            .settings
            .cost_usd(&answer.model, answer.input_tokens, answer.output_tokens);
    Ok(Written {
        answer,
        cost_usd,
        over_budget: false,
    })
}

/// [`write`], as a chat session keeps it.
pub async fn answer(
    state: &AppState,
    context: &TenantContext,
    system: String,
    messages: Vec<Message>,
    facts: FactSheet,
) -> Result<(String, AnswerRecord), ApiError> {
    Ok(write(state, context, system, messages, facts)
        .await?
        .into_record())
}

/// `text`, written without a model (it states no number), as a chat session keeps it.
pub fn without_model(state: &AppState, text: String) -> (String, AnswerRecord) {
    Written {
        answer: narrated(state, text, FactSheet::new(String::new())),
        cost_usd: 0.0,
        over_budget: false,
    }
    .into_record()
}

/// `text` as the narrator's answer from `facts`, with no model call.
fn narrated(state: &AppState, text: String, facts: FactSheet) -> Answer {
    Answer {
        text,
        outcome: Outcome::Grounded,
        source: Source::Narrator,
        model: state.llm.model().to_owned(),
        model_calls: 0,
        input_tokens: 0,
        output_tokens: 0,
        rejected: Vec::new(),
        model_error: None,
        cached: false,
        facts,
    }
}
