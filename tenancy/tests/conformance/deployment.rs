//! A data directory belongs to one deployment: the prefix of its first open.

use tenancy::embedded;
use tenancy::{ErrorKind, TablePrefix};

use crate::options;

fn with_prefix(dir: &std::path::Path, prefix: &str) -> embedded::EmbeddedOptions {
    embedded::EmbeddedOptions {
        deployment: TablePrefix::parse(prefix).unwrap(),
        ..options(dir)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_opened_by_one_deployment_refuses_another() {
    let dir = tempfile::tempdir().unwrap();
    embedded::open(&with_prefix(dir.path(), "a")).expect("the first deployment claims it");
    embedded::open(&with_prefix(dir.path(), "a")).expect("and may open it again");
    for other in ["a-tenant", "", "b"] {
        let err = embedded::open(&with_prefix(dir.path(), other)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
        let message = err.to_string();
        assert!(
            message.contains("\"a\"") && message.contains(&format!("{other:?}")),
            "the error names both prefixes: {message}"
        );
        assert!(message.contains("SPOTLIGHT_DATA_DIR"), "{message}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_opens_with_different_prefixes_let_exactly_one_claim_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let opens: Vec<_> = ["x", "y", "x", "y"]
        .into_iter()
        .map(|p| {
            let options = with_prefix(dir.path(), p);
            std::thread::spawn(move || embedded::open(&options).map(|_| p))
        })
        .collect();
    let winners: Vec<&str> = opens
        .into_iter()
        .filter_map(|h| h.join().unwrap().ok())
        .collect();
    assert!(!winners.is_empty());
    assert!(
        winners.iter().all(|w| *w == winners[0]),
        "only one prefix may own the directory: {winners:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_with_tenants_but_no_deployment_record_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let backend = embedded::open(&with_prefix(dir.path(), "a")).unwrap();
    let fx = tenancy::conformance::Fixture::new(backend);
    let record = fx.tenant_record("old");
    fx.backend
        .registry
        .create_tenant(
            &record,
            &tenancy::conformance::support::entry(&record.id, uuid::Uuid::now_v7(), "request", 0),
        )
        .await
        .unwrap();
    drop(fx);
    // What a directory of the earlier naming scheme looks like: tenants, no deployment.
    let conn = rusqlite::Connection::open(dir.path().join("registry.db")).unwrap();
    conn.execute_batch("DROP TABLE deployment").unwrap();
    drop(conn);
    let err = embedded::open(&with_prefix(dir.path(), "a")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("new data directory"), "{err}");
}
