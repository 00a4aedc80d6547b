//! Spotlight's tenancy core: the domain of a tenant and the ports every outside system sits
//! behind.
//!
//! - [`id`]: validated identifiers and values (`TenantId`, `Tier`, `Origin`, …).
//! - [`lifecycle`]: the tenant state machine; the one place transitions are checked.
//! - [`record`]: what the registry stores (tenant records, journal, API keys, idempotency).
//! - [`naming`]: deployment prefix, per-tenant resource names and tags.
//! - [`table_plan`]: the tenant tables, their key schema, index and TTL, and key layout.
//! - [`ports`]: the traits (`Registry`, `ItemStore`, `TableAdmin`, `KeyVault`, `RoleIssuer`,
//!   `Identity`).
//! - [`jwt`]: platform ID tokens (RS256): verification against a cached JWKS, and signing;
//!   the JWKS fetch, which for tenants' keys connects to public addresses only.
//! - [`end_user`]: a tenant's end-user identity configuration — the public keys (or JWKS URL)
//!   its own users' tokens are verified with — checked once when registered.
//! - [`error`]: the backend-neutral port error.
//! - [`api_key`]: API key format (kind, checksum) and keyed hashing; shared by both planes.
//! - [`backend`]: one adapter per port, bundled for injection.
//! - [`settings`]: the settings every binary shares (`SPOTLIGHT_*`), with bounded numbers.
//! - [`open`](fn@open): opens the configured backend — the one place that does — with every
//!   port behind the retry layer.
//! - [`retry`]: the retry layer (one decorator per port).
//! - `scoped`: the store handle acting as one role, shared by every `RoleIssuer` adapter.
//! - [`embedded`]: the default adapters — SQLite and local keys in one data directory.
//! - [`aws`]: the AWS adapters (the SDK for Rust), arriving port by port.
//! - `conformance` (feature `conformance`): one behaviour suite per port, run against every adapter.

pub mod api_key;
pub mod aws;
pub mod backend;
pub mod embedded;
pub mod end_user;
pub mod error;
mod failpoint;
pub mod id;
pub mod jwt;
pub mod lifecycle;
pub mod naming;
pub mod ports;
pub mod record;
pub mod retry;
mod scoped;
pub mod settings;
pub mod table_plan;

mod open;

#[cfg(any(test, feature = "conformance"))]
pub mod conformance;

pub use backend::Backend;
pub use error::{Error, ErrorKind, InvalidInput, Result};
pub use id::{Origin, OwnerEmail, TenantId, TenantName, Tier};
pub use lifecycle::{IllegalTransition, TenantStatus, Transition};
pub use naming::{ResourceNames, TablePrefix, Tags};
pub use open::open;
pub use record::{
    ApiKeyKind, ApiKeyRecord, Failure, IdempotencyClaim, JournalEntry, JournalPhase, RequestId,
    ResourceArns, RevealedKey, StoredResponse, TenantRecord,
};
