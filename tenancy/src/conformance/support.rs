//! What every suite shares: the [`Fixture`] (a backend and a unique name prefix per case) and
//! small builders for the values cases create.

use std::any::Any;
use std::fmt::Debug;
use std::sync::Arc;

use time::OffsetDateTime;

use crate::backend::Backend;
use crate::conformance::event_sink::SinkReader;
use crate::conformance::identity::TokenLab;
use crate::error::{ErrorKind, Result};
use crate::id::{OwnerEmail, TenantId, TenantName, Tier};
use crate::naming::{ResourceNames, TAG_TENANT, TablePrefix, Tags};
use crate::ports::FunctionArn;
use crate::ports::key_vault::KeySpec;
use crate::record::{JournalEntry, JournalPhase, TenantRecord};
use crate::table_plan::{TableSpec, tenant_tables};

/// One case's view of a backend: the backend itself and a prefix no other case uses, so that
/// cases can run in parallel on one shared backend (and on a backend that outlives the run).
pub struct Fixture {
    pub backend: Backend,
    /// `cf{8 hex}`: lowercase, so it fits tenant ids, table names, aliases and role names.
    prefix: String,
    /// Whatever must live as long as the backend (a temporary directory, a server handle).
    _guard: Option<Box<dyn Any + Send + Sync>>,
    /// How the identity suite signs in and crafts tokens on this backend.
    token_lab: Option<Arc<dyn TokenLab>>,
    /// How the event sink suite reads back what the sink delivered.
    sink_reader: Option<Arc<dyn SinkReader>>,
    /// A function that exists where the backend checks (the stream trigger suite's target).
    function: Option<FunctionArn>,
}

impl Fixture {
    pub fn new(backend: Backend) -> Self {
        let random = uuid::Uuid::new_v4().simple().to_string();
        Fixture {
            backend,
            prefix: format!("cf{}", &random[..8]),
            _guard: None,
            token_lab: None,
            sink_reader: None,
            function: None,
        }
    }

    /// Names the function the stream trigger suite links streams to: one that exists, on a
    /// backend that checks (Lambda).
    pub fn with_function(mut self, function: FunctionArn) -> Self {
        self.function = Some(function);
        self
    }

    /// The function streams are linked to: the one given, else one in this case's name in
    /// the embedded account (which checks only the ARN's shape).
    pub fn function(&self) -> FunctionArn {
        self.function.clone().unwrap_or_else(|| {
            FunctionArn::parse(&format!(
                "arn:aws:lambda:local:000000000000:function:{}",
                self.name("fold")
            ))
            .expect("a well-formed function ARN")
        })
    }

    /// Keeps `guard` alive as long as the fixture.
    pub fn with_guard(mut self, guard: impl Any + Send + Sync) -> Self {
        self._guard = Some(Box::new(guard));
        self
    }

    /// Gives the identity suite its way to sign in and to craft tokens on this backend.
    pub fn with_token_lab(mut self, lab: impl TokenLab + 'static) -> Self {
        self.token_lab = Some(Arc::new(lab));
        self
    }

    /// The fixture's token lab. Panics when it has none: the identity suite needs one.
    pub fn token_lab(&self) -> &dyn TokenLab {
        self.token_lab
            .as_deref()
            .expect("the identity suite needs a fixture with a token lab (Fixture::with_token_lab)")
    }

    /// Gives the event sink suite its way to read back what the sink delivered.
    pub fn with_sink_reader(mut self, reader: impl SinkReader + 'static) -> Self {
        self.sink_reader = Some(Arc::new(reader));
        self
    }

    /// The fixture's sink reader. Panics when it has none: the event sink suite needs one.
    pub fn sink_reader(&self) -> &dyn SinkReader {
        self.sink_reader.as_deref().expect(
            "the event sink suite needs a fixture with a sink reader (Fixture::with_sink_reader)",
        )
    }

    /// This case's unique prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// A name unique to this case: `{prefix}-{what}`.
    pub fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// A tenant id unique to this case. `what`: lowercase letters, digits, single hyphens.
    pub fn tenant(&self, what: &str) -> TenantId {
        TenantId::parse(&self.name(what)).expect("fixture tenant ids are valid")
    }

    /// A fresh tenant record (version 0, status `Requested`).
    pub fn tenant_record(&self, what: &str) -> TenantRecord {
        let id = self.tenant(what);
        let names = ResourceNames::for_tenant(&TablePrefix::default(), &id);
        TenantRecord::new(
            id,
            TenantName::parse("Conformance Corp").expect("valid name"),
            OwnerEmail::parse("ops@example.com").expect("valid email"),
            Tier::Standard,
            Vec::new(),
            names,
            at(0),
        )
    }

    /// Creates a key and a table (the tenant table shape: pk/sk, gsi1, ttl) tagged with the
    /// tenant `{prefix}-{tenant}`, encrypted under that key, named `{prefix}-{tenant}-{what}`.
    /// Returns the table name and the key id.
    pub async fn tenant_table(&self, tenant: &str, what: &str) -> (String, String) {
        let key = self
            .backend
            .keys
            .create_key(&self.key_spec(&format!("{tenant}-{what}")))
            .await
            .expect("creating the table's key");
        let spec = self.table_spec(
            &format!("{tenant}-{what}"),
            Some(tenant),
            Some(key.arn.clone()),
        );
        self.backend
            .tables
            .create_table(&spec)
            .await
            .expect("creating a tenant table");
        (spec.name, key.key_id)
    }

    /// The tenant table shape, named `{prefix}-{what}`, tagged with tenant `{prefix}-{tenant}`.
    /// Built by the real plan ([`tenant_tables`]) and renamed, so the suites exercise exactly
    /// the shape tenants get and cannot drift from it.
    pub fn table_spec(
        &self,
        what: &str,
        tenant: Option<&str>,
        sse_key: Option<String>,
    ) -> TableSpec {
        let mut tags = Tags::new();
        if let Some(t) = tenant {
            tags.insert(TAG_TENANT.to_owned(), self.name(t));
        }
        let names = ResourceNames::for_tenant(&TablePrefix::default(), &self.tenant("plan"));
        let [(_, app), _] = tenant_tables(&names, sse_key.as_deref(), &tags);
        TableSpec {
            name: self.name(what),
            ..app
        }
    }

    pub fn key_spec(&self, what: &str) -> KeySpec {
        KeySpec {
            alias: format!("alias/{}", self.name(what)),
            description: format!("conformance key {what}"),
            tags: Tags::from([("purpose".to_owned(), "conformance".to_owned())]),
        }
    }
}

impl Debug for Fixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fixture")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

/// A fixed instant `seconds` after 2026-01-01T00:00:00Z (whole seconds: every backend stores
/// them exactly).
pub fn at(seconds: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(1_767_225_600 + seconds).expect("valid timestamp")
}

pub fn entry(tenant: &TenantId, run_id: uuid::Uuid, step: &str, seconds: i64) -> JournalEntry {
    JournalEntry {
        tenant: tenant.clone(),
        run_id,
        step: step.to_owned(),
        phase: JournalPhase::Done,
        detail: format!("{step} detail"),
        at: at(seconds),
    }
}

/// Asserts that `result` failed with `kind`; `doing` names the mistake for the failure message.
#[track_caller]
pub fn assert_kind<T: Debug>(result: Result<T>, kind: ErrorKind, doing: &str) {
    match result {
        Ok(v) => panic!("{doing}: expected {kind}, got Ok({v:?})"),
        Err(e) => assert_eq!(e.kind(), kind, "{doing}: expected {kind}, got {e}"),
    }
}

/// Says, past libtest's output capture, that `case` was skipped because the backend lacks
/// `capability`: a skipped case must show in every run, never pass silently.
pub(crate) fn skip(case: &str, capability: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "skipped: {case} needs {capability}");
}
