//! Onboarding many tenants at once on the AWS adapters against moto, paced at AWS's published
//! rates: tenants are requested and provisioned concurrently, as a burst of sign-ups would
//! be, and the pacer makes them wait their turn. Run by hand, not in CI (it takes minutes):
//!
//! ```sh
//! bash scripts/bench-aws-onboarding.sh 1000
//! ```
//!
//! That script starts moto (DynamoDB in a process of its own, the other services in a second:
//! each moto process runs on one core), points the SDK at them through the
//! standard `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_DYNAMODB`, runs this benchmark and reports
//! what moto itself spent.
//!
//! Arguments: the number of tenants (default 1000); `in-flight=N`, how many tenants are
//! onboarded at a time (default 64: more only queue on the limiter, each holding a connection
//! open to moto, one Python process); and `unpaced` to lift every limit to its highest
//! setting — which measures what moto itself serves. Each run uses a deployment prefix of its
//! own. Prints failures, p50/p99/max time from a tenant's start to `active`, the total time
//! against the floor KMS CreateKey's rate sets, AWS calls per tenant (mutating and reads) and
//! the peak rate of each API in any one second.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use provisioner::{NewTenant, Provisioner, Settings};
use tenancy::aws::wire::{CallKind, CallLog};
use tenancy::aws::{AwsClients, PacingLimits, WireHooks};
use tenancy::retry::{RetryPolicy, with_retries};
use tenancy::settings::BackendKind;
use tenancy::{OwnerEmail, TablePrefix, TenantId, TenantName, TenantStatus, Tier};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tenants: usize = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1000);
    let unpaced = args.iter().any(|a| a == "unpaced");
    let in_flight: usize = args
        .iter()
        .find_map(|a| a.strip_prefix("in-flight=")?.parse().ok())
        .unwrap_or(64);
    let slots = Arc::new(tokio::sync::Semaphore::new(in_flight.max(1)));
    let done = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    // The endpoints come from the environment, as the SDK resolves them for any Spotlight
    // binary: one set in code would override the service-specific `AWS_ENDPOINT_URL_<SERVICE>`.
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "AWS_ENDPOINT_URL is not set: run scripts/bench-aws-onboarding.sh, which starts moto"
    );
    let limits = if unpaced {
        let most = |n| NonZeroU32::new(n).expect("non-zero");
        PacingLimits {
            kms_control_per_sec: most(1_000),
            iam_mutations_per_sec: most(1_000),
            dynamodb_control_per_sec: most(10_000),
            dynamodb_table_operations: most(500),
        }
    } else {
        PacingLimits::AWS_DEFAULTS
    };

    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "bench", "bench", None, None, "bench",
        ))
        .retry_config(RetryConfig::disabled())
        .load()
        .await;
    let log = CallLog::new();
    let hooks = WireHooks {
        log: Some(log.clone()),
        faults: None,
    };
    let clients = AwsClients::from_config_with(&config, limits, hooks);
    let random = uuid::Uuid::new_v4().simple().to_string();
    let prefix = TablePrefix::parse(&format!("bench{}", &random[..6])).expect("prefix");
    tenancy::aws::ensure_registry_table(&clients.dynamodb, &prefix.registry_table())
        .await
        .expect("registry table");
    let settings = Settings {
        backend: BackendKind::Aws,
        table_prefix: prefix.clone(),
        ..Settings::default()
    };
    let raw = tenancy::aws::backend(&clients, &prefix, &settings.data_plane_principal);
    let backend = with_retries(raw, Arc::new(RetryPolicy::default()));
    let provisioner = Arc::new(Provisioner::new(backend, settings));
    log.clear();

    println!(
        "onboarding {tenants} tenants ({in_flight} at a time) on moto as deployment {}, {}",
        prefix.as_str(),
        if unpaced {
            "limits lifted".to_owned()
        } else {
            format!("paced at {limits:?}")
        }
    );
    let started = Instant::now();
    let runs: Vec<_> = (0..tenants)
        .map(|i| {
            let provisioner = provisioner.clone();
            let slots = slots.clone();
            let done = done.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire_owned().await.expect("open semaphore");
                let own_start = Instant::now();
                let id = TenantId::parse(&format!("t{i:05}")).expect("tenant id");
                let new = NewTenant {
                    id: id.clone(),
                    name: TenantName::parse(&format!("Bench tenant {i}")).expect("name"),
                    owner_email: OwnerEmail::parse("ops@bench.example").expect("e-mail"),
                    tier: Tier::Standard,
                    allowed_origins: Vec::new(),
                    request: None,
                };
                provisioner
                    .request(new)
                    .await
                    .map_err(|e| format!("{id}: request: {e}"))?;
                let record = provisioner
                    .provision(&id)
                    .await
                    .map_err(|e| format!("{id}: provision: {e}"))?;
                let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if n.is_multiple_of(100) {
                    println!("  {n} done after {:.1} s", started.elapsed().as_secs_f64());
                }
                match record.status {
                    TenantStatus::Active => Ok(own_start.elapsed()),
                    other => Err(format!("{id}: ended {other:?}: {:?}", record.failure)),
                }
            })
        })
        .collect();
    let mut to_active = Vec::with_capacity(tenants);
    let mut failures = Vec::new();
    for run in runs {
        match run.await.expect("onboarding task") {
            Ok(elapsed) => to_active.push(elapsed),
            Err(failure) => failures.push(failure),
        }
    }
    let total = started.elapsed();

    to_active.sort_unstable();
    let at = |q: f64| -> Duration {
        if to_active.is_empty() {
            return Duration::ZERO;
        }
        let rank = ((to_active.len() as f64) * q).ceil() as usize;
        to_active[rank.clamp(1, to_active.len()) - 1]
    };
    let floor = tenants as f64 / f64::from(limits.kms_control_per_sec.get());
    println!("failures: {}", failures.len());
    for failure in failures.iter().take(10) {
        println!("  {failure}");
    }
    println!(
        "time to active (from a tenant's start): p50 {:.2} s, p99 {:.2} s, max {:.2} s",
        at(0.50).as_secs_f64(),
        at(0.99).as_secs_f64(),
        at(1.0).as_secs_f64()
    );
    println!(
        "total: {:.1} s; CreateKey floor {floor:.1} s; ratio {:.3}",
        total.as_secs_f64(),
        total.as_secs_f64() / floor
    );
    let calls = log.calls();
    let per_tenant = |kind: CallKind| {
        calls.iter().filter(|c| c.kind == kind).count() as f64 / tenants.max(1) as f64
    };
    println!(
        "AWS calls per tenant: {:.2} mutating, {:.2} reads; {} calls in all, {:.0} calls/s",
        per_tenant(CallKind::Mutation),
        per_tenant(CallKind::Read),
        calls.len(),
        calls.len() as f64 / total.as_secs_f64()
    );
    println!("peak calls in any one second, by API:");
    let mutations = log.counts(CallKind::Mutation);
    for (operation, peak) in log.peak_per_second() {
        let kind = if mutations.contains_key(&operation) {
            "mutating"
        } else {
            "read"
        };
        println!("  {operation:<40} {peak:>5}  ({kind})");
    }
}
