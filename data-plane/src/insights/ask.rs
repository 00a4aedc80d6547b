//! Where every request for written text — a summary, a chat answer — meets the model. Routes
//! call [`write`], never the `Llm` port directly, so that each model call passes the same
//! gates and is counted the same way:
//!
//! 1. a sheet with no facts is the narrator's (a model could add nothing): no call;
//! 2. a tenant past its tier's monthly token budget (`SPOTLIGHT_MONTHLY_TOKENS_*`, counted
//!    from the registry's usage records) gets the narrator's answer, marked `over_budget` —
//!    not an error, and no model call;
//! 3. a tenant over its model request rate (`SPOTLIGHT_LLM_RATE_PER_MINUTE`) gets `429` with
//!    `Retry-After`, so one tenant's flood cannot occupy the model;
//! 4. the answer is written and checked ([`summary::write`]), its cost estimated at the
//!    configured price, and its calls and tokens added to the tenant's usage of the day in
//!    the registry, where the control plane reads them.
//!
//! The narrator configured (`SPOTLIGHT_LLM=template`) is no model: it passes no gate and is
//! not metered. The budget is checked before a call, so it is a soft limit: the answer that
//! crosses it is written whole, and requests already under way when it is reached finish.

use governor::clock::{Clock, DefaultClock};
use service::ApiError;
use tenancy::ports::{UsageDelta, total_usage};
use time::OffsetDateTime;

use super::facts::FactSheet;
use super::llm::{Message, Narrator};
use super::session::AnswerRecord;
use super::summary::{self, Answer, Outcome, Source};
use crate::http::tenant::TenantContext;
use crate::state::AppState;

/// The configured model's checked answer to the last of `messages`, `system` carrying
/// `facts`, through the gates above.
pub async fn write(
    state: &AppState,
    context: &TenantContext,
    system: String,
    messages: Vec<Message>,
    facts: FactSheet,
) -> Result<Answer, ApiError> {
    let model = state.llm.model().to_owned();
    if !state.llm.is_model() {
        return Ok(summary::write(state.llm.as_ref(), system, messages, facts).await);
    }
    if facts.facts.is_empty() {
        let text = Narrator::narrate(&facts);
        return Ok(narrated(state, text, facts));
    }
    let tenant = &context.tenant.tenant;
    let now = OffsetDateTime::now_utc();
    let budget = state.settings.monthly_tokens(context.tenant.tier);
    let month_start = now.date().replace_day(1).unwrap_or(now.date());
    let used = total_usage(
        &state
            .backend
            .registry
            .usage(tenant, month_start, now.date())
            .await?,
    );
    if used.input_tokens + used.output_tokens >= budget {
        let text = Narrator::narrate(&facts);
        let mut answer = narrated(state, text, facts);
        answer.outcome = Outcome::Fallback;
        answer.over_budget = true;
        return Ok(answer);
    }
    if let Err(not_until) = state.model_limiter.check_key(tenant) {
        let wait = not_until.wait_time_from(DefaultClock::default().now());
        return Err(ApiError::TooManyRequests {
            message: format!(
                "tenant {tenant} is over its rate of model requests ({} a minute); retry shortly",
                state.settings.llm_rate_per_minute.get()
            ),
            retry_after_secs: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }

    let mut answer = summary::write(state.llm.as_ref(), system, messages, facts).await;
    answer.cost_usd =
        state
            .settings
            .cost_usd(&answer.model, answer.input_tokens, answer.output_tokens);
    if answer.model_calls > 0 {
        let delta = UsageDelta {
            calls: u64::from(answer.model_calls),
            input_tokens: u64::from(answer.input_tokens),
            output_tokens: u64::from(answer.output_tokens),
            cost_nano_usd: (answer.cost_usd * 1e9).round() as u64,
        };
        // The answer is written and paid for: a failure to count it is logged, not sent.
        if let Err(e) = state
            .backend
            .registry
            .record_usage(tenant, now.date(), &model, &delta)
            .await
        {
            tracing::error!(tenant = %tenant, error = %e, ?delta, "model usage was not recorded");
        }
    }
    Ok(answer)
}

/// [`write`], as a chat session keeps it.
pub async fn answer(
    state: &AppState,
    context: &TenantContext,
    system: String,
    messages: Vec<Message>,
    facts: FactSheet,
) -> Result<(String, AnswerRecord), ApiError> {
    Ok(record(
        write(state, context, system, messages, facts).await?,
    ))
}

/// `text`, written without a model (it states no number), as a chat session keeps it.
pub fn without_model(state: &AppState, text: String) -> (String, AnswerRecord) {
    record(narrated(state, text, FactSheet::new(String::new())))
}

/// An answer's text and how it was written, as a chat session keeps them.
fn record(answer: Answer) -> (String, AnswerRecord) {
    (
        answer.text,
        AnswerRecord {
            outcome: answer.outcome,
            source: answer.source,
            model: answer.model,
            model_calls: answer.model_calls,
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
            cost_usd: answer.cost_usd,
            rejected: answer.rejected,
            model_error: answer.model_error,
            over_budget: answer.over_budget,
            facts: answer.facts,
        },
    )
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
        over_budget: false,
        cost_usd: 0.0,
        facts,
    }
}
