//! The conformance suites against the AWS adapters, through the real AWS SDK, against moto in
//! server mode on loopback (`scripts/test.sh` starts it and sets
//! `SPOTLIGHT_TEST_MOTO_ENDPOINT`). Each port's suite runs on that port's AWS adapter; the
//! other ports of its fixture are embedded, so a failure points at one adapter.

use std::sync::Arc;

use tenancy::TablePrefix;
use tenancy::aws::{
    AwsClients, DynamoItemStore, DynamoRegistry, DynamoTableAdmin, IamRoleIssuer, KmsKeyVault,
    LambdaStreamTriggers, ensure_registry_table,
};
use tenancy::backend::Capabilities;
use tenancy::conformance::Fixture;
use tenancy::embedded;

use crate::options;

/// What the AWS adapters can do (`Capabilities`' table).
const AWS_ON_MOTO: Capabilities = Capabilities {
    min_key_deletion_window_days: 7,
    destroys_keys_itself: true,
    cross_tenant_transactions: true,
    disabled_key_denies_item_access: false,
    // Real KMS refuses a key pending deletion; moto still serves it.
    pending_deletion_refuses_key_use: false,
    mints_admin_tokens: false,
};

async fn clients() -> AwsClients {
    AwsClients::from_config(&tenancy::conformance::moto::sdk_config().await)
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

/// A fixture whose role issuer is IAM (behind the retry layer), its scoped handles over the
/// embedded item store; keys and tables stay embedded, so the embedded capabilities hold.
async fn iam_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
    backend.roles = Arc::new(IamRoleIssuer::new(
        clients().await.iam,
        backend.items.clone(),
    ));
    let backend = tenancy::retry::with_retries(backend, Arc::default());
    Fixture::new(backend).with_guard(dir)
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

/// A fixture whose tables and items are DynamoDB (and, since tables name their SSE key, whose
/// key vault is KMS), behind the retry layer. The role issuer stays embedded; its scoped stores
/// wrap the embedded item store, so the role issuer suite does not run on this fixture.
async fn dynamodb_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
    let clients = clients().await;
    backend.keys = Arc::new(KmsKeyVault::new(clients.kms));
    backend.tables = Arc::new(DynamoTableAdmin::new(clients.dynamodb.clone()));
    backend.items = Arc::new(DynamoItemStore::new(clients.dynamodb));
    backend.capabilities = AWS_ON_MOTO;
    let backend = tenancy::retry::with_retries(backend, Arc::default());
    Fixture::new(backend).with_guard(dir)
}

/// A fixture whose stream triggers are Lambda event source mappings and whose tables are
/// DynamoDB (their streams are what triggers start from), behind the retry layer, linking
/// streams to a function deployed on moto for the case.
async fn lambda_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
    let clients = clients().await;
    backend.tables = Arc::new(DynamoTableAdmin::new(clients.dynamodb.clone()));
    backend.triggers = Arc::new(LambdaStreamTriggers::new(clients.lambda.clone()));
    let backend = tenancy::retry::with_retries(backend, Arc::default());
    let fx = Fixture::new(backend);
    let function = tenancy::conformance::moto::deploy_function(&clients, &fx.name("fold"))
        .await
        .expect("the stream handler function on moto");
    fx.with_function(function).with_guard(dir)
}

mod lambda {
    use super::*;
    tenancy::stream_trigger!(lambda_fixture);
}

mod iam {
    use super::*;
    use tenancy::ErrorKind;
    use tenancy::ports::{PolicyDocument, RoleSpec};

    tenancy::role_issuer!(iam_fixture);

    const TABLE_ARN: &str = "arn:aws:dynamodb:us-east-1:000000000000:table/t";

    /// IAM alone checks a policy's grammar (a resource must be an ARN or `*`), after the role
    /// exists: the role made for a refused policy is removed again, so the name stays free.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_role_whose_policy_iam_refuses_is_invalid_and_not_left_behind() {
        let fx = iam_fixture("iam::refused_policy").await;
        let mut spec = RoleSpec {
            name: fx.name("refused"),
            trusted_principal: fx.backend.data_plane_principal.clone(),
            policy: PolicyDocument::tenant(&[TABLE_ARN], "not-an-arn"),
            tags: Default::default(),
        };
        let refused = fx.backend.roles.create_role(&spec).await;
        assert_eq!(
            refused.as_ref().map_err(|e| e.kind()).err(),
            Some(ErrorKind::Invalid),
            "{refused:?}"
        );
        let described = fx.backend.roles.describe_role(&spec.name).await;
        assert_eq!(
            described.as_ref().map_err(|e| e.kind()).err(),
            Some(ErrorKind::NotFound),
            "{described:?}"
        );
        spec.policy =
            PolicyDocument::tenant(&[TABLE_ARN], "arn:aws:kms:us-east-1:000000000000:key/k");
        fx.backend.roles.create_role(&spec).await.unwrap();
        fx.backend.roles.delete_role(&spec.name).await.unwrap();
    }
}

mod dynamodb {
    use super::*;
    use tenancy::ports::{Condition, Item, ItemKey, Query};

    tenancy::table_admin!(dynamodb_fixture);
    tenancy::item_store!(dynamodb_fixture);

    /// DynamoDB applies a query's `Limit` before its filter, and serves expired items until it
    /// purges them: a page must still hold `limit` live items when expired ones come first.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_query_page_is_filled_past_expired_items() {
        let fx = dynamodb_fixture("dynamodb::a_query_page_is_filled_past_expired_items").await;
        let (t, _) = fx.tenant_table("tn", "ttl").await;
        let items = &fx.backend.items;
        let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
        let expired: Vec<Item> = (0..6)
            .map(|i| {
                let mut it = Item::new(ItemKey::new("P", format!("A#{i}")));
                it.ttl = Some(past);
                it
            })
            .collect();
        items.batch_write(&t, &expired, &[]).await.unwrap();
        for sk in ["B#0", "B#1", "B#2"] {
            items
                .put(&t, &Item::new(ItemKey::new("P", sk)), Condition::None)
                .await
                .unwrap();
        }
        let q = Query {
            pk: "P".into(),
            limit: 2,
            ..Query::default()
        };
        let first = items.query(&t, &q).await.unwrap();
        let sks: Vec<&str> = first.items.iter().map(|i| i.key.sk.as_str()).collect();
        assert_eq!(sks, ["B#0", "B#1"]);
        let next = Query {
            start_after: Some(first.next.clone().expect("one more live item follows")),
            ..q
        };
        let second = items.query(&t, &next).await.unwrap();
        let sks: Vec<&str> = second.items.iter().map(|i| i.key.sk.as_str()).collect();
        assert_eq!(sks, ["B#2"]);
        assert_eq!(second.next, None, "nothing live follows the last page");
    }
}

mod dynamodb_registry {
    use super::*;
    tenancy::registry!(dynamodb_registry_fixture);
}

mod cognito {
    //! The identity suite on a Cognito user pool on moto: admin records in a registry table of
    //! the fixture's own, tokens from moto's sign-in verified against the JWKS moto serves.

    use tenancy::aws::{CognitoIdentity, ensure_user_pool};
    use tenancy::conformance::identity::TokenLab;
    use tenancy::conformance::moto::{self, Deployment};
    use tenancy::jwt::{RsaSigner, TokenRules};
    use tenancy::ports::AdminUser;

    use super::*;

    tenancy::identity!(cognito_fixture);

    /// moto signs every ID token with one key it ships in its package (and publishes the
    /// public half at each pool's JWKS URL); crafted tokens are signed with it too, so the
    /// verifier under test trusts exactly the keys moto publishes.
    fn moto_signer() -> RsaSigner {
        // moto ships only n, e and d; the venv's `cryptography` (a moto dependency) recovers
        // the primes and writes the key as PKCS#8.
        const SCRIPT: &str = "
import base64, gzip, json, os
import moto.cognitoidp as c
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
path = os.path.join(os.path.dirname(c.__file__), 'resources', 'jwks-private.json.gz')
jwk = json.loads(gzip.open(path).read())
num = lambda k: int.from_bytes(base64.urlsafe_b64decode(jwk[k] + '=' * (-len(jwk[k]) % 4)), 'big')
n, e, d = num('n'), num('e'), num('d')
p, q = rsa.rsa_recover_prime_factors(n, e, d)
key = rsa.RSAPrivateNumbers(p, q, d, rsa.rsa_crt_dmp1(d, p), rsa.rsa_crt_dmq1(d, q),
    rsa.rsa_crt_iqmp(p, q), rsa.RSAPublicNumbers(e, n)).private_key()
der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
    serialization.NoEncryption())
print(jwk['kid'])
print(base64.b64encode(der).decode())
";
        let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
        let out = std::process::Command::new(python)
            .args(["-c", SCRIPT])
            .output()
            .expect("running the venv's python (scripts/venv.sh makes it)");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8(out.stdout).unwrap();
        let (kid, der) = text.trim().split_once('\n').expect("kid and key");
        use base64::Engine;
        let der = base64::engine::general_purpose::STANDARD
            .decode(der.trim())
            .unwrap();
        RsaSigner::from_pkcs8(kid.trim(), &der).expect("moto's signing key")
    }

    struct CognitoLab {
        deployment: Deployment,
        signer: RsaSigner,
        rules: TokenRules,
    }

    #[async_trait::async_trait]
    impl TokenLab for CognitoLab {
        async fn sign_in(&self, _fx: &Fixture, admin: &AdminUser) -> tenancy::Result<String> {
            self.deployment.sign_in(admin.email.as_str()).await
        }
        fn signer(&self) -> &RsaSigner {
            &self.signer
        }
        fn rules(&self) -> TokenRules {
            self.rules.clone()
        }
    }

    async fn cognito_fixture(_case: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
        let deployment = Deployment::bootstrap(moto::fresh_prefix("cf")).await;
        let config = &deployment.cognito;
        backend.identity = Arc::new(
            CognitoIdentity::new(
                deployment.clients.cognito.clone(),
                deployment.clients.dynamodb.clone(),
                deployment.prefix.registry_table(),
                config,
            )
            .expect("the Cognito adapter"),
        );
        backend.capabilities.mints_admin_tokens = AWS_ON_MOTO.mints_admin_tokens;
        let backend = tenancy::retry::with_retries(backend, Arc::default());
        let rules = TokenRules {
            issuer: config.issuer.clone(),
            audience: config.client_id.clone(),
        };
        let lab = CognitoLab {
            deployment,
            signer: moto_signer(),
            rules,
        };
        Fixture::new(backend).with_guard(dir).with_token_lab(lab)
    }

    /// Bootstrap may run any number of times: the pool and its app client are found by name,
    /// and the pool's `custom:tenantId` is immutable.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn ensuring_the_user_pool_twice_finds_the_same_pool_with_an_immutable_tenant() {
        let client = clients().await.cognito;
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("cf{}-admins", &random[..8]);
        let first = ensure_user_pool(&client, &name).await.unwrap();
        let second = ensure_user_pool(&client, &name).await.unwrap();
        assert_eq!(first, second);
        let described = client
            .describe_user_pool()
            .user_pool_id(&first.user_pool_id)
            .send()
            .await
            .unwrap();
        let tenant = described
            .user_pool()
            .unwrap()
            .schema_attributes()
            .iter()
            .find(|a| a.name() == Some("custom:tenantId"))
            .expect("the pool has custom:tenantId")
            .clone();
        assert_eq!(tenant.mutable(), Some(false), "{tenant:?}");
    }
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

mod eventbridge {
    //! The event sink suite on EventBridge on moto: each case publishes to a bus of its own,
    //! whose one rule sends every event of the suite's source to a queue of the case's own;
    //! what arrives there is what the bus delivered, read back through SQS.

    use std::time::{Duration, Instant};

    use aws_sdk_eventbridge::types::Target;
    use aws_sdk_sqs::types::QueueAttributeName;
    use tenancy::ErrorKind;
    use tenancy::aws::{EventBridgeSink, EventBusName};
    use tenancy::conformance::event_sink::{SOURCE, SinkReader, events};
    use tenancy::ports::{DomainEvent, EventSource};

    use super::*;

    tenancy::event_sink!(eventbridge_fixture);

    /// How long a read waits for the deliveries it expects.
    const READ_WAIT: Duration = Duration::from_secs(10);

    /// The queue's deliveries, kept as they are received (each message is deleted once read).
    struct QueueReader {
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        received: tokio::sync::Mutex<Vec<DomainEvent>>,
    }

    impl QueueReader {
        /// Receives what the queue holds now, waiting up to `wait` for the first message.
        async fn receive(&self, wait: i32) {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(wait)
                .send()
                .await
                .expect("receiving from the queue");
            let mut received = self.received.lock().await;
            for message in out.messages() {
                let body: serde_json::Value =
                    serde_json::from_str(message.body().unwrap_or_default()).unwrap();
                let source = EventSource::parse(body["source"].as_str().unwrap()).unwrap();
                let event = DomainEvent::from_detail(source, &body["detail"].to_string())
                    .expect("the bus delivers the detail as published");
                assert_eq!(
                    body["detail-type"],
                    event.detail_type.as_str(),
                    "DetailType is the event's detail type"
                );
                received.push(event);
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(message.receipt_handle().unwrap())
                    .send()
                    .await
                    .expect("deleting a read message");
            }
        }

        async fn of(&self, tenant: &tenancy::TenantId) -> Vec<DomainEvent> {
            let received = self.received.lock().await;
            received
                .iter()
                .filter(|e| &e.tenant == tenant)
                .cloned()
                .collect()
        }
    }

    #[async_trait::async_trait]
    impl SinkReader for QueueReader {
        async fn published(
            &self,
            tenant: &tenancy::TenantId,
            at_least: usize,
        ) -> tenancy::Result<Vec<DomainEvent>> {
            let started = Instant::now();
            while self.of(tenant).await.len() < at_least && started.elapsed() < READ_WAIT {
                self.receive(1).await;
            }
            // Anything that should not be there has had its chance to arrive too.
            self.receive(0).await;
            Ok(self.of(tenant).await)
        }
    }

    /// A bus, a queue and the rule between them, all named after the case.
    async fn bus_to_queue(fx_prefix: &str) -> (EventBusName, QueueReader) {
        let clients = clients().await;
        let sqs = sqs_client().await;
        let bus = format!("{fx_prefix}-bus");
        clients
            .eventbridge
            .create_event_bus()
            .name(&bus)
            .send()
            .await
            .expect("creating the case's bus");
        let queue_url = sqs
            .create_queue()
            .queue_name(format!("{fx_prefix}-deliveries"))
            .send()
            .await
            .expect("creating the case's queue")
            .queue_url
            .unwrap();
        let queue_arn = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&QueueAttributeName::QueueArn]
            .clone();
        let rule = format!("{fx_prefix}-all");
        clients
            .eventbridge
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus)
            .event_pattern(serde_json::json!({"source": [SOURCE]}).to_string())
            .send()
            .await
            .expect("the case's rule");
        clients
            .eventbridge
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus)
            .targets(
                Target::builder()
                    .id("queue")
                    .arn(queue_arn)
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .expect("the rule's queue target");
        let reader = QueueReader {
            sqs,
            queue_url,
            received: Default::default(),
        };
        (EventBusName::parse(&bus).unwrap(), reader)
    }

    async fn sqs_client() -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&tenancy::conformance::moto::sdk_config().await)
    }

    /// A fixture whose event sink is EventBridge (behind the retry layer) on a bus of the
    /// case's own, read back through a queue.
    async fn eventbridge_fixture(_case: &str) -> Fixture {
        let dir = tempfile::tempdir().expect("temporary data directory");
        let mut backend = embedded::open(&options(dir.path())).expect("the embedded backend");
        let random = uuid::Uuid::new_v4().simple().to_string();
        let (bus, reader) = bus_to_queue(&format!("cf{}", &random[..8])).await;
        backend.event_sink = Arc::new(EventBridgeSink::new(clients().await.eventbridge, bus));
        let backend = tenancy::retry::with_retries(backend, Arc::default());
        Fixture::new(backend)
            .with_guard(dir)
            .with_sink_reader(reader)
    }

    /// A bus that does not exist refuses every event, saying which bus; nothing is retried
    /// (the refusal is not retryable) and nothing reaches anyone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn events_for_a_bus_that_does_not_exist_are_refused_as_not_found_naming_the_bus() {
        let random = uuid::Uuid::new_v4().simple().to_string();
        let name = format!("cf{}-nowhere", &random[..8]);
        let sink = EventBridgeSink::new(
            clients().await.eventbridge,
            EventBusName::parse(&name).unwrap(),
        );
        let tenant = tenancy::TenantId::parse(&format!("cf{}-a", &random[..8])).unwrap();
        let refused = tenancy::ports::EventSink::publish(&sink, &events(&tenant, 12))
            .await
            .unwrap();
        assert_eq!(refused.len(), 12, "{refused:?}");
        for (i, u) in refused.iter().enumerate() {
            assert_eq!((u.index, u.error.kind()), (i, ErrorKind::NotFound));
            assert!(u.error.message().contains(&name), "{}", u.error);
        }
    }
}
