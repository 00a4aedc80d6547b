//! What the SDK reports about its content (impressions, clicks, tour progress, answers), and
//! the domain events of content changes (`domain`), both through the tenant's outbox.

pub mod audit;
pub mod batch;
pub mod domain;
pub mod fold;
pub mod ingest;
pub mod process;
pub mod record;
pub mod runner;
