//! What Spotlight's HTTP services (the control plane, the data plane) share, so that both
//! answer errors identically and neither copies the other. It depends on `tenancy` only,
//! never on the provisioner: the data plane may use it without anything that creates or
//! deletes resources.
//!
//! - [`auth`]: the operator's bearer token, compared in constant time.
//! - [`code`]: [`ErrorCode`], every machine-readable error code, in one enum.
//! - [`config`]: the HTTP settings every service reads the same way (timeouts, connection
//!   bound, shutdown grace).
//! - [`error`]: [`ApiError`], the one failure-to-HTTP mapping
//!   (`{"error": {code, message, details?}}`), and the conversions from `tenancy`'s errors.
//! - [`extract`]: JSON, query and path extractors whose rejections use that mapping.
//! - [`health`]: `/healthz`, `/readyz` and `/openapi.json`, the routes every service serves
//!   unguarded.
//! - [`layers`]: the common layer stack (tracing, panic → JSON 500, body limit, JSON 404/405).
//! - [`server`]: the HTTP/1.1 listener and its limits (header-read, idle and request timeouts,
//!   connection bound), with graceful shutdown.
//! - [`shutdown`]: the signal a service stops on.
//! - [`telemetry`]: tracing set-up of a service binary.
//! - [`secrets`]: secrets configured or kept in the data directory; the API-key pepper and
//!   the [`tenancy::api_key::KeyHasher`] built from it.
//! - [`metrics`]: Prometheus metrics — requests by route and status, latency — and `/metrics`.
//! - [`openapi`]: the served document, and the error answers of the common stack added to a
//!   document.

pub mod auth;
pub mod code;
pub mod config;
pub mod error;
pub mod extract;
pub mod health;
pub mod layers;
pub mod metrics;
pub mod openapi;
pub mod secrets;
pub mod server;
pub mod shutdown;
pub mod telemetry;

pub use code::ErrorCode;
pub use error::{ApiError, ApiResult, ErrorBody};
