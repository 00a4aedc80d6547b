//! The provisioner's integration tests, all against the real embedded adapters in a fresh data
//! directory per test.
//!
//! Tests that configure failpoints in-process (feature `failpoints`) would affect every other
//! test running provisioning in this process, so with that feature on every test serialises
//! on the failpoint scenario lock (see `helpers::TestEnv`). Crash tests run the built binary as
//! a child process and need no lock.

mod helpers;

mod aws;
mod aws_wire;
mod cli;
mod drift;
mod iam_policy;
mod lifecycle;
mod offboarding;
mod onboarding;
mod ownership;
mod quota;
mod runs;
mod stream_trigger;

#[cfg(feature = "failpoints")]
mod aws_faults;
#[cfg(feature = "failpoints")]
mod crash;
#[cfg(feature = "failpoints")]
mod injected_failures;
