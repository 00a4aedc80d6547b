//! What the SDK reports about its content: impressions, clicks, tour progress, answers.

pub mod batch;
pub mod fold;
pub mod ingest;
pub mod process;
pub mod runner;
