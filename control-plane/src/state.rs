//! Shared application state handed to every handler.

use std::sync::Arc;

use provisioner::Provisioner;
use secrecy::SecretString;
use tenancy::api_key::KeyHasher;

use crate::config::ControlPlaneSettings;
use crate::runs::RunTracker;

#[derive(Clone)]
pub struct AppState {
    pub provisioner: Provisioner,
    pub settings: Arc<ControlPlaneSettings>,
    /// The bearer token operators present. Compared in constant time.
    pub operator_token: Arc<SecretString>,
    pub api_keys: Arc<KeyHasher>,
    /// Background provisioning/offboarding runs of this process, one per tenant at most.
    pub runs: Arc<RunTracker>,
}
