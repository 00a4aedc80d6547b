//! Background runs against a backend that misbehaves on cue, seen through HTTP: a run held
//! mid-step while the tenant is offboarded with `DELETE`. The run tracker's own behaviour
//! (re-runs, the periodic check, one reconcile pass) is tested in the provisioner's tests
//! (`provisioner/tests/api/runs.rs`).

use std::sync::Arc;

use async_trait::async_trait;
use provisioner::{NewTenant, Provisioner, Settings};
use reqwest::StatusCode;
use tenancy::ports::{TableAdmin, TableInfo};
use tenancy::table_plan::TableSpec;
use tenancy::{OwnerEmail, TenantId, TenantName, TenantRecord, TenantStatus, Tier};
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
