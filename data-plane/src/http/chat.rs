//! `POST /v1/admin/chat` (ask a question about the tenant's analytics) and
//! `GET /v1/admin/chat/{session_id}` (a session's history). A question is classified without
//! a model ([`crate::insights::classify`]); only the facts its intent needs are fetched; the
//! model's answer is held to them by the post-check as a summary is; and the question and the
//! answer are stored together in the tenant's app table.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use service::extract::{ApiJson, ApiPath};
use service::{ApiError, ErrorCode};
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::error::content_error;
use super::tenant::TenantContext;
use crate::insights::ask;
use crate::insights::classify::{self, Intent, Known};
use crate::insights::llm::{Message, Role};
use crate::insights::session::{self, ChatMessage, HISTORY_MESSAGES, MAX_MESSAGES};
use crate::insights::sheet::{self, Scope};
use crate::insights::summary::chat_prompt;
use crate::series::store;
use crate::state::AppState;

/// Characters a question may have.
pub const MAX_QUESTION_CHARS: usize = 1_000;

/// Characters of the session's earlier messages the model is shown at most, newest first:
/// with the facts (`facts::MAX_SHEET_CHARS`) and the question, a chat prompt stays near a
/// summary's, whatever the session holds.
pub const MAX_HISTORY_CHARS: usize = 1_200;

/// Metric subjects the classifier recognises names among.
const KNOWN_SUBJECTS: usize = 50;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ask_chat))
        .routes(routes!(chat_history))
}

/// A question, in a new session or an existing one.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChatTurn {
    /// The session to continue (absent: a new one is started).
    pub session_id: Option<Uuid>,
    /// The question, 1 to 1,000 characters.
    #[schema(min_length = 1, max_length = 1000)]
    pub text: String,
}

/// The stored question and its answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatReply {
    pub session_id: Uuid,
    pub question: ChatMessage,
    pub answer: ChatMessage,
}

/// A session's messages, in order.
#[derive(Debug, Serialize, ToSchema)]
pub struct ChatHistory {
    pub session_id: Uuid,
    pub messages: Vec<ChatMessage>,
}

fn session_not_found(id: &Uuid) -> ApiError {
    ApiError::NotFound {
        code: ErrorCode::ChatSessionNotFound,
        message: format!("this tenant has no chat session {id}"),
    }
}

/// Answers a question about the tenant's analytics. The classifier reads its intent (overview,
/// funnel, selector health, metric trend, comparison, other), the content and metrics it
/// names and its period; the facts that intent needs are fetched, and the model's answer is
/// checked against them — asked again once if it states a number no fact backs, then replaced
/// by the narrator's text. A question the facts cannot answer (`other`) gets a short note of
/// what can be asked, without a model call. Both messages are stored in the session.
#[utoipa::path(post, path = "/v1/admin/chat", tag = "insights",
    request_body = ChatTurn,
    responses(
        (status = 200, description = "The question and its answer, as stored", body = ChatReply),
        (status = 400, description = "`invalid_request`: no text, or more than 1,000 characters", body = service::error::ErrorBody),
        (status = 404, description = "`chat_session_not_found`: no such session of this tenant", body = service::error::ErrorBody),
        (status = 409, description = "`chat_session_full`: the session has 100 messages, start a new one; `concurrent_update`: another question of the session was answered meanwhile, ask again", body = service::error::ErrorBody),
    ))]
pub async fn ask_chat(
    State(state): State<AppState>,
    context: TenantContext,
    ApiJson(turn): ApiJson<ChatTurn>,
) -> Result<Json<ChatReply>, ApiError> {
    let text = turn.text.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_QUESTION_CHARS {
        return Err(ApiError::BadRequest {
            code: ErrorCode::InvalidRequest,
            message: format!(
                "text: a question is 1 to {MAX_QUESTION_CHARS} characters (not counting \
                 surrounding spaces); this one has {chars}"
            ),
            details: Some(serde_json::json!({"field": "text"})),
        });
    }
    let (items, table) = context.tables.app();
    let (session_id, earlier) = match turn.session_id {
        Some(id) => {
            let earlier = session::last(items, table, &id, HISTORY_MESSAGES).await?;
            if earlier.is_empty() {
                return Err(session_not_found(&id));
            }
            (id, earlier)
        }
        None => (Uuid::new_v4(), Vec::new()),
    };
    let next = earlier.last().map_or(1, |m| m.seq + 1);
    if next + 1 > MAX_MESSAGES {
        return Err(ApiError::conflict(
            ErrorCode::ChatSessionFull,
            format!(
                "chat session {session_id} has {} messages, the most a session holds; start a \
                 new session (send no session_id)",
                next - 1
            ),
        ));
    }

    let drafts = context
        .tables
        .content()
        .list()
        .await
        .map_err(content_error)?;
    let known = Known {
        content: drafts
            .iter()
            .map(|d| (d.id.as_str().to_owned(), d.body.name.clone()))
            .collect(),
        subjects: store::subjects(items, table, KNOWN_SUBJECTS).await?,
    };
    let now = OffsetDateTime::now_utc();
    let classification = classify::classify(text, &known, now.date());
    let scope = match classification.intent {
        Intent::Overview => Some(Scope::Overview),
        Intent::Comparison => Some(Scope::Comparison),
        Intent::Funnel => Some(Scope::Funnel(classification.content_ids.clone())),
        Intent::SelectorHealth => Some(Scope::SelectorHealth(classification.content_ids.clone())),
        Intent::MetricTrend => Some(Scope::Metrics(classification.metric_subjects.clone())),
        Intent::Other => None,
    };
    let record = match scope {
        Some(scope) => {
            let facts =
                sheet::build_scoped(&context.tables, &drafts, &classification.period, &scope)
                    .await?;
            let mut messages = recent(&earlier);
            messages.push(Message {
                role: Role::User,
                text: text.to_owned(),
            });
            ask::answer(&state, &context, chat_prompt(&facts), messages, facts).await?
        }
        None => ask::without_model(&state, classify::help_text()),
    };

    let question = ChatMessage {
        seq: next,
        role: Role::User,
        text: text.to_owned(),
        at: now,
        classification: Some(classification),
        answer: None,
    };
    let answer = ChatMessage {
        seq: next + 1,
        role: Role::Assistant,
        text: record.0,
        at: OffsetDateTime::now_utc(),
        classification: None,
        answer: Some(record.1),
    };
    session::append_turn(items, table, &session_id, &question, &answer).await?;
    Ok(Json(ChatReply {
        session_id,
        question,
        answer,
    }))
}

/// The newest of `earlier` that fit in [`MAX_HISTORY_CHARS`], oldest first, starting with a
/// question (an answer without its question would mislead the model).
fn recent(earlier: &[ChatMessage]) -> Vec<Message> {
    let mut kept = Vec::new();
    let mut chars = 0;
    for message in earlier.iter().rev() {
        chars += message.text.chars().count();
        if chars > MAX_HISTORY_CHARS {
            break;
        }
        kept.push(Message {
            role: message.role,
            text: message.text.clone(),
        });
    }
    while kept.last().is_some_and(|m| m.role != Role::User) {
        kept.pop();
    }
    kept.reverse();
    kept
}

/// A chat session's messages in order: each question with its classification, each answer
/// with how it was written, what it cost and the facts it was checked against.
#[utoipa::path(get, path = "/v1/admin/chat/{session_id}", tag = "insights",
    params(("session_id" = Uuid, Path, description = "The session, as `POST /v1/admin/chat` answered it")),
    responses(
        (status = 200, description = "The session's messages", body = ChatHistory),
        (status = 400, description = "`invalid_request`: not a session id", body = service::error::ErrorBody),
        (status = 404, description = "`chat_session_not_found`: no such session of this tenant", body = service::error::ErrorBody),
    ))]
pub async fn chat_history(
    context: TenantContext,
    ApiPath(session_id): ApiPath<String>,
) -> Result<Json<ChatHistory>, ApiError> {
    let session_id = Uuid::parse_str(&session_id).map_err(|e| ApiError::BadRequest {
        code: ErrorCode::InvalidRequest,
        message: format!("session_id: {session_id:?} is not a session id (a UUID): {e}"),
        details: Some(serde_json::json!({"field": "session_id"})),
    })?;
    let (items, table) = context.tables.app();
    let messages = session::history(items, table, &session_id).await?;
    if messages.is_empty() {
        return Err(session_not_found(&session_id));
    }
    Ok(Json(ChatHistory {
        session_id,
        messages,
    }))
}
