//! A tenant's published content as the SDK routes need it, kept in memory for a short TTL:
//! the live versions (what `GET /v1/sdk/content` serves) and the newest version ever
//! published of every item (what event ingest checks events against; archived content
//! included, as its pages may still be open). One read of the app table fills both.
//!
//! A process that publishes or archives content drops its tenant's entry at once; other
//! processes see the change within the TTL. Bounded: least recently used tenants go first.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::HeaderValue;
use lru::LruCache;
use tenancy::TenantId;

use super::model::ContentId;
use super::store::{ChangeError, ContentStore, Published};
use super::targeting::{self, UrlPattern};

/// Distinct SDK answers one catalog keeps (one per set of items some page shows); past it,
/// answers are still made, just not kept.
const MAX_ANSWERS: usize = 256;

/// One tenant's published content, as read at one moment.
#[derive(Debug, Default)]
pub struct Catalog {
    pub live: Vec<Published>,
    pub latest: HashMap<ContentId, u32>,
    /// The URL patterns of each live item, parsed once.
    patterns: Vec<Vec<UrlPattern>>,
    /// SDK answers made from this catalog, by the indexes of the live items they hold: an
    /// answer depends on those items alone, so it is serialised and hashed once per catalog.
    answers: Mutex<HashMap<Vec<usize>, Answer>>,
}

/// An SDK content answer: its body and the body's strong `ETag`.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: Bytes,
    pub etag: HeaderValue,
}

impl Catalog {
    pub fn new(live: Vec<Published>, latest: HashMap<ContentId, u32>) -> Catalog {
        let patterns = live
            .iter()
            .map(|p| {
                p.body
                    .targeting
                    .urls
                    .iter()
                    .filter_map(|raw| UrlPattern::parse(raw).ok())
                    .collect()
            })
            .collect();
        Catalog {
            live,
            latest,
            patterns,
            answers: Mutex::default(),
        }
    }

    /// Reads the catalog from the tenant's app table.
    pub async fn read(store: &ContentStore<'_>) -> Result<Catalog, ChangeError> {
        let live = store.live().await?;
        let latest = store
            .list()
            .await?
            .into_iter()
            .filter_map(|draft| draft.published_version.map(|v| (draft.id, v)))
            .collect();
        Ok(Catalog::new(live, latest))
    }

    /// The indexes of the live items that show on the page at `host` and `path` to an
    /// anonymous user ([`targeting::shows`]), in publishing order.
    pub fn showing(&self, host: &str, path: &str) -> Vec<usize> {
        self.showing_to(host, path, None)
    }

    /// The indices of the live items that show on `host`/`path` to a user with `traits`
    /// (`None`: an anonymous visitor).
    pub fn showing_to(
        &self,
        host: &str,
        path: &str,
        traits: Option<&serde_json::Map<String, serde_json::Value>>,
    ) -> Vec<usize> {
        self.live
            .iter()
            .zip(&self.patterns)
            .enumerate()
            .filter(|(_, (item, patterns))| {
                targeting::shows_parsed(patterns, &item.body.targeting.traits, host, path, traits)
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The answer holding the live items at `showing`: made by `make` the first time, then
    /// kept with this catalog (which is replaced whenever the content changes).
    pub fn answer<E>(
        &self,
        showing: Vec<usize>,
        make: impl FnOnce(&[usize]) -> Result<Answer, E>,
    ) -> Result<Answer, E> {
        if let Some(answer) = lock(&self.answers).get(&showing) {
            return Ok(answer.clone());
        }
        let answer = make(&showing)?;
        let mut answers = lock(&self.answers);
        if answers.len() < MAX_ANSWERS {
            answers.insert(showing, answer.clone());
        }
        Ok(answer)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct CatalogCache {
    ttl: Duration,
    entries: Mutex<LruCache<TenantId, (Instant, Arc<Catalog>)>>,
}

impl CatalogCache {
    pub fn new(ttl: Duration, capacity: NonZeroUsize) -> Self {
        CatalogCache {
            ttl,
            entries: Mutex::new(LruCache::new(capacity)),
        }
    }

    /// The cached catalog of `tenant` if it is younger than `max_age` (and the TTL).
    pub fn get(&self, tenant: &TenantId, max_age: Duration, now: Instant) -> Option<Arc<Catalog>> {
        let mut entries = lock(&self.entries);
        match entries.get(tenant) {
            Some((at, catalog)) if now.duration_since(*at) < self.ttl.min(max_age) => {
                Some(catalog.clone())
            }
            _ => None,
        }
    }

    pub fn put(&self, tenant: &TenantId, catalog: Arc<Catalog>, now: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = lock(&self.entries);
        entries.put(tenant.clone(), (now, catalog));
    }

    /// Forgets `tenant`'s catalog (its content just changed).
    pub fn forget(&self, tenant: &TenantId) {
        let mut entries = lock(&self.entries);
        entries.pop(tenant);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str) -> TenantId {
        TenantId::parse(id).unwrap()
    }

    #[test]
    fn an_entry_is_served_until_its_ttl_or_the_callers_max_age_and_forgotten_on_change() {
        let cache = CatalogCache::new(Duration::from_secs(5), NonZeroUsize::new(2).unwrap());
        let t0 = Instant::now();
        let acme = tenant("acme");
        cache.put(&acme, Arc::new(Catalog::default()), t0);
        assert!(
            cache
                .get(&acme, Duration::MAX, t0 + Duration::from_secs(4))
                .is_some()
        );
        assert!(
            cache
                .get(&acme, Duration::MAX, t0 + Duration::from_secs(5))
                .is_none()
        );
        assert!(
            cache
                .get(&acme, Duration::from_secs(1), t0 + Duration::from_secs(2))
                .is_none()
        );
        cache.forget(&acme);
        assert!(cache.get(&acme, Duration::MAX, t0).is_none());
    }

    #[test]
    fn it_holds_at_most_its_capacity_and_a_zero_ttl_caches_nothing() {
        let cache = CatalogCache::new(Duration::from_secs(5), NonZeroUsize::new(2).unwrap());
        let now = Instant::now();
        for id in ["aa1", "bb2", "cc3"] {
            cache.put(&tenant(id), Arc::new(Catalog::default()), now);
        }
        assert!(cache.get(&tenant("aa1"), Duration::MAX, now).is_none());
        assert!(cache.get(&tenant("cc3"), Duration::MAX, now).is_some());
        let off = CatalogCache::new(Duration::ZERO, NonZeroUsize::new(2).unwrap());
        off.put(&tenant("aa1"), Arc::new(Catalog::default()), now);
        assert!(off.get(&tenant("aa1"), Duration::MAX, now).is_none());
    }

    fn published(id: &str, urls: &[&str]) -> Published {
        let body = serde_json::from_value(serde_json::json!({
            "kind": "modal",
            "name": id,
            "targeting": {"urls": urls},
            "steps": [{"title": "Hi", "body": "There"}],
        }))
        .unwrap();
        Published {
            id: ContentId::parse(id).unwrap(),
            version: 1,
            body,
            published_at: time::OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn pages_showing_the_same_items_share_one_answer_made_once() {
        let catalog = Catalog::new(
            vec![
                published("c_all", &["*"]),
                published("c_billing", &["/billing*"]),
            ],
            HashMap::new(),
        );
        assert_eq!(catalog.showing("a.io", "/billing/x"), vec![0, 1]);
        assert_eq!(catalog.showing("a.io", "/home"), vec![0]);
        let mut made = 0;
        let mut answer = |path: &str| {
            catalog
                .answer(catalog.showing("a.io", path), |items| {
                    made += 1;
                    let body = Bytes::from(format!("{items:?}"));
                    Ok::<_, ()>(Answer {
                        etag: HeaderValue::from_static("\"e\""),
                        body,
                    })
                })
                .unwrap()
                .body
        };
        assert_eq!(answer("/home"), "[0]");
        assert_eq!(answer("/settings"), "[0]");
        assert_eq!(answer("/billing"), "[0, 1]");
        assert_eq!(made, 2, "one answer per set of items, not per page");
    }
}
