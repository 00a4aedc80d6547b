//! The stream trigger step: with a stream handler configured, a tenant's events table's stream
//! is linked to it on onboarding, the link is removed on offboarding (only if its own tags
//! say it is the tenant's), drift reports a missing one and repair makes it — on the embedded
//! backend here, and through the CLI on moto's Lambda.

use provisioner::drift::{Field, Problem, ResourceKind};
use provisioner::{Provisioner, Settings};
use tenancy::naming::{TAG_MANAGED_BY, TAG_TENANT};
use tenancy::ports::stream_trigger::{BATCH_SIZE, BATCHING_WINDOW_SECS};
use tenancy::ports::{FunctionArn, TriggerInfo, TriggerSpec, trigger_id_of_arn};
use tenancy::{ErrorKind, JournalEntry, JournalPhase, TenantId, TenantStatus};

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

/// A tenant whose trigger was made while the deployment had a stream handler loses it on
/// offboarding after the handler setting is gone: the record names it.
#[tokio::test]
async fn offboarding_removes_the_recorded_trigger_once_no_handler_is_configured() {
    let env = TestEnv::new().await;
    let p = with_handler(&env, &handler("spotlight-stream-handler"));
    let id = tenant("unplugged");
    p.request(TestEnv::new_tenant(&id)).await.unwrap();
    let record = p.provision(&id).await.unwrap();
    let arn = record.arns.stream_trigger_arn.clone().expect("recorded");
    let id_of = trigger_id_of_arn(&arn).to_owned();
    env.backend.triggers.describe_trigger(&id_of).await.unwrap();

    // `env.provisioner` has no stream handler configured.
    env.provisioner.offboard(&id).await.unwrap();
    let gone = env.backend.triggers.describe_trigger(&id_of).await;
    assert_eq!(gone.map_err(|e| e.kind()).err(), Some(ErrorKind::NotFound));
    let undone = trigger_entry(&env, &id, JournalPhase::Undone).await;
    assert!(undone.detail.contains(&arn), "{}", undone.detail);
}

/// After the handler changes, the trigger to the earlier one (tagged for the tenant) is a
/// second consumer nothing plans: drift reports it `extra`, repair removes it and makes the
/// one to the new handler.
#[tokio::test]
async fn a_trigger_to_an_earlier_handler_is_extra_and_repair_replaces_it() {
    let env = TestEnv::new().await;
    let id = tenant("moved");
    let old = with_handler(&env, &handler("old-handler"));
    old.request(TestEnv::new_tenant(&id)).await.unwrap();
    old.provision(&id).await.unwrap();
    let p = with_handler(&env, &handler("new-handler"));

    let drift = p.drift(&id).await.unwrap();
    let mut seen: Vec<(ResourceKind, Problem)> = drift
        .findings
        .iter()
        .map(|f| (f.resource, f.problem))
        .collect();
    seen.sort_by_key(|(_, problem)| format!("{problem:?}"));
    assert_eq!(
        seen,
        [
            (ResourceKind::StreamTrigger, Problem::Extra),
            (ResourceKind::StreamTrigger, Problem::Missing)
        ],
        "{drift:#?}"
    );
    let repair = p.repair(&id).await.unwrap();
    assert!(repair.is_complete(), "{repair:#?}");
    let now = triggers(&env, &id).await;
    let [only] = now.as_slice() else {
        panic!("one trigger after repair, found {now:?}")
    };
    assert_eq!(only.spec.function, handler("new-handler"));
    assert!(p.drift(&id).await.unwrap().is_clean());
}

#[cfg(feature = "failpoints")]
mod injected {
    //! The trigger step under failures injected in-process: rolled back with the rest, and
    //! adopted when an earlier attempt made it but did not journal it.

    use super::*;

    #[tokio::test]
    async fn a_failure_after_the_trigger_step_rolls_it_back_and_a_retry_makes_one() {
        let env = TestEnv::new().await;
        let p = with_handler(&env, &handler("spotlight-stream-handler"));
        let id = tenant("rolled-back");
        fail::cfg("provision:after:stream_trigger", "return").unwrap();
        p.request(TestEnv::new_tenant(&id)).await.unwrap();
        let failed = p.provision(&id).await.unwrap();
        fail::remove("provision:after:stream_trigger");
        assert_eq!(failed.status, TenantStatus::Failed);
        assert_eq!(failed.failure.unwrap().step, "stream_trigger");
        env.assert_no_resources(&id).await;
        let undone = trigger_entry(&env, &id, JournalPhase::Undone).await;
        let arn = undone
            .detail
            .strip_prefix("deleted trigger ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("the rollback deleted the trigger: {}", undone.detail));
        let gone = env
            .backend
            .triggers
            .describe_trigger(trigger_id_of_arn(arn))
            .await;
        assert_eq!(gone.map_err(|e| e.kind()).err(), Some(ErrorKind::NotFound));

        p.retry(&id).await.unwrap();
        assert_eq!(p.provision(&id).await.unwrap().status, TenantStatus::Active);
        assert_eq!(triggers(&env, &id).await.len(), 1);
    }

    /// What an attempt whose answer was lost leaves: the trigger exists, nothing journaled
    /// it. The step finds it by its stream and function and adopts it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_trigger_made_by_a_lost_attempt_is_adopted_not_made_twice() {
        let env = TestEnv::new().await;
        let function = handler("spotlight-stream-handler");
        let p = with_handler(&env, &function);
        let id = tenant("adopted");
        let (backend, events) = (env.backend.clone(), p.plan(&id).names.events_table);
        let (plan, made) = (
            p.plan(&id),
            std::sync::Arc::new(std::sync::Mutex::new(None)),
        );
        let result = made.clone();
        fail::cfg_callback("provision:before:stream_trigger", move || {
            let (backend, events, plan) = (backend.clone(), events.clone(), plan.clone());
            let trigger = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async {
                    let table = backend.tables.describe_table(&events).await.unwrap();
                    let spec = plan.trigger_spec(&table.stream_arn.unwrap()).unwrap();
                    backend.triggers.create_trigger(&spec).await.unwrap()
                })
            })
            .join()
            .unwrap();
            *result.lock().unwrap() = Some(trigger);
        })
        .unwrap();
        p.request(TestEnv::new_tenant(&id)).await.unwrap();
        let record = p.provision(&id).await.unwrap();
        fail::remove("provision:before:stream_trigger");
        assert_eq!(record.status, TenantStatus::Active, "{record:#?}");
        let made = made.lock().unwrap().take().expect("the lost attempt ran");
        assert_eq!(triggers(&env, &id).await, std::slice::from_ref(&made));
        assert_eq!(record.arns.stream_trigger_arn, Some(made.arn));
        let done = trigger_entry(&env, &id, JournalPhase::Done).await;
        assert!(
            done.detail.starts_with("adopted trigger"),
            "{}",
            done.detail
        );
    }
}
