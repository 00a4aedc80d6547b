//! Promises of the embedded backend beyond the ports: two `open()`s of one directory (as two
//! processes) see each other's writes, `master.key` is private, payloads are encrypted on disk.

use std::os::unix::fs::PermissionsExt;

use serde_json::json;
use tenancy::ErrorKind;
use tenancy::conformance::Fixture;
use tenancy::embedded;
use tenancy::ports::{Condition, Item, ItemKey};

use crate::options;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_opens_of_one_directory_see_each_others_writes() {
    let dir = tempfile::tempdir().unwrap();
    let first = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let second = embedded::open(&options(dir.path())).unwrap();

    let (table, _) = first.tenant_table("tn", "app").await;
    let item = Item::new(ItemKey::new("P", "S"));
    second
        .items
        .put(&table, &item, Condition::NotExists)
        .await
        .unwrap();
    assert_eq!(
        first.backend.items.get(&table, &item.key).await.unwrap(),
        Some(item.clone())
    );

    let record = first.tenant_record("acme");
    let entry =
        tenancy::conformance::support::entry(&record.id, uuid::Uuid::new_v4(), "request", 0);
    first
        .backend
        .registry
        .create_tenant(&record, &entry)
        .await
        .unwrap();
    assert_eq!(
        second
            .registry
            .get_tenant(&record.id)
            .await
            .unwrap()
            .version,
        1
    );

    second.tables.delete_table(&table).await.unwrap();
    let after = first.backend.items.get(&table, &item.key).await;
    assert_eq!(
        after.unwrap_err().kind(),
        ErrorKind::NotFound,
        "a table deleted by the other opener is gone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_deleted_by_the_other_opener_denies_access_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let first = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let second = embedded::open(&options(dir.path())).unwrap();
    let (table, key_id) = first.tenant_table("tn", "app").await;
    let item = Item::new(ItemKey::new("P", "S"));
    first
        .backend
        .items
        .put(&table, &item, Condition::None)
        .await
        .unwrap();
    assert!(
        first
            .backend
            .items
            .get(&table, &item.key)
            .await
            .unwrap()
            .is_some(),
        "key material now cached"
    );
    second.keys.schedule_key_deletion(&key_id, 0).await.unwrap();
    let denied = first
        .backend
        .items
        .get(&table, &item.key)
        .await
        .unwrap_err();
    assert_eq!(denied.kind(), ErrorKind::AccessDenied, "{denied}");
}

#[tokio::test]
async fn master_key_is_created_readable_only_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    embedded::open(&options(dir.path())).unwrap();
    let meta = std::fs::metadata(dir.path().join("master.key")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(meta.len(), 32);
}

#[tokio::test]
async fn a_master_key_readable_by_others_stops_open() {
    let dir = tempfile::tempdir().unwrap();
    embedded::open(&options(dir.path())).unwrap();
    let path = dir.path().join("master.key");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    let err = embedded::open(&options(dir.path())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.message().contains("master.key"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payloads_are_not_stored_in_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (table, _) = fx.tenant_table("tn", "app").await;
    let marker = "conformance-plaintext-marker-8c1f";
    let mut item = Item::new(ItemKey::new("P", "S"));
    item.attrs.insert("secret".into(), json!(marker));
    fx.backend
        .items
        .put(&table, &item, Condition::None)
        .await
        .unwrap();

    let file = dir
        .path()
        .join("tables")
        .join(format!("{}.db", fx.name("tn")));
    let conn = rusqlite::Connection::open(&file).unwrap();
    let payload: Vec<u8> = conn
        .query_row(
            &format!("SELECT payload FROM \"t:{table}\" WHERE pk = 'P' AND sk = 'S'"),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        !payload
            .windows(marker.len())
            .any(|w| w == marker.as_bytes()),
        "payload holds the plaintext"
    );
    let count: i64 = conn
        .query_row(&format!("SELECT count(*) FROM \"t:{table}\""), [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(count, 1);
    drop(conn);
    let mut raw = Vec::new();
    for entry in std::fs::read_dir(dir.path().join("tables")).unwrap() {
        raw.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    assert!(
        !raw.windows(marker.len()).any(|w| w == marker.as_bytes()),
        "a tenant file holds the plaintext"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_its_own_file() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    fx.tenant_table("one", "app").await;
    fx.tenant_table("two", "app").await;
    fx.tenant_table("three", "app").await;
    for t in ["one", "two", "three"] {
        assert!(
            dir.path()
                .join("tables")
                .join(format!("{}.db", fx.name(t)))
                .exists(),
            "file of tenant {t}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_moved_to_another_row_does_not_decrypt() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (table, _) = fx.tenant_table("tn", "app").await;
    for sk in ["a", "b"] {
        let mut item = Item::new(ItemKey::new("P", sk));
        item.attrs.insert("who".into(), json!(sk));
        fx.backend
            .items
            .put(&table, &item, Condition::None)
            .await
            .unwrap();
    }
    let file = dir
        .path()
        .join("tables")
        .join(format!("{}.db", fx.name("tn")));
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute(
        &format!("UPDATE \"t:{table}\" SET payload = (SELECT payload FROM \"t:{table}\" WHERE sk = 'a') WHERE sk = 'b'"),
        [],
    )
    .unwrap();
    drop(conn);
    let err = fx
        .backend
        .items
        .get(&table, &ItemKey::new("P", "b"))
        .await
        .unwrap_err();
    assert_eq!(
        err.kind(),
        ErrorKind::Invalid,
        "a payload that does not authenticate is corrupt data, not a transient failure: {err}"
    );
    assert!(!err.is_retryable());
    assert!(
        fx.backend
            .items
            .get(&table, &ItemKey::new("P", "a"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn more_tenants_than_open_file_slots_all_stay_usable() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let mut tables = Vec::new();
    for t in ["aa", "bb", "cc", "dd"] {
        tables.push(fx.tenant_table(t, "app").await.0);
    }
    for round in 0..2u64 {
        for table in &tables {
            let mut item = Item::new(ItemKey::new("P", "S"));
            item.version = round;
            fx.backend
                .items
                .put(table, &item, Condition::None)
                .await
                .unwrap();
            assert_eq!(
                fx.backend.items.get(table, &item.key).await.unwrap(),
                Some(item)
            );
        }
    }
}

/// The wrapped material of a key as stored in `cloud.db` (read through SQL).
fn wrapped_material(dir: &std::path::Path, key_id: &str) -> Option<Vec<u8>> {
    let conn = rusqlite::Connection::open(dir.join("cloud.db")).unwrap();
    conn.query_row(
        "SELECT wrapped FROM keys WHERE key_id = ?1",
        [key_id],
        |r| r.get(0),
    )
    .unwrap()
}

/// Moves a key's scheduled deletion an hour into the past, as if its window had ended.
fn end_deletion_window(dir: &std::path::Path, key_id: &str) {
    let conn = rusqlite::Connection::open(dir.join("cloud.db")).unwrap();
    let past = time::OffsetDateTime::now_utc() - time::Duration::hours(1);
    let changed = conn
        .execute(
            "UPDATE keys SET deletion_at = ?2 WHERE key_id = ?1 AND state = 'pending_deletion'",
            rusqlite::params![key_id, i64::try_from(past.unix_timestamp_nanos()).unwrap()],
        )
        .unwrap();
    assert_eq!(changed, 1, "key {key_id} is pending deletion");
}

/// Whether any `cloud.db*` file (database, write-ahead log, shared memory) holds `bytes`
/// anywhere in its raw contents, free pages and old log frames included.
fn cloud_files_hold(dir: &std::path::Path, bytes: &[u8]) -> Vec<String> {
    let mut holding = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("cloud.db")
            && std::fs::read(&path)
                .unwrap()
                .windows(bytes.len())
                .any(|w| w == bytes)
        {
            holding.push(name);
        }
    }
    holding
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_day_deletion_window_shreds_the_key_material_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
    let before = wrapped_material(dir.path(), &key.key_id).expect("an enabled key has material");
    assert!(
        !cloud_files_hold(dir.path(), &before).is_empty(),
        "the scan finds the material while it exists"
    );
    let info = fx
        .backend
        .keys
        .schedule_key_deletion(&key.key_id, 0)
        .await
        .unwrap();
    assert_eq!(info.state, tenancy::ports::KeyState::Destroyed);
    assert_eq!(wrapped_material(dir.path(), &key.key_id), None);
    assert_eq!(
        cloud_files_hold(dir.path(), &before),
        Vec::<String>::new(),
        "no cloud.db file holds the destroyed material's bytes"
    );
    let described = fx.backend.keys.describe_key(&key.key_id).await.unwrap();
    assert_eq!(
        described.state,
        tenancy::ports::KeyState::Destroyed,
        "a destroyed key is still described by id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_deletion_time_is_destroyed_by_destroy_due_keys() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let keys = &fx.backend.keys;
    let due = keys.create_key(&fx.key_spec("due")).await.unwrap();
    let waiting = keys.create_key(&fx.key_spec("waiting")).await.unwrap();
    keys.schedule_key_deletion(&due.key_id, 7).await.unwrap();
    keys.schedule_key_deletion(&waiting.key_id, 7)
        .await
        .unwrap();
    let material = wrapped_material(dir.path(), &due.key_id).unwrap();
    end_deletion_window(dir.path(), &due.key_id);

    assert_eq!(keys.destroy_due_keys().await.unwrap(), 1);
    assert_eq!(wrapped_material(dir.path(), &due.key_id), None);
    assert!(
        wrapped_material(dir.path(), &waiting.key_id).is_some(),
        "a key inside its window keeps its material"
    );
    assert_eq!(
        cloud_files_hold(dir.path(), &material),
        Vec::<String>::new(),
        "no cloud.db file holds the destroyed material's bytes"
    );
    assert_eq!(
        keys.destroy_due_keys().await.unwrap(),
        0,
        "nothing left due"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_past_its_deletion_time_is_destroyed_when_the_directory_is_reopened() {
    let dir = tempfile::tempdir().unwrap();
    let key_id = {
        let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
        let key = fx.backend.keys.create_key(&fx.key_spec("k")).await.unwrap();
        fx.backend
            .keys
            .schedule_key_deletion(&key.key_id, 7)
            .await
            .unwrap();
        key.key_id
    };
    end_deletion_window(dir.path(), &key_id);
    assert!(wrapped_material(dir.path(), &key_id).is_some());
    let _reopened = embedded::open(&options(dir.path())).unwrap();
    assert_eq!(
        wrapped_material(dir.path(), &key_id),
        None,
        "open destroyed the material without anything touching the key"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_under_a_missing_key_is_invalid() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let spec = fx.table_spec("app", Some("tn"), Some("alias/does-not-exist".to_owned()));
    let err = fx.backend.tables.create_table(&spec).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(
        fx.backend
            .tables
            .list_tables(fx.prefix())
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_items_are_eventually_purged_from_disk() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (table, _) = fx.tenant_table("tn", "events").await;
    let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
    let mut expired = Item::new(ItemKey::new("EVT#old", "e"));
    expired.ttl = Some(past);
    fx.backend
        .items
        .put(&table, &expired, Condition::None)
        .await
        .unwrap();
    let file = dir
        .path()
        .join("tables")
        .join(format!("{}.db", fx.name("tn")));
    let stored = |pk: &'static str| {
        let conn = rusqlite::Connection::open(&file).unwrap();
        let sql = format!("SELECT count(*) FROM \"t:{table}\" WHERE pk = ?1");
        conn.query_row(&sql, [pk], |r| r.get::<_, i64>(0)).unwrap()
    };
    assert_eq!(
        stored("EVT#old"),
        1,
        "an expired item is invisible but not yet purged"
    );
    for i in 0..300 {
        let item = Item::new(ItemKey::new("EVT#new", format!("{i:04}")));
        fx.backend
            .items
            .put(&table, &item, Condition::None)
            .await
            .unwrap();
    }
    assert_eq!(stored("EVT#old"), 0, "writes purge expired items lazily");
    assert_eq!(stored("EVT#new"), 300, "live items are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_idempotency_records_are_purged_while_claiming() {
    let dir = tempfile::tempdir().unwrap();
    let backend = embedded::open(&options(dir.path())).unwrap();
    let at = tenancy::conformance::support::at;
    let stale = time::Duration::minutes(5);
    for i in 0..10 {
        backend
            .registry
            .claim_idempotency_key(&format!("old-{i}"), "fp", at(0), at(100), stale)
            .await
            .unwrap();
    }
    let stored = |prefix: &str| {
        let conn = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
        conn.query_row(
            "SELECT count(*) FROM idempotency WHERE key LIKE ?1 || '%'",
            [prefix],
            |r| r.get::<_, i64>(0),
        )
        .unwrap()
    };
    assert_eq!(stored("old-"), 10);
    // Enough claims after their expiry that at least one of them purges.
    for i in 0..70 {
        backend
            .registry
            .claim_idempotency_key(&format!("new-{i}"), "fp", at(200), at(86_400), stale)
            .await
            .unwrap();
    }
    assert_eq!(stored("old-"), 0, "expired records were purged");
    assert_eq!(stored("new-"), 70, "live records are kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_from_before_claim_tokens_is_upgraded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let conn = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    conn.execute_batch(
        "CREATE TABLE idempotency (
            key TEXT PRIMARY KEY, fingerprint TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('claimed', 'completed')),
            response TEXT, created_at INTEGER NOT NULL, expires_at INTEGER NOT NULL)",
    )
    .unwrap();
    drop(conn);
    let backend = embedded::open(&options(dir.path())).unwrap();
    let at = tenancy::conformance::support::at;
    let claim = backend
        .registry
        .claim_idempotency_key("k", "fp", at(0), at(100), time::Duration::minutes(5))
        .await
        .unwrap();
    let tenancy::record::IdempotencyClaim::Claimed { token, .. } = claim else {
        panic!("expected a claim, got {claim:?}");
    };
    backend
        .registry
        .release_idempotency_key("k", &token)
        .await
        .unwrap();
    embedded::open(&options(dir.path())).expect("a second open finds the column in place");
}

#[tokio::test]
async fn a_data_directory_open_to_others_is_made_private_at_open() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    embedded::open(&options(&dir)).unwrap();
    for private in [dir.clone(), dir.join("tables")] {
        let mode = std::fs::metadata(&private).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{}", private.display());
    }
}

#[tokio::test]
async fn fixture_tables_have_the_shape_of_the_tenant_plan() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let spec = fx.table_spec("app", Some("tn"), Some("alias/k".to_owned()));
    let names =
        tenancy::ResourceNames::for_tenant(&tenancy::TablePrefix::default(), &fx.tenant("tn"));
    let [(_, planned), _] = tenancy::table_plan::tenant_tables(&names, Some("alias/k"), &spec.tags);
    assert_eq!(
        planned.differences(&tenancy::table_plan::TableSpec {
            name: planned.name.clone(),
            ..spec.clone()
        }),
        Vec::<&str>::new(),
        "the suites' tables differ from what tenants get"
    );
    assert_eq!(spec.point_in_time_recovery, planned.point_in_time_recovery);
    assert_eq!(spec.sse_key, planned.sse_key);
}

/// A tenant's database file and its write-ahead log and shared-memory files.
fn tenant_files(dir: &std::path::Path, tenant: &str) -> [std::path::PathBuf; 3] {
    let db = dir.join("tables").join(format!("{tenant}.db"));
    let log = |suffix: &str| {
        let mut name = db.clone().into_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [log(""), log("-wal"), log("-shm")]
}

async fn put_marker(backend: &tenancy::Backend, table: &str) -> Item {
    let mut item = Item::new(ItemKey::new("USER#u-1234", "profile"));
    item.attrs.insert("name".into(), json!("Ada"));
    backend
        .items
        .put(table, &item, Condition::None)
        .await
        .unwrap();
    item
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_removes_the_tenants_database_file_and_its_logs() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (app, _) = fx.tenant_table("tn", "app").await;
    let (events, _) = fx.tenant_table("tn", "events").await;
    let (neighbour, _) = fx.tenant_table("other", "app").await;
    for table in [&app, &events, &neighbour] {
        put_marker(&fx.backend, table).await;
    }
    let files = tenant_files(dir.path(), &fx.name("tn"));
    for file in &files {
        assert!(
            file.exists(),
            "{} exists while the tenant has tables",
            file.display()
        );
    }

    fx.backend.tables.delete_table(&app).await.unwrap();
    fx.backend.tables.delete_table(&events).await.unwrap();
    for file in &files {
        assert!(
            !file.exists(),
            "{} is left after offboarding",
            file.display()
        );
    }
    assert!(
        tenant_files(dir.path(), &fx.name("other"))[0].exists(),
        "another tenant's file is kept"
    );
    let kept = ItemKey::new("USER#u-1234", "profile");
    assert!(
        fx.backend
            .items
            .get(&neighbour, &kept)
            .await
            .unwrap()
            .is_some()
    );
    let gone = fx.backend.items.get(&app, &kept).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    assert!(
        !files[0].exists(),
        "an item call does not re-create the file"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_one_of_a_tenants_two_tables_keeps_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (app, _) = fx.tenant_table("tn", "app").await;
    let (events, _) = fx.tenant_table("tn", "events").await;
    put_marker(&fx.backend, &app).await;
    let item = put_marker(&fx.backend, &events).await;
    fx.backend.tables.delete_table(&app).await.unwrap();
    assert!(tenant_files(dir.path(), &fx.name("tn"))[0].exists());
    assert_eq!(
        fx.backend.items.get(&events, &item.key).await.unwrap(),
        Some(item)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_whose_file_was_removed_can_get_tables_again() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let (first, _) = fx.tenant_table("tn", "app").await;
    put_marker(&fx.backend, &first).await;
    fx.backend.tables.delete_table(&first).await.unwrap();
    let file = &tenant_files(dir.path(), &fx.name("tn"))[0];
    assert!(!file.exists());

    let (again, _) = fx.tenant_table("tn", "again").await;
    let item = put_marker(&fx.backend, &again).await;
    assert_eq!(
        fx.backend.items.get(&again, &item.key).await.unwrap(),
        Some(item)
    );
    assert!(file.exists());
    let old = fx.backend.items.get(&first, &ItemKey::new("P", "S")).await;
    assert_eq!(old.unwrap_err().kind(), ErrorKind::NotFound);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_opener_holding_a_removed_file_finds_its_table_gone_and_can_recreate_the_tenant() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let other = embedded::open(&options(dir.path())).unwrap();
    let (table, _) = fx.tenant_table("tn", "app").await;
    let item = put_marker(&other, &table).await;
    assert!(
        other.items.get(&table, &item.key).await.unwrap().is_some(),
        "the other opener has the tenant file open"
    );

    fx.backend.tables.delete_table(&table).await.unwrap();
    let file = &tenant_files(dir.path(), &fx.name("tn"))[0];
    assert!(!file.exists());
    let gone = other.items.get(&table, &item.key).await.unwrap_err();
    assert_eq!(gone.kind(), ErrorKind::NotFound, "{gone}");
    assert!(
        !file.exists(),
        "the other opener did not re-create the file"
    );

    let key = other.keys.create_key(&fx.key_spec("again")).await.unwrap();
    let spec = fx.table_spec("tn-again", Some("tn"), Some(key.arn));
    other.tables.create_table(&spec).await.unwrap();
    let item = put_marker(&other, &spec.name).await;
    assert_eq!(
        other.items.get(&spec.name, &item.key).await.unwrap(),
        Some(item.clone())
    );
    assert_eq!(
        fx.backend.items.get(&spec.name, &item.key).await.unwrap(),
        Some(item),
        "the new table is in the file on disk, not in the removed one"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_opener_holding_a_removed_file_uses_the_file_created_anew_by_another() {
    let dir = tempfile::tempdir().unwrap();
    let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
    let other = embedded::open(&options(dir.path())).unwrap();
    let (table, _) = fx.tenant_table("tn", "app").await;
    put_marker(&other, &table).await;

    fx.backend.tables.delete_table(&table).await.unwrap();
    let (again, _) = fx.tenant_table("tn", "again").await;
    let item = put_marker(&other, &again).await;
    assert_eq!(
        fx.backend.items.get(&again, &item.key).await.unwrap(),
        Some(item.clone()),
        "the other opener wrote into the new file"
    );
    assert_eq!(
        other.items.get(&again, &item.key).await.unwrap(),
        Some(item)
    );
}

const PRIVATE_FILES_CHILD_DIR: &str = "SPOTLIGHT_CONFORMANCE_PRIVATE_FILES_DIR";

#[test]
fn every_file_in_the_data_directory_is_private_even_under_a_permissive_umask() {
    let dir = tempfile::tempdir().unwrap();
    // std cannot set a umask (and unsafe code is forbidden), so the check runs in a child
    // started by a shell that sets it.
    let out = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg("umask 022 && exec \"$0\" \"$@\"")
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "embedded_only::private_files_child_body",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PRIVATE_FILES_CHILD_DIR, dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("CHECKED "),
        "the child ran the check:\n{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the body of a child process of every_file_in_the_data_directory_is_private_even_under_a_permissive_umask"]
async fn private_files_child_body() {
    let Some(dir) = std::env::var_os(PRIVATE_FILES_CHILD_DIR) else {
        return;
    };
    let dir = std::path::Path::new(&dir);
    let probe = tempfile::tempdir().unwrap();
    std::fs::write(probe.path().join("probe"), b"").unwrap();
    let probe_mode = std::fs::metadata(probe.path().join("probe"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(
        probe_mode & 0o777,
        0o644,
        "the umask lets others read new files"
    );

    let fx = Fixture::new(embedded::open(&options(dir)).unwrap());
    let (table, _) = fx.tenant_table("tn", "app").await;
    put_marker(&fx.backend, &table).await;
    let at = tenancy::conformance::support::at;
    fx.backend
        .registry
        .claim_idempotency_key("k", "fp", at(0), at(100), time::Duration::minutes(5))
        .await
        .unwrap();

    let mut checked = Vec::new();
    let mut pending = vec![dir.to_owned()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o777;
            let expected = if meta.is_dir() { "700" } else { "600" };
            assert_eq!(format!("{mode:o}"), expected, "{}", path.display());
            if meta.is_dir() {
                pending.push(path.clone());
            }
            let relative = path
                .strip_prefix(dir)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            checked.push(relative);
        }
    }
    let tenant_db = format!("tables/{}.db", fx.name("tn"));
    for expected in ["registry.db", "cloud.db", "master.key", tenant_db.as_str()] {
        for suffix in ["", "-wal", "-shm"] {
            if expected == "master.key" && !suffix.is_empty() {
                continue;
            }
            let name = format!("{expected}{suffix}");
            assert!(checked.contains(&name), "{name} was checked: {checked:?}");
        }
    }
    println!("CHECKED {}", checked.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_files_open_to_others_are_tightened_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let (table, tenant) = {
        let fx = Fixture::new(embedded::open(&options(dir.path())).unwrap());
        let (table, _) = fx.tenant_table("tn", "app").await;
        put_marker(&fx.backend, &table).await;
        (table, fx.name("tn"))
    };
    let tenant_db = tenant_files(dir.path(), &tenant)[0].clone();
    let registry_log = dir.path().join("registry.db-wal");
    if !registry_log.exists() {
        std::fs::write(&registry_log, b"").unwrap();
    }
    let open_to_others = [
        dir.path().join("registry.db"),
        registry_log,
        dir.path().join("cloud.db"),
        tenant_db,
    ];
    for file in &open_to_others {
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let backend = embedded::open(&options(dir.path())).unwrap();
    assert!(
        backend
            .items
            .get(&table, &ItemKey::new("USER#u-1234", "profile"))
            .await
            .unwrap()
            .is_some(),
        "the tenant file is opened"
    );
    for file in &open_to_others {
        let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{}", file.display());
    }
}
