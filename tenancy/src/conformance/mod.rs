//! Conformance suites: one module of behaviour cases per port, written only against the port
//! traits, so every adapter (embedded here, AWS against an AWS-compatible server) runs the same
//! cases and must show the same behaviour — including the same error kind for the same mistake.
//!
//! An adapter crate runs them with one line in its integration-test binary:
//!
//! ```ignore
//! async fn make_fixture(case: &str) -> tenancy::conformance::Fixture { … }
//! tenancy::conformance_tests!(make_fixture);
//! ```
//!
//! which expands into one `#[tokio::test]` per case (the binary needs `tokio` with `macros` and
//! `rt-multi-thread`). Cases may share one backend: every name a case creates starts with its
//! fixture's unique prefix.

pub mod item_store;
pub mod key_vault;
pub mod registry;
pub mod role_issuer;
pub mod support;
pub mod table_admin;

pub use support::Fixture;

/// Expands into one `#[tokio::test]` per conformance case, grouped in a module per port.
///
/// `$make` is an `async fn(&str) -> Fixture` taking the case's name; it must resolve from a
/// module nested in the invocation site (a function defined next to the invocation, or an
/// absolute `crate::…` path).
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::__conformance_cases! { $make;
            registry: [
                create_stores_version_one_with_its_first_journal_entry,
                creating_a_taken_id_is_already_exists,
                a_tombstone_still_occupies_its_id,
                getting_a_missing_tenant_is_not_found,
                update_stores_the_next_version_and_appends_its_entries,
                update_from_a_stale_version_is_condition_failed_and_writes_nothing,
                updating_a_missing_tenant_is_not_found,
                concurrent_updates_from_one_version_let_exactly_one_win,
                tenants_are_listed_in_id_order_page_by_page,
                tenants_can_be_listed_by_status,
                a_list_limit_over_the_cap_is_invalid,
                journal_returns_the_newest_entries_oldest_first,
                journal_can_be_read_for_one_run,
                api_keys_resolve_by_hash_and_list_newest_first,
                a_taken_api_key_id_or_hash_is_already_exists,
                an_unknown_api_key_hash_is_not_found,
                a_revoked_key_still_resolves_but_is_not_usable,
                revoking_another_tenants_key_is_not_found,
                revoke_all_revokes_only_that_tenants_live_keys,
                touching_a_key_records_its_last_use,
                a_completed_idempotency_key_replays_its_response,
                a_running_claim_is_reported_in_progress,
                a_stale_claim_is_taken_over,
                completing_after_a_takeover_is_condition_failed_and_keeps_the_new_claim,
                releasing_by_the_old_claimant_keeps_the_new_claim,
                completing_twice_is_condition_failed,
                an_expired_idempotency_record_is_taken_over,
                concurrent_claims_let_exactly_one_win,
                releasing_a_claim_frees_the_key,
                completing_an_unclaimed_key_is_not_found,
                a_claim_renewed_within_its_lease_is_not_taken_over,
                the_same_request_keeps_its_claims_epoch_and_a_new_use_of_the_key_gets_a_new_one,
                renewing_a_claim_that_was_taken_over_is_condition_failed,
                revoking_a_key_purges_the_stored_responses_that_show_it,
                revoking_all_keys_of_a_tenant_purges_only_its_stored_responses,
                a_response_showing_an_already_revoked_key_is_stored_purged,
            ],
            item_store: [
                put_then_get_round_trips_every_field,
                getting_a_missing_item_is_none,
                every_operation_on_a_missing_table_is_not_found,
                put_if_not_exists_on_an_existing_item_is_condition_failed,
                version_conditions_guard_puts_and_deletes,
                exists_condition_needs_an_item,
                concurrent_updates_from_one_version_let_exactly_one_win,
                deleting_a_missing_item_without_condition_succeeds,
                empty_and_oversized_keys_are_invalid,
                an_item_over_400_kib_is_invalid,
                query_returns_a_partition_in_sort_key_order_page_by_page,
                query_descending_pages_backwards,
                query_applies_every_sort_key_condition,
                query_on_gsi1_orders_by_index_key_and_pages,
                query_on_gsi1_pages_through_equal_index_keys_without_loss,
                expired_items_are_invisible,
                a_transaction_is_all_or_nothing,
                a_transaction_writes_every_op_when_all_conditions_hold,
                a_transaction_naming_an_item_twice_is_invalid,
                a_transaction_over_100_ops_is_invalid,
                batch_get_returns_only_existing_items,
                batch_write_applies_puts_and_deletes,
                batches_over_their_limits_are_invalid,
                batches_naming_an_item_twice_are_invalid,
                a_key_scheduled_for_deletion_makes_the_table_unreadable,
            ],
            table_admin: [
                a_created_table_is_active_and_described_with_its_spec,
                creating_an_existing_table_is_already_exists,
                describing_or_deleting_a_missing_table_is_not_found,
                invalid_table_specs_are_invalid,
                tables_are_listed_by_prefix_in_order,
                a_deleted_table_is_gone_with_its_items,
            ],
            key_vault: [
                a_key_is_described_by_id_arn_and_alias,
                a_taken_alias_is_already_exists,
                an_alias_without_the_alias_prefix_is_invalid,
                describing_a_missing_key_is_not_found,
                encryption_round_trips_and_binds_the_context,
                plaintext_over_4_kib_is_invalid,
                scheduling_deletion_releases_the_alias_and_disables_the_key,
                scheduling_deletion_twice_is_idempotent,
                destroying_due_keys_spares_keys_still_inside_their_window,
            ],
            role_issuer: [
                a_created_role_is_described_with_its_policy,
                creating_an_existing_role_is_already_exists,
                role_names_outside_iam_rules_are_invalid,
                describing_or_deleting_a_missing_role_is_not_found,
                a_deleted_role_is_gone,
                a_scoped_store_of_a_missing_role_is_not_found,
                a_scoped_store_reaches_exactly_its_policys_tables,
                a_scoped_transaction_touching_another_table_is_refused_whole,
            ],
        }
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __conformance_cases {
    ($make:path; $($suite:ident: [$($case:ident),* $(,)?]),* $(,)?) => {
        $(
            mod $suite {
                #[allow(unused_imports)]
                use super::*;
                $(
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn $case() {
                        let fx = $make(concat!(stringify!($suite), "::", stringify!($case))).await;
                        $crate::conformance::$suite::$case(&fx).await;
                    }
                )*
            }
        )*
    };
}
