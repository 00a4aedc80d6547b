//! Tracing set-up for a service binary, so every service logs the same way: `RUST_LOG`
//! filters (default `info`), and logs go to stderr, leaving stdout to the start-up banner.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. Call once, first thing in `main`; colours only when stderr
/// is a terminal.
pub fn init() {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
