//! `Registry` cases: versioned tenant records with their journal, listing, API keys, and
//! idempotency claims (including races).

use std::sync::Arc;

use time::Duration;

use crate::conformance::support::{Fixture, assert_kind, at, entry};
use crate::error::ErrorKind;
use crate::id::TenantId;
use crate::lifecycle::{TenantStatus, Transition};
use crate::ports::registry::{TenantFilter, UsageDelta, total_usage};
use crate::record::{
    ApiKeyKind, ApiKeyRecord, IdempotencyClaim, RequestId, RevealedKey, StoredResponse,
    TenantRecord,
};

async fn created(fx: &Fixture, what: &str) -> TenantRecord {
    let record = fx.tenant_record(what);
    let first = entry(&record.id, uuid::Uuid::new_v4(), "request", 0);
    fx.backend
        .registry
        .create_tenant(&record, &first)
        .await
        .unwrap()
}

fn advanced(record: &TenantRecord, transition: Transition, seconds: i64) -> TenantRecord {
    let mut next = record.clone();
    next.transition(transition, None, at(seconds)).unwrap();
    next
}

/// Every tenant of this fixture, paging with `limit`, optionally by status.
async fn my_tenants(
    fx: &Fixture,
    status: Option<TenantStatus>,
    limit: u32,
) -> (Vec<TenantId>, usize) {
    let mut filter = TenantFilter {
        status,
        after: Some(TenantId::parse(fx.prefix()).unwrap()),
        limit,
    };
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = fx.backend.registry.list_tenants(&filter).await.unwrap();
        pages += 1;
        assert!(page.tenants.len() <= limit as usize);
        let mine: Vec<TenantId> = page
            .tenants
            .iter()
            .map(|t| t.id.clone())
            .filter(|id| id.as_str().starts_with(fx.prefix()))
            .collect();
        let left_my_range = mine.len() < page.tenants.len();
        ids.extend(mine);
        match page.next {
            Some(next) if !left_my_range => filter.after = Some(next),
            _ => return (ids, pages),
        }
    }
}

fn api_key(fx: &Fixture, tenant: &TenantId, what: &str, created_s: i64) -> ApiKeyRecord {
    ApiKeyRecord {
        key_id: format!("key_{}", fx.name(what)),
        tenant: tenant.clone(),
        kind: ApiKeyKind::Secret,
        prefix: "sk_live_abcd".to_owned(),
        hash: format!("{}-hash-{what}", fx.prefix()),
        created_at: at(created_s),
        expires_at: Some(at(1_000_000)),
        revoked_at: None,
        last_used_at: None,
        created_by_request: Some(RequestId::of(&fx.name("request"), what, "epoch")),
    }
}

fn response(body: &str) -> StoredResponse {
    StoredResponse {
        status: 201,
        headers: vec![("location".into(), "/tenants/x".into())],
        body: body.as_bytes().to_vec(),
        reveals: None,
    }
}

/// A stored response that shows `key`'s secret.
fn revealing(key: &ApiKeyRecord) -> StoredResponse {
    StoredResponse {
        reveals: Some(RevealedKey {
            tenant: key.tenant.clone(),
            key_id: key.key_id.clone(),
        }),
        ..response("the secret")
    }
}

/// Claims `idem` and completes it with `stored`.
async fn complete_with(fx: &Fixture, idem: &str, stored: &StoredResponse) {
    let reg = &fx.backend.registry;
    let token = claimed(
        reg.claim_idempotency_key(idem, "fp", at(0), at(86_400), Duration::minutes(5))
            .await
            .unwrap(),
    );
    reg.complete_idempotency_key(idem, &token, stored)
        .await
        .unwrap();
}

/// What a retry of `idem` (fingerprint `fp`) finds.
async fn retry_finds(fx: &Fixture, idem: &str) -> IdempotencyClaim {
    fx.backend
        .registry
        .claim_idempotency_key(idem, "fp", at(10), at(86_400), Duration::minutes(5))
        .await
        .unwrap()
}

/// The epoch of a claim that must have been `Claimed`.
#[track_caller]
fn epoch_of(claim: IdempotencyClaim) -> String {
    match claim {
        IdempotencyClaim::Claimed { epoch, .. } => epoch,
        other => panic!("expected a claim, got {other:?}"),
    }
}

/// The token of a claim that must have been `Claimed`.
#[track_caller]
fn claimed(claim: IdempotencyClaim) -> String {
    match claim {
        IdempotencyClaim::Claimed { token, .. } => token,
        other => panic!("expected a claim, got {other:?}"),
    }
}

cases!(
    mod registry;

    pub async fn create_stores_version_one_with_its_first_journal_entry(fx: &Fixture) {
        let record = fx.tenant_record("acme");
        let run = uuid::Uuid::new_v4();
        let first = entry(&record.id, run, "request", 0);
        let stored = fx
            .backend
            .registry
            .create_tenant(&record, &first)
            .await
            .unwrap();
        assert_eq!(stored.version, 1);
        assert_eq!(
            TenantRecord {
                version: 0,
                ..stored.clone()
            },
            record
        );
        assert_eq!(
            fx.backend.registry.get_tenant(&record.id).await.unwrap(),
            stored
        );
        assert_eq!(
            fx.backend
                .registry
                .journal(&record.id, None, 10)
                .await
                .unwrap(),
            vec![first]
        );
    }

    pub async fn creating_a_taken_id_is_already_exists(fx: &Fixture) {
        let record = created(fx, "acme").await;
        let again = entry(&record.id, uuid::Uuid::new_v4(), "request", 1);
        let result = fx
            .backend
            .registry
            .create_tenant(&fx.tenant_record("acme"), &again)
            .await;
        assert_kind(result, ErrorKind::AlreadyExists, "create twice");
        assert_eq!(
            fx.backend
                .registry
                .journal(&record.id, None, 10)
                .await
                .unwrap()
                .len(),
            1,
            "no journal entry added"
        );
    }

    pub async fn a_tombstone_still_occupies_its_id(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let mut record = created(fx, "gone").await;
        for (i, t) in [
            Transition::BeginProvisioning,
            Transition::Activate,
            Transition::BeginOffboarding,
            Transition::FinishOffboarding,
        ]
        .into_iter()
        .enumerate()
        {
            record = reg
                .update_tenant(&advanced(&record, t, i as i64 + 1), &[])
                .await
                .unwrap();
        }
        assert_eq!(record.status, TenantStatus::Deleted);
        let again = entry(&record.id, uuid::Uuid::new_v4(), "request", 9);
        assert_kind(
            reg.create_tenant(&fx.tenant_record("gone"), &again).await,
            ErrorKind::AlreadyExists,
            "reuse a tombstone's id",
        );
        assert_eq!(
            reg.get_tenant(&record.id).await.unwrap().status,
            TenantStatus::Deleted
        );
    }

    pub async fn getting_a_missing_tenant_is_not_found(fx: &Fixture) {
        assert_kind(
            fx.backend.registry.get_tenant(&fx.tenant("missing")).await,
            ErrorKind::NotFound,
            "get missing",
        );
    }

    pub async fn update_stores_the_next_version_and_appends_its_entries(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let record = created(fx, "acme").await;
        let run = uuid::Uuid::new_v4();
        let next = advanced(&record, Transition::BeginProvisioning, 5);
        let entries = [
            entry(&record.id, run, "begin", 5),
            entry(&record.id, run, "tables", 6),
        ];
        let stored = reg.update_tenant(&next, &entries).await.unwrap();
        assert_eq!(stored.version, 2);
        assert_eq!(stored.status, TenantStatus::Provisioning);
        assert_eq!(reg.get_tenant(&record.id).await.unwrap(), stored);
        let journal = reg.journal(&record.id, Some(run), 10).await.unwrap();
        assert_eq!(journal, entries.to_vec());
    }

    pub async fn update_from_a_stale_version_is_condition_failed_and_writes_nothing(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let record = created(fx, "acme").await;
        let current = reg
            .update_tenant(&advanced(&record, Transition::BeginProvisioning, 1), &[])
            .await
            .unwrap();
        let run = uuid::Uuid::new_v4();
        let stale = advanced(&record, Transition::BeginProvisioning, 2);
        let result = reg
            .update_tenant(&stale, &[entry(&record.id, run, "stale", 2)])
            .await;
        assert_kind(
            result,
            ErrorKind::ConditionFailed,
            "update from version 1 after version 2",
        );
        assert_eq!(reg.get_tenant(&record.id).await.unwrap(), current);
        assert!(
            reg.journal(&record.id, Some(run), 10)
                .await
                .unwrap()
                .is_empty(),
            "the stale entry was not written"
        );
    }

    pub async fn updating_a_missing_tenant_is_not_found(fx: &Fixture) {
        let mut record = fx.tenant_record("missing");
        record.version = 1;
        assert_kind(
            fx.backend.registry.update_tenant(&record, &[]).await,
            ErrorKind::NotFound,
            "update missing",
        );
    }

    pub async fn concurrent_updates_from_one_version_let_exactly_one_win(fx: &Fixture) {
        let record = created(fx, "race").await;
        let mut tasks = Vec::new();
        for n in 0..8 {
            let reg = Arc::clone(&fx.backend.registry);
            let next = advanced(&record, Transition::BeginProvisioning, n);
            tasks.push(tokio::spawn(
                async move { reg.update_tenant(&next, &[]).await },
            ));
        }
        let mut winners = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                Ok(stored) => winners.push(stored),
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}"),
            }
        }
        assert_eq!(winners.len(), 1, "exactly one update from version 1 wins");
        assert_eq!(
            fx.backend.registry.get_tenant(&record.id).await.unwrap(),
            winners[0]
        );
    }

    pub async fn tenants_are_listed_in_id_order_page_by_page(fx: &Fixture) {
        for what in ["c", "a", "e", "b", "d"] {
            created(fx, &format!("{what}{what}{what}")).await;
        }
        let (ids, pages) = my_tenants(fx, None, 2).await;
        let expected: Vec<TenantId> = ["aaa", "bbb", "ccc", "ddd", "eee"]
            .iter()
            .map(|w| fx.tenant(w))
            .collect();
        assert_eq!(ids, expected);
        assert!(
            pages >= 3,
            "five tenants in pages of two take at least three pages"
        );
    }

    pub async fn tenants_can_be_listed_by_status(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let a = created(fx, "aaa").await;
        created(fx, "bbb").await;
        reg.update_tenant(&advanced(&a, Transition::BeginProvisioning, 1), &[])
            .await
            .unwrap();
        let (provisioning, _) = my_tenants(fx, Some(TenantStatus::Provisioning), 10).await;
        assert_eq!(provisioning, vec![a.id.clone()]);
        let (requested, _) = my_tenants(fx, Some(TenantStatus::Requested), 10).await;
        assert_eq!(requested, vec![fx.tenant("bbb")]);
    }

    /// The first page, with no cursor, of every tenant and of one status (what a restarted
    /// process lists to find its in-flight tenants). Other cases' tenants may share the
    /// backend, so only this case's are asserted.
    pub async fn the_first_page_of_a_listing_needs_no_cursor(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let mine = created(fx, "first").await;
        for status in [None, Some(TenantStatus::Requested)] {
            let page = reg
                .list_tenants(&TenantFilter {
                    status,
                    after: None,
                    limit: 1000,
                })
                .await
                .unwrap();
            assert!(
                page.tenants.iter().any(|t| t.id == mine.id),
                "{status:?}: {:?}",
                page.tenants
            );
        }
        let none = reg
            .list_tenants(&TenantFilter {
                status: Some(TenantStatus::Deleted),
                after: None,
                limit: 0,
            })
            .await
            .unwrap();
        assert!(
            none.tenants
                .iter()
                .all(|t| t.status == TenantStatus::Deleted)
        );
    }

    /// Every status but `Deleted` holds resources and is counted; a tombstone is not. The
    /// counts are taken as differences from the first, on a registry no other case writes to
    /// meanwhile (every fixture gives each case its own).
    pub async fn live_tenants_are_counted_and_tombstones_are_not(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let before = reg.count_live_tenants().await.unwrap();
        let gone = created(fx, "gone").await;
        let provisioning = created(fx, "provisioning").await;
        created(fx, "requested").await;
        assert_eq!(reg.count_live_tenants().await.unwrap(), before + 3);

        reg.update_tenant(
            &advanced(&provisioning, Transition::BeginProvisioning, 1),
            &[],
        )
        .await
        .unwrap();
        let leaving = reg
            .update_tenant(&advanced(&gone, Transition::BeginOffboarding, 1), &[])
            .await
            .unwrap();
        assert_eq!(
            reg.count_live_tenants().await.unwrap(),
            before + 3,
            "a tenant being offboarded still holds its resources"
        );
        let tombstone = reg
            .update_tenant(&advanced(&leaving, Transition::FinishOffboarding, 2), &[])
            .await
            .unwrap();
        assert_eq!(tombstone.status, TenantStatus::Deleted);
        assert_eq!(reg.count_live_tenants().await.unwrap(), before + 2);
    }

    pub async fn a_list_limit_over_the_cap_is_invalid(fx: &Fixture) {
        let filter = TenantFilter {
            limit: 1001,
            ..TenantFilter::default()
        };
        assert_kind(
            fx.backend.registry.list_tenants(&filter).await,
            ErrorKind::Invalid,
            "limit 1001",
        );
    }

    pub async fn journal_returns_the_newest_entries_oldest_first(fx: &Fixture) {
        let record = created(fx, "acme").await;
        let run = uuid::Uuid::new_v4();
        for i in 1..=5 {
            fx.backend
                .registry
                .append_journal(&entry(&record.id, run, &format!("step{i}"), i))
                .await
                .unwrap();
        }
        let newest: Vec<String> = fx
            .backend
            .registry
            .journal(&record.id, None, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.step)
            .collect();
        assert_eq!(newest, ["step3", "step4", "step5"]);
    }

    pub async fn journal_can_be_read_for_one_run(fx: &Fixture) {
        let record = created(fx, "acme").await;
        let (one, two) = (uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        let reg = &fx.backend.registry;
        reg.append_journal(&entry(&record.id, one, "a", 1))
            .await
            .unwrap();
        reg.append_journal(&entry(&record.id, two, "b", 2))
            .await
            .unwrap();
        reg.append_journal(&entry(&record.id, one, "c", 3))
            .await
            .unwrap();
        let steps: Vec<String> = reg
            .journal(&record.id, Some(one), 10)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.step)
            .collect();
        assert_eq!(steps, ["a", "c"]);
        let other = created(fx, "other").await;
        assert_eq!(
            reg.journal(&other.id, Some(one), 10).await.unwrap(),
            vec![],
            "journals are per tenant"
        );
    }

    pub async fn api_keys_resolve_by_hash_and_list_newest_first(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let t = fx.tenant("acme");
        let (old, new) = (api_key(fx, &t, "old", 1), api_key(fx, &t, "new", 2));
        reg.put_api_key(&old).await.unwrap();
        reg.put_api_key(&new).await.unwrap();
        reg.put_api_key(&api_key(fx, &fx.tenant("other"), "theirs", 3))
            .await
            .unwrap();
        assert_eq!(reg.api_key_by_hash(&old.hash).await.unwrap(), old);
        assert_eq!(reg.list_api_keys(&t).await.unwrap(), vec![new, old]);
    }

    pub async fn a_taken_api_key_id_or_hash_is_already_exists(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let t = fx.tenant("acme");
        let key = api_key(fx, &t, "k", 1);
        reg.put_api_key(&key).await.unwrap();
        let same_id = ApiKeyRecord {
            hash: format!("{}-other-hash", fx.prefix()),
            ..key.clone()
        };
        assert_kind(
            reg.put_api_key(&same_id).await,
            ErrorKind::AlreadyExists,
            "same key id",
        );
        let same_hash = ApiKeyRecord {
            key_id: format!("key_{}", fx.name("other")),
            ..key.clone()
        };
        assert_kind(
            reg.put_api_key(&same_hash).await,
            ErrorKind::AlreadyExists,
            "same hash",
        );
    }

    pub async fn an_unknown_api_key_hash_is_not_found(fx: &Fixture) {
        let hash = format!("{}-never-issued", fx.prefix());
        assert_kind(
            fx.backend.registry.api_key_by_hash(&hash).await,
            ErrorKind::NotFound,
            "unknown hash",
        );
    }

    pub async fn a_revoked_key_still_resolves_but_is_not_usable(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let t = fx.tenant("acme");
        let key = api_key(fx, &t, "k", 1);
        reg.put_api_key(&key).await.unwrap();
        let revoked = reg.revoke_api_key(&t, &key.key_id, at(10)).await.unwrap();
        assert_eq!(revoked.revoked_at, Some(at(10)));
        let found = reg.api_key_by_hash(&key.hash).await.unwrap();
        assert_eq!(found.revoked_at, Some(at(10)));
        assert!(!found.is_usable(at(11)));
        let again = reg.revoke_api_key(&t, &key.key_id, at(20)).await.unwrap();
        assert_eq!(
            again.revoked_at,
            Some(at(10)),
            "revoking twice keeps the first revocation"
        );
    }

    pub async fn revoking_another_tenants_key_is_not_found(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = api_key(fx, &fx.tenant("owner"), "k", 1);
        reg.put_api_key(&key).await.unwrap();
        assert_kind(
            reg.revoke_api_key(&fx.tenant("intruder"), &key.key_id, at(5))
                .await,
            ErrorKind::NotFound,
            "foreign key",
        );
        assert_kind(
            reg.revoke_api_key(&key.tenant, "key_missing", at(5)).await,
            ErrorKind::NotFound,
            "missing key",
        );
        assert_eq!(
            reg.api_key_by_hash(&key.hash).await.unwrap().revoked_at,
            None
        );
    }

    pub async fn revoke_all_revokes_only_that_tenants_live_keys(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let t = fx.tenant("acme");
        for what in ["a", "b", "c"] {
            reg.put_api_key(&api_key(fx, &t, what, 1)).await.unwrap();
        }
        reg.revoke_api_key(&t, &api_key(fx, &t, "a", 1).key_id, at(2))
            .await
            .unwrap();
        let other = api_key(fx, &fx.tenant("other"), "o", 1);
        reg.put_api_key(&other).await.unwrap();
        assert_eq!(reg.revoke_all_api_keys(&t, at(3)).await.unwrap(), 2);
        assert!(
            reg.list_api_keys(&t)
                .await
                .unwrap()
                .iter()
                .all(|k| k.revoked_at.is_some())
        );
        assert_eq!(
            reg.api_key_by_hash(&other.hash).await.unwrap().revoked_at,
            None
        );
    }

    pub async fn touching_a_key_records_its_last_use(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = api_key(fx, &fx.tenant("acme"), "k", 1);
        reg.put_api_key(&key).await.unwrap();
        reg.touch_api_key(&key.key_id, at(50)).await.unwrap();
        assert_eq!(
            reg.api_key_by_hash(&key.hash).await.unwrap().last_used_at,
            Some(at(50))
        );
    }

    pub async fn the_same_request_keeps_its_claims_epoch_and_a_new_use_of_the_key_gets_a_new_one(
        fx: &Fixture,
    ) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, lease) = (at(100), Duration::seconds(10));
        let first = reg
            .claim_idempotency_key(&key, "fp1", at(0), exp, lease)
            .await
            .unwrap();
        let IdempotencyClaim::Claimed { token, epoch } = first else {
            panic!("expected a claim, got {first:?}");
        };
        // Its process died: the same request takes the lapsed claim over, in the same epoch.
        let again = reg
            .claim_idempotency_key(&key, "fp1", at(11), exp, lease)
            .await
            .unwrap();
        let IdempotencyClaim::Claimed {
            token: again_token,
            epoch: again_epoch,
        } = again
        else {
            panic!("expected a takeover, got {again:?}");
        };
        assert_ne!(again_token, token);
        assert_eq!(
            again_epoch, epoch,
            "a takeover by the same request keeps its epoch"
        );
        // Released (it failed and should run again): the same request goes on in that epoch.
        reg.release_idempotency_key(&key, &again_token)
            .await
            .unwrap();
        let released = epoch_of(
            reg.claim_idempotency_key(&key, "fp1", at(12), exp, lease)
                .await
                .unwrap(),
        );
        assert_eq!(
            released, epoch,
            "released and reclaimed by the same request"
        );
        // Another request taking the lapsed key over starts its own epoch.
        let other = epoch_of(
            reg.claim_idempotency_key(&key, "fp2", at(30), exp, lease)
                .await
                .unwrap(),
        );
        assert_ne!(other, epoch, "another request, another epoch");
        // And once the record has expired, the first request again is a new use of the key.
        let after_expiry = epoch_of(
            reg.claim_idempotency_key(&key, "fp1", at(200), at(300), lease)
                .await
                .unwrap(),
        );
        assert!(
            after_expiry != epoch && after_expiry != other,
            "a new use after expiry"
        );
    }

    pub async fn a_claim_renewed_within_its_lease_is_not_taken_over(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, lease) = (at(86_400), Duration::seconds(10));
        let token = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, lease)
                .await
                .unwrap(),
        );
        // Renewed every few seconds, the claim outlives many leases.
        for t in [6, 12, 18, 24] {
            reg.renew_idempotency_claim(&key, &token, at(t))
                .await
                .unwrap();
        }
        let found = reg
            .claim_idempotency_key(&key, "fp2", at(30), exp, lease)
            .await
            .unwrap();
        assert_eq!(
            found,
            IdempotencyClaim::InProgress {
                fingerprint: "fp1".into()
            }
        );
        // Once renewals stop (its process died), the next claim after one lease takes over.
        let taken = reg
            .claim_idempotency_key(&key, "fp2", at(34), exp, lease)
            .await
            .unwrap();
        claimed(taken);
    }

    pub async fn renewing_a_claim_that_was_taken_over_is_condition_failed(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, lease) = (at(86_400), Duration::seconds(10));
        let old = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, lease)
                .await
                .unwrap(),
        );
        let new = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(11), exp, lease)
                .await
                .unwrap(),
        );
        assert_kind(
            reg.renew_idempotency_claim(&key, &old, at(12)).await,
            ErrorKind::ConditionFailed,
            "renewing a claim taken over",
        );
        reg.renew_idempotency_claim(&key, &new, at(12))
            .await
            .unwrap();
        assert_kind(
            reg.renew_idempotency_claim(&fx.name("never"), &new, at(12))
                .await,
            ErrorKind::NotFound,
            "renewing a key never claimed",
        );
    }

    pub async fn revoking_a_key_purges_the_stored_responses_that_show_it(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let tenant = fx.tenant("keys");
        let (shown, other) = (
            api_key(fx, &tenant, "shown", 1),
            api_key(fx, &tenant, "other", 2),
        );
        reg.put_api_key(&shown).await.unwrap();
        reg.put_api_key(&other).await.unwrap();
        let (idem_shown, idem_other) = (fx.name("idem-shown"), fx.name("idem-other"));
        complete_with(fx, &idem_shown, &revealing(&shown)).await;
        complete_with(fx, &idem_other, &revealing(&other)).await;

        reg.revoke_api_key(&tenant, &shown.key_id, at(5))
            .await
            .unwrap();
        assert_eq!(
            retry_finds(fx, &idem_shown).await,
            IdempotencyClaim::Purged {
                fingerprint: "fp".into()
            },
            "the revoked key's secret is gone, and a retry does not execute again"
        );
        assert!(
            matches!(
                retry_finds(fx, &idem_other).await,
                IdempotencyClaim::Completed { .. }
            ),
            "a response showing another key is kept"
        );
    }

    pub async fn revoking_all_keys_of_a_tenant_purges_only_its_stored_responses(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let (a, b) = (fx.tenant("a"), fx.tenant("b"));
        let (a_key, b_key) = (api_key(fx, &a, "a", 1), api_key(fx, &b, "b", 2));
        reg.put_api_key(&a_key).await.unwrap();
        reg.put_api_key(&b_key).await.unwrap();
        let (idem_a, idem_b, idem_plain) = (fx.name("ia"), fx.name("ib"), fx.name("ip"));
        complete_with(fx, &idem_a, &revealing(&a_key)).await;
        complete_with(fx, &idem_b, &revealing(&b_key)).await;
        complete_with(fx, &idem_plain, &response("no secret")).await;

        reg.revoke_all_api_keys(&a, at(5)).await.unwrap();
        assert!(matches!(
            retry_finds(fx, &idem_a).await,
            IdempotencyClaim::Purged { .. }
        ));
        assert!(matches!(
            retry_finds(fx, &idem_b).await,
            IdempotencyClaim::Completed { .. }
        ));
        assert!(matches!(
            retry_finds(fx, &idem_plain).await,
            IdempotencyClaim::Completed { .. }
        ));
    }

    pub async fn a_response_showing_an_already_revoked_key_is_stored_purged(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let tenant = fx.tenant("late");
        let key = api_key(fx, &tenant, "late", 1);
        reg.put_api_key(&key).await.unwrap();
        reg.revoke_api_key(&tenant, &key.key_id, at(2))
            .await
            .unwrap();
        let idem = fx.name("idem");
        complete_with(fx, &idem, &revealing(&key)).await;
        assert!(matches!(
            retry_finds(fx, &idem).await,
            IdempotencyClaim::Purged { .. }
        ));
    }

    pub async fn a_completed_idempotency_key_replays_its_response(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (now, exp, stale) = (at(0), at(86_400), Duration::minutes(5));
        let token = claimed(
            reg.claim_idempotency_key(&key, "fp1", now, exp, stale)
                .await
                .unwrap(),
        );
        reg.complete_idempotency_key(&key, &token, &response("done"))
            .await
            .unwrap();
        let later = reg
            .claim_idempotency_key(&key, "fp2", at(3600), exp, stale)
            .await
            .unwrap();
        assert_eq!(
            later,
            IdempotencyClaim::Completed {
                fingerprint: "fp1".into(),
                response: response("done")
            }
        );
    }

    pub async fn a_running_claim_is_reported_in_progress(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        let second = reg
            .claim_idempotency_key(&key, "fp2", at(60), exp, stale)
            .await
            .unwrap();
        assert_eq!(
            second,
            IdempotencyClaim::InProgress {
                fingerprint: "fp1".into()
            }
        );
    }

    pub async fn a_stale_claim_is_taken_over(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        let first = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        let second = claimed(
            reg.claim_idempotency_key(&key, "fp2", at(301), exp, stale)
                .await
                .unwrap(),
        );
        assert_ne!(first, second, "every claim gets its own token");
        let third = reg
            .claim_idempotency_key(&key, "fp3", at(302), exp, stale)
            .await
            .unwrap();
        assert_eq!(
            third,
            IdempotencyClaim::InProgress {
                fingerprint: "fp2".into()
            },
            "the new claim is the owner now"
        );
    }

    pub async fn completing_after_a_takeover_is_condition_failed_and_keeps_the_new_claim(
        fx: &Fixture,
    ) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        let old = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        let new = claimed(
            reg.claim_idempotency_key(&key, "fp2", at(301), exp, stale)
                .await
                .unwrap(),
        );
        assert_kind(
            reg.complete_idempotency_key(&key, &old, &response("late"))
                .await,
            ErrorKind::ConditionFailed,
            "completing a claim that was taken over",
        );
        assert_eq!(
            reg.claim_idempotency_key(&key, "fp3", at(302), exp, stale)
                .await
                .unwrap(),
            IdempotencyClaim::InProgress {
                fingerprint: "fp2".into()
            },
            "the late completion did not overwrite the new claim"
        );
        reg.complete_idempotency_key(&key, &new, &response("new"))
            .await
            .unwrap();
        assert_eq!(
            reg.claim_idempotency_key(&key, "fp2", at(303), exp, stale)
                .await
                .unwrap(),
            IdempotencyClaim::Completed {
                fingerprint: "fp2".into(),
                response: response("new")
            }
        );
    }

    pub async fn releasing_by_the_old_claimant_keeps_the_new_claim(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        let old = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        claimed(
            reg.claim_idempotency_key(&key, "fp2", at(301), exp, stale)
                .await
                .unwrap(),
        );
        reg.release_idempotency_key(&key, &old).await.unwrap();
        assert_eq!(
            reg.claim_idempotency_key(&key, "fp3", at(302), exp, stale)
                .await
                .unwrap(),
            IdempotencyClaim::InProgress {
                fingerprint: "fp2".into()
            },
            "the old claimant's release left the new claim in place"
        );
    }

    pub async fn completing_twice_is_condition_failed(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        let token = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        reg.complete_idempotency_key(&key, &token, &response("first"))
            .await
            .unwrap();
        assert_kind(
            reg.complete_idempotency_key(&key, &token, &response("second"))
                .await,
            ErrorKind::ConditionFailed,
            "completing a completed key",
        );
        reg.release_idempotency_key(&key, &token).await.unwrap();
        assert_eq!(
            reg.claim_idempotency_key(&key, "fp1", at(1), exp, stale)
                .await
                .unwrap(),
            IdempotencyClaim::Completed {
                fingerprint: "fp1".into(),
                response: response("first")
            },
            "neither the second completion nor a release touched the stored response"
        );
    }

    pub async fn an_expired_idempotency_record_is_taken_over(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let stale = Duration::minutes(5);
        let token = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), at(100), stale)
                .await
                .unwrap(),
        );
        reg.complete_idempotency_key(&key, &token, &response("old"))
            .await
            .unwrap();
        claimed(
            reg.claim_idempotency_key(&key, "fp2", at(101), at(1000), stale)
                .await
                .unwrap(),
        );
    }

    pub async fn concurrent_claims_let_exactly_one_win(fx: &Fixture) {
        let key = fx.name("idem");
        let mut tasks = Vec::new();
        for n in 0..16 {
            let reg = Arc::clone(&fx.backend.registry);
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                reg.claim_idempotency_key(
                    &key,
                    &format!("fp{n}"),
                    at(0),
                    at(86_400),
                    Duration::minutes(5),
                )
                .await
            }));
        }
        let mut claimed = 0;
        for task in tasks {
            match task.await.unwrap().unwrap() {
                IdempotencyClaim::Claimed { .. } => claimed += 1,
                IdempotencyClaim::InProgress { .. } => {}
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(claimed, 1, "exactly one concurrent claim wins");
    }

    pub async fn releasing_a_claim_frees_the_key(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let key = fx.name("idem");
        let (exp, stale) = (at(86_400), Duration::minutes(5));
        let token = claimed(
            reg.claim_idempotency_key(&key, "fp1", at(0), exp, stale)
                .await
                .unwrap(),
        );
        reg.release_idempotency_key(&key, &token).await.unwrap();
        claimed(
            reg.claim_idempotency_key(&key, "fp2", at(1), exp, stale)
                .await
                .unwrap(),
        );
        reg.release_idempotency_key(&fx.name("never-claimed"), &token)
            .await
            .unwrap();
    }

    pub async fn completing_an_unclaimed_key_is_not_found(fx: &Fixture) {
        let result = fx
            .backend
            .registry
            .complete_idempotency_key(&fx.name("unclaimed"), "no-such-token", &response("x"))
            .await;
        assert_kind(result, ErrorKind::NotFound, "complete without claim");
    }

    pub async fn usage_adds_up_per_day_and_model_and_is_read_back_in_order(fx: &Fixture) {
        let reg = &fx.backend.registry;
        let (a, b) = (fx.tenant("usage-a"), fx.tenant("usage-b"));
        let day = |d: u8| time::Date::from_calendar_date(2026, time::Month::November, d).unwrap();
        let delta = |calls, input, output, cost| UsageDelta {
            calls,
            input_tokens: input,
            output_tokens: output,
            cost_nano_usd: cost,
        };
        reg.record_usage(&a, day(2), "small-model", &delta(1, 300, 40, 12_000))
            .await
            .unwrap();
        reg.record_usage(&a, day(2), "small-model", &delta(2, 600, 80, 24_000))
            .await
            .unwrap();
        reg.record_usage(&a, day(2), "big-model", &delta(1, 10, 1, 5))
            .await
            .unwrap();
        reg.record_usage(&a, day(30), "small-model", &delta(1, 1, 1, 1))
            .await
            .unwrap();
        reg.record_usage(&b, day(2), "small-model", &delta(9, 9, 9, 9))
            .await
            .unwrap();

        let days = reg.usage(&a, day(1), day(29)).await.unwrap();
        let read: Vec<(time::Date, &str, UsageDelta)> = days
            .iter()
            .map(|d| (d.day, d.model.as_str(), d.usage))
            .collect();
        assert_eq!(
            read,
            [
                (day(2), "big-model", delta(1, 10, 1, 5)),
                (day(2), "small-model", delta(3, 900, 120, 36_000)),
            ]
        );
        assert_eq!(total_usage(&days), delta(4, 910, 121, 36_005));
        // The range is inclusive at both ends, and another tenant's usage is its own.
        assert_eq!(reg.usage(&a, day(30), day(30)).await.unwrap().len(), 1);
        assert_eq!(reg.usage(&a, day(2), day(2)).await.unwrap().len(), 2);
        let theirs = reg.usage(&b, day(1), day(30)).await.unwrap();
        assert_eq!(total_usage(&theirs), delta(9, 9, 9, 9));
        assert!(
            reg.usage(&fx.tenant("usage-none"), day(1), day(30))
                .await
                .unwrap()
                .is_empty()
        );
        assert_kind(
            reg.record_usage(&a, day(2), "", &delta(1, 1, 1, 1)).await,
            ErrorKind::Invalid,
            "usage without a model",
        );
    }

    pub async fn concurrent_usage_adds_all_count(fx: &Fixture) {
        let reg = fx.backend.registry.clone();
        let tenant = fx.tenant("usage-race");
        let day = time::Date::from_calendar_date(2026, time::Month::December, 1).unwrap();
        let adds: Vec<_> = (0..8)
            .map(|_| {
                let (reg, tenant) = (reg.clone(), tenant.clone());
                tokio::spawn(async move {
                    let one = UsageDelta {
                        calls: 1,
                        input_tokens: 100,
                        output_tokens: 10,
                        cost_nano_usd: 7,
                    };
                    reg.record_usage(&tenant, day, "m", &one).await
                })
            })
            .collect();
        for add in adds {
            add.await.unwrap().unwrap();
        }
        let total = total_usage(&reg.usage(&tenant, day, day).await.unwrap());
        assert_eq!(
            (total.calls, total.input_tokens, total.cost_nano_usd),
            (8, 800, 56)
        );
    }
);
