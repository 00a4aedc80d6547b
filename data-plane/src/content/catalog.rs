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

use lru::LruCache;
use tenancy::TenantId;

use super::model::ContentId;
use super::store::{ChangeError, ContentStore, Published};

/// One tenant's published content, as read at one moment.
#[derive(Debug, Default)]
pub struct Catalog {
    pub live: Vec<Published>,
    pub latest: HashMap<ContentId, u32>,
}

impl Catalog {
    /// Reads the catalog from the tenant's app table.
    pub async fn read(store: &ContentStore<'_>) -> Result<Catalog, ChangeError> {
        let live = store.live().await?;
        let latest = store
            .list()
            .await?
            .into_iter()
            .filter_map(|draft| draft.published_version.map(|v| (draft.id, v)))
            .collect();
        Ok(Catalog { live, latest })
    }
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
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
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
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.put(tenant.clone(), (now, catalog));
    }

    /// Forgets `tenant`'s catalog (its content just changed).
    pub fn forget(&self, tenant: &TenantId) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
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
}
