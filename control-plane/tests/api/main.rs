//! The control plane's HTTP API, served for real on 127.0.0.1:0 over a fresh embedded data
//! directory per test.

mod admins;
mod api_keys;
mod auth;
mod connections;
mod crash;
mod drift;
mod helpers;
mod idempotency;
mod identity;
mod isolation;
mod lifecycle;
mod openapi;
mod process;
mod quota;
mod runs;
mod tenants;
mod usage;
