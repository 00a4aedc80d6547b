//! Data-plane settings: the shared backend settings (`tenancy::settings`) and HTTP settings
//! (`service::config`), plus what only the data plane needs, all from the one figment
//! (`SPOTLIGHT_*` variables over an optional TOML file). Every error names its setting.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::Path;
use std::time::Duration;

use figment::Figment;
use secrecy::SecretString;
use serde::Deserialize;
use service::config::ServerSettings;
use tenancy::settings::{Bounded, ConfigError, Settings, describe, text};

use crate::identity::{AdminGroup, AdminStrategy, StrategyKind};
use crate::resolve::tenant::CacheLimits;

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct DataPlaneSettings {
    /// Backend, data directory, prefix: the same as the control plane's, so both open the
    /// same registry.
    #[serde(flatten)]
    pub backend: Settings,
    #[serde(flatten)]
    pub server: ServerSettings,
    /// `SPOTLIGHT_DATA_PLANE_ADDR`: where the data plane listens.
    pub data_plane_addr: SocketAddr,
    /// `SPOTLIGHT_API_KEY_PEPPER`: the secret API keys are hashed under; absent, the one in
    /// `{data_dir}/api-key-pepper` (the control plane's) is used.
    #[serde(deserialize_with = "text::optional")]
    pub api_key_pepper: Option<SecretString>,
    /// `SPOTLIGHT_OPERATOR_TOKEN`: what `/metrics` asks for; absent, the control plane's in
    /// `{data_dir}/operator-token`.
    #[serde(deserialize_with = "text::optional")]
    pub operator_token: Option<SecretString>,
    /// `SPOTLIGHT_KEY_CACHE_TTL_SECS`: how long a resolved API key is served from memory; a
    /// revoked key, a suspended tenant or a changed origin list takes effect within this.
    pub key_cache_ttl_secs: Bounded<1, 300>,
    /// `SPOTLIGHT_KEY_CACHE_CAPACITY`: resolved keys kept (least recently used go first).
    pub key_cache_capacity: Bounded<1, 10_000_000>,
    /// `SPOTLIGHT_UNKNOWN_KEY_CACHE_CAPACITY`: unknown keys remembered, so a flood of made-up
    /// keys costs one lookup each at most and bounded memory.
    pub unknown_key_cache_capacity: Bounded<1, 10_000_000>,
    /// `SPOTLIGHT_CONTENT_CACHE_TTL_SECS`: how long a tenant's published content is served
    /// from memory by a process that did not publish it (0: never cached).
    pub content_cache_ttl_secs: Bounded<0, 300>,
    /// `SPOTLIGHT_EVENT_RETENTION_DAYS`: how long events and their dedupe markers are kept;
    /// events older than this are refused, as their duplicates could no longer be seen.
    pub event_retention_days: Bounded<7, 400>,
    /// `SPOTLIGHT_TENANT_RATE`: requests per second one tenant may make (its burst is
    /// `SPOTLIGHT_TENANT_BURST`); past it, `429` with `Retry-After`.
    pub tenant_rate: Bounded<1, 1_000_000>,
    /// `SPOTLIGHT_TENANT_BURST`: requests one tenant may make at once above its rate.
    pub tenant_burst: Bounded<1, 1_000_000>,
    /// `SPOTLIGHT_OUTBOX_POLL_MS`: how often the in-process outbox processor looks for work
    /// when it found none.
    pub outbox_poll_ms: Bounded<10, 60_000>,
    /// `SPOTLIGHT_PROCESS_OUTBOX`: whether this process folds the outbox into aggregates (off
    /// where a stream handler or a separate `data-plane process-outbox` does it).
    pub process_outbox: bool,
    /// Never read from the environment or a file: where tenants' JWKS may be fetched from
    /// (public `https` hosts only; tests allow loopback).
    #[serde(skip)]
    pub jwks_fetch: tenancy::end_user::FetchPolicy,
    /// `SPOTLIGHT_ORIGIN_REFRESH_SECS`: how often the set of origins preflight requests are
    /// answered for is read again from the registry.
    pub origin_refresh_secs: Bounded<1, 3600>,
    /// `SPOTLIGHT_ADMIN_STRATEGY`: how a platform token's user is found to be an admin of
    /// its tenant — `table_lookup` (the tenant's admin records) or `jwt_group` (the token's
    /// `cognito:groups` lists `SPOTLIGHT_ADMIN_GROUP`).
    pub admin_strategy: StrategyKind,
    /// `SPOTLIGHT_ADMIN_GROUP`: the group `jwt_group` requires.
    pub admin_group: AdminGroup,
    /// `SPOTLIGHT_LLM`: who writes summaries and chat answers — `template` (the narrator, no
    /// model), `ollama` (an Ollama server at `SPOTLIGHT_OLLAMA_URL`) or `bedrock` (Bedrock
    /// Converse with `SPOTLIGHT_BEDROCK_MODEL_ID`).
    pub llm: LlmKind,
    /// `SPOTLIGHT_BEDROCK_MODEL_ID`: the Bedrock model (or inference profile) summaries use.
    pub bedrock_model_id: String,
    /// `SPOTLIGHT_OLLAMA_URL`: the Ollama server's base URL. Plain `http`, as Ollama serves
    /// it: a local or private-network server (the adapter carries no TLS stack of its own).
    pub ollama_url: String,
    /// `SPOTLIGHT_OLLAMA_MODEL`: the Ollama model asked.
    pub ollama_model: String,
    /// `SPOTLIGHT_LLM_TIMEOUT_SECS`: how long one model call may take before it is given up
    /// (and tried again, for Ollama; Bedrock's SDK has its own).
    pub llm_timeout_secs: Bounded<1, 600>,
    /// `SPOTLIGHT_LLM_PRICES`: US dollars per 1,000 input and output tokens, per model id;
    /// what cost estimates are computed at (a model not listed is estimated at 0). Entries
    /// given add to or replace the defaults ([`default_prices`]).
    pub llm_prices: BTreeMap<String, Price>,
    /// `SPOTLIGHT_MONTHLY_TOKENS_STANDARD`: model tokens (input and output) a standard-tier
    /// tenant may use in a calendar month (UTC); past it, the narrator answers.
    pub monthly_tokens_standard: Bounded<0, 1_000_000_000_000>,
    /// `SPOTLIGHT_MONTHLY_TOKENS_ENTERPRISE`: the same for an enterprise-tier tenant.
    pub monthly_tokens_enterprise: Bounded<0, 1_000_000_000_000>,
    /// `SPOTLIGHT_LLM_RATE_PER_MINUTE`: model requests (summaries and chat answers that would
    /// call the model) one tenant may make per minute; past it, `429` with `Retry-After`.
    pub llm_rate_per_minute: Bounded<1, 100_000>,
    /// `SPOTLIGHT_LLM_BURST`: model requests one tenant may make at once above that rate.
    pub llm_burst: Bounded<1, 100_000>,
    /// `SPOTLIGHT_SDK_DIR`: the browser SDK's versioned layout that `/sdk/…` serves, as
    /// `scripts/build-sdk.sh` wrote it (`manifest.json`, `v{version}/`, `latest/`); relative
    /// to the working directory. Missing, every `/sdk/…` answer is a `404` saying so.
    pub sdk_dir: std::path::PathBuf,
}

/// A model's price, in US dollars per 1,000 tokens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_1k: f64,
    pub output_per_1k: f64,
}

impl Price {
    /// The cost of `input` and `output` tokens, in US dollars.
    pub fn cost(&self, input: u32, output: u32) -> f64 {
        (f64::from(input) * self.input_per_1k + f64::from(output) * self.output_per_1k) / 1000.0
    }
}

/// Prices known without configuration: the narrator and a local model cost nothing; Amazon
/// Nova Micro at its on-demand list price ($0.035 and $0.14 per million tokens).
pub fn default_prices() -> BTreeMap<String, Price> {
    let free = Price {
        input_per_1k: 0.0,
        output_per_1k: 0.0,
    };
    BTreeMap::from([
        (crate::insights::llm::NARRATOR_MODEL.to_owned(), free),
        (DEFAULT_OLLAMA_MODEL.to_owned(), free),
        (
            DEFAULT_BEDROCK_MODEL.to_owned(),
            Price {
                input_per_1k: 0.000035,
                output_per_1k: 0.00014,
            },
        ),
    ])
}

/// Who writes summaries, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LlmKind {
    #[default]
    Template,
    Ollama,
    Bedrock,
}

/// The Bedrock model summaries use unless configured: Amazon Nova Micro, text only and the
/// cheapest of Bedrock's own models.
pub const DEFAULT_BEDROCK_MODEL: &str = "amazon.nova-micro-v1:0";

/// Where a local Ollama listens by default.
pub const DEFAULT_OLLAMA_URL: &str = "http://127.0.0.1:11434";

/// The Ollama model asked unless configured: SmolLM2 135M, the model `scripts/local-model.sh`
/// serves.
pub const DEFAULT_OLLAMA_MODEL: &str = "smollm2:135m";

impl Default for DataPlaneSettings {
    fn default() -> Self {
        DataPlaneSettings {
            backend: Settings::default(),
            server: ServerSettings::default(),
            data_plane_addr: SocketAddr::from(([127, 0, 0, 1], 8081)),
            api_key_pepper: None,
            operator_token: None,
            key_cache_ttl_secs: Bounded::must(30),
            key_cache_capacity: Bounded::must(100_000),
            unknown_key_cache_capacity: Bounded::must(10_000),
            content_cache_ttl_secs: Bounded::must(5),
            event_retention_days: Bounded::must(30),
            tenant_rate: Bounded::must(1_000),
            tenant_burst: Bounded::must(2_000),
            outbox_poll_ms: Bounded::must(200),
            process_outbox: true,
            origin_refresh_secs: Bounded::must(30),
            admin_strategy: StrategyKind::TableLookup,
            admin_group: AdminGroup::default(),
            llm: LlmKind::Template,
            bedrock_model_id: DEFAULT_BEDROCK_MODEL.to_owned(),
            ollama_url: DEFAULT_OLLAMA_URL.to_owned(),
            ollama_model: DEFAULT_OLLAMA_MODEL.to_owned(),
            llm_timeout_secs: Bounded::must(60),
            llm_prices: default_prices(),
            monthly_tokens_standard: Bounded::must(1_000_000),
            monthly_tokens_enterprise: Bounded::must(20_000_000),
            llm_rate_per_minute: Bounded::must(20),
            llm_burst: Bounded::must(5),
            sdk_dir: std::path::PathBuf::from("sdk/dist"),
            jwks_fetch: tenancy::end_user::FetchPolicy::PUBLIC_ONLY,
        }
    }
}

impl DataPlaneSettings {
    /// Defaults, then the config file, then `SPOTLIGHT_*` variables.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_figment(&tenancy::settings::figment())
    }

    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        // The flattened parts on their own first, so their errors name the setting at fault.
        Settings::from_figment(figment)?;
        ServerSettings::from_figment(figment)?;
        let mut settings: DataPlaneSettings =
            figment.extract().map_err(|e| ConfigError(describe(e)))?;
        settings.ollama_base()?;
        for (model, price) in default_prices() {
            settings.llm_prices.entry(model).or_insert(price);
        }
        for (model, price) in &settings.llm_prices {
            let valid = |p: f64| p.is_finite() && p >= 0.0;
            if !valid(price.input_per_1k) || !valid(price.output_per_1k) {
                return Err(ConfigError(format!(
                    "SPOTLIGHT_LLM_PRICES: the price of '{model}' must be two finite numbers of \
                     0 or more"
                )));
            }
        }
        Ok(settings)
    }

    /// Model tokens a tenant of `tier` may use in a calendar month.
    pub fn monthly_tokens(&self, tier: tenancy::Tier) -> u64 {
        match tier {
            tenancy::Tier::Standard => self.monthly_tokens_standard.get(),
            tenancy::Tier::Enterprise => self.monthly_tokens_enterprise.get(),
        }
    }

    /// The estimated cost of a model's tokens, in US dollars (0 for a model without a price).
    pub fn cost_usd(&self, model: &str, input: u32, output: u32) -> f64 {
        self.llm_prices
            .get(model)
            .map_or(0.0, |price| price.cost(input, output))
    }

    /// `SPOTLIGHT_OLLAMA_URL` as a URL ending in `/`, so `api/chat` joins onto it.
    pub fn ollama_base(&self) -> Result<url::Url, ConfigError> {
        let bad =
            |why: &str| ConfigError(format!("SPOTLIGHT_OLLAMA_URL: '{}' {why}", self.ollama_url));
        let mut base =
            url::Url::parse(&self.ollama_url).map_err(|e| bad(&format!("is not a URL: {e}")))?;
        if base.scheme() != "http" || base.host().is_none() {
            return Err(bad("is not an http:// URL with a host"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("has a query or fragment"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(base)
    }

    /// Settings for a data plane whose state lives in `data_dir`, otherwise the defaults.
    pub fn for_data_dir(data_dir: impl Into<std::path::PathBuf>) -> Self {
        let mut settings = DataPlaneSettings::default();
        settings.backend.data_dir = data_dir.into();
        settings
    }

    pub fn data_dir(&self) -> &Path {
        &self.backend.data_dir
    }

    pub fn cache_limits(&self) -> CacheLimits {
        let ttl = self.key_cache_ttl_secs.secs();
        CacheLimits {
            ttl,
            capacity: nonzero(self.key_cache_capacity.as_usize()),
            unknown_ttl: ttl,
            unknown_capacity: nonzero(self.unknown_key_cache_capacity.as_usize()),
        }
    }

    pub fn event_retention(&self) -> time::Duration {
        time::Duration::days(self.event_retention_days.get() as i64)
    }

    pub fn admin_strategy(&self) -> AdminStrategy {
        match self.admin_strategy {
            StrategyKind::TableLookup => AdminStrategy::TableLookup,
            StrategyKind::JwtGroup => AdminStrategy::JwtGroup(self.admin_group.clone()),
        }
    }

    pub fn outbox_poll(&self) -> Duration {
        Duration::from_millis(self.outbox_poll_ms.get())
    }
}

fn nonzero(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n).unwrap_or(NonZeroUsize::MIN)
}

#[cfg(test)]
mod tests {
    use figment::providers::Serialized;

    use super::*;

    #[test]
    fn defaults_and_one_override_come_from_one_figment() {
        let f = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("data_plane_addr", "0.0.0.0:9001"))
            .merge(Serialized::default("tenant_rate", 5));
        let s = DataPlaneSettings::from_figment(&f).unwrap();
        assert_eq!(s.data_plane_addr.port(), 9001);
        assert_eq!(s.tenant_rate.get(), 5);
        assert_eq!(s.event_retention_days.get(), 30);
        assert!(s.process_outbox);
    }

    #[test]
    fn the_ollama_url_is_checked_at_load_and_joins_under_its_path() {
        let with = |url: &str| {
            let f = Figment::from(Serialized::defaults(Settings::default()))
                .merge(Serialized::default("ollama_url", url));
            DataPlaneSettings::from_figment(&f)
        };
        let base = with("http://models.internal:11434/ollama")
            .unwrap()
            .ollama_base()
            .unwrap();
        assert_eq!(
            base.join("api/chat").unwrap().as_str(),
            "http://models.internal:11434/ollama/api/chat"
        );
        for bad in [
            "models:11434",
            "https://models/",
            "ftp://models/",
            "http://models/?a=1",
            "not a url",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("SPOTLIGHT_OLLAMA_URL"), "{bad}: {err}");
        }
        assert_eq!(
            DataPlaneSettings::default().ollama_base().unwrap().as_str(),
            "http://127.0.0.1:11434/"
        );
    }

    #[test]
    fn prices_add_to_the_defaults_and_must_be_numbers_of_zero_or_more() {
        let f =
            Figment::from(Serialized::defaults(Settings::default())).merge(Serialized::default(
                "llm_prices.my-model",
                Price {
                    input_per_1k: 0.5,
                    output_per_1k: 1.5,
                },
            ));
        let s = DataPlaneSettings::from_figment(&f).unwrap();
        assert_eq!(s.cost_usd("my-model", 1000, 2000), 3.5);
        let nova = s.cost_usd(DEFAULT_BEDROCK_MODEL, 1_000_000, 1_000_000);
        assert!((nova - 0.175).abs() < 1e-9, "{nova}");
        assert_eq!(s.cost_usd("unknown", 1000, 1000), 0.0);
        let bad =
            Figment::from(Serialized::defaults(Settings::default())).merge(Serialized::default(
                "llm_prices.my-model",
                Price {
                    input_per_1k: -1.0,
                    output_per_1k: 0.0,
                },
            ));
        let err = DataPlaneSettings::from_figment(&bad)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("SPOTLIGHT_LLM_PRICES") && err.contains("my-model"),
            "{err}"
        );
    }

    #[test]
    fn a_retention_under_a_week_is_refused_naming_the_variable() {
        let f = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("event_retention_days", 6));
        let err = DataPlaneSettings::from_figment(&f).unwrap_err().to_string();
        assert!(err.contains("SPOTLIGHT_EVENT_RETENTION_DAYS"), "{err}");
        assert!(err.contains("from 7 to 400"), "{err}");
    }
}
