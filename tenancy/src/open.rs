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
            crate::aws::backend(
                &clients,
                &settings.table_prefix,
                &settings.data_plane_principal,
            )
        }
    };
    Ok(with_retries(raw, Arc::new(RetryPolicy::default())))
}
