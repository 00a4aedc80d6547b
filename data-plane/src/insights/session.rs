//! Chat sessions in the tenant's app table: one item per message, `CHAT#{session}` /
//! `{seq:06}`, so a session's history is one query in order. A turn — the question and its
//! answer — is written in one transaction, each message on the condition that its place is
//! free, so a turn is stored whole or not at all, and two turns racing in one session cannot
//! both take the same place (the loser is told to retry).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenancy::Error;
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, WriteOp};
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::classify::Classification;
use super::facts::FactSheet;
use super::llm::Role;
use super::summary::{Outcome, Source};

/// Messages a session holds at most (50 turns): past it, a new session is started.
pub const MAX_MESSAGES: u32 = 100;

/// Earlier messages the model is shown with a new question (the last three turns).
pub const HISTORY_MESSAGES: u32 = 6;

/// One message of a session, as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ChatMessage {
    /// Its place in the session, from 1.
    pub seq: u32,
    pub role: Role,
    pub text: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// A question's: what the classifier made of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<Classification>,
    /// An answer's: how it was written and what it cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer: Option<AnswerRecord>,
}

/// How an answer was written, kept with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AnswerRecord {
    pub outcome: Outcome,
    pub source: Source,
    /// The configured model (`template` for the narrator).
    pub model: String,
    pub model_calls: u32,
    pub input_tokens: u32,
    pub output_tokens: u32,
    /// The tokens' estimated cost in US dollars, at the configured price of the model.
    pub cost_usd: f64,
    /// Numbers a rejected answer stated that no fact backs.
    pub rejected: Vec<String>,
    /// Why the model's text was not used, when no number was the reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_error: Option<String>,
    /// Whether the tenant was past its monthly token budget, so the narrator answered.
    #[serde(default)]
    pub over_budget: bool,
    /// The facts the answer was checked against.
    pub facts: FactSheet,
}

fn key(session: &Uuid, seq: u32) -> ItemKey {
    ItemKey::new(keys::chat(&session.to_string()), format!("{seq:06}"))
}

fn read(item: &Item) -> Result<ChatMessage, Error> {
    serde_json::from_value(Value::Object(item.attrs.clone())).map_err(|e| {
        Error::invalid(format!(
            "stored chat message ({}, {}) does not read back: {e}",
            item.key.pk, item.key.sk
        ))
    })
}

/// The last `n` messages of `session`, oldest first (none: no such session).
pub async fn last(
    items: &dyn ItemStore,
    table: &str,
    session: &Uuid,
    n: u32,
) -> Result<Vec<ChatMessage>, Error> {
    let page = items
        .query(
            table,
            &Query {
                pk: keys::chat(&session.to_string()),
                limit: n.max(1),
                descending: true,
                ..Query::default()
            },
        )
        .await?;
    let mut messages = page.items.iter().map(read).collect::<Result<Vec<_>, _>>()?;
    messages.reverse();
    Ok(messages)
}

/// Every message of `session`, in order (none: no such session).
pub async fn history(
    items: &dyn ItemStore,
    table: &str,
    session: &Uuid,
) -> Result<Vec<ChatMessage>, Error> {
    let mut query = Query {
        pk: keys::chat(&session.to_string()),
        limit: MAX_MESSAGES,
        ..Query::default()
    };
    let mut messages = Vec::new();
    loop {
        let page = items.query(table, &query).await?;
        for item in &page.items {
            messages.push(read(item)?);
        }
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => return Ok(messages),
        }
    }
}

/// Stores `question` and `answer` (whose `seq`s are the next two places of `session`) in one
/// transaction. Errors: `ConditionFailed` when another turn took those places first.
pub async fn append_turn(
    items: &dyn ItemStore,
    table: &str,
    session: &Uuid,
    question: &ChatMessage,
    answer: &ChatMessage,
) -> Result<(), Error> {
    let mut ops = Vec::with_capacity(2);
    for message in [question, answer] {
        let mut item = Item::new(key(session, message.seq));
        item.attrs = match serde_json::to_value(message) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::invalid("a chat message serialises to an object")),
        };
        ops.push(WriteOp::Put {
            table: table.to_owned(),
            item,
            condition: Condition::NotExists,
        });
    }
    items.transact_write(&ops).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::insights::classify::{Intent, PeriodFrom};
    use crate::series::period::Period;
    use crate::testing::tenant_table;

    fn message(seq: u32, role: Role, text: &str) -> ChatMessage {
        ChatMessage {
            seq,
            role,
            text: text.to_owned(),
            at: OffsetDateTime::UNIX_EPOCH,
            classification: (role == Role::User).then(|| Classification {
                intent: Intent::Overview,
                content_ids: vec![],
                metric_subjects: vec![],
                period: Period::parse("2026-11").unwrap(),
                period_from: PeriodFrom::Asked,
            }),
            answer: None,
        }
    }

    #[tokio::test]
    async fn turns_read_back_in_order_and_a_taken_place_refuses_the_whole_turn() {
        let (fx, table) = tenant_table("chat").await;
        let items = &fx.backend.items;
        let session = Uuid::new_v4();
        assert!(
            history(items.as_ref(), &table, &session)
                .await
                .unwrap()
                .is_empty()
        );
        for turn in 0..3u32 {
            append_turn(
                items.as_ref(),
                &table,
                &session,
                &message(turn * 2 + 1, Role::User, &format!("q{turn}")),
                &message(turn * 2 + 2, Role::Assistant, &format!("a{turn}")),
            )
            .await
            .unwrap();
        }
        let all = history(items.as_ref(), &table, &session).await.unwrap();
        let texts: Vec<&str> = all.iter().map(|m| m.text.as_str()).collect();
        assert_eq!(texts, ["q0", "a0", "q1", "a1", "q2", "a2"]);
        assert_eq!(
            all[0].classification.as_ref().unwrap().intent,
            Intent::Overview
        );
        let recent = last(items.as_ref(), &table, &session, 2).await.unwrap();
        assert_eq!(recent.iter().map(|m| m.seq).collect::<Vec<_>>(), [5, 6]);

        // A racing turn for places 7 and 6: nothing of it is stored.
        let raced = append_turn(
            items.as_ref(),
            &table,
            &session,
            &message(7, Role::User, "late"),
            &message(6, Role::Assistant, "late"),
        )
        .await
        .unwrap_err();
        assert_eq!(raced.kind(), tenancy::ErrorKind::ConditionFailed);
        assert_eq!(
            history(items.as_ref(), &table, &session)
                .await
                .unwrap()
                .len(),
            6
        );
    }
}
