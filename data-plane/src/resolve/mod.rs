//! Which tenant a request is for, and whether it is served: from its API key alone (looked up
//! on the server, never a tenant id the request names), remembered for a bounded time ([`cache`]); the status gate
//! ([`gate`]); origin lockdown ([`origin`]); [`tenant`] puts them together.

pub mod cache;
pub mod gate;
pub mod origin;
pub mod tenant;
