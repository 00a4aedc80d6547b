//! `KeyVault` cases: create/describe by every reference, encryption context, limits, deletion
//! (windows raised to the vault's minimum, destruction by the vault or by `destroy_due_keys`).

use time::{Duration, OffsetDateTime};

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::ErrorKind;
use crate::naming::Tags;
use crate::ports::key_vault::KeyState;

cases!(
    mod key_vault;

    pub async fn a_key_is_described_by_id_arn_and_alias(fx: &Fixture) {
        let spec = fx.key_spec("k");
        let key = fx.backend.keys.create_key(&spec).await.unwrap();
        assert_eq!(key.alias.as_deref(), Some(spec.alias.as_str()));
        assert_eq!(key.state, KeyState::Enabled);
        assert_eq!(key.tags, spec.tags);
        for reference in [&key.key_id, &key.arn, &spec.alias] {
            let found = fx.backend.keys.describe_key(reference).await.unwrap();
            assert_eq!(found.key_id, key.key_id, "described by {reference}");
            assert_eq!(found.arn, key.arn);
            assert_eq!(found.state, KeyState::Enabled);
        }
    }

    pub async fn a_taken_alias_is_already_exists(fx: &Fixture) {
        let spec = fx.key_spec("k");
        fx.backend.keys.create_key(&spec).await.unwrap();
        assert_kind(
            fx.backend.keys.create_key(&spec).await,
            ErrorKind::AlreadyExists,
            "alias twice",
        );
    }

    pub async fn an_alias_without_the_alias_prefix_is_invalid(fx: &Fixture) {
        let mut spec = fx.key_spec("k");
        spec.alias = fx.name("k");
        assert_kind(
            fx.backend.keys.create_key(&spec).await,
            ErrorKind::Invalid,
            "alias without alias/",
        );
    }

    pub async fn describing_a_missing_key_is_not_found(fx: &Fixture) {
        let alias = format!("alias/{}", fx.name("missing"));
        assert_kind(
            fx.backend.keys.describe_key(&alias).await,
            ErrorKind::NotFound,
            "missing alias",
        );
        let id = uuid::Uuid::new_v4().to_string();
        assert_kind(
            fx.backend.keys.describe_key(&id).await,
            ErrorKind::NotFound,
            "missing key id",
        );
        assert_kind(
            fx.backend.keys.encrypt(&alias, b"x", b"").await,
            ErrorKind::NotFound,
            "encrypt under missing key",
        );
    }

    pub async fn encryption_round_trips_and_binds_the_context(fx: &Fixture) {
        let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
        let keys = &fx.backend.keys;
        let sealed = keys
            .encrypt(&key.key_id, b"tenant data key", b"tenant=acme")
            .await
            .unwrap();
        assert_ne!(sealed.as_slice(), b"tenant data key");
        assert_eq!(
            keys.decrypt(&key.key_id, &sealed, b"tenant=acme")
                .await
                .unwrap(),
            b"tenant data key"
        );
        assert_kind(
            keys.decrypt(&key.key_id, &sealed, b"tenant=other").await,
            ErrorKind::Invalid,
            "wrong context",
        );
        let mut tampered = sealed.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_kind(
            keys.decrypt(&key.key_id, &tampered, b"tenant=acme").await,
            ErrorKind::Invalid,
            "tampered ciphertext",
        );
    }

    pub async fn plaintext_over_4_kib_is_invalid(fx: &Fixture) {
        let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
        assert_kind(
            fx.backend
                .keys
                .encrypt(&key.key_id, &[0u8; 4097], b"")
                .await,
            ErrorKind::Invalid,
            "4097 bytes",
        );
        fx.backend
            .keys
            .encrypt(&key.key_id, &[0u8; 4096], b"")
            .await
            .unwrap();
    }

    pub async fn scheduling_deletion_releases_the_alias_and_disables_the_key(fx: &Fixture) {
        let spec = fx.key_spec("k");
        let key = fx.backend.keys.create_key(&spec).await.unwrap();
        let keys = &fx.backend.keys;
        let sealed = keys.encrypt(&key.key_id, b"secret", b"").await.unwrap();
        let scheduled = keys.schedule_key_deletion(&spec.alias, 7).await.unwrap();
        assert_eq!(scheduled.alias, None);
        assert!(
            matches!(scheduled.state, KeyState::PendingDeletion { .. }),
            "{:?}",
            scheduled.state
        );
        assert_kind(
            keys.describe_key(&spec.alias).await,
            ErrorKind::NotFound,
            "released alias",
        );
        let by_id = keys.describe_key(&key.key_id).await.unwrap();
        assert!(matches!(by_id.state, KeyState::PendingDeletion { .. }));
        if !fx.backend.capabilities.pending_deletion_refuses_key_use {
            crate::conformance::support::skip(
                "key_vault::scheduling_deletion_releases_the_alias_and_disables_the_key (its refusal of key use)",
                "pending_deletion_refuses_key_use",
            );
            return;
        }
        assert_kind(
            keys.encrypt(&key.key_id, b"more", b"").await,
            ErrorKind::AccessDenied,
            "encrypt after deletion",
        );
        assert_kind(
            keys.decrypt(&key.key_id, &sealed, b"").await,
            ErrorKind::AccessDenied,
            "decrypt after deletion",
        );
        let replacement = keys.create_key(&spec).await.unwrap();
        assert_ne!(
            replacement.key_id, key.key_id,
            "the released alias can name a new key"
        );
    }

    pub async fn scheduling_deletion_twice_is_idempotent(fx: &Fixture) {
        let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
        let first = fx
            .backend
            .keys
            .schedule_key_deletion(&key.key_id, 7)
            .await
            .unwrap();
        let second = fx
            .backend
            .keys
            .schedule_key_deletion(&key.key_id, 7)
            .await
            .unwrap();
        assert_eq!(first.state, second.state);
        let missing = uuid::Uuid::new_v4().to_string();
        assert_kind(
            fx.backend.keys.schedule_key_deletion(&missing, 7).await,
            ErrorKind::NotFound,
            "missing key",
        );
    }

    /// Where the vault's minimum window is 0, a window of 0 days has ended at once and the key
    /// is destroyed; elsewhere it is raised to the minimum and the key waits like any other.
    /// A vault that destroys keys itself leaves nothing for `destroy_due_keys` to do.
    pub async fn destroying_due_keys_spares_keys_still_inside_their_window(fx: &Fixture) {
        let keys = &fx.backend.keys;
        let capabilities = fx.backend.capabilities;
        let ended = keys.create_key(&fx.key_spec("ended")).await.unwrap();
        let open = keys.create_key(&fx.key_spec("open")).await.unwrap();
        keys.schedule_key_deletion(&ended.key_id, 0).await.unwrap();
        keys.schedule_key_deletion(&open.key_id, 7).await.unwrap();
        let destroyed = keys.destroy_due_keys().await.unwrap();
        if capabilities.destroys_keys_itself {
            assert_eq!(
                destroyed, 0,
                "a vault that destroys keys itself leaves nothing to destroy_due_keys"
            );
        }
        let ended_state = keys.describe_key(&ended.key_id).await.unwrap().state;
        if capabilities.min_key_deletion_window_days == 0 {
            assert_eq!(
                ended_state,
                KeyState::Destroyed,
                "a key whose window of 0 days has ended is destroyed"
            );
        } else {
            assert!(
                matches!(ended_state, KeyState::PendingDeletion { .. }),
                "a window of 0 days is raised to the minimum of {} days, so the key waits: \
                 {ended_state:?}",
                capabilities.min_key_deletion_window_days
            );
        }
        assert!(
            matches!(
                keys.describe_key(&open.key_id).await.unwrap().state,
                KeyState::PendingDeletion { .. }
            ),
            "a key still inside its window keeps its material"
        );
    }

    /// The window a key gets is the one asked for, raised to the vault's minimum
    /// ([`Capabilities::key_deletion_window_days`]): a window of 0 days destroys the key at once
    /// only where the minimum is 0.
    ///
    /// [`Capabilities::key_deletion_window_days`]: crate::backend::Capabilities::key_deletion_window_days
    pub async fn deletion_happens_after_the_requested_window_raised_to_the_vaults_minimum(
        fx: &Fixture,
    ) {
        let keys = &fx.backend.keys;
        for requested in [0, 7, 30] {
            let key = keys
                .create_key(&fx.key_spec(&format!("window-{requested}")))
                .await
                .unwrap();
            let before = OffsetDateTime::now_utc();
            let scheduled = keys
                .schedule_key_deletion(&key.key_id, requested)
                .await
                .unwrap();
            let after = OffsetDateTime::now_utc();
            let days = fx.backend.capabilities.key_deletion_window_days(requested);
            match scheduled.state {
                KeyState::Destroyed => assert_eq!(
                    days, 0,
                    "a window of {requested} days raised to {days} destroyed the key at once"
                ),
                KeyState::PendingDeletion { deletion_at } => {
                    assert_ne!(days, 0, "a window of 0 days waits until {deletion_at}");
                    // A vault may round the end of the window up to the next day.
                    let window = Duration::days(i64::from(days));
                    let earliest = before + window - Duration::minutes(1);
                    let latest = after + window + Duration::days(1);
                    assert!(
                        earliest <= deletion_at && deletion_at <= latest,
                        "a window of {requested} days raised to {days} ends at {deletion_at}, \
                         not between {earliest} and {latest}"
                    );
                }
                KeyState::Enabled => panic!("scheduling deletion left the key enabled"),
            }
            assert_eq!(
                keys.describe_key(&key.key_id).await.unwrap().state,
                scheduled.state,
                "the key is described as scheduled"
            );
        }
    }

    pub async fn a_deletion_window_over_30_days_is_invalid(fx: &Fixture) {
        let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
        let err = fx
            .backend
            .keys
            .schedule_key_deletion(&key.key_id, 31)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid);
        let info = fx.backend.keys.describe_key(&key.key_id).await.unwrap();
        assert_eq!(info.state, KeyState::Enabled);
    }

    pub async fn keys_are_listed_by_their_tags_in_any_state_but_destroyed(fx: &Fixture) {
        let keys = &fx.backend.keys;
        let tagged = |tenant: &str| {
            let mut spec = fx.key_spec(tenant);
            spec.tags.insert("case".to_owned(), fx.prefix().to_owned());
            spec.tags.insert("tenant".to_owned(), tenant.to_owned());
            spec
        };
        let a = keys.create_key(&tagged("a")).await.unwrap();
        let b = keys.create_key(&tagged("b")).await.unwrap();
        let case = Tags::from([("case".to_owned(), fx.prefix().to_owned())]);
        let mut both = vec![a.clone(), b.clone()];
        both.sort_by(|x, y| x.key_id.cmp(&y.key_id));
        assert_eq!(keys.list_keys(&case).await.unwrap(), both);

        let mut only_a = case.clone();
        only_a.insert("tenant".to_owned(), "a".to_owned());
        assert_eq!(
            keys.list_keys(&only_a).await.unwrap(),
            std::slice::from_ref(&a)
        );
        only_a.insert("tenant".to_owned(), "c".to_owned());
        assert_eq!(keys.list_keys(&only_a).await.unwrap(), []);

        // Scheduled for deletion, a key is still listed, without its alias.
        keys.schedule_key_deletion(&b.key_id, 7).await.unwrap();
        let listed = keys.list_keys(&case).await.unwrap();
        let b_now = listed.iter().find(|k| k.key_id == b.key_id).unwrap();
        assert!(
            matches!(b_now.state, KeyState::PendingDeletion { .. }),
            "{:?}",
            b_now.state
        );
        assert_eq!(b_now.alias, None);
        assert_eq!(b_now.tags, b.tags);
    }

    pub async fn aliasing_a_named_missing_or_disabled_key_is_refused(fx: &Fixture) {
        let keys = &fx.backend.keys;
        let key = keys.create_key(&fx.key_spec("k")).await.unwrap();
        let other = format!("alias/{}", fx.name("other"));
        assert_kind(
            keys.alias_key(&key.key_id, &other).await,
            ErrorKind::Invalid,
            "a key that has an alias",
        );
        // Naming a key with the alias it has is a retry that finds its work done.
        let same = keys
            .alias_key(&key.key_id, &key.alias.clone().unwrap())
            .await;
        assert_eq!(same.unwrap().key_id, key.key_id);
        assert_kind(
            keys.alias_key(&uuid::Uuid::new_v4().to_string(), &other)
                .await,
            ErrorKind::NotFound,
            "a missing key",
        );
        keys.schedule_key_deletion(&key.key_id, 7).await.unwrap();
        assert_kind(
            keys.alias_key(&key.key_id, &other).await,
            ErrorKind::Invalid,
            "a key pending deletion",
        );
        assert_kind(
            keys.describe_key(&other).await,
            ErrorKind::NotFound,
            "no alias was made",
        );
    }
);
