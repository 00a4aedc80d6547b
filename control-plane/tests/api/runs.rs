//! Background runs against backends that misbehave on cue: a run held mid-step while the
//! tenant is offboarded, a rollback that meets a retryable failure, the periodic check.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use control_plane::runs::RunTracker;
use provisioner::{NewTenant, Provisioner, Settings};
use reqwest::StatusCode;
use tenancy::ports::{KeyInfo, KeySpec, KeyVault, TableAdmin, TableInfo};
use tenancy::table_plan::TableSpec;
use tenancy::{
    Error, ErrorKind, OwnerEmail, TenantId, TenantName, TenantRecord, TenantStatus, Tier,
};
use tokio::sync::Notify;

use crate::helpers::{Presence, TestApp, json_of};

fn new_tenant(id: &str) -> NewTenant {
    NewTenant {
        id: TenantId::parse(id).unwrap(),
        name: TenantName::parse(&format!("Tenant {id}")).unwrap(),
        owner_email: OwnerEmail::parse("ops@example.com").unwrap(),
        tier: Tier::Standard,
        allowed_origins: Vec::new(),
        request: None,
    }
}

/// Tables that hold the first `create_table` of a table whose name ends with `gated_suffix`
/// until released, telling the test when a run is inside it.
struct GatedTables {
    inner: Arc<dyn TableAdmin>,
    gated_suffix: &'static str,
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

#[async_trait]
impl TableAdmin for GatedTables {
    async fn create_table(&self, spec: &TableSpec) -> tenancy::Result<TableInfo> {
        if spec.name.ends_with(self.gated_suffix) {
            self.entered.notify_one();
            self.release.notified().await;
        }
        self.inner.create_table(spec).await
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
}

/// The app's provisioner settings: opening a backend with them gives another instance over
/// the same data directory — another process, as far as the data is concerned.
fn settings_of(app: &TestApp) -> Settings {
    app.state.provisioner.settings().clone()
}

async fn status_of(provisioner: &Provisioner, id: &str) -> TenantRecord {
    provisioner
        .record(&TenantId::parse(id).unwrap())
        .await
        .expect("tenant record")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_whose_run_is_held_mid_step_ends_deleted_and_the_run_undoes_its_step() {
    let app = TestApp::spawn().await;
    let settings = settings_of(&app);
    let mut backend = tenancy::open(&settings).await.unwrap();
    let entered = Arc::new(Notify::new());
    let release = Arc::new(Notify::new());
    backend.tables = Arc::new(GatedTables {
        inner: backend.tables.clone(),
        gated_suffix: "-app",
        entered: entered.clone(),
        release: release.clone(),
    });
    let other = Provisioner::new(backend, settings);
    other.request(new_tenant("held")).await.unwrap();
    let id = TenantId::parse("held").unwrap();
    let run = tokio::spawn({
        let other = other.clone();
        let id = id.clone();
        async move { other.provision(&id).await }
    });
    // The run has created the key and is about to create the app table: certainly in flight.
    entered.notified().await;
    assert_eq!(
        status_of(&other, "held").await.status,
        TenantStatus::Provisioning
    );

    let (status, tombstone) = json_of(app.delete("/tenants/held").await).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["status"], "deleted");

    release.notify_one();
    let outcome = run.await.unwrap();
    assert!(
        matches!(outcome, Err(provisioner::Error::Superseded { .. })),
        "{outcome:?}"
    );
    assert_eq!(
        status_of(&other, "held").await.status,
        TenantStatus::Deleted
    );
    assert_eq!(
        app.presence("held").await,
        Presence::NONE,
        "the table created after offboarding passed it was removed by the superseded run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_whose_retries_run_out_is_left_in_flight_and_finished_by_the_periodic_check() {
    let app = TestApp::spawn().await;
    let settings = settings_of(&app);
    // The fault sits below the retry layer, where a backend's own failures arise.
    let mut raw = tenancy::embedded::open(&(&settings).into()).unwrap();
    raw.tables = Arc::new(FlakyTables {
        inner: raw.tables.clone(),
        // As many as the retry layer's attempts at one call: that call gives up.
        unavailable_deletes: AtomicU32::new(tenancy::retry::RetryPolicy::default().attempts as u32),
    });
    let backend = tenancy::retry::with_retries(raw, Arc::default());
    let provisioner = Provisioner::new(backend, settings);
    let runs = RunTracker::new(provisioner.clone()).with_rerun_backoff(Duration::from_millis(10));
    provisioner.request(new_tenant("flaky")).await.unwrap();
    let id = TenantId::parse("flaky").unwrap();

    assert!(runs.start_provision(&id));
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    // The exhausted error is not retried again on top of the retry layer: the tenant stays
    // in flight, its failure recorded, for the periodic check.
    let stopped = status_of(&provisioner, "flaky").await;
    assert_eq!(stopped.status, TenantStatus::Provisioning, "{stopped:?}");
    assert_eq!(stopped.failure.as_ref().unwrap().step, "events_table");

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 1);
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    let record = status_of(&provisioner, "flaky").await;
    assert_eq!(
        record.status,
        TenantStatus::Failed,
        "the rollback was finished: {record:?}"
    );
    assert_eq!(record.failure.as_ref().unwrap().step, "events_table");
    assert_eq!(app.presence("flaky").await, Presence::NONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_periodic_check_resumes_only_quiet_in_flight_tenants_and_destroys_due_keys() {
    let app = TestApp::spawn().await;
    let settings = settings_of(&app);
    let mut backend = tenancy::open(&settings).await.unwrap();
    let destroy_calls = Arc::new(AtomicU32::new(0));
    backend.keys = Arc::new(CountingKeys {
        inner: backend.keys.clone(),
        destroy_calls: destroy_calls.clone(),
        due: 2,
    });
    let provisioner = Provisioner::new(backend, settings);
    let runs = RunTracker::new(provisioner.clone());
    // Recorded by another process, which may still be about to provision it.
    provisioner.request(new_tenant("orphan")).await.unwrap();

    let (started, destroyed) = runs.housekeeping(Duration::from_secs(3600)).await;
    assert_eq!(
        started, 0,
        "its journal is fresh: another process may be driving it"
    );
    assert_eq!(destroyed, 2);
    assert_eq!(
        status_of(&provisioner, "orphan").await.status,
        TenantStatus::Requested
    );

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 1);
    let id = TenantId::parse("orphan").unwrap();
    assert!(runs.wait_for(&id, Duration::from_secs(60)).await);
    assert_eq!(
        status_of(&provisioner, "orphan").await.status,
        TenantStatus::Active
    );
    assert_eq!(destroy_calls.load(Ordering::SeqCst), 2, "once per pass");

    let (started, _) = runs.housekeeping(Duration::ZERO).await;
    assert_eq!(started, 0, "nothing is in flight any more");
}
