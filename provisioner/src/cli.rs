//! The `provisioner` command line: `plan`, `apply`, `destroy`, `status`. Settings come from
//! `SPOTLIGHT_*` (see [`crate::config`]); output is JSON on stdout, diagnostics on stderr.
//!
//! Built with the `failpoints` feature, the binary reads `FAILPOINTS` at start, so a crash can
//! be staged by hand, e.g. `FAILPOINTS=provision:after:key=return(abort) provisioner apply
//! --tenant acme --owner-email ops@example.com`, then resumed with `provisioner apply --tenant
//! acme`.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, anyhow};
use clap::{Parser, Subcommand, ValueEnum};
use tenancy::{ErrorKind, OwnerEmail, TenantId, TenantName, TenantStatus, Tier};

use crate::config::Settings;
use crate::error::Error;
use crate::runner::{NewTenant, Provisioner};

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
    /// Offboard the tenant: revoke its API keys, remove its resources, keep a tombstone.
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
        let plan = crate::plan::TenantPlan::new(
            &settings.table_prefix,
            tenant,
            &settings.data_plane_principal,
        );
        return print(out, &plan);
    }
    let backend = tenancy::open(&settings)
        .await
        .context("opening the backend")?;
    let provisioner = Provisioner::new(backend, settings);
    execute(&provisioner, cli.command, out).await
}

/// Runs one command against `provisioner`.
pub async fn execute(
    provisioner: &Provisioner,
    command: Command,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    match command {
        Command::Plan { tenant } => print(out, &provisioner.plan(&tenant)),
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
    }
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
