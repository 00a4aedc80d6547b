//! [`Backend`]: one adapter per port, chosen once at start-up and shared by reference.

use std::sync::Arc;

use crate::ports::{ItemStore, KeyVault, Registry, RoleIssuer, TableAdmin};

/// The set of ports a service runs on. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    pub registry: Arc<dyn Registry>,
    pub tables: Arc<dyn TableAdmin>,
    pub keys: Arc<dyn KeyVault>,
    pub roles: Arc<dyn RoleIssuer>,
    /// Unscoped item access (the control plane's own role). Tenant traffic goes through
    /// `roles.scoped_store(..)` instead.
    pub items: Arc<dyn ItemStore>,
    /// The principal tenant roles trust (the data plane's role ARN).
    pub data_plane_principal: String,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("data_plane_principal", &self.data_plane_principal)
            .finish_non_exhaustive()
    }
}
