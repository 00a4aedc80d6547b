//! Requests, pure transitions, status and the in-flight list.

use tenancy::{ErrorKind, JournalPhase, TenantStatus, Transition};

use crate::helpers::{TestEnv, tenant};

fn port_kind(err: &provisioner::Error) -> Option<ErrorKind> {
    match err {
        provisioner::Error::Port(e) => Some(e.kind()),
        _ => None,
    }
}

#[tokio::test]
async fn a_request_stores_a_requested_tenant_with_its_plan_names_and_a_first_journal_entry() {
    let env = TestEnv::new();
    let id = tenant("fresh");
    let record = env
        .provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    assert_eq!(record.status, TenantStatus::Requested);
    assert_eq!(record.version, 1);
    assert_eq!(record.resources, env.provisioner.plan(&id).names);
    let journal = env.journal(&id).await;
    assert_eq!(journal.len(), 1);
    assert_eq!(journal[0].step, "request");
    assert_eq!(Some(journal[0].run_id), record.run_id);
}

#[tokio::test]
async fn requesting_a_taken_id_is_already_exists() {
    let env = TestEnv::new();
    let id = tenant("taken");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let err = env
        .provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap_err();
    assert_eq!(port_kind(&err), Some(ErrorKind::AlreadyExists), "{err:?}");
}

#[tokio::test]
async fn suspend_and_resume_are_journaled_transitions() {
    let env = TestEnv::new();
    let id = tenant("sleepy");
    env.onboard(&id).await;
    let suspended = env
        .provisioner
        .transition(&id, Transition::Suspend, "unpaid invoice")
        .await
        .unwrap();
    assert_eq!(suspended.status, TenantStatus::Suspended);
    let resumed = env
        .provisioner
        .transition(&id, Transition::Resume, "paid")
        .await
        .unwrap();
    assert_eq!(resumed.status, TenantStatus::Active);
    assert_eq!(
        resumed.arns, suspended.arns,
        "pure transitions keep the resources"
    );

    let journal = env.provisioner.status(&id, 2).await.unwrap().journal;
    let tail: Vec<(&str, JournalPhase, &str)> = journal
        .iter()
        .map(|e| (e.step.as_str(), e.phase, e.detail.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            ("suspend", JournalPhase::Transition, "unpaid invoice"),
            ("resume", JournalPhase::Transition, "paid")
        ]
    );
}

#[tokio::test]
async fn a_transition_the_lifecycle_forbids_is_refused_and_nothing_changes() {
    let env = TestEnv::new();
    let id = tenant("strict");
    let before = env.onboard(&id).await;
    let err = env
        .provisioner
        .transition(&id, Transition::Resume, "no")
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "cannot resume a tenant that is active");
    let err = env.provisioner.retry(&id).await.unwrap_err();
    assert!(
        matches!(err, provisioner::Error::IllegalTransition(_)),
        "{err:?}"
    );
    assert_eq!(env.record(&id).await, before);
}

#[tokio::test]
async fn in_flight_lists_requested_and_provisioning_tenants_but_not_active_ones() {
    let env = TestEnv::new();
    env.provisioner
        .request(TestEnv::new_tenant(&tenant("waiting")))
        .await
        .unwrap();
    env.provisioner
        .request(TestEnv::new_tenant(&tenant("started")))
        .await
        .unwrap();
    env.provisioner
        .transition(&tenant("started"), Transition::BeginProvisioning, "test")
        .await
        .unwrap();
    env.onboard(&tenant("done")).await;

    let mut ids: Vec<String> = env
        .provisioner
        .in_flight()
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.id.to_string())
        .collect();
    ids.sort();
    assert_eq!(ids, ["started", "waiting"]);
}

#[tokio::test]
async fn a_tenant_left_provisioning_is_resumed_by_provision() {
    let env = TestEnv::new();
    let id = tenant("resumed");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let started = env
        .provisioner
        .transition(&id, Transition::BeginProvisioning, "a run that died")
        .await
        .unwrap();
    let record = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(record.status, TenantStatus::Active);
    let journal = env.journal(&id).await;
    let activate = journal.iter().find(|e| e.step == "activate").unwrap();
    assert_eq!(
        Some(activate.run_id),
        started.run_id,
        "the existing run was continued"
    );
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn status_of_an_unknown_tenant_is_not_found() {
    let env = TestEnv::new();
    let err = env
        .provisioner
        .status(&tenant("nobody"), 10)
        .await
        .unwrap_err();
    assert_eq!(port_kind(&err), Some(ErrorKind::NotFound));
}
