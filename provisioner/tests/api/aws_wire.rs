//! The provisioner on the AWS adapters against moto, watched and disturbed at the wire: the
//! exact number of mutating AWS calls one tenant's onboarding and offboarding make (the table
//! in the README), and onboarding and offboarding converging under injected throttling and
//! 5xx answers with exactly one of each resource.
//!
//! The clients are built as `tenancy::open` builds them (SDK retries off, the pacer at AWS's
//! published rates, the retry layer around the ports), with the call log and, for the fault
//! tests, a fault plan installed through `AwsClients::from_config_with`.

use std::collections::BTreeMap;
use std::sync::Arc;

use provisioner::{Provisioner, TenantPlan};
use tenancy::aws::wire::{CallKind, CallLog, Fault, FaultPlan, FaultRule, Timing, Which};
use tenancy::aws::{AwsClients, PacingLimits, WireHooks};
use tenancy::ports::KeyState;
use tenancy::retry::{RetryPolicy, with_retries};
use tenancy::{Backend, ErrorKind, TablePrefix, TenantId, TenantStatus};

use crate::aws::{fresh_prefix, moto_sdk_config as sdk_config};
use crate::helpers::{TestEnv, tenant};

/// One deployment of its own on the shared moto, its clients logged (and faulted, if asked).
struct Wired {
    provisioner: Provisioner,
    backend: Backend,
    clients: AwsClients,
    log: Arc<CallLog>,
    plan: TenantPlan,
    prefix: TablePrefix,
}

/// The deployment `prefix` (its registry table ensured) for tenant `id`, with `faults`.
async fn wired(
    env: &TestEnv,
    prefix: &TablePrefix,
    id: &TenantId,
    faults: Option<Arc<FaultPlan>>,
) -> Wired {
    let log = CallLog::new();
    let hooks = WireHooks {
        log: Some(log.clone()),
        faults,
    };
    let clients = AwsClients::from_config_with(&sdk_config().await, PacingLimits::default(), hooks);
    // Set up with clients of its own: no fault is meant for the set-up.
    let plain = AwsClients::from_config(&sdk_config().await);
    tenancy::aws::ensure_registry_table(&plain.dynamodb, &prefix.registry_table())
        .await
        .expect("registry table");
    let settings = provisioner::Settings {
        backend: tenancy::settings::BackendKind::Aws,
        table_prefix: prefix.clone(),
        ..env.settings.clone()
    };
    let raw = tenancy::aws::backend(&clients, prefix, &settings.data_plane_principal);
    let backend = with_retries(raw, Arc::new(RetryPolicy::default()));
    let plan = TenantPlan::new(prefix, id, &settings.data_plane_principal);
    Wired {
        provisioner: Provisioner::new(backend.clone(), settings),
        backend,
        clients,
        log,
        plan,
        prefix: prefix.clone(),
    }
}

impl Wired {
    async fn onboard(&self) {
        let id = &self.plan.tenant;
        self.provisioner
            .request(TestEnv::new_tenant(id))
            .await
            .expect("request");
        let record = self.provisioner.provision(id).await.expect("provision");
        assert_eq!(record.status, TenantStatus::Active, "{record:#?}");
    }

    async fn offboard(&self) {
        let record = self
            .provisioner
            .offboard(&self.plan.tenant)
            .await
            .expect("offboard");
        assert_eq!(record.status, TenantStatus::Deleted, "{record:#?}");
    }

    /// Every KMS key carrying exactly the tenant's tags, found by listing every key.
    async fn tenant_keys(&self) -> Vec<String> {
        let kms = &self.clients.kms;
        let mut keys = Vec::new();
        let mut marker = None;
        loop {
            let page = kms
                .list_keys()
                .set_marker(marker.take())
                .send()
                .await
                .expect("ListKeys");
            for key in page.keys() {
                let id = key.key_id().unwrap_or_default();
                let tags = kms
                    .list_resource_tags()
                    .key_id(id)
                    .send()
                    .await
                    .expect("ListResourceTags");
                let tags: tenancy::Tags = tags
                    .tags()
                    .iter()
                    .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
                    .collect();
                if tags == self.plan.tags {
                    keys.push(id.to_owned());
                }
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_owned()),
                _ => return keys,
            }
        }
    }

    /// The deployment's tables other than its registry.
    async fn tenant_tables(&self) -> Vec<String> {
        let registry = self.prefix.registry_table();
        let mut tables = self
            .backend
            .tables
            .list_tables(self.prefix.as_str())
            .await
            .expect("ListTables");
        tables.retain(|t| *t != registry);
        tables
    }

    /// Every IAM role whose name starts with the deployment's prefix.
    async fn deployment_roles(&self) -> Vec<String> {
        let mut roles = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .clients
                .iam
                .list_roles()
                .set_marker(marker.take())
                .send()
                .await
                .expect("ListRoles");
            roles.extend(
                page.roles()
                    .iter()
                    .map(|r| r.role_name().to_owned())
                    .filter(|n| n.starts_with(self.prefix.as_str())),
            );
            match page.marker() {
                Some(next) if page.is_truncated() => marker = Some(next.to_owned()),
                _ => return roles,
            }
        }
    }

    /// Exactly one key (the tenant's alias on it, enabled), the plan's two tables and its
    /// one role.
    async fn assert_exactly_one_of_each(&self) {
        let keys = self.tenant_keys().await;
        assert_eq!(keys.len(), 1, "keys tagged for the tenant: {keys:?}");
        let key = self.backend.keys.describe_key(&keys[0]).await.unwrap();
        assert_eq!(
            key.alias.as_deref(),
            Some(self.plan.names.key_alias.as_str())
        );
        assert_eq!(key.state, KeyState::Enabled);
        let mut planned: Vec<String> = self
            .plan
            .names
            .tables()
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        planned.sort();
        assert_eq!(self.tenant_tables().await, planned);
        assert_eq!(
            self.deployment_roles().await,
            std::slice::from_ref(&self.plan.role_name)
        );
    }

    /// No table and no role left; the one key pending deletion, its alias released.
    async fn assert_all_removed(&self) {
        assert_eq!(self.tenant_tables().await, Vec::<String>::new());
        assert_eq!(self.deployment_roles().await, Vec::<String>::new());
        let keys = self.tenant_keys().await;
        assert_eq!(keys.len(), 1, "keys tagged for the tenant: {keys:?}");
        let key = self.backend.keys.describe_key(&keys[0]).await.unwrap();
        assert!(
            matches!(key.state, KeyState::PendingDeletion { .. }),
            "{:?}",
            key.state
        );
        let alias = self
            .backend
            .keys
            .describe_key(&self.plan.names.key_alias)
            .await
            .map_err(|e| e.kind());
        assert_eq!(alias.err(), Some(ErrorKind::NotFound));
    }
}

fn counts(pairs: &[(&str, u32)]) -> BTreeMap<String, u32> {
    pairs.iter().map(|(op, n)| ((*op).to_owned(), *n)).collect()
}

/// The mutating AWS calls of one tenant's onboarding (the README's table).
const ONBOARDING_MUTATIONS: &[(&str, u32)] = &[
    // The tenant's resources.
    ("KMS.CreateKey", 1),
    ("KMS.EnableKeyRotation", 1),
    ("KMS.CreateAlias", 1),
    ("DynamoDB.CreateTable", 2),
    ("DynamoDB.UpdateTimeToLive", 2),
    ("DynamoDB.UpdateContinuousBackups", 2),
    ("IAM.CreateRole", 1),
    ("IAM.PutRolePolicy", 1),
    // The registry (record, journal) and the probe's items.
    ("DynamoDB.PutItem", 7),
    ("DynamoDB.TransactWriteItems", 8),
    ("DynamoDB.DeleteItem", 2),
];
/// The mutating AWS calls of one tenant's offboarding (the README's table).
const OFFBOARDING_MUTATIONS: &[(&str, u32)] = &[
    // The tenant's resources.
    ("DynamoDB.DeleteTable", 2),
    ("IAM.DeleteRolePolicy", 1),
    ("IAM.DeleteRole", 1),
    ("KMS.DeleteAlias", 1),
    ("KMS.ScheduleKeyDeletion", 1),
    // The registry (record, journal, API-key revocation, admin removal).
    ("DynamoDB.PutItem", 6),
    ("DynamoDB.TransactWriteItems", 2),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_and_offboarding_one_tenant_make_the_documented_mutating_calls() {
    let env = TestEnv::new().await;
    let aws = wired(&env, &fresh_prefix("cc"), &tenant("acme"), None).await;

    aws.log.clear();
    aws.onboard().await;
    let onboarding = aws.log.counts(CallKind::Mutation);
    eprintln!(
        "onboarding: mutations {onboarding:?}; reads {:?}",
        aws.log.counts(CallKind::Read)
    );
    assert_eq!(onboarding, counts(ONBOARDING_MUTATIONS));

    aws.log.clear();
    aws.offboard().await;
    let offboarding = aws.log.counts(CallKind::Mutation);
    eprintln!(
        "offboarding: mutations {offboarding:?}; reads {:?}",
        aws.log.counts(CallKind::Read)
    );
    assert_eq!(offboarding, counts(OFFBOARDING_MUTATIONS));
    // Every call was answered by moto itself.
    assert!(
        aws.log
            .calls()
            .iter()
            .all(|c| c.status.is_some() && !c.injected)
    );
}

fn rule(operation: &str, fault: Fault, timing: Timing, which: Which) -> FaultRule {
    FaultRule {
        operation: operation.to_owned(),
        fault,
        timing,
        which,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn onboarding_under_throttling_and_5xx_at_the_wire_converges_to_one_of_each_resource() {
    let env = TestEnv::new().await;
    use Fault::*;
    use Timing::*;
    let faults = FaultPlan::new(vec![
        // The alias check before CreateKey.
        rule(
            "KMS.DescribeKey",
            InternalError,
            BeforeSending,
            Which::First(1),
        ),
        rule("KMS.CreateKey", Throttling, BeforeSending, Which::First(2)),
        rule(
            "DynamoDB.CreateTable",
            Throttling,
            BeforeSending,
            Which::First(1),
        ),
        rule("IAM.CreateRole", Throttling, BeforeSending, Which::First(2)),
        // The role just made is deleted again by the adapter, then made anew.
        rule(
            "IAM.PutRolePolicy",
            Unavailable,
            BeforeSending,
            Which::First(1),
        ),
    ]);
    let aws = wired(
        &env,
        &fresh_prefix("fo"),
        &tenant("acme"),
        Some(faults.clone()),
    )
    .await;

    aws.onboard().await;

    aws.assert_exactly_one_of_each().await;
    let injected = counts(&[
        ("DynamoDB.CreateTable", 1),
        ("IAM.CreateRole", 2),
        ("IAM.PutRolePolicy", 1),
        ("KMS.CreateKey", 2),
        ("KMS.DescribeKey", 1),
    ]);
    assert_eq!(faults.injected(), injected);
    // The SDK read each injected answer: the log saw them with their statuses.
    assert_eq!(
        aws.log.injected_answers(400),
        counts(&[
            ("DynamoDB.CreateTable", 1),
            ("IAM.CreateRole", 2),
            ("KMS.CreateKey", 2)
        ])
    );
    assert_eq!(
        aws.log.injected_answers(500),
        counts(&[("KMS.DescribeKey", 1)])
    );
    assert_eq!(
        aws.log.injected_answers(503),
        counts(&[("IAM.PutRolePolicy", 1)])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offboarding_under_throttling_and_5xx_at_the_wire_converges_to_deleted() {
    let env = TestEnv::new().await;
    let prefix = fresh_prefix("ff");
    let id = tenant("acme");
    wired(&env, &prefix, &id, None).await.onboard().await;

    use Fault::*;
    use Timing::*;
    let faults = FaultPlan::new(vec![
        // Done by the server, the answer lost: the retry finds the work done.
        rule(
            "DynamoDB.DeleteTable",
            InternalError,
            AfterSending,
            Which::First(1),
        ),
        rule(
            "KMS.ScheduleKeyDeletion",
            Unavailable,
            AfterSending,
            Which::First(1),
        ),
        rule(
            "KMS.DeleteAlias",
            Throttling,
            BeforeSending,
            Which::First(1),
        ),
        rule("IAM.DeleteRole", Throttling, BeforeSending, Which::First(2)),
    ]);
    let aws = wired(&env, &prefix, &id, Some(faults.clone())).await;

    aws.offboard().await;

    aws.assert_all_removed().await;
    assert_eq!(
        faults.injected(),
        counts(&[
            ("DynamoDB.DeleteTable", 1),
            ("IAM.DeleteRole", 2),
            ("KMS.DeleteAlias", 1),
            ("KMS.ScheduleKeyDeletion", 1),
        ])
    );
    assert_eq!(
        aws.log.injected_answers(400),
        counts(&[("IAM.DeleteRole", 2), ("KMS.DeleteAlias", 1)])
    );
    assert_eq!(
        aws.log.injected_answers(500),
        counts(&[("DynamoDB.DeleteTable", 1)])
    );
    assert_eq!(
        aws.log.injected_answers(503),
        counts(&[("KMS.ScheduleKeyDeletion", 1)])
    );
}

/// The creations that take more than one call at the wire, cut short after their first call:
/// the key made but the answer lost, then its alias made but the answer lost; a table made
/// but its TTL and point-in-time recovery refused. The retry layer adopts the key and the
/// adapter finishes the table, so the tenant ends with one key and its tables as planned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creations_cut_short_after_their_first_call_converge_to_one_key_and_planned_tables() {
    let env = TestEnv::new().await;
    use Fault::*;
    use Timing::*;
    let faults = FaultPlan::new(vec![
        rule(
            "KMS.CreateKey",
            InternalError,
            AfterSending,
            Which::First(1),
        ),
        rule(
            "KMS.EnableKeyRotation",
            Unavailable,
            BeforeSending,
            Which::First(1),
        ),
        rule(
            "KMS.CreateAlias",
            InternalError,
            AfterSending,
            Which::First(1),
        ),
        rule(
            "DynamoDB.UpdateTimeToLive",
            Unavailable,
            BeforeSending,
            Which::First(1),
        ),
        rule(
            "DynamoDB.UpdateContinuousBackups",
            InternalError,
            AfterSending,
            Which::First(1),
        ),
    ]);
    let aws = wired(
        &env,
        &fresh_prefix("fc"),
        &tenant("acme"),
        Some(faults.clone()),
    )
    .await;

    aws.onboard().await;

    assert_eq!(
        faults.injected(),
        counts(&[
            ("DynamoDB.UpdateContinuousBackups", 1),
            ("DynamoDB.UpdateTimeToLive", 1),
            ("KMS.CreateAlias", 1),
            ("KMS.CreateKey", 1),
            ("KMS.EnableKeyRotation", 1),
        ])
    );
    // One CreateKey only: every later attempt adopted the key the first one made.
    let mutating = aws.log.counts(CallKind::Mutation);
    assert_eq!(mutating.get("KMS.CreateKey"), Some(&1), "{mutating:?}");
    aws.assert_exactly_one_of_each().await;
    let record = aws.provisioner.record(&aws.plan.tenant).await.unwrap();
    let drift = provisioner::drift::check(&aws.backend, &aws.plan, &record)
        .await
        .unwrap();
    assert!(drift.checked && drift.is_clean(), "{drift:#?}");
}
