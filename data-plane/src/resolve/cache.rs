//! The memory of tenant resolution: what a presented API key resolved to, for a bounded time,
//! and which keys resolved to nothing, for a bounded time and in bounded number.
//!
//! Both sides are LRUs keyed by the presented key itself (compared exactly, so two keys can
//! never share an entry), each entry stamped with when it stops counting. A flood of random
//! keys can only push older negative entries out; it cannot grow memory past the bound, and
//! it never evicts a positive entry, which lives in a cache of its own. A revoked key or a
//! suspended tenant is seen at the latest one TTL after the change.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// What the cache knows of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached<V> {
    /// The key resolved to this, less than one TTL ago.
    Found(V),
    /// The key resolved to nothing, less than one negative TTL ago.
    Unknown,
}

pub struct ResolutionCache<V> {
    found: Mutex<LruCache<String, (V, Instant)>>,
    unknown: Mutex<LruCache<String, Instant>>,
    ttl: Duration,
    unknown_ttl: Duration,
}

impl<V: Clone> ResolutionCache<V> {
    pub fn new(
        capacity: NonZeroUsize,
        ttl: Duration,
        unknown_capacity: NonZeroUsize,
        unknown_ttl: Duration,
    ) -> Self {
        ResolutionCache {
            found: Mutex::new(LruCache::new(capacity)),
            unknown: Mutex::new(LruCache::new(unknown_capacity)),
            ttl,
            unknown_ttl,
        }
    }

    /// What is known of `key` at `now`, if anything still counts.
    pub fn get(&self, key: &str, now: Instant) -> Option<Cached<V>> {
        {
            let mut found = self
                .found
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            match found.get(key) {
                Some((value, until)) if *until > now => return Some(Cached::Found(value.clone())),
                Some(_) => {
                    found.pop(key);
                }
                None => {}
            }
        }
        let mut unknown = self
            .unknown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        match unknown.get(key) {
            Some(until) if *until > now => Some(Cached::Unknown),
            Some(_) => {
                unknown.pop(key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `key` resolved to `value` at `now`.
    pub fn found(&self, key: &str, value: V, now: Instant) {
        let mut found = self
            .found
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        found.put(key.to_owned(), (value, now + self.ttl));
    }

    /// Remembers that `key` resolved to nothing at `now`.
    pub fn unknown(&self, key: &str, now: Instant) {
        let mut unknown = self
            .unknown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        unknown.put(key.to_owned(), now + self.unknown_ttl);
    }

    /// How many entries each side holds: (found, unknown).
    pub fn len(&self) -> (usize, usize) {
        let found = self
            .found
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len();
        let unknown = self
            .unknown
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .len();
        (found, unknown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache() -> ResolutionCache<&'static str> {
        ResolutionCache::new(
            NonZeroUsize::new(2).unwrap(),
            Duration::from_secs(30),
            NonZeroUsize::new(3).unwrap(),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn entries_count_for_their_ttl_only() {
        let cache = cache();
        let start = Instant::now();
        cache.found("spk_a", "acme", start);
        cache.unknown("spk_x", start);
        assert_eq!(
            cache.get("spk_a", start + Duration::from_secs(29)),
            Some(Cached::Found("acme"))
        );
        assert_eq!(cache.get("spk_a", start + Duration::from_secs(30)), None);
        assert_eq!(
            cache.get("spk_x", start + Duration::from_secs(4)),
            Some(Cached::Unknown)
        );
        assert_eq!(cache.get("spk_x", start + Duration::from_secs(5)), None);
        assert_eq!(cache.len(), (0, 0), "expired entries are dropped when met");
    }

    #[test]
    fn a_flood_of_unknown_keys_is_bounded_and_leaves_found_keys_alone() {
        let cache = cache();
        let now = Instant::now();
        cache.found("spk_a", "acme", now);
        for i in 0..10_000 {
            cache.unknown(&format!("spk_random{i}"), now);
        }
        assert_eq!(cache.len(), (1, 3));
        assert_eq!(cache.get("spk_a", now), Some(Cached::Found("acme")));
    }

    #[test]
    fn keys_are_compared_exactly() {
        let cache = cache();
        let now = Instant::now();
        cache.found("spk_a", "acme", now);
        assert_eq!(cache.get("spk_A", now), None);
        assert_eq!(cache.get("spk_a ", now), None);
    }
}
