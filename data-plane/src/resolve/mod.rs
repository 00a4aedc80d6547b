//! Which tenant a request is for: from its API key (and only from server-side credentials),
//! remembered for a bounded time ([`cache`]).

pub mod cache;
