//! The `provisioner` command line: `bootstrap`, `plan`, `apply`, `destroy`, `status`,
//! `reconcile` (`--repair`), `drift`, `sweep`, `admin` (a tenant's admins). Settings come from
//! `SPOTLIGHT_*` (see [`crate::config`]); output is JSON on stdout, diagnostics on stderr.
//!
//! Built with the `failpoints` feature, the binary reads `FAILPOINTS` at start, so a crash can
//! be staged by hand, e.g. `FAILPOINTS=provision:after:key=return(abort) provisioner apply
//! --tenant acme --owner-email ops@example.com`, then resumed with `provisioner apply --tenant
//! acme`.

pub mod admin;

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use tenancy::{ErrorKind, OwnerEmail, TenantId, TenantName, TenantStatus, Tier};

use crate::config::{BackendKind, Settings};
use crate::error::Error;
use crate::reconcile::RunEnd;
use crate::runner::{NewTenant, Provisioner};
use crate::runs::RunTracker;

#[derive(Debug, Parser)]
#[command(
    name = "provisioner",
    about = "Create, inspect and remove Spotlight tenants' resources",
    version
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ensure the platform resources a deployment needs before its first tenant — on AWS the
    /// registry table `{prefix}_tenants-metadata` (created if missing, checked if present) and
    /// the Cognito user pool `{prefix}-admins` (with an immutable `custom:tenantId`) and its app
    /// client, each found by name first; on the embedded backend the data directory — and print
    /// the settings in use as JSON (on AWS, the identity settings to set).
    /// Idempotent. In production Terraform creates them instead.
    Bootstrap,
    /// Print the tenant's resource plan as JSON. No side effects.
    Plan {
        #[arg(long)]
        tenant: TenantId,
    },
    /// Request the tenant if it does not exist yet, then provision it (or resume or retry its
    /// run) until it is active; print the final record.
    Apply {
        #[arg(long)]
        tenant: TenantId,
        /// Display name (default: the tenant id). Used only when the tenant is new.
        #[arg(long)]
        name: Option<String>,
        /// Owner's e-mail address. Required when the tenant is new.
        #[arg(long)]
        owner_email: Option<String>,
        #[arg(long, value_enum, default_value_t = TierArg::Standard)]
        tier: TierArg,
    },
    /// Offboard the tenant: revoke its API keys, remove its admins and its resources, keep a
    /// tombstone.
    Destroy {
        #[arg(long)]
        tenant: TenantId,
    },
    /// Print the tenant's record and newest journal entries as JSON.
    Status {
        #[arg(long)]
        tenant: TenantId,
        /// How many journal entries to show.
        #[arg(long, default_value_t = 50)]
        journal: u32,
    },
    /// One reconcile pass over the data directory, as the control plane runs it periodically:
    /// take over in-flight tenants whose run looks abandoned, wait for those runs, destroy keys
    /// past their deletion window; print a JSON summary. Exits non-zero when a resumed run did
    /// not reach its goal (it stopped with an error, ended `failed`, or was still running at
    /// the deadline) or the key housekeeping failed.
    Reconcile {
        /// How long (seconds, 5–86400) a tenant's record and journal must have been quiet
        /// before its run is taken over: the same lease as the control plane's.
        #[arg(long, env = "SPOTLIGHT_RUN_LEASE_SECS", default_value_t = 120,
            value_parser = clap::value_parser!(u64).range(5..=86_400))]
        lease_secs: u64,
        /// Take over every in-flight tenant regardless of the lease, as the control plane does
        /// at start-up. A run another process is driving right now is superseded: it stops at
        /// its next step and this pass carries on from the journal.
        #[arg(long)]
        all: bool,
        /// How long (seconds, 0–86400) to wait in all for the resumed runs to end; a run still
        /// going then is reported `unfinished` and resumed by a later pass.
        #[arg(long, default_value_t = 300,
            value_parser = clap::value_parser!(u64).range(0..=86_400))]
        timeout_secs: u64,
        /// Then check every active and suspended tenant for drift and converge what can be
        /// converged (recreate a missing table — empty — or role, put back a changed role
        /// policy), on resources whose own tags name this deployment and tenant; the summary
        /// gains `repairs`, one per tenant, with what was repaired and what was not and why.
        /// Exits non-zero when something was left unrepaired.
        #[arg(long)]
        repair: bool,
    },
    /// Compare the tenant's resources with its record and plan and print the findings as JSON:
    /// each missing, changed or extra resource with what was expected and what was found.
    /// Reads only.
    Drift {
        #[arg(long)]
        tenant: TenantId,
    },
    /// List resources tagged as this deployment's that no tenant record claims (tables, roles,
    /// keys) as JSON. With `--delete`, remove each one after reading its tags and its tenant's
    /// record again; keys are scheduled for deletion with the deployment's deletion window,
    /// never destroyed at once.
    Sweep {
        #[arg(long)]
        delete: bool,
    },
    /// A tenant's admins: invite, list, remove, mint a token (embedded backend).
    Admin {
        #[command(subcommand)]
        command: admin::AdminCommand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TierArg {
    Standard,
    Enterprise,
}

impl From<TierArg> for Tier {
    fn from(t: TierArg) -> Tier {
        match t {
            TierArg::Standard => Tier::Standard,
            TierArg::Enterprise => Tier::Enterprise,
        }
    }
}

/// The whole binary: failpoints (feature `failpoints`, from `FAILPOINTS`), logging, arguments,
/// settings, a runtime, the command. Errors are printed to stderr with exit code 1.
pub fn main() -> ExitCode {
    #[cfg(feature = "failpoints")]
    let _failpoints = fail::FailScenario::setup();
    init_tracing();
    let cli = Cli::parse();
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the runtime")
        .and_then(|rt| rt.block_on(run(cli, &mut std::io::stdout().lock())));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("provisioner: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// Runs one command with settings from the environment, writing its JSON result to `out`.
pub async fn run(cli: Cli, out: &mut impl Write) -> anyhow::Result<()> {
    let settings = Settings::load()?;
    if let Command::Plan { tenant } = &cli.command {
        // Planning needs no backend, so it works before anything is set up.
        let plan = crate::plan::TenantPlan::for_settings(&settings, tenant);
        return print(out, &plan);
    }
    if let Command::Bootstrap = &cli.command {
        return bootstrap(&settings, out).await;
    }
    let backend = tenancy::open(&settings)
        .await
        .context("opening the backend")?;
    let provisioner = Provisioner::new(backend, settings);
    execute(&provisioner, cli.command, out).await
}

/// `provisioner bootstrap`: see [`Command::Bootstrap`].
async fn bootstrap(settings: &Settings, out: &mut impl Write) -> anyhow::Result<()> {
    let mut identity = None;
    let ensured = match settings.backend {
        BackendKind::Embedded => {
            tenancy::open(settings)
                .await
                .context("opening the data directory")?;
            format!("data directory {}", settings.data_dir.display())
        }
        BackendKind::Aws => {
            let clients = tenancy::aws::AwsClients::load().await;
            let table = settings.table_prefix.registry_table();
            tenancy::aws::ensure_registry_table(&clients.dynamodb, &table)
                .await
                .with_context(|| format!("ensuring the registry table {table}"))?;
            let pool_name = tenancy::aws::user_pool_name(&settings.table_prefix);
            let pool = tenancy::aws::ensure_user_pool(&clients.cognito, &pool_name)
                .await
                .with_context(|| format!("ensuring the user pool {pool_name}"))?;
            identity = Some(identity_settings(&clients, &pool));
            format!("registry table {table}")
        }
    };
    let mut report = serde_json::json!({
        "ensured": ensured,
        "backend": settings.backend,
        "table_prefix": settings.table_prefix.as_str(),
        "data_plane_principal": settings.data_plane_principal,
    });
    if let Some(identity) = identity {
        report["identity"] = identity;
    }
    print(out, &report)
}

/// The identity settings for `pool`, named by their environment variables. The JWKS URL is
/// Cognito's under the issuer, or, against an AWS-compatible endpoint (`AWS_ENDPOINT_URL`,
/// as moto and LocalStack are reached), the one that endpoint serves.
fn identity_settings(
    clients: &tenancy::aws::AwsClients,
    pool: &tenancy::aws::UserPool,
) -> serde_json::Value {
    use tenancy::aws::CognitoConfig;
    let region = clients.region();
    let issuer = CognitoConfig::issuer_for(&region, &pool.user_pool_id);
    let jwks_url = match std::env::var("AWS_ENDPOINT_URL") {
        Ok(endpoint) if !endpoint.trim().is_empty() => format!(
            "{}/{}/.well-known/jwks.json",
            endpoint.trim_end_matches('/'),
            pool.user_pool_id
        ),
        _ => CognitoConfig::jwks_url_for(&issuer),
    };
    serde_json::json!({
        "SPOTLIGHT_COGNITO_USER_POOL_ID": pool.user_pool_id,
        "SPOTLIGHT_COGNITO_CLIENT_ID": pool.client_id,
        "SPOTLIGHT_IDENTITY_ISSUER": issuer,
        "SPOTLIGHT_IDENTITY_JWKS_URL": jwks_url,
    })
}

/// Runs one command against `provisioner`.
pub async fn execute(
    provisioner: &Provisioner,
    command: Command,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        Command::Plan { tenant } => print(out, &provisioner.plan(&tenant)),
        Command::Bootstrap => bootstrap(provisioner.settings(), out).await,
        Command::Apply {
            tenant,
            name,
            owner_email,
            tier,
        } => {
            let record = apply(provisioner, &tenant, name, owner_email, tier.into()).await?;
            print(out, &record)?;
            match (record.status, &record.failure) {
                (TenantStatus::Active | TenantStatus::Suspended, _) => Ok(()),
                (status, Some(f)) => Err(anyhow!(
                    "tenant {tenant} is {status}: step {} failed: {}",
                    f.step,
                    f.cause
                )),
                (status, None) => Err(anyhow!("tenant {tenant} is {status}, not active")),
            }
        }
        Command::Destroy { tenant } => {
            let record = provisioner
                .offboard(&tenant)
                .await
                .with_context(|| format!("offboarding tenant {tenant}"))?;
            print(out, &record)
        }
        Command::Status { tenant, journal } => {
            let report = provisioner
                .status(&tenant, journal)
                .await
                .with_context(|| format!("reading tenant {tenant}"))?;
            print(out, &report)
        }
        Command::Reconcile {
            lease_secs,
            all,
            timeout_secs,
            repair,
        } => {
            let lease = if all {
                Duration::ZERO
            } else {
                Duration::from_secs(lease_secs)
            };
            reconcile(
                provisioner,
                lease,
                Duration::from_secs(timeout_secs),
                repair,
                out,
            )
            .await
        }
        Command::Drift { tenant } => {
            let report = provisioner
                .drift(&tenant)
                .await
                .with_context(|| format!("checking tenant {tenant} for drift"))?;
            print(out, &report)
        }
        Command::Sweep { delete } => {
            let report = provisioner
                .sweep(delete)
                .await
                .context("sweeping unclaimed resources")?;
            print(out, &report)
        }
        Command::Admin { command } => print(out, &admin::run(provisioner, command).await?),
    }
}

/// A reconcile pass's summary with the repairs made after it (`reconcile --repair`).
#[derive(serde::Serialize)]
struct RepairedPass<'a> {
    #[serde(flatten)]
    pass: &'a crate::reconcile::PassReport,
    repairs: &'a [crate::repair::RepairReport],
}

/// One reported reconcile pass; an error names every run that did not reach its goal.
async fn reconcile(
    provisioner: &Provisioner,
    lease: Duration,
    timeout: Duration,
    repair: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let tracker = RunTracker::new(provisioner.clone());
    let report = tracker
        .reconcile_once(lease, timeout)
        .await
        .context("listing in-flight tenants")?;
    let repairs = if repair {
        let repairs = provisioner.repair_all().await.context("repairing drift")?;
        print(
            out,
            &RepairedPass {
                pass: &report,
                repairs: &repairs,
            },
        )?;
        repairs
    } else {
        print(out, &report)?;
        Vec::new()
    };
    let unrepaired: Vec<String> = repairs
        .iter()
        .flat_map(|r| {
            r.not_repaired.iter().map(move |n| {
                format!(
                    "tenant {}: {:?} {} left {:?}: {}",
                    r.drift.tenant, n.finding.resource, n.finding.name, n.finding.problem, n.reason
                )
            })
        })
        .collect();
    if report.is_clean() && unrepaired.is_empty() {
        return Ok(());
    }
    let mut problems: Vec<String> = report
        .resumed
        .iter()
        .filter(|r| !r.reached_its_goal())
        .map(|r| match &r.ended {
            RunEnd::Finished {
                status,
                failure: Some(f),
            } => format!(
                "tenant {} is {status}: step {} failed: {}",
                r.tenant, f.step, f.cause
            ),
            RunEnd::Finished { status, .. } => format!("tenant {} is {status}", r.tenant),
            RunEnd::Error(e) => format!("the {} of tenant {} stopped: {e}", r.run, r.tenant),
            RunEnd::Unfinished => format!(
                "the {} of tenant {} was still running at the deadline",
                r.run, r.tenant
            ),
            RunEnd::Superseded => format!("the {} of tenant {} was superseded", r.run, r.tenant),
        })
        .collect();
    problems.extend(unrepaired);
    if let Some(e) = &report.keys_error {
        problems.push(format!(
            "destroying keys past their deletion window failed: {e}"
        ));
    }
    Err(anyhow!("{}", problems.join("; ")))
}

/// Requests the tenant when absent, retries it when failed, then provisions or resumes it.
async fn apply(
    provisioner: &Provisioner,
    tenant: &TenantId,
    name: Option<String>,
    owner_email: Option<String>,
    tier: Tier,
) -> anyhow::Result<tenancy::TenantRecord> {
    let context = || format!("provisioning tenant {tenant}");
    match provisioner.record(tenant).await {
        Ok(record) if record.status == TenantStatus::Failed => {
            provisioner.retry(tenant).await.with_context(context)?;
        }
        Ok(_) => {}
        Err(Error::Port(e)) if e.kind() == ErrorKind::NotFound => {
            let owner_email = owner_email.ok_or_else(|| {
                anyhow!(
                    "tenant {tenant} does not exist yet: --owner-email is required to create it"
                )
            })?;
            let new = NewTenant {
                id: tenant.clone(),
                name: TenantName::parse(name.as_deref().unwrap_or(tenant.as_str()))?,
                owner_email: OwnerEmail::parse(&owner_email)?,
                tier,
                allowed_origins: Vec::new(),
                request: None,
            };
            provisioner.request(new).await.with_context(context)?;
        }
        Err(e) => return Err(anyhow::Error::new(e).context(context())),
    }
    provisioner.provision(tenant).await.with_context(context)
}

fn print(out: &mut impl Write, value: &impl serde::Serialize) -> anyhow::Result<()> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}
