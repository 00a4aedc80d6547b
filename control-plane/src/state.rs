//! Shared application state handed to every handler.

use std::sync::Arc;

use provisioner::{Provisioner, RunTracker};
use secrecy::{ExposeSecret, SecretString};
use tenancy::api_key::KeyHasher;
use tenancy::ports::Registry;

use crate::config::{ConfigError, ControlPlaneSettings, Secrets};
use crate::sealing::ResponseSealer;

#[derive(Clone)]
pub struct AppState {
    pub provisioner: Provisioner,
    pub settings: Arc<ControlPlaneSettings>,
    /// The bearer token operators present. Compared in constant time.
    pub operator_token: Arc<SecretString>,
    pub api_keys: Arc<KeyHasher>,
    /// Seals idempotent responses before they are stored (they may hold a new API key).
    pub sealer: Arc<ResponseSealer>,
    /// Background provisioning/offboarding runs of this process, one per tenant at most.
    pub runs: Arc<RunTracker>,
    /// What `/metrics` shows: requests by route and status, latency.
    pub metrics: Arc<service::metrics::Metrics>,
}

/// Why the control plane could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the {backend:?} backend: {source}")]
    Backend {
        backend: provisioner::config::BackendKind,
        source: provisioner::Error,
    },
}

impl AppState {
    /// Assembles the state from an opened provisioner and resolved secrets.
    pub fn new(
        provisioner: Provisioner,
        settings: ControlPlaneSettings,
        secrets: &Secrets,
    ) -> Self {
        let pepper = secrets.api_key_pepper.expose_secret().as_bytes();
        AppState {
            runs: Arc::new(RunTracker::new(provisioner.clone())),
            provisioner,
            settings: Arc::new(settings),
            operator_token: Arc::new(secrets.operator_token.clone()),
            sealer: Arc::new(ResponseSealer::from_pepper(pepper)),
            api_keys: Arc::new(service::secrets::key_hasher(&secrets.api_key_pepper)),
            metrics: service::metrics::Metrics::new("control_plane", |_| {}),
        }
    }

    /// Opens the configured backend, resolves secrets (reading or generating the files in the
    /// data directory) and assembles the state. Returns the secrets too, so the caller can
    /// show a freshly generated operator token once.
    pub async fn from_settings(
        settings: ControlPlaneSettings,
    ) -> Result<(AppState, Secrets), StartError> {
        settings.check()?;
        // The backend first: it creates the data directory with its own (private) permissions.
        let backend = tenancy::open(&settings.provisioner)
            .await
            .map_err(|source| StartError::Backend {
                backend: settings.provisioner.backend,
                source: source.into(),
            })?;
        let secrets = settings.resolve_secrets()?;
        let provisioner = Provisioner::new(backend, settings.provisioner.clone());
        Ok((AppState::new(provisioner, settings, &secrets), secrets))
    }

    /// The registry port (`tenants-metadata`).
    pub fn registry(&self) -> &Arc<dyn Registry> {
        &self.provisioner.backend().registry
    }
}
