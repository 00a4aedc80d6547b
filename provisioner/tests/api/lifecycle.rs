//! Requests, pure transitions, status and the in-flight list.

use provisioner::OperatorTransition;
use tenancy::{ErrorKind, JournalPhase, TenantStatus};

use crate::helpers::{TestEnv, tenant};

fn port_kind(err: &provisioner::Error) -> Option<ErrorKind> {
    match err {
        provisioner::Error::Port(e) => Some(e.kind()),
        _ => None,
    }
}

#[tokio::test]
async fn a_request_stores_a_requested_tenant_with_its_plan_names_and_a_first_journal_entry() {
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
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
    let env = TestEnv::new().await;
    let id = tenant("sleepy");
    env.onboard(&id).await;
    let suspended = env
        .provisioner
        .transition(&id, OperatorTransition::Suspend, "unpaid invoice")
        .await
        .unwrap();
    assert_eq!(suspended.status, TenantStatus::Suspended);
    let resumed = env
        .provisioner
        .transition(&id, OperatorTransition::Resume, "paid")
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
    let env = TestEnv::new().await;
    let id = tenant("strict");
    let before = env.onboard(&id).await;
    let err = env
        .provisioner
        .transition(&id, OperatorTransition::Resume, "no")
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
    let env = TestEnv::new().await;
    env.provisioner
        .request(TestEnv::new_tenant(&tenant("waiting")))
        .await
        .unwrap();
    env.provisioner
        .request(TestEnv::new_tenant(&tenant("started")))
        .await
        .unwrap();
    env.leave_provisioning(&tenant("started")).await;
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
async fn a_tenant_left_provisioning_is_taken_over_by_provision_under_a_fresh_run() {
    let env = TestEnv::new().await;
    let id = tenant("resumed");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let started = env.leave_provisioning(&id).await;
    let record = env.provisioner.provision(&id).await.unwrap();
    assert_eq!(record.status, TenantStatus::Active);
    let journal = env.journal(&id).await;
    let activate = journal.iter().find(|e| e.step == "activate").unwrap();
    assert_ne!(
        Some(activate.run_id),
        started.run_id,
        "a fresh run took over, so the abandoned one cannot drive the tenant any more"
    );
    let takeover = journal
        .iter()
        .find(|e| e.run_id == activate.run_id && e.phase == JournalPhase::Transition)
        .unwrap();
    assert_eq!(takeover.step, "begin_provisioning");
    assert!(
        takeover
            .detail
            .contains(&started.run_id.unwrap().to_string()),
        "{takeover:?}"
    );
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_resuming_one_tenant_leave_exactly_one_of_each_resource() {
    let env = TestEnv::new().await;
    let id = tenant("contended");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    env.leave_provisioning(&id).await;
    // A second provisioner over the same data directory plays the other process.
    let other = provisioner::Provisioner::new(
        tenancy::open(&env.settings).await.unwrap(),
        env.settings.clone(),
    );
    let (a, b) = tokio::join!(env.provisioner.provision(&id), other.provision(&id));
    for result in [&a, &b] {
        match result {
            Ok(record) => assert_eq!(record.status, TenantStatus::Active, "{record:?}"),
            Err(provisioner::Error::Superseded { .. }) => {}
            Err(e) => panic!("only a superseded run may fail: {e:?}"),
        }
    }
    assert!(a.is_ok() || b.is_ok(), "{a:?} / {b:?}");
    assert_eq!(env.record(&id).await.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}

#[tokio::test]
async fn status_of_an_unknown_tenant_is_not_found() {
    let env = TestEnv::new().await;
    let err = env
        .provisioner
        .status(&tenant("nobody"), 10)
        .await
        .unwrap_err();
    assert_eq!(port_kind(&err), Some(ErrorKind::NotFound));
}

#[tokio::test]
async fn resume_takes_over_only_the_run_it_judged_abandoned() {
    let env = TestEnv::new().await;
    let id = tenant("leased");
    env.provisioner
        .request(TestEnv::new_tenant(&id))
        .await
        .unwrap();
    let left = env.leave_provisioning(&id).await;

    // A run newer than the one seen (another process started it since) is left alone.
    let newer_than_seen = Some(uuid::Uuid::now_v7());
    let refused = env.provisioner.resume(&id, newer_than_seen).await;
    assert!(
        matches!(refused, Err(provisioner::Error::Superseded { .. })),
        "{refused:?}"
    );
    let untouched = env.provisioner.record(&id).await.unwrap();
    assert_eq!(untouched.run_id, left.run_id);
    assert_eq!(untouched.version, left.version, "nothing was written");

    // The run that was seen is taken over and driven to the end.
    let record = env.provisioner.resume(&id, left.run_id).await.unwrap();
    assert_eq!(record.status, TenantStatus::Active);
    env.assert_fully_provisioned(&id).await;
}
