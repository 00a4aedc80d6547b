//! The memory of tenant resolution: what a presented API key resolved to, for a bounded time,
//! and which keys resolved to nothing, for a bounded time and in bounded number.
//!
//! Both sides are LRUs keyed by the presented key itself (compared exactly, so two keys can
//! never share an entry), each entry stamped with when it stops counting. Only a key that
//! parsed — the right prefix, length and checksum — reaches the cache ([`ApiKey`]), so every
//! entry has the same small size: a flood of random keys can only push older negative
//! entries out, its memory is bounded by the entry count, and it never evicts a positive
//! entry, which lives in a cache of its own. A revoked key or a suspended tenant is seen at
//! the latest one TTL after the change.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;
use tenancy::api_key::ApiKey;

/// What the cache knows of a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cached<V> {
    /// The key resolved to this, less than one TTL ago.
    Found(V),
    /// The key resolved to nothing, less than one negative TTL ago.
    Unknown,
}

/// A key as the caches hold it: its bytes, in the entry itself rather than behind a pointer,
/// so a lookup among many entries touches one less place in memory.
type Slot = [u8; ApiKey::LEN];

fn slot(key: &ApiKey) -> Slot {
    let mut slot = [0; ApiKey::LEN];
    // A parsed key is exactly `ApiKey::LEN` bytes long.
    slot.copy_from_slice(key.expose().as_bytes());
    slot
}

pub struct ResolutionCache<V> {
    found: Mutex<LruCache<Slot, (V, Instant)>>,
    unknown: Mutex<LruCache<Slot, Instant>>,
    ttl: Duration,
    unknown_ttl: Duration,
}

/// A lock that a panic elsewhere cannot make unusable: the cache holds no invariant a
/// half-done update could break.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
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
    pub fn get(&self, key: &ApiKey, now: Instant) -> Option<Cached<V>> {
        let key = slot(key);
        {
            let mut found = lock(&self.found);
            match found.get(&key) {
                Some((value, until)) if *until > now => return Some(Cached::Found(value.clone())),
                Some(_) => {
                    found.pop(&key);
                }
                None => {}
            }
        }
        let mut unknown = lock(&self.unknown);
        match unknown.get(&key) {
            Some(until) if *until > now => Some(Cached::Unknown),
            Some(_) => {
                unknown.pop(&key);
                None
            }
            None => None,
        }
    }

    /// Remembers that `key` resolved to `value` at `now`.
    pub fn found(&self, key: &ApiKey, value: V, now: Instant) {
        let until = now.checked_add(self.ttl).unwrap_or(now);
        lock(&self.found).put(slot(key), (value, until));
    }

    /// Remembers that `key` resolved to nothing at `now`.
    pub fn unknown(&self, key: &ApiKey, now: Instant) {
        let until = now.checked_add(self.unknown_ttl).unwrap_or(now);
        lock(&self.unknown).put(slot(key), until);
    }

    /// How many entries each side holds: (found, unknown).
    pub fn len(&self) -> (usize, usize) {
        (lock(&self.found).len(), lock(&self.unknown).len())
    }
}

#[cfg(test)]
mod tests {
    use tenancy::ApiKeyKind;

    use super::*;

    fn cache() -> ResolutionCache<&'static str> {
        ResolutionCache::new(
            NonZeroUsize::new(2).unwrap(),
            Duration::from_secs(30),
            NonZeroUsize::new(3).unwrap(),
            Duration::from_secs(5),
        )
    }

    fn key() -> ApiKey {
        ApiKey::generate(ApiKeyKind::Publishable)
    }

    #[test]
    fn entries_count_for_their_ttl_only() {
        let cache = cache();
        let start = Instant::now();
        let (a, x) = (key(), key());
        cache.found(&a, "acme", start);
        cache.unknown(&x, start);
        let at = |secs| start + Duration::from_secs(secs);
        assert_eq!(cache.get(&a, at(29)), Some(Cached::Found("acme")));
        assert_eq!(cache.get(&a, at(30)), None);
        assert_eq!(cache.get(&x, at(4)), Some(Cached::Unknown));
        assert_eq!(cache.get(&x, at(5)), None);
        assert_eq!(cache.len(), (0, 0), "expired entries are dropped when met");
    }

    #[test]
    fn a_flood_of_unknown_keys_is_bounded_and_leaves_found_keys_alone() {
        let cache = cache();
        let now = Instant::now();
        let a = key();
        cache.found(&a, "acme", now);
        for _ in 0..10_000 {
            cache.unknown(&key(), now);
        }
        assert_eq!(cache.len(), (1, 3));
        assert_eq!(cache.get(&a, now), Some(Cached::Found("acme")));
    }

    #[test]
    fn keys_are_compared_exactly() {
        let cache = cache();
        let now = Instant::now();
        let a = key();
        cache.found(&a, "acme", now);
        assert_eq!(cache.get(&key(), now), None);
        let same = ApiKey::parse(a.expose()).unwrap();
        assert_eq!(cache.get(&same, now), Some(Cached::Found("acme")));
    }
}
