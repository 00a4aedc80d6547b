//! `Registry`: the `tenants-metadata` store — tenant records, provisioning journal, API keys and
//! idempotency records.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::Result;
use crate::id::TenantId;
use crate::lifecycle::TenantStatus;
use crate::record::{ApiKeyRecord, IdempotencyClaim, JournalEntry, StoredResponse, TenantRecord};

/// Filter and cursor for listing tenants.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TenantFilter {
    pub status: Option<TenantStatus>,
    /// Return tenants whose id sorts after this one (the previous page's `next`).
    pub after: Option<TenantId>,
    /// At most this many (adapters cap it at 1000; 0 means the adapter's default of 100).
    pub limit: u32,
}

/// Page size when a listing asks for 0, and the largest one accepted: the port's rule, which
/// every adapter applies through [`TenantFilter::page_size`] and [`journal_limit`].
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;

impl TenantFilter {
    /// The page size this filter asks for: 0 is [`DEFAULT_LIMIT`]. Errors: `Invalid` over
    /// [`MAX_LIMIT`].
    pub fn page_size(&self) -> Result<u32> {
        if self.limit > MAX_LIMIT {
            return Err(crate::error::Error::invalid(format!(
                "limit {} is over the cap of {MAX_LIMIT}",
                self.limit
            )));
        }
        Ok(journal_limit(self.limit))
    }
}

/// How many journal entries a request for `limit` gets: 0 is [`DEFAULT_LIMIT`].
pub fn journal_limit(limit: u32) -> u32 {
    if limit == 0 { DEFAULT_LIMIT } else { limit }
}

/// Model usage to add to a tenant's count of one day and one model.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UsageDelta {
    /// Model calls made.
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Estimated cost in billionths of a US dollar (integers, so that adding never rounds).
    pub cost_nano_usd: u64,
}

/// How a usage day is written where it is stored (`2026-12-02`, as `Date`'s `Display`).
pub const USAGE_DAY: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]");

/// A tenant's model usage of one UTC day and one model: the sums of every [`UsageDelta`]
/// recorded for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageDay {
    pub day: time::Date,
    pub model: String,
    pub usage: UsageDelta,
}

/// One page of tenants in id order; `next` is set when more may follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TenantPage {
    pub tenants: Vec<TenantRecord>,
    pub next: Option<TenantId>,
}

#[async_trait]
pub trait Registry: Send + Sync {
    /// Stores a new tenant with version 1, together with its first journal entry, atomically.
    /// Errors: `AlreadyExists` when the id is taken — by a live tenant or a tombstone.
    async fn create_tenant(
        &self,
        record: &TenantRecord,
        entry: &JournalEntry,
    ) -> Result<TenantRecord>;

    /// Errors: `NotFound`.
    async fn get_tenant(&self, id: &TenantId) -> Result<TenantRecord>;

    /// Replaces the stored record if its version equals `record.version`, storing it as
    /// `version + 1` and appending `entries` in the same atomic write; returns what was stored.
    /// Errors: `NotFound`; `ConditionFailed` when someone else updated the record first
    /// (re-read and decide again).
    async fn update_tenant(
        &self,
        record: &TenantRecord,
        entries: &[JournalEntry],
    ) -> Result<TenantRecord>;

    /// Tenants in id order. Errors: `Invalid` for a limit over the cap.
    async fn list_tenants(&self, filter: &TenantFilter) -> Result<TenantPage>;

    /// How many tenants are not `Deleted`: each of them holds its resources, or may come to
    /// (a `Requested` tenant is about to, a `Failed` one may be retried). Tombstones are not
    /// counted. Counted by the store, without returning the records: quota admission asks it
    /// before every new tenant.
    async fn count_live_tenants(&self) -> Result<u64>;

    /// Appends to the tenant's journal. Entries are kept in the order they were appended.
    async fn append_journal(&self, entry: &JournalEntry) -> Result<()>;

    /// The newest `limit` journal entries of a tenant, oldest first; of one run if given.
    /// A `limit` of 0 means the adapter default of 100.
    async fn journal(
        &self,
        tenant: &TenantId,
        run_id: Option<uuid::Uuid>,
        limit: u32,
    ) -> Result<Vec<JournalEntry>>;

    /// Stores a newly issued key. Errors: `AlreadyExists` when the key id or hash is taken.
    async fn put_api_key(&self, key: &ApiKeyRecord) -> Result<()>;

    /// Resolves a key by its keyed hash — the per-request lookup. Revoked and expired keys are
    /// still returned (callers check `is_usable`). Errors: `NotFound`.
    async fn api_key_by_hash(&self, hash: &str) -> Result<ApiKeyRecord>;

    /// A tenant's keys, newest first, revoked ones included.
    async fn list_api_keys(&self, tenant: &TenantId) -> Result<Vec<ApiKeyRecord>>;

    /// Revokes one key of one tenant; revoking a revoked key is a no-op returning the record.
    /// Stored idempotent responses that show the key ([`StoredResponse::reveals`]) are purged
    /// in the same atomic write. Errors: `NotFound` when the tenant has no such key (another
    /// tenant's key id included).
    async fn revoke_api_key(
        &self,
        tenant: &TenantId,
        key_id: &str,
        at: OffsetDateTime,
    ) -> Result<ApiKeyRecord>;

    /// Revokes every live key of a tenant, and purges every stored idempotent response that
    /// shows one of its keys, atomically; returns how many keys were revoked.
    async fn revoke_all_api_keys(&self, tenant: &TenantId, at: OffsetDateTime) -> Result<u32>;

    /// Records that a key was used (best effort, may be coalesced).
    async fn touch_api_key(&self, key_id: &str, at: OffsetDateTime) -> Result<()>;

    /// Claims an idempotency key for a request with `fingerprint`. A completed (or purged)
    /// record, or a claim made or renewed less than `lease` ago, is returned as found; an
    /// expired record (past its `expires_at`) or a claim whose lease ran out — its process
    /// died — is taken over. Atomic: of two racing claims exactly one gets `Claimed`, whose
    /// token is unique to that claim. The claim's epoch is kept when the same fingerprint takes
    /// over a lapsed or released claim, and new otherwise (see `IdempotencyClaim::Claimed`).
    /// Adapters may purge records past their `expires_at` while claiming, so the store does
    /// not grow without bound.
    async fn claim_idempotency_key(
        &self,
        key: &str,
        fingerprint: &str,
        now: OffsetDateTime,
        expires_at: OffsetDateTime,
        lease: time::Duration,
    ) -> Result<IdempotencyClaim>;

    /// Renews the lease of the claim of `key` that returned `token`, as of `now`: a request
    /// still running keeps its claim from being taken over. Errors: `NotFound` when the key has
    /// no record; `ConditionFailed` when the record is not that claim any more (taken over
    /// after its lease ran out, or completed).
    async fn renew_idempotency_claim(
        &self,
        key: &str,
        token: &str,
        now: OffsetDateTime,
    ) -> Result<()>;

    /// Stores the response of the request whose claim of `key` returned `token`. A response
    /// that shows an API key already revoked is stored purged. Errors: `NotFound` when the key has no record at all; `ConditionFailed` when the record
    /// is not that claim any more — another request took the stale claim over, or it was
    /// already completed — and nothing is written.
    async fn complete_idempotency_key(
        &self,
        key: &str,
        token: &str,
        response: &StoredResponse,
    ) -> Result<()>;

    /// Gives up the claim of `key` that returned `token` (the request failed in a way a retry
    /// should re-execute): the key may be claimed again at once, and a claim by the same
    /// request continues its epoch. No-op when the key is absent, completed, or claimed by
    /// someone else.
    async fn release_idempotency_key(&self, key: &str, token: &str) -> Result<()>;

    /// Adds `delta` to `tenant`'s usage of `model` on `day`, atomically (two processes adding
    /// at once both count). Errors: `Invalid` for an empty model id.
    async fn record_usage(
        &self,
        tenant: &TenantId,
        day: time::Date,
        model: &str,
        delta: &UsageDelta,
    ) -> Result<()>;

    /// `tenant`'s usage on the days `from..=to`, by day then model id. A day and model with
    /// nothing recorded is absent.
    async fn usage(
        &self,
        tenant: &TenantId,
        from: time::Date,
        to: time::Date,
    ) -> Result<Vec<UsageDay>>;
}

/// The sum of `days`' usage.
pub fn total_usage(days: &[UsageDay]) -> UsageDelta {
    days.iter()
        .fold(UsageDelta::default(), |sum, d| UsageDelta {
            calls: sum.calls + d.usage.calls,
            input_tokens: sum.input_tokens + d.usage.input_tokens,
            output_tokens: sum.output_tokens + d.usage.output_tokens,
            cost_nano_usd: sum.cost_nano_usd + d.usage.cost_nano_usd,
        })
}
