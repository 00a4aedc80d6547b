//! Two real processes on one fresh data directory: both open it at once, race to create the
//! same table, claim the same idempotency keys and increment one counter item with optimistic
//! concurrency. Each child is this test binary re-run on the ignored `child_process_body` test.

use std::process::{Command, Stdio};

use tenancy::embedded;
use tenancy::ports::{Condition, Item, ItemKey};
use tenancy::table_plan::TableSpec;
use tenancy::{ErrorKind, IdempotencyClaim};

use crate::options;

const CHILD_DIR: &str = "SPOTLIGHT_CONFORMANCE_CHILD_DIR";
const CLAIMS: usize = 60;
const INCREMENTS: u64 = 25;
const TABLE: &str = "shared-counter-table";

fn table_spec() -> TableSpec {
    TableSpec {
        name: TABLE.to_owned(),
        partition_key: "pk".to_owned(),
        sort_key: "sk".to_owned(),
        indexes: Vec::new(),
        ttl_attribute: None,
        sse_key: None,
        point_in_time_recovery: false,
        stream: false,
        tags: Default::default(),
    }
}

fn counter_key() -> ItemKey {
    ItemKey::new("COUNTER", "total")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_fresh_data_directory_safely() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "processes::child_process_body",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_DIR, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let mut claimed = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "child failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // libtest may print "test … ... " in front of the first line of output.
        claimed.extend(
            stdout
                .lines()
                .filter_map(|l| l.split_once("CLAIMED "))
                .map(|(_, k)| k.trim().to_owned()),
        );
    }
    claimed.sort();
    let expected: Vec<String> = (0..CLAIMS).map(|i| format!("race-{i:03}")).collect();
    assert_eq!(
        claimed, expected,
        "every key claimed by exactly one process"
    );

    let backend = embedded::open(&options(dir.path())).unwrap();
    let counter = backend
        .items
        .get(TABLE, &counter_key())
        .await
        .unwrap()
        .expect("counter written");
    assert_eq!(
        counter.version,
        2 * INCREMENTS,
        "no increment lost or doubled"
    );
    assert_eq!(counter.attrs["count"], serde_json::json!(2 * INCREMENTS));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "the body of a child process of two_processes_share_one_fresh_data_directory_safely"]
async fn child_process_body() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let backend = embedded::open(&options(std::path::Path::new(&dir))).unwrap();
    match backend.tables.create_table(&table_spec()).await {
        Ok(_) => {}
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => panic!("creating the shared table: {e}"),
    }
    let now = time::OffsetDateTime::now_utc();
    let me = std::process::id().to_string();
    for i in 0..CLAIMS {
        let key = format!("race-{i:03}");
        let claim = backend
            .registry
            .claim_idempotency_key(
                &key,
                &me,
                now,
                now + time::Duration::hours(1),
                time::Duration::hours(1),
            )
            .await
            .unwrap();
        if matches!(claim, IdempotencyClaim::Claimed { .. }) {
            println!("CLAIMED {key}");
        }
    }
    for _ in 0..INCREMENTS {
        loop {
            let current = backend.items.get(TABLE, &counter_key()).await.unwrap();
            let (mut next, condition) = match current {
                None => (Item::new(counter_key()), Condition::NotExists),
                Some(item) => {
                    let v = item.version;
                    (item, Condition::VersionIs(v))
                }
            };
            next.version += 1;
            next.attrs
                .insert("count".into(), serde_json::json!(next.version));
            match backend.items.put(TABLE, &next, condition).await {
                Ok(()) => break,
                Err(e) if e.kind() == ErrorKind::ConditionFailed || e.is_retryable() => continue,
                Err(e) => panic!("incrementing: {e}"),
            }
        }
    }
}

#[test]
fn concurrent_first_opens_agree_on_one_master_key() {
    let dir = tempfile::tempdir().unwrap();
    let backends: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| embedded::open(&options(dir.path()))))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap().unwrap())
            .collect()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let spec = tenancy::ports::KeySpec {
            alias: "alias/shared".to_owned(),
            description: String::new(),
            tags: Default::default(),
        };
        let key = backends[0].keys.create_key(&spec).await.unwrap();
        let sealed = backends[0]
            .keys
            .encrypt(&key.key_id, b"same master", b"")
            .await
            .unwrap();
        for other in &backends[1..] {
            assert_eq!(
                other.keys.decrypt(&key.key_id, &sealed, b"").await.unwrap(),
                b"same master"
            );
        }
    });
}
