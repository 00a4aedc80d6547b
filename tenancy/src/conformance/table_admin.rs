//! `TableAdmin` cases: create/describe/list/delete and their error kinds.

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::ErrorKind;
use crate::ports::item_store::{Condition, Item, ItemKey};
use crate::ports::table_admin::TableStatus;

cases!(
    mod table_admin;

    pub async fn a_created_table_is_active_and_described_with_its_spec(fx: &Fixture) {
        let key = fx
            .backend
            .keys
            .create_key(&fx.key_spec("tbl"))
            .await
            .unwrap();
        let spec = fx.table_spec("app", Some("tn"), Some(key.arn.clone()));
        let created = fx.backend.tables.create_table(&spec).await.unwrap();
        assert_eq!(created.status, TableStatus::Active);
        assert_eq!(created.spec, spec);
        assert!(
            created.arn.ends_with(&format!(":table/{}", spec.name)),
            "{}",
            created.arn
        );
        let described = fx.backend.tables.describe_table(&spec.name).await.unwrap();
        assert_eq!(described.spec.differences(&spec), Vec::<&str>::new());
        assert_eq!(described.arn, created.arn);
        assert_eq!(described.status, TableStatus::Active);
    }

    pub async fn creating_an_existing_table_is_already_exists(fx: &Fixture) {
        let spec = fx.table_spec("app", Some("tn"), None);
        fx.backend.tables.create_table(&spec).await.unwrap();
        assert_kind(
            fx.backend.tables.create_table(&spec).await,
            ErrorKind::AlreadyExists,
            "same spec twice",
        );
        let mut other = spec.clone();
        other.ttl_attribute = None;
        assert_kind(
            fx.backend.tables.create_table(&other).await,
            ErrorKind::AlreadyExists,
            "same name, other spec",
        );
    }

    pub async fn describing_or_deleting_a_missing_table_is_not_found(fx: &Fixture) {
        let name = fx.name("missing");
        assert_kind(
            fx.backend.tables.describe_table(&name).await,
            ErrorKind::NotFound,
            "describe",
        );
        assert_kind(
            fx.backend.tables.delete_table(&name).await,
            ErrorKind::NotFound,
            "delete",
        );
    }

    pub async fn invalid_table_specs_are_invalid(fx: &Fixture) {
        let base = fx.table_spec("app", Some("tn"), None);
        let mut bad_char = base.clone();
        bad_char.name = format!("{}/slash", base.name);
        let mut too_short = base.clone();
        too_short.name = "ab".to_owned();
        let mut too_long = base.clone();
        too_long.name = "t".repeat(256);
        let mut empty_key = base.clone();
        empty_key.partition_key = String::new();
        for (doing, spec) in [
            ("slash in name", bad_char),
            ("2-char name", too_short),
            ("256-char name", too_long),
            ("empty key", empty_key),
        ] {
            assert_kind(
                fx.backend.tables.create_table(&spec).await,
                ErrorKind::Invalid,
                doing,
            );
        }
    }

    pub async fn tables_are_listed_by_prefix_in_order(fx: &Fixture) {
        for what in ["b-events", "a-app", "c-other"] {
            fx.backend
                .tables
                .create_table(&fx.table_spec(what, Some("tn"), None))
                .await
                .unwrap();
        }
        let all = fx.backend.tables.list_tables(fx.prefix()).await.unwrap();
        assert_eq!(
            all,
            vec![fx.name("a-app"), fx.name("b-events"), fx.name("c-other")]
        );
        let some = fx.backend.tables.list_tables(&fx.name("b")).await.unwrap();
        assert_eq!(some, vec![fx.name("b-events")]);
    }

    pub async fn a_deleted_table_is_gone_with_its_items(fx: &Fixture) {
        let spec = fx.table_spec("app", Some("tn"), None);
        fx.backend.tables.create_table(&spec).await.unwrap();
        let item = Item::new(ItemKey::new("P", "S"));
        fx.backend
            .items
            .put(&spec.name, &item, Condition::None)
            .await
            .unwrap();
        fx.backend.tables.delete_table(&spec.name).await.unwrap();
        assert_kind(
            fx.backend.tables.describe_table(&spec.name).await,
            ErrorKind::NotFound,
            "describe deleted",
        );
        assert_kind(
            fx.backend.items.get(&spec.name, &item.key).await,
            ErrorKind::NotFound,
            "get from deleted",
        );
        assert!(
            fx.backend
                .tables
                .list_tables(fx.prefix())
                .await
                .unwrap()
                .is_empty()
        );
        fx.backend.tables.create_table(&spec).await.unwrap();
        assert_eq!(
            fx.backend.items.get(&spec.name, &item.key).await.unwrap(),
            None,
            "a re-created table starts empty"
        );
    }
);
