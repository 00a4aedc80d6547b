//! The stream trigger step: with a stream handler configured, a tenant's events table's stream
//! is linked to it on onboarding, the link is removed on offboarding (only if its own tags
//! say it is the tenant's), drift reports a missing one and repair makes it — on the embedded
//! backend here, and through the CLI on moto's Lambda.

use provisioner::drift::{Field, Problem, ResourceKind};
use provisioner::{Provisioner, Settings};
use tenancy::naming::{TAG_MANAGED_BY, TAG_TENANT};
use tenancy::ports::stream_trigger::{BATCH_SIZE, BATCHING_WINDOW_SECS};
use tenancy::ports::{FunctionArn, TriggerInfo, TriggerSpec};
use tenancy::{JournalEntry, JournalPhase, TenantId, TenantStatus};

use crate::aws::{fresh_prefix, moto_sdk_config, run, run_with};
use crate::helpers::{TestEnv, tenant};

fn handler(name: &str) -> FunctionArn {
    FunctionArn::parse(&format!(
        "arn:aws:lambda:local:000000000000:function:{name}"
    ))
    .unwrap()
}

/// The environment's provisioner, with `SPOTLIGHT_STREAM_HANDLER_ARN` set to `function`.
fn with_handler(env: &TestEnv, function: &FunctionArn) -> Provisioner {
    let settings = Settings {
        stream_handler_arn: Some(function.clone()),
        ..env.settings.clone()
    };
    Provisioner::new(env.backend.clone(), settings)
}

async fn events_stream(env: &TestEnv, id: &TenantId) -> String {
    let name = env.provisioner.plan(id).names.events_table;
    let table = env.backend.tables.describe_table(&name).await.unwrap();
    table.stream_arn.expect("the events table has a stream")
}

/// The trigger step's first journal entry in `phase`.
async fn trigger_entry(env: &TestEnv, id: &TenantId, phase: JournalPhase) -> JournalEntry {
    env.journal(id)
        .await
        .into_iter()
        .find(|e| e.step == "stream_trigger" && e.phase == phase)
        .unwrap_or_else(|| panic!("no {phase:?} entry of the stream_trigger step"))
}

async fn triggers(env: &TestEnv, id: &TenantId) -> Vec<TriggerInfo> {
    let stream = events_stream(env, id).await;
    env.backend
        .triggers
        .triggers_of_stream(&stream)
        .await
        .unwrap()
}

#[tokio::test]
async fn onboarding_links_the_events_stream_to_the_handler_and_offboarding_unlinks_it() {
    let env = TestEnv::new().await;
    let function = handler("spotlight-stream-handler");
    let p = with_handler(&env, &function);
    let id = tenant("streamed");
    p.request(TestEnv::new_tenant(&id)).await.unwrap();
    let record = p.provision(&id).await.unwrap();
    assert_eq!(record.status, TenantStatus::Active, "{record:#?}");

    let found = triggers(&env, &id).await;
    let [trigger] = found.as_slice() else {
        panic!("one trigger of the events stream, found {found:?}")
    };
    assert_eq!(trigger.spec.function, function);
    assert_eq!(trigger.spec.stream_arn, events_stream(&env, &id).await);
    assert_eq!(trigger.spec.tags, p.plan(&id).tags);
    assert_eq!(trigger.spec.batch_size, BATCH_SIZE);
    assert_eq!(
        record.arns.stream_trigger_arn.as_deref(),
        Some(trigger.arn.as_str())
    );
    let done = trigger_entry(&env, &id, JournalPhase::Done).await;
    assert!(
        done.detail.starts_with("created trigger"),
        "{}",
        done.detail
    );
    assert!(p.drift(&id).await.unwrap().is_clean());

    // Provisioning again adopts the trigger instead of making a second one.
    let again = p.provision(&id).await.unwrap();
    assert_eq!(again.status, TenantStatus::Active);
    assert_eq!(triggers(&env, &id).await.len(), 1);

    let stream = events_stream(&env, &id).await;
    let deleted = p.offboard(&id).await.unwrap();
    assert_eq!(deleted.status, TenantStatus::Deleted);
    assert_eq!(
        env.backend
            .triggers
            .triggers_of_stream(&stream)
            .await
            .unwrap(),
        []
    );
    let undone = trigger_entry(&env, &id, JournalPhase::Undone).await;
    assert!(
        undone.detail.contains("deleted trigger"),
        "{}",
        undone.detail
    );
}

#[tokio::test]
async fn without_a_stream_handler_there_is_no_trigger_step() {
    let env = TestEnv::new().await;
    let id = tenant("polled");
    env.onboard(&id).await;
    assert_eq!(triggers(&env, &id).await, []);
    env.provisioner.offboard(&id).await.unwrap();
    let journal = env.journal(&id).await;
    assert!(
        journal.iter().all(|e| e.step != "stream_trigger"),
        "{journal:#?}"
    );
}

/// A trigger of the tenant's stream that is not the tenant's own (an operator's function,
/// untagged) is left in place by offboarding and journaled `Kept`.
#[tokio::test]
async fn offboarding_keeps_a_trigger_of_the_stream_that_is_not_the_tenants() {
    let env = TestEnv::new().await;
    let p = with_handler(&env, &handler("spotlight-stream-handler"));
    let id = tenant("shared-stream");
    p.request(TestEnv::new_tenant(&id)).await.unwrap();
    assert_eq!(p.provision(&id).await.unwrap().status, TenantStatus::Active);
    let stream = events_stream(&env, &id).await;
    let mut foreign_tags = p.plan(&id).tags;
    foreign_tags.insert(TAG_MANAGED_BY.to_owned(), "someone-else".to_owned());
    foreign_tags.insert(TAG_TENANT.to_owned(), id.to_string());
    let foreign = env
        .backend
        .triggers
        .create_trigger(&TriggerSpec {
            stream_arn: stream.clone(),
            function: handler("operators-audit"),
            batch_size: BATCH_SIZE,
            batching_window_secs: BATCHING_WINDOW_SECS,
            tags: foreign_tags,
        })
        .await
        .unwrap();

    p.offboard(&id).await.unwrap();
    assert_eq!(
        env.backend
            .triggers
            .triggers_of_stream(&stream)
            .await
            .unwrap(),
        std::slice::from_ref(&foreign),
        "the tenant's own trigger went, the other stayed"
    );
    let kept = trigger_entry(&env, &id, JournalPhase::Kept).await;
    assert!(kept.detail.contains(&foreign.arn), "{}", kept.detail);
    assert!(
        kept.detail.contains("spotlight:managed-by"),
        "{}",
        kept.detail
    );
}

/// Tenants onboarded before the deployment had a stream handler get their trigger from
/// `reconcile --repair`: drift reports it missing, repair makes it, drift is clean after.
#[tokio::test]
async fn repair_gives_a_tenant_made_before_the_handler_its_trigger() {
    let env = TestEnv::new().await;
    let id = tenant("older");
    env.onboard(&id).await;
    let p = with_handler(&env, &handler("spotlight-stream-handler"));

    let drift = p.drift(&id).await.unwrap();
    let [finding] = drift.findings.as_slice() else {
        panic!("one finding, got {drift:#?}")
    };
    assert_eq!(finding.resource, ResourceKind::StreamTrigger);
    assert_eq!(finding.problem, Problem::Missing);
    assert_eq!(finding.field, Field::Existence);

    let repair = p.repair(&id).await.unwrap();
    assert!(repair.is_complete(), "{repair:#?}");
    assert_eq!(repair.repaired.len(), 1);
    assert!(p.drift(&id).await.unwrap().is_clean());
    assert_eq!(triggers(&env, &id).await.len(), 1);
}

/// On AWS (moto): `apply` with `SPOTLIGHT_STREAM_HANDLER_ARN` makes the Lambda event source
/// mapping from the events table's stream to the function, tagged for the tenant; `destroy`
/// removes it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_aws_the_trigger_is_a_tagged_lambda_event_source_mapping() {
    let env = TestEnv::new().await;
    let prefix = fresh_prefix("esm");
    let clients = tenancy::aws::AwsClients::from_config(&moto_sdk_config().await);
    let function = tenancy::conformance::moto::deploy_function(
        &clients,
        &format!("{}-stream-handler", prefix.as_str()),
    )
    .await
    .unwrap();
    let handler = [("SPOTLIGHT_STREAM_HANDLER_ARN", function.to_string())];
    let cli = |args: &[&str]| run_with(&env, prefix.as_str(), &handler, args);
    run(&env, prefix.as_str(), &["bootstrap"]);
    let active = cli(&["apply", "--tenant", "acme", "--owner-email", "ops@acme.io"]);
    assert_eq!(active["status"], "active", "{active}");

    let aws = tenancy::aws::backend(&clients, &prefix, &env.settings.data_plane_principal);
    let id = tenant("acme");
    let plan = provisioner::TenantPlan::new(&prefix, &id, &env.settings.data_plane_principal);
    let table = aws
        .tables
        .describe_table(&plan.names.events_table)
        .await
        .unwrap();
    let stream = table.stream_arn.expect("the events table streams");
    let mappings = aws.triggers.triggers_of_stream(&stream).await.unwrap();
    let [mapping] = mappings.as_slice() else {
        panic!("one mapping of the events stream, found {mappings:?}")
    };
    assert_eq!(mapping.spec.function, function);
    assert_eq!(mapping.spec.tags, plan.tags);
    assert_eq!(active["arns"]["stream_trigger_arn"], mapping.arn.as_str());

    let deleted = cli(&["destroy", "--tenant", "acme"]);
    assert_eq!(deleted["status"], "deleted", "{deleted}");
    let left = aws.triggers.triggers_of_stream(&stream).await.unwrap();
    assert_eq!(left, []);
}
