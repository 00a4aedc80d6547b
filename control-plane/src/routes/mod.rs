//! HTTP routes, one module per feature, each owning its router; merged in `crate::app`.

pub mod api_keys;
pub mod health;
pub mod tenants;
