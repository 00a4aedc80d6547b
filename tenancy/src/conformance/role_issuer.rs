//! `RoleIssuer` cases: role records and the policy enforcement of scoped store handles.

use crate::conformance::support::{Fixture, assert_kind};
use crate::error::ErrorKind;
use crate::naming::Tags;
use crate::ports::item_store::{Condition, Item, ItemKey, Query, WriteOp};
use crate::ports::role_issuer::{PolicyDocument, RoleSpec, STREAMS_SID};

/// A key ARN for the policies (IAM refuses a resource that is not an ARN).
const KEY_ARN: &str = "arn:aws:kms:us-east-1:000000000000:key/k";

fn role_spec(fx: &Fixture, what: &str, tables: &[&str], key_arn: &str) -> RoleSpec {
    let arns: Vec<String> = tables
        .iter()
        .map(|t| format!("arn:aws:dynamodb:us-east-1:000000000000:table/{t}"))
        .collect();
    let arn_refs: Vec<&str> = arns.iter().map(String::as_str).collect();
    RoleSpec {
        name: fx.name(what),
        trusted_principal: fx.backend.data_plane_principal.clone(),
        policy: PolicyDocument::tenant(&arn_refs, key_arn),
        tags: fx.key_spec(what).tags,
    }
}

cases!(
    mod role_issuer;

    pub async fn a_created_role_is_described_with_its_policy(fx: &Fixture) {
        let spec = role_spec(fx, "role", &["a-table"], KEY_ARN);
        let created = fx.backend.roles.create_role(&spec).await.unwrap();
        assert_eq!(created.spec, spec);
        assert!(
            created.arn.ends_with(&format!(":role/{}", spec.name)),
            "{}",
            created.arn
        );
        let described = fx.backend.roles.describe_role(&spec.name).await.unwrap();
        assert_eq!(described, created);
    }

    pub async fn creating_an_existing_role_is_already_exists(fx: &Fixture) {
        let spec = role_spec(fx, "role", &["a-table"], KEY_ARN);
        fx.backend.roles.create_role(&spec).await.unwrap();
        assert_kind(
            fx.backend.roles.create_role(&spec).await,
            ErrorKind::AlreadyExists,
            "role twice",
        );
    }

    pub async fn role_names_outside_iam_rules_are_invalid(fx: &Fixture) {
        for name in [
            String::new(),
            format!("{}/slash", fx.name("r")),
            "r".repeat(65),
            "has space".to_owned(),
        ] {
            let mut spec = role_spec(fx, "role", &["a-table"], KEY_ARN);
            spec.name = name.clone();
            assert_kind(
                fx.backend.roles.create_role(&spec).await,
                ErrorKind::Invalid,
                &format!("role name {name:?}"),
            );
        }
    }

    pub async fn describing_or_deleting_a_missing_role_is_not_found(fx: &Fixture) {
        let name = fx.name("missing");
        assert_kind(
            fx.backend.roles.describe_role(&name).await,
            ErrorKind::NotFound,
            "describe",
        );
        assert_kind(
            fx.backend.roles.delete_role(&name).await,
            ErrorKind::NotFound,
            "delete",
        );
    }

    pub async fn a_deleted_role_is_gone(fx: &Fixture) {
        let spec = role_spec(fx, "role", &["a-table"], KEY_ARN);
        fx.backend.roles.create_role(&spec).await.unwrap();
        fx.backend.roles.delete_role(&spec.name).await.unwrap();
        assert_kind(
            fx.backend.roles.describe_role(&spec.name).await,
            ErrorKind::NotFound,
            "describe deleted",
        );
        fx.backend.roles.create_role(&spec).await.unwrap();
    }

    pub async fn a_scoped_store_of_a_missing_role_is_not_found(fx: &Fixture) {
        assert_kind(
            fx.backend
                .roles
                .scoped_store(&fx.name("missing"))
                .await
                .map(|_| ()),
            ErrorKind::NotFound,
            "scoped_store",
        );
    }

    pub async fn a_scoped_store_reaches_exactly_its_policys_tables(fx: &Fixture) {
        let (mine, _) = fx.tenant_table("tn", "mine").await;
        let (theirs, _) = fx.tenant_table("other", "theirs").await;
        let spec = role_spec(fx, "role", &[&mine], KEY_ARN);
        fx.backend.roles.create_role(&spec).await.unwrap();
        let store = fx.backend.roles.scoped_store(&spec.name).await.unwrap();
        let it = Item::new(ItemKey::new("P", "S"));
        store.put(&mine, &it, Condition::None).await.unwrap();
        assert_eq!(store.get(&mine, &it.key).await.unwrap(), Some(it.clone()));

        fx.backend
            .items
            .put(&theirs, &it, Condition::None)
            .await
            .unwrap();
        let denied = ErrorKind::AccessDenied;
        assert_kind(store.get(&theirs, &it.key).await, denied, "get");
        assert_kind(
            store.put(&theirs, &it, Condition::None).await,
            denied,
            "put",
        );
        assert_kind(
            store.delete(&theirs, &it.key, Condition::None).await,
            denied,
            "delete",
        );
        assert_kind(
            store
                .query(
                    &theirs,
                    &Query {
                        pk: "P".into(),
                        ..Query::default()
                    },
                )
                .await,
            denied,
            "query",
        );
        assert_kind(
            store
                .batch_get(&theirs, std::slice::from_ref(&it.key))
                .await,
            denied,
            "batch_get",
        );
        assert_kind(
            store
                .batch_write(&theirs, &[], std::slice::from_ref(&it.key))
                .await,
            denied,
            "batch_write",
        );
        assert_kind(
            store.get(&fx.name("nonexistent"), &it.key).await,
            denied,
            "a table that does not exist",
        );
        assert!(
            fx.backend
                .items
                .get(&theirs, &it.key)
                .await
                .unwrap()
                .is_some(),
            "the other table is untouched"
        );
    }

    /// Reading a table's stream gives no access to its items: a role whose stream statement
    /// also names another table's streams still reaches only the tables of its item
    /// statement.
    pub async fn a_stream_grant_reaches_no_items(fx: &Fixture) {
        let (mine, _) = fx.tenant_table("tn", "mine").await;
        let (streamed, _) = fx.tenant_table("other", "streamed").await;
        let mut spec = role_spec(fx, "role", &[&mine], KEY_ARN);
        let streams = spec
            .policy
            .statements
            .iter_mut()
            .find(|s| s.sid == STREAMS_SID)
            .expect("the tenant policy has a stream statement");
        streams.resources.push(format!(
            "arn:aws:dynamodb:us-east-1:000000000000:table/{streamed}/stream/*"
        ));
        fx.backend.roles.create_role(&spec).await.unwrap();
        let described = fx.backend.roles.describe_role(&spec.name).await.unwrap();
        assert_eq!(described.spec.policy, spec.policy);
        let store = fx.backend.roles.scoped_store(&spec.name).await.unwrap();
        let it = Item::new(ItemKey::new("P", "S"));
        store.put(&mine, &it, Condition::None).await.unwrap();
        assert_kind(
            store.put(&streamed, &it, Condition::None).await,
            ErrorKind::AccessDenied,
            "put on a table named only by its stream",
        );
        assert_kind(
            store.get(&streamed, &it.key).await,
            ErrorKind::AccessDenied,
            "get on a table named only by its stream",
        );
    }

    pub async fn a_scoped_transaction_touching_another_table_is_refused_whole(fx: &Fixture) {
        let (mine, _) = fx.tenant_table("tn", "mine").await;
        let (theirs, _) = fx.tenant_table("tn", "theirs").await;
        let spec = role_spec(fx, "role", &[&mine], KEY_ARN);
        fx.backend.roles.create_role(&spec).await.unwrap();
        let store = fx.backend.roles.scoped_store(&spec.name).await.unwrap();
        let it = Item::new(ItemKey::new("P", "S"));
        let ops = [
            WriteOp::Put {
                table: mine.clone(),
                item: it.clone(),
                condition: Condition::None,
            },
            WriteOp::Put {
                table: theirs.clone(),
                item: it.clone(),
                condition: Condition::None,
            },
        ];
        assert_kind(
            store.transact_write(&ops).await,
            ErrorKind::AccessDenied,
            "transaction reaching out",
        );
        assert_eq!(
            fx.backend.items.get(&mine, &it.key).await.unwrap(),
            None,
            "nothing written to the allowed table"
        );
        assert_eq!(fx.backend.items.get(&theirs, &it.key).await.unwrap(), None);
    }

    pub async fn roles_are_listed_by_name_prefix_with_their_tags(fx: &Fixture) {
        let roles = &fx.backend.roles;
        let one = roles
            .create_role(&role_spec(fx, "one", &["a-table"], KEY_ARN))
            .await
            .unwrap();
        let two = roles
            .create_role(&role_spec(fx, "two", &["a-table"], KEY_ARN))
            .await
            .unwrap();
        let listed = roles.list_roles(fx.prefix()).await.unwrap();
        let seen: Vec<(&str, &str, &Tags)> = listed
            .iter()
            .map(|r| (r.name.as_str(), r.arn.as_str(), &r.tags))
            .collect();
        assert_eq!(
            seen,
            [
                (one.spec.name.as_str(), one.arn.as_str(), &one.spec.tags),
                (two.spec.name.as_str(), two.arn.as_str(), &two.spec.tags),
            ]
        );
        let just_one = roles.list_roles(&one.spec.name).await.unwrap();
        assert_eq!(just_one.len(), 1, "{just_one:?}");
        assert_eq!(just_one[0].name, one.spec.name);
        assert_eq!(
            roles.list_roles(&fx.name("none")).await.unwrap(),
            [],
            "no role starts with that"
        );
    }

    pub async fn putting_a_role_policy_replaces_the_one_it_had(fx: &Fixture) {
        let roles = &fx.backend.roles;
        let spec = role_spec(fx, "role", &["a-table"], KEY_ARN);
        roles.create_role(&spec).await.unwrap();
        let wider = role_spec(fx, "role", &["a-table", "b-table"], KEY_ARN).policy;
        roles.put_role_policy(&spec.name, &wider).await.unwrap();
        let described = roles.describe_role(&spec.name).await.unwrap();
        assert_eq!(described.spec.policy, wider);
        assert_eq!(described.spec.tags, spec.tags, "tags are untouched");
        roles
            .put_role_policy(&spec.name, &spec.policy)
            .await
            .unwrap();
        assert_eq!(
            roles.describe_role(&spec.name).await.unwrap().spec,
            spec,
            "put back as it was"
        );
        assert_kind(
            roles
                .put_role_policy(&fx.name("missing"), &spec.policy)
                .await,
            ErrorKind::NotFound,
            "a missing role",
        );
    }
);
