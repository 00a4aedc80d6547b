//! Conformance suites. Being written.
