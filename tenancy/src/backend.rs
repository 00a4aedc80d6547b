//! [`Backend`]: one adapter per port, chosen once at start-up and shared by reference.

use std::sync::Arc;

use crate::ports::{
    EventSink, Identity, ItemStore, KeyVault, Registry, RoleIssuer, StreamTriggers, TableAdmin,
};

/// The set of ports a service runs on. Cheap to clone.
#[derive(Clone)]
pub struct Backend {
    pub registry: Arc<dyn Registry>,
    pub tables: Arc<dyn TableAdmin>,
    pub keys: Arc<dyn KeyVault>,
    pub roles: Arc<dyn RoleIssuer>,
    /// The links from tenants' events table streams to the stream handler (Lambda event
    /// source mappings; catalog rows embedded).
    pub triggers: Arc<dyn StreamTriggers>,
    /// Unscoped item access (the control plane's own role). Tenant traffic goes through
    /// `roles.scoped_store(..)` instead.
    pub items: Arc<dyn ItemStore>,
    /// Tenant admins and the platform tokens they present.
    pub identity: Arc<dyn Identity>,
    /// Where domain events are published once their change is committed (EventBridge; the
    /// embedded event log).
    pub event_sink: Arc<dyn EventSink>,
    /// The principal tenant roles trust (the data plane's role ARN).
    pub data_plane_principal: String,
    /// What these adapters can do where adapters legitimately differ.
    pub capabilities: Capabilities,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("data_plane_principal", &self.data_plane_principal)
            .field("capabilities", &self.capabilities)
            .finish_non_exhaustive()
    }
}

/// Where the adapters behind the ports legitimately differ, declared by each backend so that
/// callers (the provisioner's deletion window) and the conformance suites act on it in code
/// instead of assuming one adapter's behaviour. Everything not listed here is a promise of
/// the port that every adapter keeps (expired items are invisible everywhere, for one).
///
/// | capability | embedded | AWS |
/// | --- | --- | --- |
/// | `min_key_deletion_window_days` | 0 | 7 (KMS) |
/// | `destroys_keys_itself` | no | yes (KMS) |
/// | `cross_tenant_transactions` | no | yes (DynamoDB) |
/// | `disabled_key_denies_item_access` | yes | no |
/// | `pending_deletion_refuses_key_use` | yes | yes (KMS); no against moto |
/// | `mints_admin_tokens` | yes | no (Cognito sign-in) |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The shortest key deletion window the key vault keeps; a shorter request is raised to
    /// it. 0 means a window of 0 days destroys the key's material at once (embedded); KMS
    /// waits at least 7 days.
    pub min_key_deletion_window_days: u32,
    /// The key vault destroys keys whose window has ended by itself, so `destroy_due_keys`
    /// has nothing to do and returns 0 (KMS). When false (embedded), destruction happens only
    /// when `destroy_due_keys` runs (or the embedded backend is opened), so someone must call
    /// it.
    pub destroys_keys_itself: bool,
    /// One `transact_write` may span tables of different tenants (DynamoDB). When false
    /// (embedded: each tenant's tables live in their own file), such a transaction is refused
    /// whole with `Invalid`.
    pub cross_tenant_transactions: bool,
    /// Item access to a table is refused with `AccessDenied` as soon as its key is disabled or
    /// pending deletion (embedded). When false, the refusal may come late or never: DynamoDB
    /// notices a disabled key only eventually, and moto never does.
    pub disabled_key_denies_item_access: bool,
    /// A key whose deletion is scheduled refuses `encrypt` and `decrypt` with `AccessDenied`
    /// at once (embedded, and KMS with `KMSInvalidStateException`). moto, the AWS-compatible
    /// server the AWS adapters are tested against, still serves such a key, so a fixture on
    /// moto declares it false; the key's state is asserted everywhere.
    pub pending_deletion_refuses_key_use: bool,
    /// `Identity::mint_token` issues tokens (the embedded issuer). When false (Cognito),
    /// tokens come only from signing in, and `mint_token` is `Invalid`.
    pub mints_admin_tokens: bool,
}

impl Capabilities {
    /// The deletion window a request for `requested_days` gets: raised to the minimum.
    pub fn key_deletion_window_days(&self, requested_days: u32) -> u32 {
        requested_days.max(self.min_key_deletion_window_days)
    }
}
