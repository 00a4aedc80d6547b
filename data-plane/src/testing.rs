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

/// An event of type `kind` on step `step` of version 1 of `c_tour`, at `at`, with a new id.
pub(crate) fn event(
    kind: crate::events::batch::EventType,
    step: &str,
    at: time::OffsetDateTime,
) -> crate::events::batch::Event {
    use crate::content::model::{ContentId, StepId};
    crate::events::batch::Event {
        event_id: uuid::Uuid::new_v4(),
        kind,
        content_id: ContentId::parse("c_tour").expect("a valid id"),
        content_version: 1,
        step_id: Some(StepId::parse(step).expect("a valid id")),
        at,
        anonymous_id: None,
        props: serde_json::Map::new(),
    }
}
