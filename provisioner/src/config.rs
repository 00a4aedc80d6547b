//! The settings every Spotlight binary shares live in `tenancy::settings`, beside the one
//! `tenancy::open` that opens a backend from them; they are re-exported here so that the
//! provisioner's callers name them where they name the provisioner.

pub use tenancy::settings::*;
