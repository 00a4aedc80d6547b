//! The data plane's HTTP API, served for real on 127.0.0.1:0 over a fresh embedded data
//! directory per test, with tenants onboarded by the provisioner.

mod content;
mod cors;
mod events;
mod fuzz;
mod helpers;
mod isolation;
mod metrics;
mod openapi;
mod outbox;
mod resolution;
