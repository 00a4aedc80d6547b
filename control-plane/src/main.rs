//! `control-plane`: serves the tenant lifecycle API. Configuration comes from `SPOTLIGHT_*`
//! variables (see `control_plane::config`); everything else lives in the library.

use std::process::ExitCode;

use anyhow::Context;
use control_plane::{AppState, ControlPlaneSettings};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    // Logs go to stderr: stdout carries only the start-up banner (address, first-run token).
    service::telemetry::init();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "control plane stopped");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let settings = ControlPlaneSettings::load()?;
    let addr = settings.control_plane_addr;
    let grace = settings.shutdown_grace();
    let (state, secrets) = AppState::from_settings(settings).await?;

    let resumed = state
        .runs
        .resume_in_flight()
        .await
        .context("resuming unfinished tenant runs")?;
    if resumed > 0 {
        tracing::info!(resumed, "resumed unfinished provisioning/offboarding runs");
    }

    let reconciler = {
        let runs = std::sync::Arc::clone(&state.runs);
        let interval = state.settings.reconcile_interval();
        let lease = state.settings.run_lease();
        tokio::spawn(async move { runs.reconcile_periodically(interval, lease).await })
    };

    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    let local = listener.local_addr()?;
    println!("Spotlight control plane listening on http://{local}");
    if secrets.operator_token_generated {
        println!(
            "Generated an operator token (stored in {}; shown only this once):\n  {}",
            state
                .settings
                .data_dir()
                .join(control_plane::config::OPERATOR_TOKEN_FILE)
                .display(),
            secrets.operator_token.expose_secret()
        );
    }
    let token_hint = if state.settings.operator_token.is_some() {
        "$SPOTLIGHT_OPERATOR_TOKEN".to_owned()
    } else {
        format!(
            "$(cat {})",
            state
                .settings
                .data_dir()
                .join(control_plane::config::OPERATOR_TOKEN_FILE)
                .display()
        )
    };
    println!(
        "Onboard a first tenant:\n  curl -sS -X POST 'http://{local}/tenants?wait=true' \\\n    \
         -H \"Authorization: Bearer {token_hint}\" -H 'Content-Type: application/json' \\\n    \
         -d '{{\"id\":\"acme\",\"name\":\"Acme\",\"owner_email\":\"ops@acme.io\"}}'"
    );

    control_plane::serve(listener, state.clone(), service::shutdown::signal())
        .await
        .context("serving HTTP")?;

    tracing::info!(
        grace_secs = grace.as_secs(),
        "stopped accepting requests; letting runs finish"
    );
    reconciler.abort();
    let unfinished = state.runs.drain(grace).await;
    if unfinished > 0 {
        tracing::warn!(
            unfinished,
            "runs still going at the deadline; they resume at the next start"
        );
    }
    Ok(())
}
