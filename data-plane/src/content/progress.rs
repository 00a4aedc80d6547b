//! An end user's progress through a tenant's content, in the tenant's app table (one item per
//! user and content item: `USER#{id}` / `PROGRESS#{content}`), changed under optimistic
//! concurrency: the item's version is the `ETag` a client sends back in `If-Match`. Only a
//! verified user (the `sub` of a token signed by the tenant's backend) has progress; anonymous
//! visitors see content, and nothing is stored for them.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, SortKeyCondition};
use tenancy::table_plan::keys;
use tenancy::{Error, ErrorKind};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::model::{ContentId, StepId};

/// Where a user stands with one content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProgressState {
    InProgress,
    /// Finished: not offered again unless the content repeats.
    Completed,
    /// Closed by the user: not offered again unless the content repeats.
    Dismissed,
}

impl ProgressState {
    /// Whether content in this state is offered again only when it repeats.
    pub fn is_done(self) -> bool {
        matches!(self, ProgressState::Completed | ProgressState::Dismissed)
    }
}

/// What a client sends to record progress.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressUpdate {
    pub state: ProgressState,
    /// The version of the content the user saw.
    #[serde(deserialize_with = "super::model::whole_number")]
    #[schema(minimum = 1)]
    pub content_version: u32,
    /// The step the user is on (tours, checklists, surveys).
    #[serde(default)]
    pub step_id: Option<StepId>,
}

/// A user's stored progress on one content item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Progress {
    pub content_id: ContentId,
    pub state: ProgressState,
    pub content_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_id: Option<StepId>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The stored version: what `If-Match` must name to change it.
    pub revision: u64,
}

/// Why a progress change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ProgressError {
    /// The stored progress is not at the revision `If-Match` named (or exists when none was
    /// named).
    #[error("the progress on {content} has changed (now at revision {current:?}); read it again")]
    Stale {
        content: ContentId,
        current: Option<u64>,
    },
    #[error(transparent)]
    Store(#[from] Error),
}

fn key(user: &str, content: &ContentId) -> ItemKey {
    ItemKey::new(keys::user(user), keys::progress(content.as_str()))
}

fn read(item: &Item) -> Result<Progress, Error> {
    let mut progress: Progress = serde_json::from_value(Value::Object(item.attrs.clone()))
        .map_err(|e| {
            Error::invalid(format!(
                "stored progress ({}, {}) does not read back: {e}",
                item.key.pk, item.key.sk
            ))
        })?;
    progress.revision = item.version;
    Ok(progress)
}

/// Every progress record of `user`.
pub async fn list(items: &dyn ItemStore, table: &str, user: &str) -> Result<Vec<Progress>, Error> {
    let mut query = Query {
        pk: keys::user(user),
        sk: SortKeyCondition::BeginsWith(keys::progress("")),
        limit: 1000,
        ..Query::default()
    };
    let mut all = Vec::new();
    loop {
        let page = items.query(table, &query).await?;
        for item in &page.items {
            all.push(read(item)?);
        }
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => return Ok(all),
        }
    }
}

/// Stores `update` for `user` on `content`: created when `expected` is `None` and nothing is
/// stored yet, replaced when the stored revision is `expected`.
pub async fn put(
    items: &dyn ItemStore,
    table: &str,
    user: &str,
    content: &ContentId,
    update: ProgressUpdate,
    expected: Option<u64>,
    now: OffsetDateTime,
) -> Result<Progress, ProgressError> {
    let revision = expected.map_or(1, |r| r + 1);
    let progress = Progress {
        content_id: content.clone(),
        state: update.state,
        content_version: update.content_version,
        step_id: update.step_id,
        updated_at: now,
        revision,
    };
    let mut item = Item::new(key(user, content));
    item.version = revision;
    item.attrs = match serde_json::to_value(&progress) {
        Ok(Value::Object(map)) => map,
        _ => return Err(Error::invalid("progress serialises to an object").into()),
    };
    let condition = expected.map_or(Condition::NotExists, Condition::VersionIs);
    match items.put(table, &item, condition).await {
        Ok(()) => Ok(progress),
        Err(e) if e.kind() == ErrorKind::ConditionFailed => {
            let current = items
                .get(table, &key(user, content))
                .await?
                .map(|i| i.version);
            Err(ProgressError::Stale {
                content: content.clone(),
                current,
            })
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::tenant_table;

    fn update(state: ProgressState) -> ProgressUpdate {
        ProgressUpdate {
            state,
            content_version: 1,
            step_id: None,
        }
    }

    #[tokio::test]
    async fn progress_is_created_once_then_changed_only_at_its_revision() {
        let (fx, table) = tenant_table("progress").await;
        let items = fx.backend.items.as_ref();
        let tour = ContentId::parse("c_tour").unwrap();
        let now = OffsetDateTime::now_utc();
        let first = put(
            items,
            &table,
            "u1",
            &tour,
            update(ProgressState::InProgress),
            None,
            now,
        )
        .await
        .unwrap();
        assert_eq!(first.revision, 1);
        let again = put(
            items,
            &table,
            "u1",
            &tour,
            update(ProgressState::Completed),
            None,
            now,
        )
        .await;
        assert!(matches!(
            again,
            Err(ProgressError::Stale {
                current: Some(1),
                ..
            })
        ));
        let done = put(
            items,
            &table,
            "u1",
            &tour,
            update(ProgressState::Completed),
            Some(1),
            now,
        )
        .await
        .unwrap();
        assert_eq!((done.revision, done.state), (2, ProgressState::Completed));
        let stale = put(
            items,
            &table,
            "u1",
            &tour,
            update(ProgressState::Dismissed),
            Some(1),
            now,
        )
        .await;
        assert!(matches!(
            stale,
            Err(ProgressError::Stale {
                current: Some(2),
                ..
            })
        ));
        let listed = list(items, &table, "u1").await.unwrap();
        assert_eq!(listed, vec![done]);
        assert!(
            list(items, &table, "u2").await.unwrap().is_empty(),
            "one user's progress only"
        );
    }
}
