//! The retry layer: one decorator per port, wrapped around every adapter once, by
//! [`crate::open`] — so no caller retries a port call itself, and retries never multiply.
//!
//! A call that fails with a retryable kind (`Throttled`, `Unavailable`) is tried again with
//! jittered exponential backoff (`backon`), up to [`RetryPolicy::attempts`] calls in all. When
//! those run out, the error is marked exhausted ([`Error::retries_exhausted`]): it keeps its
//! kind, but no longer reports itself retryable, so nothing above tries it again. Other kinds
//! pass through at once.
//!
//! Every port's writes are conditional or idempotent, so a retried write whose first attempt
//! took effect after all reports what it finds (`AlreadyExists`, `ConditionFailed`), which
//! callers already handle as a race. Two creations take more than one call at the wire and
//! are made safe to repeat where they are: a key (`create_key` below adopts the key an
//! earlier attempt left without its alias) and a table (the adapter finishes the settings an
//! earlier attempt of the same creation did not reach, then answers `AlreadyExists`).
//!
//! Publishing domain events answers per event, so its retries go per event too: each attempt
//! publishes only the events the one before did not get taken for a retryable reason, and an
//! event refused for good is reported at once (see `RetryingEventSink`).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use time::OffsetDateTime;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::id::TenantId;
use crate::naming::Tags;
use crate::ports::event_sink::{DomainEvent, EventSink, Unpublished};
use crate::ports::identity::{AdminEmail, AdminRef, AdminUser, IdToken, Identity, VerifiedAdmin};
use crate::ports::registry::{TenantFilter, TenantPage, UsageDay, UsageDelta};
use crate::ports::{
    Condition, Item, ItemKey, ItemStore, KeyInfo, KeySpec, KeyVault, Page, PolicyDocument, Query,
    Registry, RoleInfo, RoleIssuer, RoleSpec, RoleSummary, StreamTriggers, TableAdmin, TableInfo,
    TriggerInfo, TriggerSpec, WriteOp, adopt_unnamed_key,
};
use crate::record::{ApiKeyRecord, IdempotencyClaim, JournalEntry, StoredResponse, TenantRecord};
use crate::table_plan::TableSpec;

/// How a port call is retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Calls in all, the first included (at least 1).
    pub attempts: usize,
    /// Pause before the first retry; doubled before each further one, with jitter.
    pub first_backoff: Duration,
    /// Longest pause between two calls.
    pub max_backoff: Duration,
}

impl Default for RetryPolicy {
    /// Five calls over about 0.75 s: long enough to ride out a busy SQLite writer or a
    /// throttled API, short enough that a request waiting on it still answers promptly.
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            first_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
        }
    }
}

impl RetryPolicy {
    /// Calls `call` until it succeeds, fails with a kind that is not retryable, or
    /// [`RetryPolicy::attempts`] calls have failed — then marks the error exhausted.
    /// `what` names the call in logs.
    pub async fn run<T, F, Fut>(&self, what: &str, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        let attempts = self.attempts.max(1);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.first_backoff)
            .with_max_delay(self.max_backoff)
            .with_max_times(attempts - 1)
            .with_jitter();
        call.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(Error::is_retryable)
            .notify(|e, pause| {
                tracing::warn!(what, error = %e, ?pause, "retryable failure; trying again");
            })
            .await
            .map_err(|e| {
                if e.is_retryable() {
                    e.retries_exhausted(attempts)
                } else {
                    e
                }
            })
    }
}

/// `backend` with every port behind the retry layer.
pub fn with_retries(backend: Backend, policy: Arc<RetryPolicy>) -> Backend {
    Backend {
        registry: Arc::new(RetryingRegistry {
            inner: backend.registry,
            policy: policy.clone(),
        }),
        tables: Arc::new(RetryingTableAdmin {
            inner: backend.tables,
            policy: policy.clone(),
        }),
        keys: Arc::new(RetryingKeyVault {
            inner: backend.keys,
            policy: policy.clone(),
        }),
        roles: Arc::new(RetryingRoleIssuer {
            inner: backend.roles,
            policy: policy.clone(),
        }),
        triggers: Arc::new(RetryingStreamTriggers {
            inner: backend.triggers,
            policy: policy.clone(),
        }),
        items: Arc::new(RetryingItemStore {
            inner: backend.items,
            policy: policy.clone(),
        }),
        identity: Arc::new(RetryingIdentity {
            inner: backend.identity,
            policy: policy.clone(),
        }),
        event_sink: Arc::new(RetryingEventSink {
            inner: backend.event_sink,
            policy,
        }),
        ..backend
    }
}

/// `self.policy.run(what, || self.inner.method(args…))`.
macro_rules! retried {
    ($self:ident, $what:literal, $method:ident($($arg:expr),*)) => {
        $self.policy.run($what, || $self.inner.$method($($arg),*)).await
    };
}

struct RetryingRegistry {
    inner: Arc<dyn Registry>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl Registry for RetryingRegistry {
    async fn create_tenant(
        &self,
        record: &TenantRecord,
        entry: &JournalEntry,
    ) -> Result<TenantRecord> {
        retried!(self, "create tenant", create_tenant(record, entry))
    }
    async fn get_tenant(&self, id: &TenantId) -> Result<TenantRecord> {
        retried!(self, "get tenant", get_tenant(id))
    }
    async fn update_tenant(
        &self,
        record: &TenantRecord,
        entries: &[JournalEntry],
    ) -> Result<TenantRecord> {
        retried!(self, "update tenant", update_tenant(record, entries))
    }
    async fn list_tenants(&self, filter: &TenantFilter) -> Result<TenantPage> {
        retried!(self, "list tenants", list_tenants(filter))
    }
    async fn count_live_tenants(&self) -> Result<u64> {
        retried!(self, "count live tenants", count_live_tenants())
    }
    async fn append_journal(&self, entry: &JournalEntry) -> Result<()> {
        retried!(self, "append journal", append_journal(entry))
    }
    async fn journal(
        &self,
        tenant: &TenantId,
        run_id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<JournalEntry>> {
        retried!(self, "read journal", journal(tenant, run_id, limit))
    }
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()> {
        retried!(self, "put API key", put_api_key(key))
    }
    async fn api_key_by_hash(&self, hash: &str) -> Result<ApiKeyRecord> {
        retried!(self, "resolve API key", api_key_by_hash(hash))
    }
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>> {
        retried!(self, "list API keys", list_api_keys(tenant))
    }
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord> {
        retried!(self, "revoke API key", revoke_api_key(tenant, key_id, at))
    }
    async fn revoke_all_api_keys(&self, tenant: &TenantId, at: OffsetDateTime) -> Result<u32> {
        retried!(self, "revoke API keys", revoke_all_api_keys(tenant, at))
    }
    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<()> {
        retried!(self, "touch API key", touch_api_key(key_id, at))
    }
    async fn claim_idempotency_key(
        &self,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<IdempotencyClaim> {
        retried!(
            self,
            "claim idempotency key",
            claim_idempotency_key(key, fingerprint, now, expires_at, lease)
        )
    }
    async fn renew_idempotency_claim(
        &self,
        key: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<()> {
        retried!(
            self,
            "renew idempotency claim",
            renew_idempotency_claim(key, token, now)
        )
    }
    async fn complete_idempotency_key(
        &self,
        key: &str,
        token: &str,
        response: &StoredResponse,
    ) -> Result<()> {
        retried!(
            self,
            "complete idempotency key",
            complete_idempotency_key(key, token, response)
        )
    }
    async fn release_idempotency_key(&self, key: &str, token: &str) -> Result<()> {
        retried!(
            self,
            "release idempotency key",
            release_idempotency_key(key, token)
        )
    }
    // An add retried after a timeout that had in fact committed counts twice: metering errs
    // on the side of counting.
    async fn record_usage(
        &self,
        tenant: &TenantId,
        day: time::Date,
        model: &str,
        delta: &UsageDelta,
    ) -> Result<()> {
        retried!(
            self,
            "record usage",
            record_usage(tenant, day, model, delta)
        )
    }
    async fn usage(
        &self,
        tenant: &TenantId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<UsageDay>> {
        retried!(self, "read usage", usage(tenant, from, to))
    }
}

struct RetryingItemStore {
    inner: Arc<dyn ItemStore>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl ItemStore for RetryingItemStore {
    async fn put(&self, table: &str, item: &Item, condition: Condition) -> Result<()> {
        retried!(self, "put item", put(table, item, condition))
    }
    async fn get(&self, table: &str, key: &ItemKey) -> Result<Option<Item>> {
        retried!(self, "get item", get(table, key))
    }
    async fn delete(&self, table: &str, key: &ItemKey, condition: Condition) -> Result<()> {
        retried!(self, "delete item", delete(table, key, condition))
    }
    async fn query(&self, table: &str, query: &Query) -> Result<Page> {
        retried!(self, "query", query(table, query))
    }
    async fn transact_write(&self, ops: &[WriteOp]) -> Result<()> {
        retried!(self, "transact write", transact_write(ops))
    }
    async fn batch_get(&self, table: &str, keys: &[ItemKey]) -> Result<Vec<Item>> {
        retried!(self, "batch get", batch_get(table, keys))
    }
    async fn batch_write(&self, table: &str, puts: &[Item], deletes: &[ItemKey]) -> Result<()> {
        retried!(self, "batch write", batch_write(table, puts, deletes))
    }
}

struct RetryingTableAdmin {
    inner: Arc<dyn TableAdmin>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl TableAdmin for RetryingTableAdmin {
    async fn create_table(&self, spec: &TableSpec) -> Result<TableInfo> {
        retried!(self, "create table", create_table(spec))
    }
    async fn describe_table(&self, name: &str) -> Result<TableInfo> {
        retried!(self, "describe table", describe_table(name))
    }
    async fn delete_table(&self, name: &str) -> Result<()> {
        retried!(self, "delete table", delete_table(name))
    }
    async fn list_tables(&self, prefix: &str) -> Result<Vec<String>> {
        retried!(self, "list tables", list_tables(prefix))
    }
}

struct RetryingKeyVault {
    inner: Arc<dyn KeyVault>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl KeyVault for RetryingKeyVault {
    /// CreateKey has no idempotency token, and one creation is three KMS calls (CreateKey,
    /// EnableKeyRotation, CreateAlias): an attempt that failed may still have made the key.
    /// So every attempt after the first adopts a key left without its alias before it makes
    /// one; an alias already made by a lost answer comes back as `AlreadyExists`, which the
    /// caller's ensure adopts.
    async fn create_key(&self, spec: &KeySpec) -> Result<KeyInfo> {
        let tried = AtomicBool::new(false);
        let (tried, inner) = (&tried, self.inner.as_ref());
        self.policy
            .run("create key", move || async move {
                if tried.swap(true, Ordering::Relaxed)
                    && let Some(adopted) = adopt_unnamed_key(inner, spec).await?
                {
                    return Ok(adopted);
                }
                inner.create_key(spec).await
            })
            .await
    }
    async fn describe_key(&self, key: &str) -> Result<KeyInfo> {
        retried!(self, "describe key", describe_key(key))
    }
    async fn encrypt(&self, key: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        retried!(self, "encrypt", encrypt(key, plaintext, aad))
    }
    async fn decrypt(&self, key: &str, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        retried!(self, "decrypt", decrypt(key, ciphertext, aad))
    }
    async fn schedule_key_deletion(&self, key: &str, window_days: u32) -> Result<KeyInfo> {
        retried!(
            self,
            "schedule key deletion",
            schedule_key_deletion(key, window_days)
        )
    }
    async fn destroy_due_keys(&self) -> Result<u32> {
        retried!(self, "destroy due keys", destroy_due_keys())
    }
    async fn list_keys(&self, tags: &Tags) -> Result<Vec<KeyInfo>> {
        retried!(self, "list keys", list_keys(tags))
    }
    async fn alias_key(&self, key: &str, alias: &str) -> Result<KeyInfo> {
        retried!(self, "alias key", alias_key(key, alias))
    }
}

struct RetryingRoleIssuer {
    inner: Arc<dyn RoleIssuer>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl RoleIssuer for RetryingRoleIssuer {
    async fn create_role(&self, spec: &RoleSpec) -> Result<RoleInfo> {
        retried!(self, "create role", create_role(spec))
    }
    async fn describe_role(&self, name: &str) -> Result<RoleInfo> {
        retried!(self, "describe role", describe_role(name))
    }
    async fn delete_role(&self, name: &str) -> Result<()> {
        retried!(self, "delete role", delete_role(name))
    }
    async fn put_role_policy(&self, name: &str, policy: &PolicyDocument) -> Result<()> {
        retried!(self, "put role policy", put_role_policy(name, policy))
    }
    async fn list_roles(&self, prefix: &str) -> Result<Vec<RoleSummary>> {
        retried!(self, "list roles", list_roles(prefix))
    }
    /// The handle is retried too: it is a port of its own, acting as the role.
    async fn scoped_store(&self, role_name: &str) -> Result<Arc<dyn ItemStore>> {
        let inner = retried!(self, "scoped store", scoped_store(role_name))?;
        Ok(Arc::new(RetryingItemStore {
            inner,
            policy: self.policy.clone(),
        }))
    }
}

struct RetryingStreamTriggers {
    inner: Arc<dyn StreamTriggers>,
    policy: Arc<RetryPolicy>,
}

/// A retried create whose first attempt took effect answers `AlreadyExists` (a stream links
/// to a function once), which the provisioner's ensure adopts.
#[async_trait]
impl StreamTriggers for RetryingStreamTriggers {
    async fn create_trigger(&self, spec: &TriggerSpec) -> Result<TriggerInfo> {
        retried!(self, "create trigger", create_trigger(spec))
    }
    async fn triggers_of_stream(&self, stream_arn: &str) -> Result<Vec<TriggerInfo>> {
        retried!(self, "list triggers", triggers_of_stream(stream_arn))
    }
    async fn describe_trigger(&self, id: &str) -> Result<TriggerInfo> {
        retried!(self, "describe trigger", describe_trigger(id))
    }
    async fn delete_trigger(&self, id: &str) -> Result<()> {
        retried!(self, "delete trigger", delete_trigger(id))
    }
}

struct RetryingIdentity {
    inner: Arc<dyn Identity>,
    policy: Arc<RetryPolicy>,
}

#[async_trait]
impl Identity for RetryingIdentity {
    async fn invite_admin(&self, tenant: &TenantId, email: &AdminEmail) -> Result<AdminUser> {
        retried!(self, "invite admin", invite_admin(tenant, email))
    }
    async fn list_admins(&self, tenant: &TenantId) -> Result<Vec<AdminUser>> {
        retried!(self, "list admins", list_admins(tenant))
    }
    async fn remove_admin(&self, tenant: &TenantId, admin: &AdminRef) -> Result<AdminUser> {
        retried!(self, "remove admin", remove_admin(tenant, admin))
    }
    async fn verify_token(&self, token: &str) -> Result<VerifiedAdmin> {
        retried!(self, "verify token", verify_token(token))
    }
    async fn verify_token_claims(&self, token: &str) -> Result<VerifiedAdmin> {
        retried!(self, "verify token", verify_token_claims(token))
    }
    async fn mint_token(&self, tenant: &TenantId, admin: &AdminRef) -> Result<IdToken> {
        retried!(self, "mint token", mint_token(tenant, admin))
    }
}

struct RetryingEventSink {
    inner: Arc<dyn EventSink>,
    policy: Arc<RetryPolicy>,
}

/// Where a retried publication stands between its attempts.
#[derive(Default)]
struct Publication {
    /// Indexes (into the caller's batch) still to be published.
    left: Vec<usize>,
    /// The last error each of `left` was refused with, when it was refused on its own.
    refused: HashMap<usize, Error>,
    /// Events refused for good.
    given_up: Vec<Unpublished>,
    /// Whether an attempt got an answer: before one, nothing is known to have been taken.
    answered: bool,
}

#[async_trait]
impl EventSink for RetryingEventSink {
    /// Every attempt publishes only what is left: the events the last attempt's answer did not
    /// take for a retryable reason (all of them after a call that failed as a whole), so an
    /// event once taken is not published again by a retry. Events refused for good are reported
    /// at once; those still refused when the attempts run out are reported exhausted. `Err` only
    /// when no attempt got an answer.
    async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<Unpublished>> {
        let state = Mutex::new(Publication {
            left: (0..events.len()).collect(),
            ..Publication::default()
        });
        let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
        let attempt = || async {
            let left = lock().left.clone();
            if left.is_empty() {
                return Ok(());
            }
            let batch: Vec<DomainEvent> = left.iter().map(|&i| events[i].clone()).collect();
            let answer = self.inner.publish(&batch).await?;
            let mut st = lock();
            st.answered = true;
            let (mut again, mut first) = (Vec::new(), None);
            for Unpublished { index, error } in answer {
                let index = left[index];
                if error.is_retryable() {
                    again.push(index);
                    first.get_or_insert_with(|| error.detached());
                    st.refused.insert(index, error);
                } else {
                    st.refused.remove(&index);
                    st.given_up.push(Unpublished { index, error });
                }
            }
            let still = again.len();
            st.left = again;
            match first {
                None => Ok(()),
                Some(e) => Err(Error::new(
                    e.kind(),
                    format!(
                        "{still} of {} domain events not taken; the first: {}",
                        batch.len(),
                        e.message()
                    ),
                )),
            }
        };
        let outcome = self.policy.run("publish domain events", attempt).await;
        let mut st = std::mem::take(&mut *lock());
        if let Err(e) = outcome {
            if !st.answered {
                return Err(e);
            }
            let attempts = self.policy.attempts.max(1);
            for index in std::mem::take(&mut st.left) {
                let error = match st.refused.remove(&index) {
                    Some(own) if own.is_retryable() => own.retries_exhausted(attempts),
                    Some(own) => own,
                    // Its last call failed as a whole.
                    None => e.detached(),
                };
                st.given_up.push(Unpublished { index, error });
            }
        }
        st.given_up.sort_by_key(|u| u.index);
        Ok(st.given_up)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::error::ErrorKind;

    fn quick(attempts: usize) -> RetryPolicy {
        RetryPolicy {
            attempts,
            first_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(2),
        }
    }

    /// A call failing with `kind` the first `failures` times.
    async fn flaky(calls: &AtomicUsize, failures: usize, kind: ErrorKind) -> Result<u32> {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        if n < failures {
            Err(Error::new(kind, "flaky"))
        } else {
            Ok(7)
        }
    }

    #[tokio::test]
    async fn a_retryable_failure_is_retried_until_it_succeeds() {
        let calls = AtomicUsize::new(0);
        let got = quick(5)
            .run("t", || flaky(&calls, 3, ErrorKind::Unavailable))
            .await;
        assert_eq!(got.unwrap(), 7);
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test]
    async fn other_kinds_are_returned_at_once() {
        for kind in [
            ErrorKind::NotFound,
            ErrorKind::ConditionFailed,
            ErrorKind::Invalid,
            ErrorKind::AccessDenied,
        ] {
            let calls = AtomicUsize::new(0);
            let err = quick(5)
                .run("t", || flaky(&calls, 9, kind))
                .await
                .unwrap_err();
            assert_eq!((err.kind(), calls.load(Ordering::SeqCst)), (kind, 1));
            assert!(!err.is_exhausted());
        }
    }

    #[tokio::test]
    async fn once_the_attempts_run_out_the_error_is_exhausted_and_not_retried_again() {
        let calls = AtomicUsize::new(0);
        let policy = quick(3);
        let err = policy
            .run("t", || flaky(&calls, 99, ErrorKind::Throttled))
            .await
            .unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "three calls in all");
        assert_eq!(err.kind(), ErrorKind::Throttled, "the kind is kept");
        assert!(err.is_exhausted() && !err.is_retryable());
        assert!(
            err.to_string().contains("gave up after 3 attempts"),
            "{err}"
        );

        // A layer above the retry layer does not multiply the attempts.
        let outer = AtomicUsize::new(0);
        let again = policy
            .run("outer", || async {
                outer.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::new(ErrorKind::Throttled, "x").retries_exhausted(3))
            })
            .await
            .unwrap_err();
        assert_eq!(outer.load(Ordering::SeqCst), 1);
        assert!(
            again.to_string().ends_with("(gave up after 3 attempts)"),
            "{again}"
        );
    }

    /// A sink that takes every event but refuses `throttled` (by id) with `Throttled` for the
    /// first `times` attempts at each and `invalid` always; it records what it took.
    struct Flaky {
        throttled: Vec<uuid::Uuid>,
        invalid: uuid::Uuid,
        times: usize,
        tries: std::sync::Mutex<HashMap<uuid::Uuid, usize>>,
        taken: std::sync::Mutex<Vec<uuid::Uuid>>,
    }

    #[async_trait]
    impl EventSink for Flaky {
        async fn publish(&self, events: &[DomainEvent]) -> Result<Vec<Unpublished>> {
            let mut refused = Vec::new();
            for (index, event) in events.iter().enumerate() {
                let mut tries = self.tries.lock().unwrap();
                let tried = tries.entry(event.id).or_default();
                *tried += 1;
                if event.id == self.invalid {
                    refused.push(Unpublished {
                        index,
                        error: Error::invalid("too big"),
                    });
                } else if self.throttled.contains(&event.id) && *tried <= self.times {
                    refused.push(Unpublished {
                        index,
                        error: Error::new(ErrorKind::Throttled, "slow down"),
                    });
                } else {
                    self.taken.lock().unwrap().push(event.id);
                }
            }
            Ok(refused)
        }
    }

    fn events(n: usize) -> Vec<DomainEvent> {
        (0..n)
            .map(|_| DomainEvent {
                id: uuid::Uuid::now_v7(),
                tenant: TenantId::parse("acme").unwrap(),
                source: crate::ports::EventSource::parse("spotlight.test").unwrap(),
                detail_type: crate::ports::DetailType::parse("test.happened").unwrap(),
                at: OffsetDateTime::now_utc(),
                data: serde_json::Map::new(),
            })
            .collect()
    }

    fn retrying(inner: Arc<Flaky>, attempts: usize) -> RetryingEventSink {
        RetryingEventSink {
            inner,
            policy: Arc::new(quick(attempts)),
        }
    }

    #[tokio::test]
    async fn only_the_events_refused_for_a_retryable_reason_are_published_again() {
        let batch = events(6);
        let flaky = Arc::new(Flaky {
            throttled: vec![batch[1].id, batch[4].id],
            invalid: batch[2].id,
            times: 2,
            tries: Default::default(),
            taken: Default::default(),
        });
        let refused = retrying(flaky.clone(), 5).publish(&batch).await.unwrap();
        let refused: Vec<_> = refused.iter().map(|u| (u.index, u.error.kind())).collect();
        assert_eq!(
            refused,
            [(2, ErrorKind::Invalid)],
            "refused for good, at once"
        );
        let mut taken = flaky.taken.lock().unwrap().clone();
        taken.sort();
        let mut expected: Vec<_> = batch
            .iter()
            .map(|e| e.id)
            .filter(|id| *id != batch[2].id)
            .collect();
        expected.sort();
        assert_eq!(taken, expected, "each taken event was published once");
        let tries = flaky.tries.lock().unwrap();
        assert_eq!(
            (
                tries[&batch[0].id],
                tries[&batch[1].id],
                tries[&batch[2].id]
            ),
            (1, 3, 1)
        );
    }

    #[tokio::test]
    async fn events_still_refused_when_the_attempts_run_out_are_reported_exhausted() {
        let batch = events(3);
        let flaky = Arc::new(Flaky {
            throttled: vec![batch[0].id],
            invalid: uuid::Uuid::nil(),
            times: 99,
            tries: Default::default(),
            taken: Default::default(),
        });
        let refused = retrying(flaky.clone(), 3).publish(&batch).await.unwrap();
        assert_eq!(refused.len(), 1);
        assert_eq!(
            (refused[0].index, refused[0].error.kind()),
            (0, ErrorKind::Throttled)
        );
        assert!(refused[0].error.is_exhausted(), "{}", refused[0].error);
        assert_eq!(flaky.tries.lock().unwrap()[&batch[0].id], 3);
        assert_eq!(flaky.taken.lock().unwrap().len(), 2);
    }
}
