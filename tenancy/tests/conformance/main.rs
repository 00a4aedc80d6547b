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
    let lab = EmbeddedLab {
        signer: embedded::load_or_create_signer(dir.path()).expect("the issuer's key"),
    };
    let log = embedded::EventLog::open(dir.path()).expect("the event log, for reading back");
    Fixture::new(backend)
        .with_guard(dir)
        .with_token_lab(lab)
        .with_sink_reader(log)
}

/// Tokens on the embedded backend: minted by its issuer, crafted with the issuer's own key
/// (read from the data directory, as any process sharing it would).
struct EmbeddedLab {
    signer: tenancy::jwt::RsaSigner,
}

#[async_trait::async_trait]
impl tenancy::conformance::identity::TokenLab for EmbeddedLab {
    async fn sign_in(
        &self,
        fx: &Fixture,
        admin: &tenancy::ports::AdminUser,
    ) -> tenancy::Result<String> {
        let who = tenancy::ports::AdminRef::Id(admin.id.clone());
        let minted = fx.backend.identity.mint_token(&admin.tenant, &who).await?;
        Ok(minted.token)
    }
    fn signer(&self) -> &tenancy::jwt::RsaSigner {
        &self.signer
    }
    fn rules(&self) -> tenancy::jwt::TokenRules {
        embedded::token_rules(&tenancy::TablePrefix::default())
    }
}

tenancy::conformance_tests!(make_fixture);
