//! The run tracker and reconcile against backends that misbehave on cue: a rollback that meets
//! a retryable failure, the periodic check, and one reported reconcile pass.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use provisioner::{PassReport, Provisioner, ResumedRun, RunEnd, RunKind, RunTracker};
use tenancy::ports::{KeyInfo, KeySpec, KeyVault, TableAdmin, TableInfo};
use tenancy::table_plan::TableSpec;
use tenancy::{Backend, Error, ErrorKind, TenantId, TenantStatus};

use crate::helpers::{TestEnv, tenant};

/// Tables where creating the events table fails for good (so the run rolls back) and the
/// first `unavailable_deletes` deletions fail with a retryable `Unavailable`.
struct FlakyTables {
    inner: Arc<dyn TableAdmin>,
    unavailable_deletes: AtomicU32,
}

#[async_trait]
impl TableAdmin for FlakyTables {
    async fn create_table(&self, spec: &TableSpec) -> tenancy::Result<TableInfo> {
        if spec.name.ends_with("-events") {
            return Err(Error::new(
                ErrorKind::Invalid,
                "events tables are refused here",
            ));
        }
        self.inner.create_table(spec).await
    }
    async fn describe_table(&self, name: &str) -> tenancy::Result<TableInfo> {
        self.inner.describe_table(name).await
    }
    async fn delete_table(&self, name: &str) -> tenancy::Result<()> {
        let left = self.unavailable_deletes.load(Ordering::SeqCst);
        if left > 0 {
            self.unavailable_deletes.store(left - 1, Ordering::SeqCst);
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the table service is down",
            ));
        }
        self.inner.delete_table(name).await
    }
    async fn list_tables(&self, prefix: &str) -> tenancy::Result<Vec<String>> {
        self.inner.list_tables(prefix).await
    }
}

/// Tables whose creation never returns: a run that reaches a table step is still running
/// whenever anyone looks.
struct StuckTables {
    inner: Arc<dyn TableAdmin>,
}

#[async_trait]
impl TableAdmin for StuckTables {
    async fn create_table(&self, _spec: &TableSpec) -> tenancy::Result<TableInfo> {
        std::future::pending().await
    }
    async fn describe_table(&self, name: &str) -> tenancy::Result<TableInfo> {
        self.inner.describe_table(name).await
    }
    async fn delete_table(&self, name: &str) -> tenancy::Result<()> {
        self.inner.delete_table(name).await
    }
    async fn list_tables(&self, prefix: &str) -> tenancy::Result<Vec<String>> {
        self.inner.list_tables(prefix).await
    }
}

/// A key vault that counts the periodic destruction calls and reports `due` keys destroyed.
struct CountingKeys {
    inner: Arc<dyn KeyVault>,
    destroy_calls: Arc<AtomicU32>,
    due: u32,
}

#[async_trait]
impl KeyVault for CountingKeys {
    async fn create_key(&self, spec: &KeySpec) -> tenancy::Result<KeyInfo> {
        self.inner.create_key(spec).await
    }
    async fn describe_key(&self, key: &str) -> tenancy::Result<KeyInfo> {
        self.inner.describe_key(key).await
    }
    async fn encrypt(&self, key: &str, plaintext: &[u8], aad: &[u8]) -> tenancy::Result<Vec<u8>> {
        self.inner.encrypt(key, plaintext, aad).await
    }
    async fn decrypt(&self, key: &str, ciphertext: &[u8], aad: &[u8]) -> tenancy::Result<Vec<u8>> {
        self.inner.decrypt(key, ciphertext, aad).await
    }
    async fn schedule_key_deletion(&self, key: &str, window_days: u32) -> tenancy::Result<KeyInfo> {
        self.inner.schedule_key_deletion(key, window_days).await
    }
    async fn destroy_due_keys(&self) -> tenancy::Result<u32> {
        self.destroy_calls.fetch_add(1, Ordering::SeqCst);
        self.inner.destroy_due_keys().await?;
        Ok(self.due)
    }
    async fn list_keys(&self, tags: &tenancy::naming::Tags) -> tenancy::Result<Vec<KeyInfo>> {
        self.inner.list_keys(tags).await
    }
    async fn alias_key(&self, key: &str, alias: &str) -> tenancy::Result<KeyInfo> {
        self.inner.alias_key(key, alias).await
    }
}

/// A provisioner over the environment's data directory whose backend `change` altered.
fn provisioner_with(env: &TestEnv, change: impl FnOnce(&mut Backend)) -> Provisioner {
    let mut backend = env.backend.clone();
    change(&mut backend);
    Provisioner::new(backend, env.settings.clone())
}

/// The report's entry for `id`.
fn resumed<'a>(report: &'a PassReport, id: &TenantId) -> &'a ResumedRun {
    report
        .resumed
        .iter()
        .find(|r| r.tenant == *id)
        .unwrap_or_else(|| panic!("{id} was not resumed: {report:#?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_whose_retries_run_out_is_left_in_flight_and_finished_by_the_periodic_check() {
    let env = TestEnv::new().await;
    // The fault sits below the retry layer, where a backend's own failures arise.
    let mut raw = tenancy::embedded::open(&(&env.settings).into()).unwrap();
    raw.tables = Arc::new(FlakyTables {
        inner: raw.tables.clone(),
        // As many as the retry layer's attempts at one call: that call gives up.
        unavailable_deletes: AtomicU32::new(tenancy::retry::RetryPolicy::default().attempts as u32),
    });
    let backend = tenancy::retry::with_retries(raw, Arc::default());
    let provisioner = Provisioner::new(backend, env.settings.clone());
    let runs = RunTracker::new(provisioner.clone());
    let id = tenant("flaky");
    provisioner.request(TestEnv::new_tenant(&id)).await.unwrap();

    assert!(runs.start_provision(&id));
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    // The exhausted error is not retried again on top of the retry layer: the tenant stays
    // in flight, its failure recorded, for the periodic check.
    let stopped = env.record(&id).await;
    assert_eq!(stopped.status, TenantStatus::Provisioning, "{stopped:?}");
    assert_eq!(stopped.failure.as_ref().unwrap().step, "events_table");

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 1);
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    let record = env.record(&id).await;
    assert_eq!(
        record.status,
        TenantStatus::Failed,
        "the rollback was finished: {record:?}"
    );
    assert_eq!(record.failure.as_ref().unwrap().step, "events_table");
    env.assert_no_resources(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_check_resumes_only_quiet_in_flight_tenants_and_destroys_due_keys() {
    let env = TestEnv::new().await;
    let destroy_calls = Arc::new(AtomicU32::new(0));
    let provisioner = provisioner_with(&env, |backend| {
        backend.keys = Arc::new(CountingKeys {
            inner: backend.keys.clone(),
            destroy_calls: destroy_calls.clone(),
            due: 2,
        });
    });
    let runs = RunTracker::new(provisioner.clone());
    // Recorded by another process, which may still be about to provision it.
    let id = tenant("orphan");
    provisioner.request(TestEnv::new_tenant(&id)).await.unwrap();

    let (started, destroyed) = runs.housekeeping(Duration::from_secs(3600)).await;
    assert_eq!(
        started, 0,
        "its journal is fresh: another process may be driving it"
    );
    assert_eq!(destroyed, 2);
    assert_eq!(env.record(&id).await.status, TenantStatus::Requested);

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 1);
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    assert_eq!(env.record(&id).await.status, TenantStatus::Active);
    assert_eq!(destroy_calls.load(Ordering::SeqCst), 2, "once per pass");

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 0, "nothing is in flight any more");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_pass_waits_for_the_runs_it_took_over_and_reports_how_each_ended() {
    let env = TestEnv::new().await;
    let destroy_calls = Arc::new(AtomicU32::new(0));
    let provisioner = provisioner_with(&env, |backend| {
        backend.keys = Arc::new(CountingKeys {
            inner: backend.keys.clone(),
            destroy_calls: destroy_calls.clone(),
            due: 1,
        });
    });
    let (joining, leaving) = (tenant("joining"), tenant("leaving"));
    provisioner
        .request(TestEnv::new_tenant(&joining))
        .await
        .unwrap();
    env.onboard(&leaving).await;
    provisioner.begin_offboarding(&leaving).await.unwrap();
    let runs = RunTracker::new(provisioner.clone());

    let quiet = runs
        .reconcile_once(Duration::from_secs(3600), Duration::from_secs(60))
        .await
        .unwrap();
    assert!(quiet.resumed.is_empty(), "both are fresh: {quiet:#?}");
    assert_eq!(quiet.keys_destroyed, 1);
    assert!(quiet.is_clean());

    let report = runs
        .reconcile_once(Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(report.resumed.len(), 2, "{report:#?}");
    let joined = resumed(&report, &joining);
    assert_eq!(
        (joined.run, joined.from, &joined.ended),
        (
            RunKind::Provision,
            TenantStatus::Requested,
            &RunEnd::Finished {
                status: TenantStatus::Active,
                failure: None
            }
        )
    );
    let left = resumed(&report, &leaving);
    assert_eq!(
        (left.run, left.from, &left.ended),
        (
            RunKind::Offboard,
            TenantStatus::Deprovisioning,
            &RunEnd::Finished {
                status: TenantStatus::Deleted,
                failure: None
            }
        )
    );
    assert!(report.is_clean());
    assert!(runs.is_empty(), "the pass waited for both runs");
    env.assert_fully_provisioned(&joining).await;
    env.assert_no_resources(&leaving).await;
    assert_eq!(destroy_calls.load(Ordering::SeqCst), 2, "once per pass");

    let json = serde_json::to_value(&report).unwrap();
    let entry = json["resumed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["tenant"] == "joining")
        .unwrap();
    assert_eq!(
        *entry,
        serde_json::json!({
            "tenant": "joining", "run": "provision", "from": "requested", "ended": "active"
        })
    );
    assert_eq!(json["keys_destroyed"], 1);
    assert!(json.get("keys_error").is_none(), "{json}");

    let again = runs
        .reconcile_once(Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    assert!(again.resumed.is_empty(), "nothing is in flight: {again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_pass_reports_a_run_that_keeps_failing_as_an_error_and_leaves_it_in_flight() {
    let env = TestEnv::new().await;
    let provisioner = provisioner_with(&env, |backend| {
        backend.tables = Arc::new(FlakyTables {
            inner: backend.tables.clone(),
            // Every rollback meets the failure, through every re-run.
            unavailable_deletes: AtomicU32::new(u32::MAX),
        });
    });
    let id = tenant("stubborn");
    provisioner.request(TestEnv::new_tenant(&id)).await.unwrap();
    let runs = RunTracker::new(provisioner.clone());

    let report = runs
        .reconcile_once(Duration::ZERO, Duration::from_secs(60))
        .await
        .unwrap();
    let run = resumed(&report, &id);
    assert!(
        matches!(&run.ended, RunEnd::Error(e) if e.contains("the table service is down")),
        "{run:#?}"
    );
    assert!(!run.reached_its_goal());
    assert!(!report.is_clean());
    let json = serde_json::to_value(run).unwrap();
    assert_eq!(json["ended"], "error", "{json}");
    assert!(json["error"].is_string(), "{json}");
    let record = env.record(&id).await;
    assert!(
        record.status.is_in_flight(),
        "left for a later pass: {record:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reconcile_pass_reports_a_run_still_going_at_its_deadline_as_unfinished() {
    let env = TestEnv::new().await;
    let provisioner = provisioner_with(&env, |backend| {
        backend.tables = Arc::new(StuckTables {
            inner: backend.tables.clone(),
        });
    });
    let id = tenant("slowpoke");
    provisioner.request(TestEnv::new_tenant(&id)).await.unwrap();
    let runs = RunTracker::new(provisioner.clone());

    let report = runs
        .reconcile_once(Duration::ZERO, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(resumed(&report, &id).ended, RunEnd::Unfinished);
    assert!(!report.is_clean());
    assert!(runs.is_running(&id), "the run carries on in the background");
    assert_eq!(
        serde_json::to_value(&report).unwrap()["resumed"][0]["ended"],
        "unfinished"
    );
}
