//! What every handler shares, how it is assembled, and [`TenantTables`]: the only way a
//! handler reaches a tenant's data.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use governor::{Quota, RateLimiter};
use secrecy::SecretString;
use service::ApiError;
use service::secrets::SecretError;
use tenancy::backend::Backend;
use tenancy::ports::ItemStore;
use tenancy::{ResourceNames, TenantId};

use crate::config::DataPlaneSettings;
use crate::content::catalog::{Catalog, CatalogCache};
use crate::content::store::ContentStore;
use crate::events::runner::Outbox;
use crate::http::cors::OriginDirectory;
use crate::identity::admin::AdminStrategy;
use crate::identity::end_user::{EndUserVerifier, VerifierSettings};
use crate::metrics::DataPlaneMetrics;
use crate::resolve::tenant::Resolver;
use service::metrics::Metrics;

/// Requests per tenant per second, keyed by tenant: one tenant's flood is refused with 429
/// before it reaches storage, and never takes another tenant's share.
pub type TenantLimiter = RateLimiter<
    TenantId,
    governor::state::keyed::HashMapStateStore<TenantId>,
    governor::clock::DefaultClock,
>;

/// Tenants whose published content is kept in memory at once.
const CATALOG_CAPACITY: usize = 10_000;

/// What every handler shares, behind one `Arc`: every layer and extractor of a request
/// clones the state, so a clone is one reference count, not one per part. Its parts are
/// reached as fields ([`Shared`], through `Deref`).
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub backend: Backend,
    pub resolver: Arc<Resolver>,
    pub catalogs: Arc<CatalogCache>,
    pub limiter: Arc<TenantLimiter>,
    /// Each tenant's rate of model requests (`SPOTLIGHT_LLM_RATE_PER_MINUTE`).
    pub model_limiter: Arc<TenantLimiter>,
    pub origins: Arc<OriginDirectory>,
    /// Tenants with outbox records this process stored, for the processor.
    pub outbox: Arc<Outbox>,
    pub settings: Arc<DataPlaneSettings>,
    /// What `/metrics` shows: the HTTP metrics and the data plane's own ([`Self::counters`]).
    pub metrics: Arc<Metrics>,
    pub counters: DataPlaneMetrics,
    /// Verifies end users' tokens against their tenant's registered keys.
    pub verifier: Arc<EndUserVerifier>,
    /// Decides which platform tokens are admins of their tenant.
    pub admin_strategy: AdminStrategy,
    /// The operator token `/metrics` asks for (the control plane's; unset: `/metrics` is
    /// refused to everyone). Set once, when the state is assembled.
    pub operator_token: OnceLock<SecretString>,
    /// Writes summaries (`SPOTLIGHT_LLM`: the template narrator by default, or Bedrock).
    pub llm: Arc<dyn crate::insights::llm::Llm>,
    /// The browser SDK's built versions (`SPOTLIGHT_SDK_DIR`), served under `/sdk/`.
    pub sdk_dist: Arc<crate::hosting::dist::SdkDist>,
    /// Which SDK versions this process already recorded as seen today.
    pub sdk_seen: Arc<crate::hosting::versions::SeenRecorder>,
}

/// Why the data plane could not be assembled.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("configuration: {0}")]
    Config(#[from] tenancy::settings::ConfigError),
    #[error(transparent)]
    Secret(#[from] SecretError),
    #[error("setting up the model client: {0}")]
    Llm(String),
    #[error("opening the {backend:?} backend: {source}")]
    Backend {
        backend: tenancy::settings::BackendKind,
        source: tenancy::Error,
    },
}

impl AppState {
    /// Assembles the state from an opened backend and the API-key pepper.
    ///
    /// Errors: `Unavailable` when the HTTP client for tenants' JWKS cannot be set up.
    pub fn new(
        backend: Backend,
        settings: DataPlaneSettings,
        pepper: &SecretString,
    ) -> tenancy::Result<Self> {
        let verifier = EndUserVerifier::new(VerifierSettings {
            fetch: settings.jwks_fetch,
            ..VerifierSettings::default()
        })?;
        let hasher = service::secrets::key_hasher(pepper);
        let counters = DataPlaneMetrics::default();
        let metrics = Metrics::with_platform(
            "data_plane",
            |registry| counters.register(registry),
            |registry| counters.sdk.register(registry),
        );
        let resolver = Resolver::new(backend.registry.clone(), hasher, settings.cache_limits())
            .counting(counters.resolutions.clone());
        let quota = Quota::per_second(nonzero_u32(settings.tenant_rate.get()))
            .allow_burst(nonzero_u32(settings.tenant_burst.get()));
        Ok(AppState(Arc::new(Shared {
            verifier: Arc::new(verifier),
            admin_strategy: settings.admin_strategy(),
            resolver: Arc::new(resolver),
            catalogs: Arc::new(CatalogCache::new(
                settings.content_cache_ttl_secs.secs(),
                NonZeroUsize::new(CATALOG_CAPACITY).unwrap_or(NonZeroUsize::MIN),
            )),
            limiter: Arc::new(RateLimiter::hashmap(quota)),
            model_limiter: Arc::new(RateLimiter::hashmap(
                Quota::per_minute(nonzero_u32(settings.llm_rate_per_minute.get()))
                    .allow_burst(nonzero_u32(settings.llm_burst.get())),
            )),
            origins: Arc::new(OriginDirectory::default()),
            outbox: Arc::new(Outbox::default()),
            sdk_dist: Arc::new(crate::hosting::dist::SdkDist::new(settings.sdk_dir.clone())),
            sdk_seen: Arc::default(),
            backend,
            settings: Arc::new(settings),
            metrics,
            counters,
            operator_token: OnceLock::new(),
            llm: Arc::new(crate::insights::llm::Narrator),
        })))
    }

    /// Opens the configured backend, resolves the pepper (the control plane's, from the data
    /// directory, when not configured) and assembles the state.
    pub async fn from_settings(settings: DataPlaneSettings) -> Result<AppState, StartError> {
        let backend =
            tenancy::open(&settings.backend)
                .await
                .map_err(|source| StartError::Backend {
                    backend: settings.backend.backend,
                    source,
                })?;
        service::secrets::private_dir(settings.data_dir())?;
        let pepper = service::secrets::api_key_pepper(
            settings.api_key_pepper.as_ref(),
            settings.data_dir(),
        )?;
        let token = service::secrets::operator_token(
            settings.operator_token.as_ref(),
            settings.data_dir(),
        )?;
        let backend_kind = settings.backend.backend;
        let state =
            AppState::new(backend, settings, &pepper).map_err(|source| StartError::Backend {
                backend: backend_kind,
                source,
            })?;
        let state = match state.settings.llm {
            crate::config::LlmKind::Template => state,
            crate::config::LlmKind::Ollama => {
                let base = state.settings.ollama_base()?;
                let llm = crate::insights::ollama::OllamaLlm::new(
                    &base,
                    state.settings.ollama_model.clone(),
                    state.settings.llm_timeout_secs.secs(),
                )
                .map_err(|e| StartError::Llm(e.to_string()))?;
                state.with_llm(Arc::new(llm))
            }
            crate::config::LlmKind::Bedrock => {
                // The standard AWS configuration (region, credentials, endpoint), as every
                // AWS adapter loads it.
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .load()
                    .await;
                let client = aws_sdk_bedrockruntime::Client::new(&config);
                let model = state.settings.bedrock_model_id.clone();
                state.with_llm(Arc::new(crate::insights::bedrock::BedrockLlm::new(
                    client, model,
                )))
            }
        };
        Ok(state.with_operator_token(token.secret))
    }

    /// The state with `llm` writing summaries. Called right after [`AppState::new`], while
    /// nothing else holds the state.
    pub fn with_llm(mut self, llm: Arc<dyn crate::insights::llm::Llm>) -> Self {
        Arc::get_mut(&mut self.0)
            .expect("with_llm is called right after AppState::new, before the state is shared")
            .llm = llm;
        self
    }

    /// The operator token `/metrics` asks for.
    pub fn with_operator_token(self, token: SecretString) -> Self {
        // A second token is ignored: the first one set is the one `/metrics` keeps asking for.
        let _ = self.operator_token.set(token);
        self
    }

    /// The tenant's published content: from memory when younger than `max_age` (and the
    /// cache's TTL), else read again.
    pub async fn catalog(
        &self,
        tables: &TenantTables,
        max_age: std::time::Duration,
    ) -> Result<Arc<Catalog>, ApiError> {
        let now = Instant::now();
        if let Some(catalog) = self.catalogs.get(&tables.tenant, max_age, now) {
            return Ok(catalog);
        }
        let catalog = Arc::new(
            Catalog::read(&tables.content())
                .await
                .map_err(crate::http::error::content_error)?,
        );
        self.catalogs.put(&tables.tenant, catalog.clone(), now);
        Ok(catalog)
    }
}

fn nonzero_u32(n: u64) -> NonZeroU32 {
    NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
}

/// One tenant's two tables over an item store: what a handler is handed, and the only way it
/// reaches data. Every operation names one of these two tables; there is no way to name
/// another tenant's.
#[derive(Clone)]
pub struct TenantTables {
    tenant: TenantId,
    items: Arc<dyn ItemStore>,
    names: ResourceNames,
}

impl TenantTables {
    pub fn new(tenant: TenantId, items: Arc<dyn ItemStore>, names: &ResourceNames) -> Self {
        TenantTables {
            tenant,
            items,
            names: names.clone(),
        }
    }

    pub fn tenant(&self) -> &TenantId {
        &self.tenant
    }

    pub fn names(&self) -> &ResourceNames {
        &self.names
    }

    /// The tenant's content, in its app table (its changes' domain events in the outbox of
    /// its events table).
    pub fn content(&self) -> ContentStore<'_> {
        ContentStore::new(
            self.items.as_ref(),
            &self.tenant,
            &self.names.app_table,
            &self.names.events_table,
        )
    }

    /// The store and the app table, for reads of aggregates and progress.
    pub(crate) fn app(&self) -> (&dyn ItemStore, &str) {
        (self.items.as_ref(), &self.names.app_table)
    }

    /// The store and the events table, for ingest and the outbox.
    pub(crate) fn events(&self) -> (&dyn ItemStore, &str) {
        (self.items.as_ref(), &self.names.events_table)
    }
}

/// How often every tenant's outbox is swept (tenants this process stored events for are
/// folded at once).
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(30);
/// How often the rate limiter forgets tenants that have been quiet.
const LIMITER_CLEANUP: std::time::Duration = std::time::Duration::from_secs(60);

/// The background tasks of a serving process.
pub struct Background(Vec<tokio::task::JoinHandle<()>>);

impl Background {
    /// Stops them. The outbox processor may stop mid-step: each step is one transaction.
    pub fn stop(self) {
        for task in self.0 {
            task.abort();
        }
    }
}

/// Starts the origin directory's refresh, the rate limiter's cleanup and (unless
/// `SPOTLIGHT_PROCESS_OUTBOX=false`) the outbox processor.
pub fn spawn_background(state: &AppState) -> Background {
    let mut tasks = Vec::new();
    let origins = {
        let state = state.clone();
        tokio::spawn(async move {
            let every = state.settings.origin_refresh_secs.secs();
            loop {
                if let Err(e) = state.origins.refresh(state.backend.registry.as_ref()).await {
                    tracing::warn!(error = %e, "refreshing allowed origins failed; retried later");
                }
                tokio::time::sleep(every).await;
            }
        })
    };
    tasks.push(origins);
    let (limiter, model_limiter) = (state.limiter.clone(), state.model_limiter.clone());
    tasks.push(tokio::spawn(async move {
        loop {
            tokio::time::sleep(LIMITER_CLEANUP).await;
            limiter.retain_recent();
            model_limiter.retain_recent();
        }
    }));
    if state.settings.process_outbox {
        let state = state.clone();
        tasks.push(tokio::spawn(async move {
            crate::events::runner::run(
                &state.outbox,
                &state.backend,
                state.settings.outbox_poll(),
                SWEEP_EVERY,
                &state.counters,
            )
            .await;
        }));
    }
    Background(tasks)
}
