//! `ItemStore` cases: conditions, limits, queries (table and `gsi1`), TTL, transactions (across
//! two tenants as the backend's capabilities say), batches, and a disabled key's refusal (where
//! the backend promises it).

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::json;

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::ErrorKind;
use crate::ports::item_store::{
    Condition, Cursor, Item, ItemKey, MAX_ITEM_BYTES, MAX_KEY_BYTES, Query, SortKeyCondition,
    WriteOp,
};

fn item(pk: &str, sk: &str, version: u64) -> Item {
    let mut item = Item::new(ItemKey::new(pk, sk));
    item.version = version;
    item.attrs
        .insert("label".to_owned(), json!(format!("{pk}/{sk}")));
    item
}

fn far_future() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp() + 86_400 * 365
}

async fn table(fx: &Fixture) -> String {
    fx.tenant_table("tn", "items").await.0
}

fn sks(items: &[Item]) -> Vec<&str> {
    items.iter().map(|i| i.key.sk.as_str()).collect()
}

async fn seed_partition(fx: &Fixture, t: &str, n: usize) {
    let puts: Vec<Item> = (0..n)
        .map(|i| item("P#q", &format!("S#{i:03}"), 1))
        .collect();
    for chunk in puts.chunks(25) {
        fx.backend.items.batch_write(t, chunk, &[]).await.unwrap();
    }
    // Another partition that must never show up.
    fx.backend
        .items
        .put(t, &item("P#other", "S#000", 1), Condition::None)
        .await
        .unwrap();
}

async fn all_pages(fx: &Fixture, t: &str, mut q: Query) -> (Vec<Item>, usize) {
    let mut out = Vec::new();
    let mut pages = 0;
    loop {
        let page = fx.backend.items.query(t, &q).await.unwrap();
        pages += 1;
        assert!(
            page.items.len() <= q.limit as usize,
            "a page holds at most `limit` items"
        );
        out.extend(page.items);
        match page.next {
            Some(c) => q.start_after = Some(c),
            None => return (out, pages),
        }
        assert!(pages < 100, "pagination does not terminate");
    }
}

/// Two tables of one tenant holding `P/guard` (version 1) and `P/doomed`, and a transaction
/// that puts `P/new`, deletes `P/doomed` and checks that `P/guard` has `guard_version`.
async fn guarded_transaction(fx: &Fixture, guard_version: u64) -> (String, String, Vec<WriteOp>) {
    let (a, _) = fx.tenant_table("tn", "app").await;
    let (b, _) = fx.tenant_table("tn", "events").await;
    let items = &fx.backend.items;
    items
        .put(&a, &item("P", "guard", 1), Condition::None)
        .await
        .unwrap();
    items
        .put(&b, &item("P", "doomed", 1), Condition::None)
        .await
        .unwrap();
    let ops = vec![
        WriteOp::Put {
            table: a.clone(),
            item: item("P", "new", 1),
            condition: Condition::NotExists,
        },
        WriteOp::Delete {
            table: b.clone(),
            key: ItemKey::new("P", "doomed"),
            condition: Condition::Exists,
        },
        WriteOp::ConditionCheck {
            table: a.clone(),
            key: ItemKey::new("P", "guard"),
            condition: Condition::VersionIs(guard_version),
        },
    ];
    (a, b, ops)
}

cases!(
    mod item_store;

    pub async fn put_then_get_round_trips_every_field(fx: &Fixture) {
        let t = table(fx).await;
        let mut it = item("P#1", "S#1", 7);
        it.gsi1 = Some(ItemKey::new("G#1", "2026-01-01"));
        it.ttl = Some(far_future());
        it.attrs.insert(
            "nested".to_owned(),
            json!({"n": 1.5, "list": [1, "two", null], "ok": true}),
        );
        fx.backend
            .items
            .put(&t, &it, Condition::None)
            .await
            .unwrap();
        let got = fx.backend.items.get(&t, &it.key).await.unwrap();
        assert_eq!(got, Some(it));
    }

    pub async fn getting_a_missing_item_is_none(fx: &Fixture) {
        let t = table(fx).await;
        assert_eq!(
            fx.backend
                .items
                .get(&t, &ItemKey::new("P#none", "S"))
                .await
                .unwrap(),
            None
        );
    }

    pub async fn every_operation_on_a_missing_table_is_not_found(fx: &Fixture) {
        let items = &fx.backend.items;
        let t = fx.name("no-such-table");
        let key = ItemKey::new("P", "S");
        assert_kind(
            items.put(&t, &item("P", "S", 1), Condition::None).await,
            ErrorKind::NotFound,
            "put",
        );
        assert_kind(items.get(&t, &key).await, ErrorKind::NotFound, "get");
        assert_kind(
            items.delete(&t, &key, Condition::None).await,
            ErrorKind::NotFound,
            "delete",
        );
        let q = Query {
            pk: "P".into(),
            ..Query::default()
        };
        assert_kind(items.query(&t, &q).await, ErrorKind::NotFound, "query");
        assert_kind(
            items.batch_get(&t, std::slice::from_ref(&key)).await,
            ErrorKind::NotFound,
            "batch_get",
        );
        assert_kind(
            items.batch_write(&t, &[item("P", "S", 1)], &[]).await,
            ErrorKind::NotFound,
            "batch_write",
        );
        let op = WriteOp::Put {
            table: t.clone(),
            item: item("P", "S", 1),
            condition: Condition::None,
        };
        assert_kind(
            items.transact_write(&[op]).await,
            ErrorKind::NotFound,
            "transact_write",
        );
    }

    pub async fn put_if_not_exists_on_an_existing_item_is_condition_failed(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        items
            .put(&t, &item("P", "S", 1), Condition::NotExists)
            .await
            .unwrap();
        let mut other = item("P", "S", 2);
        other.attrs.insert("label".into(), json!("overwritten"));
        assert_kind(
            items.put(&t, &other, Condition::NotExists).await,
            ErrorKind::ConditionFailed,
            "put twice",
        );
        assert_eq!(
            items.get(&t, &ItemKey::new("P", "S")).await.unwrap(),
            Some(item("P", "S", 1))
        );
    }

    pub async fn version_conditions_guard_puts_and_deletes(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let key = ItemKey::new("P", "S");
        items
            .put(&t, &item("P", "S", 1), Condition::None)
            .await
            .unwrap();
        assert_kind(
            items
                .put(&t, &item("P", "S", 3), Condition::VersionIs(2))
                .await,
            ErrorKind::ConditionFailed,
            "wrong version",
        );
        items
            .put(&t, &item("P", "S", 2), Condition::VersionIs(1))
            .await
            .unwrap();
        assert_eq!(
            items.get(&t, &key).await.unwrap().map(|i| i.version),
            Some(2)
        );
        assert_kind(
            items.delete(&t, &key, Condition::VersionIs(1)).await,
            ErrorKind::ConditionFailed,
            "stale delete",
        );
        assert!(
            items.get(&t, &key).await.unwrap().is_some(),
            "a failed delete removes nothing"
        );
        items
            .delete(&t, &key, Condition::VersionIs(2))
            .await
            .unwrap();
        assert_eq!(items.get(&t, &key).await.unwrap(), None);
        assert_kind(
            items
                .put(&t, &item("P", "S", 1), Condition::VersionIs(0))
                .await,
            ErrorKind::ConditionFailed,
            "version condition on a missing item",
        );
    }

    pub async fn exists_condition_needs_an_item(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let key = ItemKey::new("P", "S");
        assert_kind(
            items.put(&t, &item("P", "S", 1), Condition::Exists).await,
            ErrorKind::ConditionFailed,
            "put if exists",
        );
        assert_kind(
            items.delete(&t, &key, Condition::Exists).await,
            ErrorKind::ConditionFailed,
            "delete if exists",
        );
        items
            .put(&t, &item("P", "S", 1), Condition::None)
            .await
            .unwrap();
        items
            .put(&t, &item("P", "S", 2), Condition::Exists)
            .await
            .unwrap();
        items.delete(&t, &key, Condition::Exists).await.unwrap();
    }

    pub async fn concurrent_updates_from_one_version_let_exactly_one_win(fx: &Fixture) {
        let t = table(fx).await;
        fx.backend
            .items
            .put(&t, &item("P", "S", 1), Condition::None)
            .await
            .unwrap();
        let mut tasks = Vec::new();
        for n in 0..8 {
            let items = Arc::clone(&fx.backend.items);
            let t = t.clone();
            tasks.push(tokio::spawn(async move {
                let mut next = item("P", "S", 2);
                next.attrs.insert("writer".into(), json!(n));
                items.put(&t, &next, Condition::VersionIs(1)).await
            }));
        }
        let mut wins = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(()) => wins += 1,
                Err(e) => assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}"),
            }
        }
        assert_eq!(wins, 1, "exactly one writer from version 1 must win");
    }

    pub async fn deleting_a_missing_item_without_condition_succeeds(fx: &Fixture) {
        let t = table(fx).await;
        fx.backend
            .items
            .delete(&t, &ItemKey::new("P#none", "S"), Condition::None)
            .await
            .unwrap();
    }

    pub async fn empty_and_oversized_keys_are_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let long = "k".repeat(MAX_KEY_BYTES + 1);
        for (pk, sk) in [
            ("", "S"),
            ("P", ""),
            (long.as_str(), "S"),
            ("P", long.as_str()),
        ] {
            let doing = format!("key ({} bytes, {} bytes)", pk.len(), sk.len());
            assert_kind(
                items.put(&t, &item(pk, sk, 1), Condition::None).await,
                ErrorKind::Invalid,
                &format!("put {doing}"),
            );
            assert_kind(
                items.get(&t, &ItemKey::new(pk, sk)).await,
                ErrorKind::Invalid,
                &format!("get {doing}"),
            );
        }
        let mut with_index = item("P", "S", 1);
        with_index.gsi1 = Some(ItemKey::new("", "x"));
        assert_kind(
            items.put(&t, &with_index, Condition::None).await,
            ErrorKind::Invalid,
            "empty gsi1pk",
        );
    }

    pub async fn an_item_over_400_kib_is_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let mut big = item("P", "S", 1);
        big.attrs
            .insert("blob".into(), json!("x".repeat(MAX_ITEM_BYTES + 1)));
        assert_kind(
            fx.backend.items.put(&t, &big, Condition::None).await,
            ErrorKind::Invalid,
            "oversized put",
        );
        assert_eq!(fx.backend.items.get(&t, &big.key).await.unwrap(), None);
    }

    pub async fn query_returns_a_partition_in_sort_key_order_page_by_page(fx: &Fixture) {
        let t = table(fx).await;
        seed_partition(fx, &t, 7).await;
        let q = Query {
            pk: "P#q".into(),
            limit: 3,
            ..Query::default()
        };
        let first = fx.backend.items.query(&t, &q).await.unwrap();
        assert_eq!(sks(&first.items), ["S#000", "S#001", "S#002"]);
        assert!(
            first.next.is_some(),
            "a full page with more behind it has a cursor"
        );
        let (all, pages) = all_pages(fx, &t, q).await;
        let expected: Vec<String> = (0..7).map(|i| format!("S#{i:03}")).collect();
        assert_eq!(sks(&all), expected);
        assert!(pages >= 3);
        let unbounded = fx
            .backend
            .items
            .query(
                &t,
                &Query {
                    pk: "P#q".into(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            unbounded.items.len(),
            7,
            "limit 0 means the default page size"
        );
        assert_eq!(unbounded.next, None);
    }

    pub async fn query_descending_pages_backwards(fx: &Fixture) {
        let t = table(fx).await;
        seed_partition(fx, &t, 5).await;
        let q = Query {
            pk: "P#q".into(),
            limit: 2,
            descending: true,
            ..Query::default()
        };
        let (all, _) = all_pages(fx, &t, q).await;
        assert_eq!(sks(&all), ["S#004", "S#003", "S#002", "S#001", "S#000"]);
    }

    pub async fn query_applies_every_sort_key_condition(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        for sk in ["A#1", "A#2", "B#1", "B#2", "C#1"] {
            items
                .put(&t, &item("P#c", sk, 1), Condition::None)
                .await
                .unwrap();
        }
        let run = |sk: SortKeyCondition| {
            let t = t.clone();
            async move {
                let page = fx
                    .backend
                    .items
                    .query(
                        &t,
                        &Query {
                            pk: "P#c".into(),
                            sk,
                            ..Query::default()
                        },
                    )
                    .await
                    .unwrap();
                page.items.into_iter().map(|i| i.key.sk).collect::<Vec<_>>()
            }
        };
        assert_eq!(
            run(SortKeyCondition::Any).await,
            ["A#1", "A#2", "B#1", "B#2", "C#1"]
        );
        assert_eq!(run(SortKeyCondition::Eq("B#1".into())).await, ["B#1"]);
        assert_eq!(
            run(SortKeyCondition::BeginsWith("B#".into())).await,
            ["B#1", "B#2"]
        );
        assert_eq!(
            run(SortKeyCondition::Between("A#2".into(), "B#2".into())).await,
            ["A#2", "B#1", "B#2"]
        );
        assert_eq!(
            run(SortKeyCondition::Gte("B#2".into())).await,
            ["B#2", "C#1"]
        );
        assert_eq!(
            run(SortKeyCondition::Lte("A#2".into())).await,
            ["A#1", "A#2"]
        );
    }

    pub async fn query_on_gsi1_orders_by_index_key_and_pages(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        // Index sort keys run opposite to table keys, so table order cannot pass for index order.
        for (i, day) in [
            "2026-01-05",
            "2026-01-04",
            "2026-01-03",
            "2026-01-02",
            "2026-01-01",
        ]
        .iter()
        .enumerate()
        {
            let mut it = item(&format!("CONTENT#{i}"), "DRAFT", 1);
            it.gsi1 = Some(ItemKey::new("CONTENT", *day));
            items.put(&t, &it, Condition::None).await.unwrap();
        }
        items
            .put(&t, &item("CONTENT#unindexed", "DRAFT", 1), Condition::None)
            .await
            .unwrap();
        let q = Query {
            use_gsi1: true,
            pk: "CONTENT".into(),
            limit: 2,
            ..Query::default()
        };
        let first = items.query(&t, &q).await.unwrap();
        let cursor: &Cursor = first.next.as_ref().expect("more items follow");
        assert!(
            cursor.index_key.is_some(),
            "an index cursor carries the index key"
        );
        let (all, _) = all_pages(fx, &t, q.clone()).await;
        let days: Vec<String> = all
            .iter()
            .map(|i| i.gsi1.as_ref().unwrap().sk.clone())
            .collect();
        assert_eq!(
            days,
            [
                "2026-01-01",
                "2026-01-02",
                "2026-01-03",
                "2026-01-04",
                "2026-01-05"
            ]
        );
        assert_eq!(
            all[0].key,
            ItemKey::new("CONTENT#4", "DRAFT"),
            "index queries return whole items"
        );
        let recent = Query {
            sk: SortKeyCondition::Gte("2026-01-04".into()),
            descending: true,
            limit: 10,
            ..q
        };
        let page = items.query(&t, &recent).await.unwrap();
        let days: Vec<&str> = page
            .items
            .iter()
            .map(|i| i.gsi1.as_ref().unwrap().sk.as_str())
            .collect();
        assert_eq!(days, ["2026-01-05", "2026-01-04"]);
    }

    pub async fn expired_items_are_invisible(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
        let mut expired = item("P#ttl", "old", 1);
        expired.ttl = Some(past);
        expired.gsi1 = Some(ItemKey::new("G#ttl", "old"));
        let mut live = item("P#ttl", "new", 1);
        live.ttl = Some(far_future());
        live.gsi1 = Some(ItemKey::new("G#ttl", "new"));
        items
            .batch_write(&t, &[expired.clone(), live.clone()], &[])
            .await
            .unwrap();
        assert_eq!(items.get(&t, &expired.key).await.unwrap(), None);
        assert_eq!(items.get(&t, &live.key).await.unwrap(), Some(live.clone()));
        let page = items
            .query(
                &t,
                &Query {
                    pk: "P#ttl".into(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(sks(&page.items), ["new"]);
        let page = items
            .query(
                &t,
                &Query {
                    use_gsi1: true,
                    pk: "G#ttl".into(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(sks(&page.items), ["new"]);
        let got = items
            .batch_get(&t, &[expired.key.clone(), live.key.clone()])
            .await
            .unwrap();
        assert_eq!(got, vec![live]);
    }

    pub async fn a_transaction_is_all_or_nothing(fx: &Fixture) {
        let (a, b, ops) = guarded_transaction(fx, 9).await;
        let items = &fx.backend.items;
        assert_kind(
            items.transact_write(&ops).await,
            ErrorKind::ConditionFailed,
            "failing check",
        );
        assert_eq!(
            items.get(&a, &ItemKey::new("P", "new")).await.unwrap(),
            None,
            "no put applied"
        );
        assert!(
            items
                .get(&b, &ItemKey::new("P", "doomed"))
                .await
                .unwrap()
                .is_some(),
            "no delete applied"
        );
    }

    pub async fn a_transaction_writes_every_op_when_all_conditions_hold(fx: &Fixture) {
        let (a, b, ops) = guarded_transaction(fx, 1).await;
        let items = &fx.backend.items;
        items.transact_write(&ops).await.unwrap();
        assert_eq!(
            items.get(&a, &ItemKey::new("P", "new")).await.unwrap(),
            Some(item("P", "new", 1))
        );
        assert_eq!(
            items.get(&b, &ItemKey::new("P", "doomed")).await.unwrap(),
            None
        );
        assert_eq!(
            items.get(&a, &ItemKey::new("P", "guard")).await.unwrap(),
            Some(item("P", "guard", 1))
        );
    }

    pub async fn a_transaction_naming_an_item_twice_is_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let ops = [
            WriteOp::Put {
                table: t.clone(),
                item: item("P", "S", 1),
                condition: Condition::None,
            },
            WriteOp::ConditionCheck {
                table: t.clone(),
                key: ItemKey::new("P", "S"),
                condition: Condition::None,
            },
        ];
        assert_kind(
            fx.backend.items.transact_write(&ops).await,
            ErrorKind::Invalid,
            "same item twice",
        );
        assert_eq!(
            fx.backend
                .items
                .get(&t, &ItemKey::new("P", "S"))
                .await
                .unwrap(),
            None
        );
    }

    pub async fn a_transaction_over_100_ops_is_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let ops: Vec<WriteOp> = (0..101)
            .map(|i| WriteOp::Put {
                table: t.clone(),
                item: item("P", &format!("S{i}"), 1),
                condition: Condition::None,
            })
            .collect();
        assert_kind(
            fx.backend.items.transact_write(&ops).await,
            ErrorKind::Invalid,
            "101 ops",
        );
        assert_kind(
            fx.backend.items.transact_write(&[]).await,
            ErrorKind::Invalid,
            "no ops",
        );
        fx.backend.items.transact_write(&ops[..100]).await.unwrap();
    }

    /// Each tenant's tables may live apart (the embedded adapter gives each tenant its own
    /// file), so an adapter without `cross_tenant_transactions` refuses such a transaction
    /// whole; one with it applies it whole.
    pub async fn a_transaction_across_two_tenants_writes_both_or_is_invalid(fx: &Fixture) {
        let (a, _) = fx.tenant_table("one", "app").await;
        let (b, _) = fx.tenant_table("two", "app").await;
        let it = Item::new(ItemKey::new("P", "S"));
        let ops = [
            WriteOp::Put {
                table: a.clone(),
                item: it.clone(),
                condition: Condition::None,
            },
            WriteOp::Put {
                table: b.clone(),
                item: it.clone(),
                condition: Condition::None,
            },
        ];
        let items = &fx.backend.items;
        let result = items.transact_write(&ops).await;
        let expected = if fx.backend.capabilities.cross_tenant_transactions {
            result.unwrap();
            Some(it.clone())
        } else {
            assert_kind(
                result,
                ErrorKind::Invalid,
                "a transaction across two tenants",
            );
            None
        };
        for t in [&a, &b] {
            assert_eq!(
                items.get(t, &it.key).await.unwrap(),
                expected,
                "{t} after the transaction"
            );
        }
    }

    pub async fn batch_get_returns_only_existing_items(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        items
            .batch_write(&t, &[item("P", "a", 1), item("P", "b", 1)], &[])
            .await
            .unwrap();
        let keys = [
            ItemKey::new("P", "a"),
            ItemKey::new("P", "missing"),
            ItemKey::new("P", "b"),
        ];
        let got: BTreeSet<String> = items
            .batch_get(&t, &keys)
            .await
            .unwrap()
            .into_iter()
            .map(|i| i.key.sk)
            .collect();
        assert_eq!(got, BTreeSet::from(["a".to_owned(), "b".to_owned()]));
    }

    pub async fn batch_write_applies_puts_and_deletes(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        items
            .put(&t, &item("P", "old", 1), Condition::None)
            .await
            .unwrap();
        items
            .batch_write(
                &t,
                &[item("P", "x", 1), item("P", "y", 1)],
                &[ItemKey::new("P", "old")],
            )
            .await
            .unwrap();
        let page = items
            .query(
                &t,
                &Query {
                    pk: "P".into(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(sks(&page.items), ["x", "y"]);
    }

    pub async fn batches_over_their_limits_are_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let puts: Vec<Item> = (0..26).map(|i| item("P", &format!("S{i:02}"), 1)).collect();
        assert_kind(
            items.batch_write(&t, &puts, &[]).await,
            ErrorKind::Invalid,
            "26 writes",
        );
        assert_kind(
            items
                .batch_write(
                    &t,
                    &puts[..20],
                    &[
                        ItemKey::new("P", "d1"),
                        ItemKey::new("P", "d2"),
                        ItemKey::new("P", "d3"),
                        ItemKey::new("P", "d4"),
                        ItemKey::new("P", "d5"),
                        ItemKey::new("P", "d6"),
                    ],
                )
                .await,
            ErrorKind::Invalid,
            "20 puts and 6 deletes",
        );
        let page = items
            .query(
                &t,
                &Query {
                    pk: "P".into(),
                    ..Query::default()
                },
            )
            .await
            .unwrap();
        assert!(page.items.is_empty(), "a refused batch writes nothing");
        let keys: Vec<ItemKey> = (0..101)
            .map(|i| ItemKey::new("P", format!("S{i}")))
            .collect();
        assert_kind(
            items.batch_get(&t, &keys).await,
            ErrorKind::Invalid,
            "101 gets",
        );
        items.batch_write(&t, &puts[..25], &[]).await.unwrap();
    }

    /// Where the refusal comes only eventually (DynamoDB) or never (moto) there is nothing to
    /// assert, so the case needs the capability.
    #[needs(disabled_key_denies_item_access)]
    pub async fn a_key_scheduled_for_deletion_makes_the_table_unreadable(fx: &Fixture) {
        let (t, key_id) = fx.tenant_table("tn", "shredded").await;
        let items = &fx.backend.items;
        items
            .put(&t, &item("P", "S", 1), Condition::None)
            .await
            .unwrap();
        fx.backend
            .keys
            .schedule_key_deletion(&key_id, 7)
            .await
            .unwrap();
        let key = ItemKey::new("P", "S");
        assert_kind(
            items.get(&t, &key).await,
            ErrorKind::AccessDenied,
            "get after key deletion",
        );
        assert_kind(
            items.put(&t, &item("P", "S2", 1), Condition::None).await,
            ErrorKind::AccessDenied,
            "put",
        );
        let q = Query {
            pk: "P".into(),
            ..Query::default()
        };
        assert_kind(items.query(&t, &q).await, ErrorKind::AccessDenied, "query");
        assert_kind(
            items.batch_get(&t, std::slice::from_ref(&key)).await,
            ErrorKind::AccessDenied,
            "batch_get",
        );
    }

    pub async fn batches_naming_an_item_twice_are_invalid(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let key = ItemKey::new("P", "S");
        assert_kind(
            items.batch_get(&t, &[key.clone(), key.clone()]).await,
            ErrorKind::Invalid,
            "get twice",
        );
        let doing = "put and delete of one item";
        assert_kind(
            items
                .batch_write(&t, &[item("P", "S", 1)], std::slice::from_ref(&key))
                .await,
            ErrorKind::Invalid,
            doing,
        );
        assert_kind(
            items
                .batch_write(&t, &[item("P", "S", 1), item("P", "S", 2)], &[])
                .await,
            ErrorKind::Invalid,
            "put twice",
        );
        assert_eq!(
            items.get(&t, &key).await.unwrap(),
            None,
            "a refused batch writes nothing"
        );
    }

    pub async fn query_on_gsi1_pages_through_equal_index_keys_without_loss(fx: &Fixture) {
        let t = table(fx).await;
        let items = &fx.backend.items;
        let mut expected = BTreeSet::new();
        for i in 0..7 {
            let mut it = item(&format!("USER#{i}"), "PROGRESS#tour", 1);
            it.gsi1 = Some(ItemKey::new("PROGRESS#tour", "same-day"));
            items.put(&t, &it, Condition::None).await.unwrap();
            expected.insert(it.key.pk.clone());
        }
        let q = Query {
            use_gsi1: true,
            pk: "PROGRESS#tour".into(),
            limit: 2,
            ..Query::default()
        };
        let (all, _) = all_pages(fx, &t, q).await;
        let seen: Vec<String> = all.into_iter().map(|i| i.key.pk).collect();
        assert_eq!(seen.len(), 7, "no item twice: {seen:?}");
        assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), expected);
    }
);
