//! Every port's conformance suite against the embedded adapters, plus what only the embedded
//! backend promises (shared data directory, master key file, encryption at rest).

mod aws;
mod deployment;
mod embedded_only;
mod processes;

use tenancy::conformance::Fixture;
use tenancy::embedded::{self, EmbeddedOptions};

/// Options for a data directory (small LRU, so eviction is exercised too).
pub fn options(dir: &std::path::Path) -> EmbeddedOptions {
    EmbeddedOptions {
        data_dir: dir.to_owned(),
        deployment: tenancy::TablePrefix::default(),
        data_plane_principal: "arn:aws:iam::000000000000:role/spotlight-data-plane".to_owned(),
        open_tenant_files: 2,
    }
}

/// A fresh data directory per case.
async fn make_fixture(_case: &str) -> Fixture {
    let dir = tempfile::tempdir().expect("temporary data directory");
    let backend = embedded::open(&options(dir.path())).expect("opening the embedded backend");
    Fixture::new(backend).with_guard(dir)
}

tenancy::conformance_tests!(make_fixture);
