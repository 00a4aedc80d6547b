//! What the unit tests of several modules share.

use tenancy::conformance::Fixture;
use tenancy::embedded::{self, EmbeddedOptions};

/// An embedded backend in a temporary directory (kept by the fixture) and one table of the
/// tenant table shape, named for `what`.
pub(crate) async fn tenant_table(what: &str) -> (Fixture, String) {
    let dir = tempfile::tempdir().expect("a temporary data directory");
    let backend = embedded::open(&EmbeddedOptions {
        data_dir: dir.path().to_owned(),
        deployment: tenancy::TablePrefix::default(),
        data_plane_principal: "arn:aws:iam::000000000000:role/spotlight-data-plane".to_owned(),
        open_tenant_files: 2,
    })
    .expect("the embedded backend");
    let fx = Fixture::new(backend).with_guard(dir);
    let (table, _) = fx.tenant_table("acme", what).await;
    (fx, table)
}
