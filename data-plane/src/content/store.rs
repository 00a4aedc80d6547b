//! Content in a tenant's app table: drafts, frozen published versions, and the live published
//! set the SDK is served from (key layout: `tenancy::table_plan`).
//!
//! A draft is edited under optimistic concurrency (its item version is the `ETag` admins send
//! back in `If-Match`). Publishing checks the draft ([`super::validate`]) and then, in one
//! transaction, freezes it as the next version (which can never be overwritten), points the
//! draft at it and replaces the live copy; archiving removes the live copy in the same way.
//! Either all of a change is stored or none of it. Creating, publishing and archiving also
//! write the change's domain event into the tenant's outbox (in its events table) within the
//! same transaction (`crate::events::domain`): a change is never stored without its event,
//! nor an event without its change.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, SortKeyCondition, WriteOp};
use tenancy::table_plan::keys;
use tenancy::{Error, ErrorKind, TenantId};
use time::OffsetDateTime;

use super::model::{ContentBody, ContentId};
use super::validate::{self, Problem};
use crate::events::domain::{ContentChange, ContentEvent};

/// Where a content item is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ContentStatus {
    /// Never published.
    Draft,
    /// A version is live (the draft may have changed since).
    Published,
    /// Taken down; its versions are kept for analytics.
    Archived,
}

/// A content item as admins see it: the draft and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Draft {
    pub id: ContentId,
    pub body: ContentBody,
    pub status: ContentStatus,
    /// The newest published version, if any.
    pub published_version: Option<u32>,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    /// The stored item's version: what `If-Match` must name to change it.
    #[serde(skip)]
    pub revision: u64,
}

/// A frozen published version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Published {
    pub id: ContentId,
    pub version: u32,
    pub body: ContentBody,
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

/// Why a change was refused.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("content {0} does not exist")]
    NotFound(ContentId),
    /// The draft changed since the revision the caller read.
    #[error("content {id} has changed since revision {expected}; read it again")]
    Stale { id: ContentId, expected: u64 },
    #[error("content {0} is archived")]
    Archived(ContentId),
    #[error("content {id} cannot be published: {} problem(s)", problems.len())]
    Invalid {
        id: ContentId,
        problems: Vec<Problem>,
    },
    /// A stored item that does not read back as what it should be: a bug or a foreign write,
    /// never the caller's fault.
    #[error("{0}")]
    Corrupt(String),
    #[error(transparent)]
    Store(#[from] Error),
}

/// One tenant's content, in its app table; its changes' domain events, in the outbox of its
/// events table.
pub struct ContentStore<'a> {
    items: &'a dyn ItemStore,
    tenant: &'a TenantId,
    table: &'a str,
    events_table: &'a str,
}

impl<'a> ContentStore<'a> {
    pub fn new(
        items: &'a dyn ItemStore,
        tenant: &'a TenantId,
        app_table: &'a str,
        events_table: &'a str,
    ) -> Self {
        ContentStore {
            items,
            tenant,
            table: app_table,
            events_table,
        }
    }

    /// The outbox write of `change` to `draft` (as it is after the change).
    fn event(&self, change: ContentChange, draft: &Draft) -> Result<WriteOp, Error> {
        ContentEvent::new(
            self.tenant,
            &draft.id,
            change,
            draft.published_version,
            draft.revision,
            draft.updated_at,
        )
        .outbox_put(self.events_table)
    }

    /// Stores a new draft (its steps given ids) under a new id.
    pub async fn create(
        &self,
        mut body: ContentBody,
        now: OffsetDateTime,
    ) -> Result<Draft, ChangeError> {
        body.assign_step_ids();
        let draft = Draft {
            id: ContentId::generate(),
            body,
            status: ContentStatus::Draft,
            published_version: None,
            updated_at: now,
            revision: 1,
        };
        let ops = [
            WriteOp::Put {
                table: self.table.to_owned(),
                item: draft_item(&draft)?,
                condition: Condition::NotExists,
            },
            self.event(ContentChange::Created, &draft)?,
        ];
        self.items.transact_write(&ops).await?;
        Ok(draft)
    }

    pub async fn get(&self, id: &ContentId) -> Result<Option<Draft>, ChangeError> {
        let item = self.items.get(self.table, &draft_key(id)).await?;
        item.map(|item| read_draft(&item)).transpose()
    }

    /// Every content item, most recently updated first.
    pub async fn list(&self) -> Result<Vec<Draft>, ChangeError> {
        let query = Query {
            use_gsi1: true,
            pk: keys::CONTENT_INDEX.to_owned(),
            descending: true,
            ..Query::default()
        };
        self.all(query).await?.iter().map(read_draft).collect()
    }

    /// Replaces the draft's body if it is still at `revision`. Published versions are not
    /// touched: they stay frozen until the next publish.
    pub async fn update(
        &self,
        id: &ContentId,
        revision: u64,
        mut body: ContentBody,
        now: OffsetDateTime,
    ) -> Result<Draft, ChangeError> {
        let mut draft = self.current(id, revision).await?;
        if draft.status == ContentStatus::Archived {
            return Err(ChangeError::Archived(id.clone()));
        }
        body.assign_step_ids();
        draft.body = body;
        draft.updated_at = now;
        draft.revision = revision + 1;
        let item = draft_item(&draft)?;
        let put = self
            .items
            .put(self.table, &item, Condition::VersionIs(revision));
        stale_on_conflict(put.await, id, revision)?;
        Ok(draft)
    }

    /// Publishes the draft at `revision` as the next version, if it is valid.
    pub async fn publish(
        &self,
        id: &ContentId,
        revision: u64,
        now: OffsetDateTime,
    ) -> Result<Published, ChangeError> {
        let mut draft = self.current(id, revision).await?;
        if draft.status == ContentStatus::Archived {
            return Err(ChangeError::Archived(id.clone()));
        }
        let problems = validate::problems(&draft.body);
        if !problems.is_empty() {
            return Err(ChangeError::Invalid {
                id: id.clone(),
                problems,
            });
        }
        let version = draft.published_version.map_or(1, |v| v + 1);
        let published = Published {
            id: id.clone(),
            version,
            body: draft.body.clone(),
            published_at: now,
        };
        draft.status = ContentStatus::Published;
        draft.published_version = Some(version);
        draft.updated_at = now;
        draft.revision = revision + 1;
        let frozen = published_item(
            &published,
            ItemKey::new(keys::content(id.as_str()), keys::content_version(version)),
        )?;
        let live = published_item(&published, live_key(id))?;
        let ops = [
            WriteOp::Put {
                table: self.table.to_owned(),
                item: draft_item(&draft)?,
                condition: Condition::VersionIs(revision),
            },
            WriteOp::Put {
                table: self.table.to_owned(),
                item: frozen,
                condition: Condition::NotExists,
            },
            WriteOp::Put {
                table: self.table.to_owned(),
                item: live,
                condition: Condition::None,
            },
            self.event(ContentChange::Published, &draft)?,
        ];
        stale_on_conflict(self.items.transact_write(&ops).await, id, revision)?;
        Ok(published)
    }

    /// Takes the content down: the SDK no longer gets it; its versions stay for analytics.
    pub async fn archive(
        &self,
        id: &ContentId,
        revision: u64,
        now: OffsetDateTime,
    ) -> Result<Draft, ChangeError> {
        let mut draft = self.current(id, revision).await?;
        draft.status = ContentStatus::Archived;
        draft.updated_at = now;
        draft.revision = revision + 1;
        let ops = [
            WriteOp::Put {
                table: self.table.to_owned(),
                item: draft_item(&draft)?,
                condition: Condition::VersionIs(revision),
            },
            WriteOp::Delete {
                table: self.table.to_owned(),
                key: live_key(id),
                condition: Condition::None,
            },
            self.event(ContentChange::Archived, &draft)?,
        ];
        stale_on_conflict(self.items.transact_write(&ops).await, id, revision)?;
        Ok(draft)
    }

    /// A frozen version.
    pub async fn version(
        &self,
        id: &ContentId,
        version: u32,
    ) -> Result<Option<Published>, ChangeError> {
        let key = ItemKey::new(keys::content(id.as_str()), keys::content_version(version));
        let item = self.items.get(self.table, &key).await?;
        item.map(|item| read_published(&item)).transpose()
    }

    /// What the SDK is served: the live version of every published content item.
    pub async fn live(&self) -> Result<Vec<Published>, ChangeError> {
        let query = Query {
            pk: keys::PUBLISHED.to_owned(),
            sk: SortKeyCondition::Any,
            ..Query::default()
        };
        self.all(query).await?.iter().map(read_published).collect()
    }

    /// Every item `query` finds, page after page.
    async fn all(&self, mut query: Query) -> Result<Vec<Item>, ChangeError> {
        query.limit = 1000;
        let mut items = Vec::new();
        loop {
            let page = self.items.query(self.table, &query).await?;
            items.extend(page.items);
            match page.next {
                Some(next) => query.start_after = Some(next),
                None => return Ok(items),
            }
        }
    }

    /// The draft, if it exists and is still at `revision`.
    async fn current(&self, id: &ContentId, revision: u64) -> Result<Draft, ChangeError> {
        let draft = self
            .get(id)
            .await?
            .ok_or_else(|| ChangeError::NotFound(id.clone()))?;
        if draft.revision != revision {
            return Err(ChangeError::Stale {
                id: id.clone(),
                expected: revision,
            });
        }
        Ok(draft)
    }
}

fn draft_key(id: &ContentId) -> ItemKey {
    ItemKey::new(keys::content(id.as_str()), keys::CONTENT_DRAFT)
}

fn live_key(id: &ContentId) -> ItemKey {
    ItemKey::new(keys::PUBLISHED, id.as_str())
}

/// A condition that failed because someone else changed the draft first.
fn stale_on_conflict(
    result: Result<(), Error>,
    id: &ContentId,
    revision: u64,
) -> Result<(), ChangeError> {
    match result {
        Err(e) if e.kind() == ErrorKind::ConditionFailed => Err(ChangeError::Stale {
            id: id.clone(),
            expected: revision,
        }),
        other => Ok(other?),
    }
}

fn to_attrs(value: &impl Serialize) -> Result<Map<String, Value>, Error> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::invalid("content serialises to an object")),
        Err(e) => Err(Error::invalid(format!("content does not serialise: {e}"))),
    }
}

fn from_attrs<T: for<'de> Deserialize<'de>>(item: &Item, what: &str) -> Result<T, ChangeError> {
    serde_json::from_value(Value::Object(item.attrs.clone())).map_err(|e| {
        ChangeError::Corrupt(format!(
            "stored {what} ({}, {}) does not read back: {e}",
            item.key.pk, item.key.sk
        ))
    })
}

fn draft_item(draft: &Draft) -> Result<Item, Error> {
    let mut item = Item::new(draft_key(&draft.id));
    item.gsi1 = Some(ItemKey::new(
        keys::CONTENT_INDEX,
        format!(
            "{:020}#{}",
            draft.updated_at.unix_timestamp_nanos(),
            draft.id
        ),
    ));
    item.version = draft.revision;
    item.attrs = to_attrs(draft)?;
    Ok(item)
}

fn read_draft(item: &Item) -> Result<Draft, ChangeError> {
    let mut draft: Draft = from_attrs(item, "draft")?;
    // The key is the truth: a draft whose id disagrees with it would be written elsewhere.
    if draft_key(&draft.id) != item.key {
        return Err(ChangeError::Corrupt(format!(
            "the draft stored at ({}, {}) names content {}",
            item.key.pk, item.key.sk, draft.id
        )));
    }
    draft.revision = item.version;
    Ok(draft)
}

fn published_item(published: &Published, key: ItemKey) -> Result<Item, Error> {
    let mut item = Item::new(key);
    item.version = u64::from(published.version);
    item.attrs = to_attrs(published)?;
    Ok(item)
}

fn read_published(item: &Item) -> Result<Published, ChangeError> {
    from_attrs(item, "published content")
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use tenancy::conformance::Fixture;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    /// The tenant's app and events tables (in one tenant file, as a tenant's are).
    async fn tables() -> (Fixture, String, String) {
        let (fx, app) = crate::testing::tenant_table("app").await;
        let (events, _) = fx.tenant_table("acme", "events").await;
        (fx, app, events)
    }

    fn acme() -> TenantId {
        TenantId::parse("acme").unwrap()
    }

    /// The domain events waiting in the outbox of `events`, oldest first.
    async fn outbox(fx: &Fixture, events: &str) -> Vec<ContentEvent> {
        let query = Query {
            pk: keys::DOMAIN_OUTBOX.to_owned(),
            limit: 100,
            ..Query::default()
        };
        let page = fx.backend.items.query(events, &query).await.unwrap();
        page.items
            .iter()
            .map(|i| serde_json::from_value(Value::Object(i.attrs.clone())).unwrap())
            .collect()
    }

    fn tour(title: &str) -> ContentBody {
        serde_json::from_value(json!({
            "kind": "tour", "name": "Welcome", "targeting": {"urls": ["/app/*"]},
            "steps": [{"title": title, "target": "#start"}, {"title": "Then this"}]
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_draft_is_published_frozen_and_served_live() {
        let (fx, table, events) = tables().await;
        let tenant = acme();
        let store = ContentStore::new(fx.backend.items.as_ref(), &tenant, &table, &events);
        let draft = store.create(tour("Start here"), NOW).await.unwrap();
        assert_eq!((draft.status, draft.revision), (ContentStatus::Draft, 1));
        assert!(
            store.live().await.unwrap().is_empty(),
            "a draft is not served"
        );

        let v1 = store.publish(&draft.id, 1, NOW).await.unwrap();
        assert_eq!(v1.version, 1);
        let step_ids: Vec<_> = v1
            .body
            .steps
            .iter()
            .map(|s| s.id.clone().unwrap())
            .collect();

        // Editing the draft leaves version 1 as it was, live and frozen.
        let mut body = v1.body.clone();
        body.steps[0].title = "Start over here".into();
        let edited = store.update(&draft.id, 2, body, NOW).await.unwrap();
        assert_eq!(store.live().await.unwrap(), vec![v1.clone()]);
        assert_eq!(store.version(&draft.id, 1).await.unwrap(), Some(v1.clone()));

        let v2 = store
            .publish(&draft.id, edited.revision, NOW)
            .await
            .unwrap();
        assert_eq!(v2.version, 2);
        let ids_v2: Vec<_> = v2
            .body
            .steps
            .iter()
            .map(|s| s.id.clone().unwrap())
            .collect();
        assert_eq!(ids_v2, step_ids, "step ids stay stable across versions");
        assert_eq!(store.live().await.unwrap(), vec![v2]);
        assert_eq!(store.version(&draft.id, 1).await.unwrap(), Some(v1));

        let archived = store.archive(&draft.id, 4, NOW).await.unwrap();
        assert_eq!(archived.status, ContentStatus::Archived);
        assert!(store.live().await.unwrap().is_empty());
        assert!(matches!(
            store.update(&draft.id, 5, tour("x"), NOW).await,
            Err(ChangeError::Archived(_))
        ));
        assert!(
            matches!(
                store.publish(&draft.id, 5, NOW).await,
                Err(ChangeError::Archived(_))
            ),
            "archived content is not put live again"
        );
    }

    #[tokio::test]
    async fn a_stale_revision_and_an_invalid_draft_change_nothing() {
        let (fx, table, events) = tables().await;
        let tenant = acme();
        let store = ContentStore::new(fx.backend.items.as_ref(), &tenant, &table, &events);
        let draft = store.create(tour("Start"), NOW).await.unwrap();
        assert!(matches!(
            store.publish(&draft.id, 7, NOW).await,
            Err(ChangeError::Stale { .. })
        ));

        let mut invalid = tour("");
        invalid.targeting.urls.clear();
        let draft = store.update(&draft.id, 1, invalid, NOW).await.unwrap();
        match store.publish(&draft.id, draft.revision, NOW).await {
            Err(ChangeError::Invalid { problems, .. }) => {
                let paths: Vec<_> = problems.iter().map(|p| p.path.as_str()).collect();
                assert_eq!(paths, ["targeting.urls", "steps[0].title"]);
            }
            other => panic!("an invalid draft was not refused: {other:?}"),
        }
        assert!(store.live().await.unwrap().is_empty());
        assert_eq!(
            store.get(&draft.id).await.unwrap().unwrap().status,
            ContentStatus::Draft
        );
        assert!(matches!(
            store
                .publish(&ContentId::parse("c_nobody").unwrap(), 1, NOW)
                .await,
            Err(ChangeError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_list_has_every_item_newest_change_first() {
        let (fx, table, events) = tables().await;
        let tenant = acme();
        let store = ContentStore::new(fx.backend.items.as_ref(), &tenant, &table, &events);
        let first = store.create(tour("one"), NOW).await.unwrap();
        let second = store
            .create(tour("two"), NOW + time::Duration::minutes(1))
            .await
            .unwrap();
        let ids: Vec<_> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|d| d.id)
            .collect();
        assert_eq!(ids, [second.id, first.id]);
    }

    #[tokio::test]
    async fn each_change_writes_its_domain_event_with_it_and_a_refused_change_writes_none() {
        let (fx, table, events) = tables().await;
        let tenant = acme();
        let store = ContentStore::new(fx.backend.items.as_ref(), &tenant, &table, &events);
        let draft = store.create(tour("Start"), NOW).await.unwrap();
        store
            .update(&draft.id, 1, tour("Begin"), NOW)
            .await
            .unwrap();
        assert!(store.publish(&draft.id, 1, NOW).await.is_err(), "stale");
        let later = NOW + time::Duration::minutes(1);
        store.publish(&draft.id, 2, later).await.unwrap();
        store.archive(&draft.id, 3, later).await.unwrap();
        let waiting: Vec<_> = outbox(&fx, &events)
            .await
            .into_iter()
            .map(|e| (e.tenant, e.content_id, e.change, e.version, e.revision))
            .collect();
        let id = draft.id.clone();
        assert_eq!(
            waiting,
            [
                (acme(), id.clone(), ContentChange::Created, None, 1),
                (acme(), id.clone(), ContentChange::Published, Some(1), 3),
                (acme(), id, ContentChange::Archived, Some(1), 4),
            ],
            "an edit has no event, a refused publish none either"
        );
    }
}
