//! [`open`]: the one place a backend is opened, for every binary (the control plane, the
//! `provisioner` CLI, and the data plane), from the shared [`Settings`].
//!
//! Whatever the adapters, the ports come back wrapped once in the retry layer
//! (`crate::retry`): callers never retry a port call themselves.

use std::sync::Arc;

use crate::backend::Backend;
use crate::error::{Error, Result};
use crate::retry::{RetryPolicy, with_retries};
use crate::settings::{BackendKind, Settings};

impl From<&Settings> for crate::embedded::EmbeddedOptions {
    fn from(settings: &Settings) -> Self {
        crate::embedded::EmbeddedOptions {
            data_dir: settings.data_dir.clone(),
            deployment: settings.table_prefix.clone(),
            data_plane_principal: settings.data_plane_principal.clone(),
            open_tenant_files: settings.open_tenant_files.as_usize(),
        }
    }
}

/// Opens the backend `settings` name, with every port behind the retry layer.
///
/// `aws` loads the standard AWS configuration (`AWS_REGION`, `AWS_ENDPOINT_URL`, the credential
/// chain) once and builds every SDK client from it; nothing is called until a port is used.
/// Domain events go to the embedded event log, or to the EventBridge bus `settings.event_bus`.
///
/// Errors: `Invalid` for an embedded data directory that belongs to another deployment;
/// `Unavailable` when the embedded backend cannot be opened.
pub async fn open(settings: &Settings) -> Result<Backend> {
    let raw = match settings.backend {
        BackendKind::Embedded => {
            let options = crate::embedded::EmbeddedOptions::from(settings);
            // Opening reads and may create files: off the async threads.
            tokio::task::spawn_blocking(move || crate::embedded::open(&options))
                .await
                .map_err(|e| Error::unavailable(format!("opening the embedded backend: {e}")))??
        }
        BackendKind::Aws => {
            let clients = crate::aws::AwsClients::load_paced(settings.pacing()).await;
            let mut backend = crate::aws::backend(
                &clients,
                &settings.table_prefix,
                &settings.data_plane_principal,
            );
            backend.event_sink = Arc::new(crate::aws::EventBridgeSink::new(
                clients.eventbridge.clone(),
                settings.event_bus.clone(),
            ));
            if let Some(config) = cognito_config(settings, &clients) {
                backend.identity = Arc::new(crate::aws::CognitoIdentity::new(
                    clients.cognito.clone(),
                    clients.dynamodb.clone(),
                    settings.table_prefix.registry_table(),
                    &config,
                )?);
            }
            backend
        }
    };
    Ok(with_retries(raw, Arc::new(RetryPolicy::default())))
}

/// The Cognito settings, when both the pool and the app client are given; the issuer and the
/// JWKS URL default to Cognito's for the configured region.
fn cognito_config(
    settings: &Settings,
    clients: &crate::aws::AwsClients,
) -> Option<crate::aws::CognitoConfig> {
    use crate::aws::CognitoConfig;
    let pool = settings.cognito_user_pool_id.clone()?;
    let client_id = settings.cognito_client_id.clone()?;
    let region = clients.region();
    let issuer = settings
        .identity_issuer
        .clone()
        .unwrap_or_else(|| CognitoConfig::issuer_for(&region, &pool));
    let jwks_url = settings
        .identity_jwks_url
        .clone()
        .unwrap_or_else(|| CognitoConfig::jwks_url_for(&issuer));
    Some(CognitoConfig {
        user_pool_id: pool,
        client_id,
        issuer,
        jwks_url,
        jwks_refetch: settings.identity_jwks_refetch_secs.secs(),
    })
}
