//! Suspend, resume, retry, offboarding, and resumption of unfinished runs after a restart.

use provisioner::{NewTenant, Provisioner};
use reqwest::StatusCode;
use serde_json::Value;
use tenancy::table_plan::TableSpec;
use tenancy::{OwnerEmail, TenantId, TenantName, TenantStatus, Tier};

use crate::helpers::{Presence, TestApp, assert_error, json_of};

#[tokio::test]
async fn suspend_and_resume_move_an_active_tenant_back_and_forth() {
    let app = TestApp::spawn().await;
    app.onboard("sus").await;
    let (status, suspended) = json_of(app.post_empty("/tenants/sus/suspend").await).await;
    assert_eq!(status, StatusCode::OK, "{suspended}");
    assert_eq!(suspended["status"], "suspended");
    assert_eq!(app.tenant("sus").await["status"], "suspended");

    let (status, resumed) = json_of(app.post_empty("/tenants/sus/resume").await).await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["status"], "active");
    assert_eq!(
        app.presence("sus").await,
        Presence::ALL,
        "suspension keeps the resources"
    );
}

#[tokio::test]
async fn illegal_transitions_are_409_illegal_transition_and_change_nothing() {
    let app = TestApp::spawn().await;
    app.onboard("ill").await;
    let before = app.tenant("ill").await;

    let error = assert_error(
        app.post_empty("/tenants/ill/resume").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;
    assert_eq!(error["details"]["status"], "active", "{error}");
    assert_eq!(error["details"]["transition"], "resume", "{error}");
    assert_error(
        app.post_empty("/tenants/ill/retry").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;

    app.post_empty("/tenants/ill/suspend").await;
    assert_error(
        app.post_empty("/tenants/ill/suspend").await,
        StatusCode::CONFLICT,
        "illegal_transition",
    )
    .await;

    app.delete("/tenants/ill").await;
    for action in ["suspend", "resume", "retry"] {
        let response = app.post_empty(&format!("/tenants/ill/{action}")).await;
        assert_error(response, StatusCode::CONFLICT, "illegal_transition").await;
    }
    let after = app.tenant("ill").await;
    assert_eq!(after["status"], "deleted");
    assert_ne!(before["version"], after["version"]);
}

#[tokio::test]
async fn offboarding_removes_every_resource_and_keeps_a_tombstone() {
    let app = TestApp::spawn().await;
    app.onboard("gone").await;
    assert_eq!(app.presence("gone").await, Presence::ALL);

    let (status, tombstone) = json_of(app.delete("/tenants/gone").await).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["status"], "deleted");
    assert_arns_cleared(&tombstone);
    assert_eq!(app.presence("gone").await, Presence::NONE);
    assert_eq!(app.tenant("gone").await["status"], "deleted");
}

#[tokio::test]
async fn offboarding_twice_is_harmless_and_returns_the_same_tombstone() {
    let app = TestApp::spawn().await;
    app.onboard("twice").await;
    let (first_status, first) = json_of(app.delete("/tenants/twice").await).await;
    let (second_status, second) = json_of(app.delete("/tenants/twice").await).await;
    assert_eq!(
        (first_status, second_status),
        (StatusCode::OK, StatusCode::OK)
    );
    assert_eq!(
        first, second,
        "the second DELETE must not change the tombstone"
    );
    assert_eq!(second["status"], "deleted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_tenant_while_it_provisions_ends_deleted_with_zero_resources() {
    let app = TestApp::spawn().await;
    let (status, accepted) =
        json_of(app.post_tenant(&crate::helpers::tenant_body("racer")).await).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");

    let (status, tombstone) = json_of(app.delete("/tenants/racer").await).await;
    assert_eq!(status, StatusCode::OK, "{tombstone}");
    assert_eq!(tombstone["status"], "deleted");
    assert_arns_cleared(&tombstone);

    // The superseded provisioning run must not have left or re-created anything.
    app.wait_for_runs_to_finish().await;
    assert_eq!(app.tenant("racer").await["status"], "deleted");
    assert_eq!(app.presence("racer").await, Presence::NONE);
}

#[tokio::test]
async fn concurrent_deletes_of_one_tenant_both_get_the_tombstone() {
    let app = TestApp::spawn().await;
    app.onboard("pair").await;
    let (a, b) = tokio::join!(app.delete("/tenants/pair"), app.delete("/tenants/pair"));
    let ((sa, a), (sb, b)) = (json_of(a).await, json_of(b).await);
    assert_eq!((sa, sb), (StatusCode::OK, StatusCode::OK), "{a} {b}");
    assert_eq!(a["status"], "deleted");
    assert_eq!(a, b);
    assert_eq!(app.presence("pair").await, Presence::NONE);
}

#[tokio::test]
async fn a_failed_tenant_can_be_retried_once_the_cause_is_gone() {
    let app = TestApp::spawn().await;
    // A table with the tenant's name but another key schema: provisioning reports drift.
    let tenant = TenantId::parse("drifty").unwrap();
    let plan = app.state.provisioner.plan(&tenant);
    let (_, planned) = plan.tables[0].clone();
    let squatter = TableSpec {
        sort_key: "other".to_owned(),
        sse_key: None,
        ..planned.clone()
    };
    let tables = &app.state.provisioner.backend().tables;
    tables
        .create_table(&squatter)
        .await
        .expect("squatting table");

    let (status, failed) = json_of(
        app.post("/tenants?wait=true", &crate::helpers::tenant_body("drifty"))
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{failed}");
    assert_eq!(failed["status"], "failed");
    assert!(
        failed["failure"]["cause"]
            .as_str()
            .is_some_and(|c| !c.is_empty()),
        "{failed}"
    );
    assert!(
        !app.presence("drifty").await.role,
        "rollback removes what the run created"
    );

    match tables.delete_table(&squatter.name).await {
        Ok(()) => {}
        Err(e) if e.kind() == tenancy::ErrorKind::NotFound => {}
        Err(e) => panic!("removing the squatter: {e}"),
    }
    let (status, retried) = json_of(
        app.post("/tenants/drifty/retry?wait=true", &Value::Null)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{retried}");
    assert_eq!(retried["status"], "active");
    assert!(retried["failure"].is_null());
    assert_eq!(app.presence("drifty").await, Presence::ALL);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_resumes_a_requested_tenant() {
    let dir = tempfile::tempdir().unwrap();
    {
        // A previous process recorded the tenant and stopped before provisioning it.
        let settings = TestApp::settings_for(dir.path()).provisioner;
        let backend = tenancy::open(&settings).await.expect("embedded backend");
        let provisioner = Provisioner::new(backend, settings);
        let record = provisioner
            .request(NewTenant {
                id: TenantId::parse("phoenix").unwrap(),
                name: TenantName::parse("Phoenix").unwrap(),
                owner_email: OwnerEmail::parse("ops@phoenix.io").unwrap(),
                tier: Tier::Standard,
                allowed_origins: vec![],
                request: None,
            })
            .await
            .expect("request");
        assert_eq!(record.status, TenantStatus::Requested);
    }
    let app = TestApp::spawn_in(dir.path()).await;
    let tenant = app.wait_for_status("phoenix", &["active", "failed"]).await;
    assert_eq!(tenant["status"], "active", "{tenant}");
    assert_eq!(app.presence("phoenix").await, Presence::ALL);
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_control_plane_finishes_an_interrupted_offboarding() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = TestApp::spawn_in(dir.path()).await;
        app.onboard("lazarus").await;
        // The previous process began offboarding and stopped before cleaning up.
        let id = TenantId::parse("lazarus").unwrap();
        app.state
            .provisioner
            .begin_offboarding(&id)
            .await
            .expect("begin offboarding");
    }
    let app = TestApp::spawn_in(dir.path()).await;
    let tenant = app.wait_for_status("lazarus", &["deleted"]).await;
    assert_arns_cleared(&tenant);
    assert_eq!(app.presence("lazarus").await, Presence::NONE);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_control_plane_lets_runs_finish_and_leaves_new_work_to_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    {
        let app = TestApp::spawn_in(dir.path()).await;
        let (status, _) =
            json_of(app.post_tenant(&crate::helpers::tenant_body("early")).await).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        let unfinished = app
            .state
            .runs
            .drain(std::time::Duration::from_secs(30))
            .await;
        assert_eq!(unfinished, 0);
        assert_eq!(app.tenant("early").await["status"], "active");

        // Accepted while stopping: recorded, but no run starts in this process.
        let (status, late) =
            json_of(app.post_tenant(&crate::helpers::tenant_body("late")).await).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{late}");
        assert!(app.state.runs.is_empty());
        assert_eq!(app.tenant("late").await["status"], "requested");
    }
    let app = TestApp::spawn_in(dir.path()).await;
    let late = app.wait_for_status("late", &["active", "failed"]).await;
    assert_eq!(late["status"], "active", "{late}");
}

fn assert_arns_cleared(view: &Value) {
    for arn in [
        "key_id",
        "key_arn",
        "app_table_arn",
        "events_table_arn",
        "role_arn",
    ] {
        assert!(
            view["resources"]["arns"][arn].is_null(),
            "{arn} still set: {view}"
        );
    }
}
