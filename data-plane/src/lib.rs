//! Spotlight's data plane: serves each tenant's SDK traffic (content, progress, analytics
//! events) and its admins' content and analytics, touching only that tenant's tables.
//!
//! - [`content`]: what content is ([`content::model`]), where and to whom it shows
//!   ([`content::targeting`]), when it may be published ([`content::validate`]), and how it is
//!   kept in the tenant's app table ([`content::store`]).
//! - [`events`]: SDK event batches, checked before any write ([`events::batch`]), and the one
//!   fold of events into analytics counts with exact unique users ([`events::fold`]);
//!   storing events with their outbox records ([`events::ingest`]) and folding the outbox
//!   exactly once ([`events::process`]); content changes' domain events, written with the
//!   change and published to the event sink at least once ([`events::domain`]).
//! - [`hosting`]: the browser SDK's built versions as `/sdk/` serves them ([`hosting::dist`]),
//!   and which version each tenant published and its pages ran ([`hosting::versions`]).
//! - [`insights`]: the fact sheet, the post-check of an answer's numbers against it, and the
//!   `Llm` port (the template narrator by default).
//! - [`lambda`]: the AWS Lambda transports — the same router under API Gateway, and the
//!   outbox drain (fold, domain events) triggered by the events tables' DynamoDB Streams.
//! - [`series`]: the tenant's own business metrics, uploaded as CSV or JSON and read back by
//!   subject and period.
//! - [`resolve`]: tenant resolution from API keys — its bounded cache ([`resolve::cache`]), the
//!   status gate ([`resolve::gate`]) and origin lockdown ([`resolve::origin`]).

pub mod analytics;
pub mod config;
pub mod content;
pub mod events;
pub mod hosting;
pub mod http;
pub mod identity;
pub mod insights;
pub mod lambda;
pub mod metrics;
pub mod resolve;
pub mod series;
pub mod state;

pub use config::DataPlaneSettings;
pub use http::{app, serve};
pub use state::AppState;

#[cfg(test)]
mod testing;
