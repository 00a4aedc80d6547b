//! Spotlight's control plane: the tenant lifecycle HTTP API.
//!
//! - [`config`]: control-plane settings (`SPOTLIGHT_*`), on top of the provisioner's.
//! - [`error`]: the one failure-to-HTTP mapping (`{"error": {code, message, details?}}`).
//! - [`state`]: what every handler shares.
//! - [`auth`]: operator bearer-token check.
//! - [`idempotency`]: `Idempotency-Key` on every POST.
//! - [`runs`]: background provisioning/offboarding tasks, resumed at start-up, drained on stop.
//! - [`routes`]: `tenants`, `api_keys`, `health` (with `/openapi.json`), each its own router.
//! - [`openapi`]: the OpenAPI document, generated from the handlers' annotations.

pub mod auth;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod openapi;
pub mod routes;
pub mod runs;
pub mod state;

pub use state::AppState;
