//! From a presented API key to the tenant it serves: shape and checksum (no lookup for a
//! malformed key), then the cache, else the keyed hash in the registry and the tenant record;
//! then the status gate. The tenant is whatever the registry says the key belongs to: nothing
//! the request names can change it.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use service::ApiError;
use tenancy::api_key::{self, ApiKey, KeyHasher, KeyRejection};
use tenancy::end_user::EndUserIdentity;
use tenancy::ports::Registry;
use tenancy::{ApiKeyKind, ErrorKind, Origin, ResourceNames, TenantId, TenantStatus, Tier};
use time::OffsetDateTime;

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use super::cache::{Cached, ResolutionCache};
use super::gate;
use crate::metrics::{Lookup, LookupLabels};

/// What a request's API key resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedTenant {
    pub tenant: TenantId,
    pub tier: Tier,
    pub status: TenantStatus,
    pub allowed_origins: Vec<Origin>,
    /// The tenant's tables: the only ones its requests may touch.
    pub resources: ResourceNames,
    pub key_id: String,
    pub key_kind: ApiKeyKind,
    pub key_expires_at: Option<OffsetDateTime>,
    /// The keys its end users' tokens are verified with, if it registered any.
    pub identity: Option<EndUserIdentity>,
}

/// How long and how much resolution remembers.
#[derive(Debug, Clone, Copy)]
pub struct CacheLimits {
    pub ttl: Duration,
    pub capacity: NonZeroUsize,
    pub unknown_ttl: Duration,
    pub unknown_capacity: NonZeroUsize,
}

pub struct Resolver {
    registry: Arc<dyn Registry>,
    hasher: KeyHasher,
    cache: ResolutionCache<Arc<ResolvedTenant>>,
    /// Resolutions by cache outcome, for `/metrics`.
    lookups: Family<LookupLabels, Counter>,
}

fn unauthorized(why: &str) -> ApiError {
    ApiError::Unauthorized(format!("{why}: send a valid API key in X-Api-Key"))
}

impl Resolver {
    pub fn new(registry: Arc<dyn Registry>, hasher: KeyHasher, limits: CacheLimits) -> Self {
        Resolver {
            registry,
            hasher,
            cache: ResolutionCache::new(
                limits.capacity,
                limits.ttl,
                limits.unknown_capacity,
                limits.unknown_ttl,
            ),
            lookups: Family::default(),
        }
    }

    /// Counts every resolution in `lookups` by its cache outcome.
    pub fn counting(mut self, lookups: Family<LookupLabels, Counter>) -> Self {
        self.lookups = lookups;
        self
    }

    fn count(&self, result: Lookup) {
        self.lookups.get_or_create(&LookupLabels { result }).inc();
    }

    /// The tenant `raw` serves at `now` (`clock`: the same moment, for the cache), if it is
    /// served: 401 for a malformed, unknown, revoked or expired key or an offboarded tenant,
    /// and the gate's answer for a tenant not serving (403, 503).
    pub async fn resolve(
        &self,
        raw: &str,
        now: OffsetDateTime,
        clock: Instant,
    ) -> Result<Arc<ResolvedTenant>, ApiError> {
        let key = ApiKey::parse(raw).map_err(|_| unauthorized("malformed API key"))?;
        let resolved = match self.cache.get(&key, clock) {
            Some(Cached::Found(resolved)) => {
                self.count(Lookup::hit);
                resolved
            }
            Some(Cached::Unknown) => {
                self.count(Lookup::unknown_hit);
                return Err(unauthorized("unknown, revoked or expired API key"));
            }
            None => {
                self.count(Lookup::miss);
                self.look_up(&key, raw, now, clock).await?
            }
        };
        // A key cached before its expiry stops at its expiry, not at the cache's TTL.
        if resolved.key_expires_at.is_some_and(|at| at <= now) {
            return Err(unauthorized("expired API key"));
        }
        gate::admit(&resolved.tenant, resolved.status)?;
        Ok(resolved)
    }

    async fn look_up(
        &self,
        key: &ApiKey,
        raw: &str,
        now: OffsetDateTime,
        clock: Instant,
    ) -> Result<Arc<ResolvedTenant>, ApiError> {
        let record = match api_key::resolve(self.registry.as_ref(), &self.hasher, raw, now).await {
            Ok(record) => record,
            Err(KeyRejection::Backend(e)) => return Err(e.into()),
            Err(rejection) => {
                self.cache.unknown(key, clock);
                return Err(unauthorized(&format!("{} API key", rejection.reason())));
            }
        };
        let tenant = match self.registry.get_tenant(&record.tenant).await {
            Ok(tenant) => tenant,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.cache.unknown(key, clock);
                return Err(unauthorized("unknown API key"));
            }
            Err(e) => return Err(e.into()),
        };
        let resolved = Arc::new(ResolvedTenant {
            tenant: tenant.id,
            tier: tenant.tier,
            status: tenant.status,
            allowed_origins: tenant.allowed_origins,
            resources: tenant.resources,
            key_id: record.key_id,
            key_kind: record.kind,
            key_expires_at: record.expires_at,
            identity: tenant.identity,
        });
        self.cache.found(key, resolved.clone(), clock);
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    use tenancy::conformance::Fixture;
    use tenancy::conformance::support::entry;
    use time::macros::datetime;

    use super::*;

    const NOW: OffsetDateTime = datetime!(2026-12-01 12:00 UTC);

    fn limits() -> CacheLimits {
        CacheLimits {
            ttl: Duration::from_secs(30),
            capacity: NonZeroUsize::new(100).unwrap(),
            unknown_ttl: Duration::from_secs(30),
            unknown_capacity: NonZeroUsize::new(100).unwrap(),
        }
    }

    /// A registry holding tenant `what` at `status`, and a key of it.
    async fn tenant_with_key(
        fx: &Fixture,
        what: &str,
        status: TenantStatus,
        hasher: &KeyHasher,
    ) -> (TenantId, String) {
        let record = fx.tenant_record(what);
        let id = record.id.clone();
        let run = uuid::Uuid::new_v4();
        let mut stored = fx
            .backend
            .registry
            .create_tenant(&record, &entry(&id, run, "requested", 0))
            .await
            .unwrap();
        stored.status = status;
        fx.backend
            .registry
            .update_tenant(&stored, &[entry(&id, run, "status", 1)])
            .await
            .unwrap();
        let issued = api_key::issue(hasher, &id, ApiKeyKind::Publishable, NOW, None);
        fx.backend
            .registry
            .put_api_key(&issued.record)
            .await
            .unwrap();
        (id, issued.key.expose().to_owned())
    }

    fn status_of(result: Result<Arc<ResolvedTenant>, ApiError>) -> StatusCode {
        match result {
            Ok(_) => StatusCode::OK,
            Err(e) => e.into_response().status(),
        }
    }

    #[tokio::test]
    async fn a_key_resolves_to_its_own_tenant_and_the_gate_decides() {
        let (fx, _) = crate::testing::tenant_table("app").await;
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let (acme, acme_key) = tenant_with_key(&fx, "acme", TenantStatus::Active, &hasher).await;
        let (_, held_key) = tenant_with_key(&fx, "held", TenantStatus::Suspended, &hasher).await;
        let (_, new_key) = tenant_with_key(&fx, "new", TenantStatus::Provisioning, &hasher).await;
        let (_, gone_key) = tenant_with_key(&fx, "gone", TenantStatus::Deleted, &hasher).await;
        let resolver = Resolver::new(
            fx.backend.registry.clone(),
            KeyHasher::new(b"pepper".to_vec()),
            limits(),
        );
        let clock = Instant::now();

        let resolved = resolver.resolve(&acme_key, NOW, clock).await.unwrap();
        assert_eq!(resolved.tenant, acme);
        assert_eq!(
            resolved.resources.app_table,
            fx.tenant_record("acme").resources.app_table
        );
        assert_eq!(
            status_of(resolver.resolve(&held_key, NOW, clock).await),
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            status_of(resolver.resolve(&new_key, NOW, clock).await),
            StatusCode::SERVICE_UNAVAILABLE
        );
        assert_eq!(
            status_of(resolver.resolve(&gone_key, NOW, clock).await),
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            status_of(resolver.resolve("spk_not_a_key", NOW, clock).await),
            StatusCode::UNAUTHORIZED
        );
        let stranger = ApiKey::generate(ApiKeyKind::Publishable);
        assert_eq!(
            status_of(resolver.resolve(stranger.expose(), NOW, clock).await),
            StatusCode::UNAUTHORIZED
        );
    }

    #[tokio::test]
    async fn a_revoked_key_is_refused_within_the_cache_ttl() {
        let (fx, _) = crate::testing::tenant_table("app").await;
        let hasher = KeyHasher::new(b"pepper".to_vec());
        let (acme, key) = tenant_with_key(&fx, "acme", TenantStatus::Active, &hasher).await;
        let resolver = Resolver::new(fx.backend.registry.clone(), hasher, limits());
        let clock = Instant::now();
        assert!(resolver.resolve(&key, NOW, clock).await.is_ok());

        let record = fx
            .backend
            .registry
            .list_api_keys(&acme)
            .await
            .unwrap()
            .remove(0);
        fx.backend
            .registry
            .revoke_api_key(&acme, &record.key_id, NOW)
            .await
            .unwrap();
        assert!(
            resolver
                .resolve(&key, NOW, clock + Duration::from_secs(29))
                .await
                .is_ok(),
            "cached within the TTL"
        );
        assert_eq!(
            status_of(
                resolver
                    .resolve(&key, NOW, clock + Duration::from_secs(30))
                    .await
            ),
            StatusCode::UNAUTHORIZED,
            "refused once the TTL has passed"
        );
    }
}
