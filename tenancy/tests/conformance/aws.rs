//! The conformance suites against the AWS adapters, through the real AWS SDK, against moto in
//! server mode on loopback (`scripts/test.sh` starts it and sets
//! `SPOTLIGHT_TEST_MOTO_ENDPOINT`). Ports whose AWS adapter has not landed yet are served by
//! the embedded adapters in the same fixture, so only the suites listed here run on AWS.

use std::sync::Arc;

use tenancy::TablePrefix;
use tenancy::aws::{AwsClients, DynamoRegistry, KmsKeyVault, ensure_registry_table};
use tenancy::backend::Capabilities;
use tenancy::conformance::Fixture;
use tenancy::embedded;

use crate::options;

/// Where moto listens; the AWS cases cannot run without it.
const ENDPOINT: &str = "SPOTLIGHT_TEST_MOTO_ENDPOINT";

/// What the AWS adapters can do (`Capabilities`' table).
const AWS_ON_MOTO: Capabilities = Capabilities {
    min_key_deletion_window_days: 7,
    destroys_keys_itself: true,
    cross_tenant_transactions: true,
    disabled_key_denies_item_access: false,
    // Real KMS refuses a key pending deletion; moto still serves it.
    pending_deletion_refuses_key_use: false,
};

async fn clients() -> AwsClients {
    let endpoint = std::env::var(ENDPOINT).unwrap_or_else(|_| {
        panic!(
            "{ENDPOINT} is not set: the AWS conformance cases run against moto; \
             run ./scripts/test.sh, or start scripts/moto.sh and export what it prints"
        )
    });
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "test", "test", None, None, "moto",
        ))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await;
    AwsClients::from_config(&config)
}

/// A fixture whose key vault is KMS (behind the retry layer, as `tenancy::open` serves it).
async fn kms_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
    backend.keys = Arc::new(KmsKeyVault::new(clients().await.kms));
    backend.capabilities = Capabilities {
        min_key_deletion_window_days: AWS_ON_MOTO.min_key_deletion_window_days,
        destroys_keys_itself: AWS_ON_MOTO.destroys_keys_itself,
        pending_deletion_refuses_key_use: AWS_ON_MOTO.pending_deletion_refuses_key_use,
        ..backend.capabilities
    };
    let backend = tenancy::retry::with_retries(backend, Arc::default());
    Fixture::new(backend).with_guard(dir)
}

mod kms {
    use super::*;
    tenancy::key_vault!(kms_fixture);
}

/// A fixture whose registry is DynamoDB, on a registry table of its own: the listing cases
/// list every tenant of the table, so no two cases share one.
async fn dynamodb_registry_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
    let random = uuid::Uuid::new_v4().simple().to_string();
    let table = TablePrefix::parse(&format!("cf{}", &random[..8]))
        .expect("a valid prefix")
        .registry_table();
    let client = clients().await.dynamodb;
    ensure_registry_table(&client, &table)
        .await
        .expect("the registry table");
    backend.registry = Arc::new(DynamoRegistry::new(client, table));
    let backend = tenancy::retry::with_retries(backend, Arc::default());
    Fixture::new(backend).with_guard(dir)
}

mod dynamodb_registry {
    use super::*;
    tenancy::registry!(dynamodb_registry_fixture);
}

/// What the registry suite cannot see through the port: a revocation removes the secret a
/// stored response shows from the table itself, not only from what a retry is given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn revoking_a_key_removes_the_responses_showing_it_from_the_registry_table() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use tenancy::ports::Registry;
    use tenancy::record::{
        ApiKeyKind, ApiKeyRecord, IdempotencyClaim, RevealedKey, StoredResponse,
    };

    let random = uuid::Uuid::new_v4().simple().to_string();
    let prefix = format!("cf{}", &random[..8]);
    let table = TablePrefix::parse(&prefix).unwrap().registry_table();
    let client = clients().await.dynamodb;
    ensure_registry_table(&client, &table).await.unwrap();
    // Ensuring it again finds it as it should be (and its TTL on).
    ensure_registry_table(&client, &table).await.unwrap();
    let registry = DynamoRegistry::new(client.clone(), table.clone());
    let now = time::OffsetDateTime::now_utc();
    let key = ApiKeyRecord {
        key_id: format!("key_{prefix}"),
        tenant: tenancy::TenantId::parse(&format!("{prefix}-acme")).unwrap(),
        kind: ApiKeyKind::Secret,
        prefix: "sk_live_abcd".to_owned(),
        hash: format!("{prefix}-hash"),
        created_at: now,
        expires_at: None,
        revoked_at: None,
        last_used_at: None,
        created_by_request: None,
    };
    registry.put_api_key(&key).await.unwrap();
    let idem = format!("{prefix}-idem");
    let lease = time::Duration::minutes(5);
    let later = now + time::Duration::days(1);
    let IdempotencyClaim::Claimed { token, .. } = registry
        .claim_idempotency_key(&idem, "fp", now, later, lease)
        .await
        .unwrap()
    else {
        panic!("a fresh key is claimed");
    };
    let shown = StoredResponse {
        status: 201,
        headers: Vec::new(),
        body: b"the secret".to_vec(),
        reveals: Some(RevealedKey {
            tenant: key.tenant.clone(),
            key_id: key.key_id.clone(),
        }),
    };
    registry
        .complete_idempotency_key(&idem, &token, &shown)
        .await
        .unwrap();
    let stored = || async {
        client
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(format!("IDEM#{idem}")))
            .key("sk", AttributeValue::S("IDEM".to_owned()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
            .unwrap()
    };
    assert!(stored().await.contains_key("response"), "stored before");
    registry
        .revoke_api_key(&key.tenant, &key.key_id, now)
        .await
        .unwrap();
    let after = stored().await;
    assert!(!after.contains_key("response"), "purged: {after:?}");
    assert!(!after.contains_key("gsi1pk"), "and out of the index");
}
