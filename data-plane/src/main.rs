//! `data-plane`: serves each tenant's SDK traffic and its admins' content and analytics, and
//! folds the outbox into aggregates. Configuration comes from `SPOTLIGHT_*` variables (see
//! `data_plane::config`); everything else lives in the library.
//!
//! - `data-plane` (or `data-plane serve`): the HTTP API, with the outbox processor in the
//!   same process unless `SPOTLIGHT_PROCESS_OUTBOX=false`; under the Lambda runtime
//!   (`AWS_LAMBDA_RUNTIME_API` set) the same API as an API Gateway function instead, with no
//!   processor (`data_plane::lambda`);
//! - `data-plane process-outbox`: the outbox processor alone — folding events, publishing
//!   content domain events — (`--once`: one sweep over every tenant, then exit);
//! - `data-plane stream-handler`: the Lambda function on the events tables' DynamoDB Streams,
//!   which folds the outbox of each table's tenant.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use data_plane::events::runner;
use data_plane::lambda;
use data_plane::{AppState, DataPlaneSettings};
use tokio::net::TcpListener;

#[derive(Parser)]
#[command(name = "data-plane", about = "Spotlight's data plane")]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the HTTP API (the default); under the Lambda runtime, as its function.
    Serve,
    /// Under the Lambda runtime: fold the outbox of the tenants whose events tables' DynamoDB
    /// Streams records are delivered.
    StreamHandler,
    /// Fold every tenant's outbox into its aggregates and publish its domain events.
    ProcessOutbox {
        /// One sweep over every tenant, then exit.
        #[arg(long)]
        once: bool,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout carries only the start-up banner.
    service::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve if lambda::in_lambda() => serve_lambda().await,
        Command::Serve => serve().await,
        Command::StreamHandler => stream_handler().await,
        Command::ProcessOutbox { once } => process_outbox(once).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "data plane stopped");
            ExitCode::FAILURE
        }
    }
}

async fn state() -> anyhow::Result<AppState> {
    let settings = DataPlaneSettings::load()?;
    Ok(AppState::from_settings(settings).await?)
}

async fn serve() -> anyhow::Result<()> {
    let state = state().await?;
    let addr = state.settings.data_plane_addr;
    let background = data_plane::state::spawn_background(&state);
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    println!(
        "Spotlight data plane listening on http://{}",
        listener.local_addr()?
    );
    data_plane::serve(listener, state.clone(), service::shutdown::signal())
        .await
        .context("serving HTTP")?;
    // The processor may stop mid-step: each step is one transaction.
    background.stop();
    Ok(())
}

async fn lambda_state() -> anyhow::Result<AppState> {
    let settings = DataPlaneSettings::load()?;
    lambda::check_settings(&settings)?;
    Ok(AppState::from_settings(settings).await?)
}

async fn serve_lambda() -> anyhow::Result<()> {
    let state = lambda_state().await?;
    lambda::serve_http(state)
        .await
        .map_err(anyhow::Error::from_boxed)
        .context("serving Lambda HTTP events")
}

async fn stream_handler() -> anyhow::Result<()> {
    if !lambda::in_lambda() {
        return Err(lambda::LambdaStartError::NotInLambda.into());
    }
    let state = lambda_state().await?;
    lambda::serve_stream(state)
        .await
        .map_err(anyhow::Error::from_boxed)
        .context("handling DynamoDB Streams events")
}

async fn process_outbox(once: bool) -> anyhow::Result<()> {
    let state = state().await?;
    if once {
        let drained = runner::sweep(&state.backend).await?;
        println!(
            "folded {} outbox records, published {} domain events",
            drained.folded, drained.published
        );
        return Ok(());
    }
    let outbox = Arc::new(runner::Outbox::default());
    let poll = state.settings.outbox_poll();
    // Alone, the processor has no ingest to mark tenants: it sweeps every poll interval.
    let sweep_every = poll.max(Duration::from_secs(1));
    tokio::select! {
        () = runner::run(&outbox, &state.backend, poll, sweep_every, &state.counters) => {}
        () = service::shutdown::signal() => {}
    }
    Ok(())
}
