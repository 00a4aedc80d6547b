//! Conformance suites: one module of behaviour cases per port, written only against the port
//! traits, so every adapter (embedded here, AWS against an AWS-compatible server) runs the same
//! cases and must show the same behaviour — including the same error kind for the same mistake.
//!
//! Where adapters legitimately differ, the backend declares it in its
//! [`Capabilities`](crate::backend::Capabilities) and the cases act on that in code, so one
//! suite runs unchanged against every adapter. A case that depends on a capability asserts the
//! documented alternative where the capability is absent (a 0-day deletion window raised to the
//! adapter's minimum, a transaction across two tenants refused as `Invalid`); only a case that
//! has nothing to assert without it is marked `#[needs(capability)]`, and where the capability
//! is absent it is skipped, writing `skipped: <suite>::<case> needs <capability>` to the test
//! output (past libtest's capture, so it shows in every run) instead of passing silently.
//!
//! An adapter crate runs every case with one line in its integration-test binary:
//!
//! ```ignore
//! async fn make_fixture(case: &str) -> tenancy::conformance::Fixture { /* … */ }
//! tenancy::conformance_tests!(make_fixture);
//! ```
//!
//! which expands into one `#[tokio::test]` per case, named `<suite>::<case>` (the binary needs
//! `tokio` with `macros` and `rt-multi-thread`). Cases may share one backend: every name a case
//! creates starts with its fixture's unique prefix.
//!
//! A case is written once, as a `pub async fn name(fx: &Fixture)` inside its suite's
//! `cases!(mod suite; …)` (the suite's helpers stand above it): `cases!` defines the functions
//! and the list of them that [`conformance_tests!`](crate::conformance_tests) expands from, so
//! nothing else names a case. A new suite is a module here and a line in `conformance_tests!`.

/// Defines a suite's cases, and the hidden exported macro named after the suite through which
/// [`conformance_tests!`](crate::conformance_tests) makes a test of each.
///
/// ```ignore
/// cases!(
///     mod key_vault;
///
///     /// Doc comments, then optionally the capabilities the case cannot do without.
///     #[needs(disabled_key_denies_item_access)]
///     pub async fn a_sentence_saying_what_holds(fx: &Fixture) { /* … */ }
/// );
/// ```
///
/// A capability is a `bool` field of [`Capabilities`](crate::backend::Capabilities); where one
/// is false the case writes `skipped: <suite>::<case> needs <capability>` and returns. Rustfmt
/// formats everything inside (the delimiters must stay parentheses).
macro_rules! cases {
    (
        mod $suite:ident;
        $(
            $(#[doc = $doc:expr])*
            $(#[needs($($capability:ident),+ $(,)?)])?
            pub async fn $case:ident($fx:ident: $fixture:ty $(,)?) $body:block
        )*
    ) => {
        $(
            $(#[doc = $doc])*
            $(
                #[doc = ""]
                #[doc = concat!(
                    "Needs ",
                    $("`", stringify!($capability), "` ",)+
                    "(skipped where absent)."
                )]
            )?
            pub async fn $case($fx: $fixture) {
                $($(
                    if !$fx.backend.capabilities.$capability {
                        $crate::conformance::support::skip(
                            concat!(stringify!($suite), "::", stringify!($case)),
                            stringify!($capability),
                        );
                        return;
                    }
                )+)?
                $body
            }
        )*

        #[doc(hidden)]
        #[macro_export]
        macro_rules! $suite {
            ($make:path) => {
                mod $suite {
                    #[allow(unused_imports)]
                    use super::*;
                    $(
                        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                        async fn $case() {
                            let name = concat!(stringify!($suite), "::", stringify!($case));
                            let fx = $make(name).await;
                            $crate::conformance::$suite::$case(&fx).await;
                        }
                    )*
                }
            };
        }
    };
}

pub mod event_sink;
pub mod identity;
pub mod item_store;
pub mod key_vault;
pub mod moto;
pub mod registry;
pub mod role_issuer;
pub mod stream_trigger;
pub mod support;
pub mod table_admin;

pub use support::Fixture;

/// Expands into one `#[tokio::test]` per conformance case, grouped in a module per port.
///
/// `$make` is an `async fn(&str) -> Fixture` taking the case's name (`<suite>::<case>`); it
/// must resolve from a module nested in the invocation site (a function defined next to the
/// invocation, or an absolute `crate::…` path).
#[macro_export]
macro_rules! conformance_tests {
    ($make:path) => {
        $crate::registry!($make);
        $crate::item_store!($make);
        $crate::table_admin!($make);
        $crate::key_vault!($make);
        $crate::role_issuer!($make);
        $crate::identity!($make);
        $crate::event_sink!($make);
        $crate::stream_trigger!($make);
    };
}
