//! The data plane's HTTP API, served for real on 127.0.0.1:0 over a fresh embedded data
//! directory per test, with tenants onboarded by the provisioner; and its Lambda transports,
//! fed the events API Gateway and DynamoDB Streams send.

mod admin_strategy;
mod bedrock;
mod chat;
mod content;
mod cors;
mod domain_events;
mod end_user;
mod events;
mod fuzz;
mod helpers;
mod insights;
mod interactions;
mod isolation;
mod lambda;
mod local_model;
mod mcp;
mod metering;
mod metrics;
mod ollama;
mod openapi;
mod outbox;
mod resolution;
mod sdk_hosting;
mod series;
