//! What the registry stores: the versioned [`TenantRecord`], provisioning [`JournalEntry`]s,
//! [`ApiKeyRecord`]s and idempotency records.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::end_user::EndUserIdentity;
use crate::id::{Origin, OwnerEmail, TenantId, TenantName, Tier};
use crate::lifecycle::{IllegalTransition, TenantStatus, Transition};
use crate::naming::ResourceNames;

/// Identifiers the cloud assigned to a tenant's resources, filled in as provisioning steps
/// complete and cleared as offboarding removes them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ResourceArns {
    // Always serialised (`null` until assigned), so each is required and nullable.
    #[schema(required = true)]
    pub key_id: Option<String>,
    #[schema(required = true)]
    pub key_arn: Option<String>,
    #[schema(required = true)]
    pub app_table_arn: Option<String>,
    #[schema(required = true)]
    pub events_table_arn: Option<String>,
    #[schema(required = true)]
    pub role_arn: Option<String>,
    /// The event source mapping onboarding made from the events table's stream to the stream
    /// handler, when the deployment configures one (`null` otherwise, and in records made
    /// before). Offboarding removes it even once the handler is no longer configured. A
    /// mapping `reconcile --repair` makes later is not recorded here: it is found by its
    /// stream.
    #[serde(default)]
    #[schema(required = true)]
    pub stream_trigger_arn: Option<String>,
}

/// Why the last provisioning run failed: the step and the cause, as recorded in the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Failure {
    pub step: String,
    pub cause: String,
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
}

/// One tenant as recorded in `tenants-metadata`.
///
/// `version` is the optimistic-concurrency token: the registry accepts an update only when the
/// stored version equals the record's, and stores it with `version + 1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub id: TenantId,
    pub name: TenantName,
    pub owner_email: OwnerEmail,
    pub tier: Tier,
    pub allowed_origins: Vec<Origin>,
    pub status: TenantStatus,
    /// Set when a provisioning run failed a step — already while it rolls back (still
    /// `Provisioning`), so a run taking over finishes that rollback — and kept in `Failed`;
    /// cleared by the transition that leaves it.
    pub failure: Option<Failure>,
    pub resources: ResourceNames,
    pub arns: ResourceArns,
    /// The provisioning or offboarding run now in charge of this tenant, if any. Journal
    /// entries of that run tell a restarted control plane where it stopped.
    pub run_id: Option<Uuid>,
    /// The idempotent request that created the tenant, if it carried an `Idempotency-Key`:
    /// its retry after a crash recognises the tenant as its own outcome, not a conflict.
    #[serde(default)]
    pub created_by_request: Option<RequestId>,
    /// How the data plane verifies the tenant's own users' tokens, once the tenant has
    /// registered keys (records stored before this existed read as `None`).
    #[serde(default)]
    pub identity: Option<EndUserIdentity>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
    pub version: u64,
}

impl TenantRecord {
    /// A freshly requested tenant (version 0: not yet stored).
    pub fn new(
        id: TenantId,
        name: TenantName,
        owner_email: OwnerEmail,
        tier: Tier,
        allowed_origins: Vec<Origin>,
        resources: ResourceNames,
        now: OffsetDateTime,
    ) -> Self {
        TenantRecord {
            id,
            name,
            owner_email,
            tier,
            allowed_origins,
            status: TenantStatus::Requested,
            failure: None,
            resources,
            arns: ResourceArns::default(),
            run_id: None,
            created_by_request: None,
            identity: None,
            created_at: now,
            updated_at: now,
            version: 0,
        }
    }

    /// Moves the record through the lifecycle; the only way `status` changes. `Fail` requires
    /// a failure; every other transition clears any previous one.
    pub fn transition(
        &mut self,
        transition: Transition,
        failure: Option<Failure>,
        now: OffsetDateTime,
    ) -> Result<(), IllegalTransition> {
        let next = self.status.apply(transition)?;
        self.status = next;
        self.failure = if transition == Transition::Fail {
            failure
        } else {
            None
        };
        self.updated_at = now;
        Ok(())
    }
}

/// What a journal entry says about a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JournalPhase {
    /// About to perform the step's side effect. Written before the side effect.
    Intent,
    /// The step's side effect holds (created or adopted).
    Done,
    /// The step failed; `detail` holds the cause.
    Failed,
    /// A completed step was undone by rollback or offboarding.
    Undone,
    /// Rollback or offboarding found a resource under the step's planned name that is not
    /// this tenant's to remove — its ownership tags name another deployment or tenant, or it
    /// differs from the plan — and left it in place. `detail` says why; an operator may
    /// remove it by hand.
    Kept,
    /// The tenant's status changed; `step` names the transition.
    Transition,
}

/// One line of a tenant's provisioning journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JournalEntry {
    #[schema(value_type = String)]
    pub tenant: TenantId,
    pub run_id: Uuid,
    pub step: String,
    pub phase: JournalPhase,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
}

/// Kind of API key: publishable keys live in browsers and are valid only on SDK routes from the
/// tenant's allowed origins; secret keys are for servers (admin and ingest APIs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ApiKeyKind {
    Publishable,
    Secret,
}

impl ApiKeyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApiKeyKind::Publishable => "publishable",
            ApiKeyKind::Secret => "secret",
        }
    }
}

/// An issued API key as stored: never the key itself, only its keyed hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiKeyRecord {
    /// Public identifier of the key (`key_…`), used to list and revoke it.
    pub key_id: String,
    pub tenant: TenantId,
    pub kind: ApiKeyKind,
    /// The first characters of the key, enough for a person to recognise it.
    pub prefix: String,
    /// Hex HMAC-SHA-256 of the full key under the server pepper. Unique.
    pub hash: String,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
    pub last_used_at: Option<OffsetDateTime>,
    /// The idempotent request that issued the key, if it carried an `Idempotency-Key`: a
    /// retry of that request after a crash revokes the key its dead attempt issued (whose
    /// secret nobody ever saw) before issuing the one it shows.
    pub created_by_request: Option<RequestId>,
}

impl ApiKeyRecord {
    /// Whether the key may authenticate a request at `now`.
    pub fn is_usable(&self, now: OffsetDateTime) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// Identifies one idempotent request — its idempotency key, what it asked, and the epoch of its
/// claim (hex SHA-256 over the three) — on the records it created, so that the same request
/// retried after a crash can tell its own outcome from someone else's, and from that of an
/// earlier use of the key. Reveals none of them.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// The id of the request with idempotency key `key`, fingerprint `fingerprint` and claim
    /// epoch `epoch` (`IdempotencyClaim::Claimed`).
    pub fn of(key: &str, fingerprint: &str, epoch: &str) -> Self {
        use sha2::{Digest, Sha256};
        let mut hasher = Sha256::new();
        for part in [key.as_bytes(), fingerprint.as_bytes(), epoch.as_bytes()] {
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        RequestId(
            hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect(),
        )
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id as a backend stored it (`as_str`); adapters only.
    pub fn from_stored(raw: String) -> Self {
        RequestId(raw)
    }
}

/// An API key whose secret a stored response shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevealedKey {
    pub tenant: TenantId,
    pub key_id: String,
}

/// The response first given to an idempotent request, replayed verbatim to its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// Set when the body shows this API key's secret: the registry purges the response when
    /// the key is revoked (or its tenant's keys are), so the secret does not outlive the key.
    #[serde(default)]
    pub reveals: Option<RevealedKey>,
}

/// What the registry found when a request claimed an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyClaim {
    /// The key was free (or its earlier claim had expired or gone stale): this request owns it
    /// and must later complete or release it, presenting `token`. The token tells this claim
    /// apart from a later one that took the key over, so a slow request cannot complete or
    /// release a claim that is no longer its own.
    Claimed {
        token: String,
        /// Identifies this use of the key by this request: kept when the same request (same
        /// fingerprint) takes over a claim whose lease ran out or that was released, new once
        /// the record expired or another request took the key. Part of the [`RequestId`], so
        /// a request retried after a crash recognises what its dead attempt did, and a reuse
        /// of the key after the record expired does not.
        epoch: String,
    },
    /// Another request with this key is still running. `fingerprint` is that request's.
    InProgress { fingerprint: String },
    /// A request with this key already finished; replay its response if fingerprints match.
    Completed {
        fingerprint: String,
        response: StoredResponse,
    },
    /// A request with this key finished, but its response showed an API key that has since
    /// been revoked, and was purged with it: nothing can be replayed.
    Purged { fingerprint: String },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::end_user::{EndUserIdentity, FetchPolicy, IdentitySpec};
    use crate::naming::TablePrefix;

    fn record() -> TenantRecord {
        let id = TenantId::parse("acme").unwrap();
        let names = ResourceNames::for_tenant(&TablePrefix::default(), &id);
        TenantRecord::new(
            id,
            TenantName::parse("Acme").unwrap(),
            OwnerEmail::parse("ops@acme.example.com").unwrap(),
            Tier::Standard,
            Vec::new(),
            names,
            OffsetDateTime::UNIX_EPOCH,
        )
    }

    #[test]
    fn a_record_stored_before_end_user_identity_existed_reads_without_one() {
        let mut stored = serde_json::to_value(record()).unwrap();
        stored.as_object_mut().unwrap().remove("identity");
        let read: TenantRecord = serde_json::from_value(stored).unwrap();
        assert_eq!(read.identity, None);
        assert_eq!(read, record());
    }

    #[test]
    fn a_record_keeps_its_end_user_identity_through_storage() {
        let mut with_identity = record();
        with_identity.identity = Some(
            EndUserIdentity::new(
                IdentitySpec {
                    jwks_url: Some("https://auth.acme.example/jwks.json".to_owned()),
                    audience: Some("spotlight".to_owned()),
                    ..IdentitySpec::default()
                },
                &FetchPolicy::PUBLIC_ONLY,
            )
            .unwrap(),
        );
        let stored = serde_json::to_string(&with_identity).unwrap();
        let read: TenantRecord = serde_json::from_str(&stored).unwrap();
        assert_eq!(read, with_identity);
    }
}
