//! Control-plane settings: the provisioner's [`provisioner::Settings`] plus what only the HTTP
//! API needs, all from the one `figment` (`SPOTLIGHT_*` variables over an optional TOML file).
//!
//! Secrets (the operator token and the API-key pepper) may be configured; when they are not,
//! they are read from, or generated once into, files in the data directory, so a first start
//! needs no configuration and a restart keeps the same token ([`service::secrets`], which also
//! resolves the pepper for the data plane, so both find the same one).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use provisioner::config::Bounded;
use secrecy::SecretString;
use serde::Deserialize;
use service::config::ServerSettings;
use service::secrets::{self, SecretError};
use service::server::ServerLimits;

pub use service::secrets::{API_KEY_PEPPER_FILE, OPERATOR_TOKEN_FILE, OPERATOR_TOKEN_PREFIX};

#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ControlPlaneSettings {
    /// Backend, data directory, prefix, … shared with the provisioner CLI.
    #[serde(flatten)]
    pub provisioner: provisioner::Settings,
    /// The listener's timeouts and connection bound, and the shutdown grace: the settings
    /// every service shares.
    #[serde(flatten)]
    pub server: ServerSettings,
    /// `SPOTLIGHT_CONTROL_PLANE_ADDR`: where the HTTP API listens.
    pub control_plane_addr: SocketAddr,
    /// `SPOTLIGHT_OPERATOR_TOKEN`: the bearer token operators present. When absent, the token
    /// in `{data_dir}/operator-token` is used (generated on first start).
    #[serde(deserialize_with = "provisioner::config::text::optional")]
    pub operator_token: Option<SecretString>,
    /// `SPOTLIGHT_API_KEY_PEPPER`: the secret API keys are hashed under. When absent, the
    /// pepper in `{data_dir}/api-key-pepper` is used (generated on first start).
    #[serde(deserialize_with = "provisioner::config::text::optional")]
    pub api_key_pepper: Option<SecretString>,
    /// `SPOTLIGHT_WAIT_TIMEOUT_SECS`: longest a `?wait=true` request (and a DELETE) waits for
    /// provisioning before answering `202`. Must be shorter than the request timeout.
    pub wait_timeout_secs: Bounded<0, 300>,
    /// `SPOTLIGHT_IDEMPOTENCY_TTL_SECS`: how long a completed idempotent response is replayed
    /// (a minute to 30 days).
    pub idempotency_ttl_secs: Bounded<60, 2_592_000>,
    /// `SPOTLIGHT_IDEMPOTENCY_LEASE_SECS`: the lease of an idempotency claim, renewed while its
    /// request runs; a retry of a request whose process died executes again after at most
    /// this long (1 s to 5 minutes).
    pub idempotency_lease_secs: Bounded<1, 300>,
    /// `SPOTLIGHT_MAX_BODY_BYTES`: larger request bodies get 413 (1 KiB to 16 MiB).
    pub max_body_bytes: Bounded<1024, 16_777_216>,
    /// `SPOTLIGHT_RECONCILE_INTERVAL_SECS`: how often in-flight tenants without a run in this
    /// process are resumed and keys past their deletion window destroyed.
    pub reconcile_interval_secs: Bounded<1, 86_400>,
    /// `SPOTLIGHT_RUN_LEASE_SECS`: how long a tenant's journal must be quiet before the
    /// periodic check takes its run over from whichever process drove it.
    pub run_lease_secs: Bounded<5, 86_400>,
    /// Tests only, never read from the environment or a file: accept tenants' JWKS URLs on
    /// loopback hosts, over plain `http` too, so a test can serve keys from 127.0.0.1.
    /// Off, a JWKS URL must be `https` to a public host.
    #[serde(skip)]
    pub allow_loopback_jwks: bool,
}

impl Default for ControlPlaneSettings {
    fn default() -> Self {
        ControlPlaneSettings {
            provisioner: provisioner::Settings::default(),
            server: ServerSettings::default(),
            control_plane_addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            operator_token: None,
            api_key_pepper: None,
            wait_timeout_secs: Bounded::must(30),
            idempotency_ttl_secs: Bounded::must(86_400),
            idempotency_lease_secs: Bounded::must(10),
            max_body_bytes: Bounded::must(65_536),
            reconcile_interval_secs: Bounded::must(30),
            run_lease_secs: Bounded::must(120),
            allow_loopback_jwks: false,
        }
    }
}

/// Why settings or secrets could not be loaded; each names the setting or file at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Invalid(String),
    #[error(transparent)]
    Secret(#[from] SecretError),
}

impl ControlPlaneSettings {
    /// Defaults, then the config file, then `SPOTLIGHT_*` variables.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_figment(&provisioner::config::figment())
    }

    /// Extracts and [checks](Self::check) the settings; every error names its setting.
    pub fn from_figment(figment: &Figment) -> Result<Self, ConfigError> {
        // The shared settings on their own first: read through `#[serde(flatten)]`, their
        // errors would lose the name of the setting at fault.
        provisioner::Settings::from_figment(figment).map_err(|e| ConfigError::Invalid(e.0))?;
        ServerSettings::from_figment(figment).map_err(|e| ConfigError::Invalid(e.0))?;
        let settings: Self = figment
            .extract()
            .map_err(|e| ConfigError::Invalid(provisioner::config::describe(e)))?;
        settings.check()?;
        Ok(settings)
    }

    /// What the bounds of single settings cannot say: the request timeout must outlast the
    /// wait timeout, or a `?wait=true` request would be cut off by a 408 just before it
    /// answers `202`.
    pub fn check(&self) -> Result<(), ConfigError> {
        if self.server.request_timeout_secs.get() <= self.wait_timeout_secs.get() {
            return Err(ConfigError::Invalid(format!(
                "SPOTLIGHT_REQUEST_TIMEOUT_SECS ({}) must be longer than \
                 SPOTLIGHT_WAIT_TIMEOUT_SECS ({}), so a waiting request answers before it \
                 times out",
                self.server.request_timeout_secs, self.wait_timeout_secs
            )));
        }
        Ok(())
    }

    /// Settings for a control plane whose state lives in `data_dir`, otherwise the defaults;
    /// what tests and embedding programs start from.
    pub fn for_data_dir(data_dir: impl Into<PathBuf>) -> Self {
        let mut settings = ControlPlaneSettings::default();
        settings.provisioner.data_dir = data_dir.into();
        settings
    }

    pub fn data_dir(&self) -> &Path {
        &self.provisioner.data_dir
    }

    pub fn wait_timeout(&self) -> Duration {
        self.wait_timeout_secs.secs()
    }

    pub fn idempotency_ttl(&self) -> Duration {
        self.idempotency_ttl_secs.secs()
    }

    pub fn idempotency_lease(&self) -> Duration {
        self.idempotency_lease_secs.secs()
    }

    pub fn shutdown_grace(&self) -> Duration {
        self.server.shutdown_grace()
    }

    pub fn reconcile_interval(&self) -> Duration {
        self.reconcile_interval_secs.secs()
    }

    pub fn run_lease(&self) -> Duration {
        self.run_lease_secs.secs()
    }

    /// The limits the HTTP listener enforces on every connection.
    pub fn server_limits(&self) -> ServerLimits {
        self.server.limits()
    }

    /// The operator token and API-key pepper: configured values win; otherwise the files in
    /// the data directory, created (mode 0600, never overwritten) when absent.
    pub fn resolve_secrets(&self) -> Result<Secrets, ConfigError> {
        // Mode 0700; an existing directory open to other users is tightened (with a warning).
        secrets::private_dir(self.data_dir())?;
        let operator_token =
            secrets::operator_token(self.operator_token.as_ref(), self.data_dir())?;
        let api_key_pepper =
            secrets::api_key_pepper(self.api_key_pepper.as_ref(), self.data_dir())?;
        Ok(Secrets {
            operator_token: operator_token.secret,
            operator_token_generated: operator_token.generated,
            api_key_pepper,
        })
    }
}

/// The secrets a control plane runs with.
#[derive(Debug, Clone)]
pub struct Secrets {
    pub operator_token: SecretString,
    /// True when this call generated the token (first start): the one time it may be shown.
    pub operator_token_generated: bool,
    pub api_key_pepper: SecretString,
}

#[cfg(test)]
mod tests {
    use super::*;
    use figment::providers::Serialized;
    use secrecy::ExposeSecret;

    #[test]
    fn defaults_match_the_documented_values() {
        let s = ControlPlaneSettings::from_figment(&Figment::from(Serialized::defaults(
            provisioner::Settings::default(),
        )))
        .unwrap();
        assert_eq!(s.control_plane_addr.to_string(), "127.0.0.1:8080");
        let numbers = [
            s.wait_timeout_secs.get(),
            s.idempotency_ttl_secs.get(),
            s.max_body_bytes.get(),
            s.server.shutdown_grace_secs.get(),
            s.reconcile_interval_secs.get(),
            s.run_lease_secs.get(),
            s.server.header_read_timeout_secs.get(),
            s.server.idle_timeout_secs.get(),
            s.server.request_timeout_secs.get(),
            s.server.max_connections.get(),
        ];
        assert_eq!(numbers, [30, 86_400, 65_536, 20, 30, 120, 10, 60, 60, 1024]);
        assert!(s.operator_token.is_none());
    }

    #[test]
    fn control_plane_values_and_provisioner_values_come_from_one_figment() {
        let f = Figment::from(Serialized::defaults(provisioner::Settings::default()))
            .merge(Serialized::default("control_plane_addr", "0.0.0.0:9000"))
            .merge(Serialized::default("operator_token", "tok"))
            .merge(Serialized::default("table_prefix", "qa-"))
            .merge(Serialized::default("wait_timeout_secs", 5));
        let s = ControlPlaneSettings::from_figment(&f).unwrap();
        assert_eq!(s.control_plane_addr.port(), 9000);
        assert_eq!(s.operator_token.unwrap().expose_secret(), "tok");
        assert_eq!(s.provisioner.table_prefix.as_str(), "qa-");
        assert_eq!(s.wait_timeout_secs.get(), 5);
    }

    /// What the environment provider makes of `SPOTLIGHT_{KEY}={raw}`.
    fn as_from_env(key: &str, raw: &str) -> Figment {
        let value: figment::value::Value = raw.parse().expect("the provider's parser");
        Figment::from(Serialized::defaults(provisioner::Settings::default()))
            .merge(Serialized::default(key, value))
    }

    #[test]
    fn a_numeric_setting_out_of_bounds_is_a_start_up_error_naming_it_and_its_bounds() {
        for (key, raw, bounds) in [
            (
                "shutdown_grace_secs",
                "18446744073709551615",
                "from 0 to 3600",
            ),
            ("shutdown_grace_secs", "-1", "from 0 to 3600"),
            (
                "shutdown_grace_secs",
                "99999999999999999999999",
                "from 0 to 3600",
            ),
            ("wait_timeout_secs", "301", "from 0 to 300"),
            ("idempotency_ttl_secs", "59", "from 60 to 2592000"),
            ("idempotency_lease_secs", "0", "from 1 to 300"),
            ("max_body_bytes", "1023", "from 1024 to 16777216"),
            ("max_body_bytes", "16777217", "from 1024 to 16777216"),
            ("reconcile_interval_secs", "0", "from 1 to 86400"),
            ("run_lease_secs", "4", "from 5 to 86400"),
            ("header_read_timeout_secs", "0", "from 1 to 300"),
            ("idle_timeout_secs", "3601", "from 1 to 3600"),
            ("request_timeout_secs", "0", "from 1 to 3600"),
            ("max_connections", "0", "from 1 to 65536"),
            ("max_connections", "65537", "from 1 to 65536"),
            // Shared settings, read through the control plane's own settings.
            ("key_deletion_window_days", "31", "from 0 to 30"),
            ("open_tenant_files", "-3", "from 1 to 100000"),
        ] {
            let err = ControlPlaneSettings::from_figment(&as_from_env(key, raw))
                .expect_err(raw)
                .to_string();
            let variable = format!("SPOTLIGHT_{}", key.to_ascii_uppercase());
            assert!(err.contains(&variable), "{key}={raw}: {err}");
            assert!(err.contains(bounds), "{key}={raw}: {err}");
            assert!(err.contains(raw), "{key}={raw}: {err}");
        }
    }

    #[test]
    fn numeric_settings_at_their_bounds_are_accepted() {
        for (key, raw) in [
            ("wait_timeout_secs", "0"),
            ("shutdown_grace_secs", "3600"),
            ("max_body_bytes", "1024"),
            ("idempotency_ttl_secs", "2592000"),
            ("idempotency_lease_secs", "300"),
            ("max_connections", "65536"),
            ("header_read_timeout_secs", "1"),
            ("idle_timeout_secs", "1"),
            ("request_timeout_secs", "3600"),
        ] {
            let s = ControlPlaneSettings::from_figment(&as_from_env(key, raw))
                .unwrap_or_else(|e| panic!("{key}={raw}: {e}"));
            let got = match key {
                "wait_timeout_secs" => s.wait_timeout_secs.get(),
                "shutdown_grace_secs" => s.server.shutdown_grace_secs.get(),
                "max_body_bytes" => s.max_body_bytes.get(),
                "idempotency_ttl_secs" => s.idempotency_ttl_secs.get(),
                "idempotency_lease_secs" => s.idempotency_lease_secs.get(),
                "max_connections" => s.server.max_connections.get(),
                "header_read_timeout_secs" => s.server.header_read_timeout_secs.get(),
                "idle_timeout_secs" => s.server.idle_timeout_secs.get(),
                _ => s.server.request_timeout_secs.get(),
            };
            assert_eq!(got.to_string(), raw, "{key}");
        }
    }

    #[test]
    fn a_request_timeout_not_longer_than_the_wait_timeout_is_refused() {
        for (request, wait) in [("30", "30"), ("10", "30")] {
            let f = as_from_env("request_timeout_secs", request)
                .merge(Serialized::default("wait_timeout_secs", wait));
            let err = ControlPlaneSettings::from_figment(&f)
                .expect_err(request)
                .to_string();
            assert!(
                err.contains("SPOTLIGHT_REQUEST_TIMEOUT_SECS")
                    && err.contains("SPOTLIGHT_WAIT_TIMEOUT_SECS"),
                "{err}"
            );
        }
        let f = as_from_env("request_timeout_secs", "31")
            .merge(Serialized::default("wait_timeout_secs", 30));
        let s = ControlPlaneSettings::from_figment(&f).unwrap();
        assert_eq!(s.server_limits().request_timeout, Duration::from_secs(31));
    }

    #[test]
    fn all_digit_secrets_are_read_as_text() {
        // What the environment provider makes of `SPOTLIGHT_OPERATOR_TOKEN=20240101`.
        let f = Figment::from(Serialized::defaults(provisioner::Settings::default()))
            .merge(Serialized::default("operator_token", 20_240_101_u64))
            .merge(Serialized::default("api_key_pepper", 7_i64));
        let s = ControlPlaneSettings::from_figment(&f).unwrap();
        assert_eq!(s.operator_token.unwrap().expose_secret(), "20240101");
        assert_eq!(s.api_key_pepper.unwrap().expose_secret(), "7");
    }

    #[test]
    fn generated_secrets_are_written_once_and_reused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("data");
        let settings = ControlPlaneSettings::for_data_dir(&dir);
        let first = settings.resolve_secrets().unwrap();
        assert!(first.operator_token_generated);
        let token = first.operator_token.expose_secret().to_owned();
        assert!(token.starts_with(OPERATOR_TOKEN_PREFIX));
        assert_eq!(token.len(), OPERATOR_TOKEN_PREFIX.len() + 43);
        let second = settings.resolve_secrets().unwrap();
        assert!(!second.operator_token_generated);
        assert_eq!(second.operator_token.expose_secret(), token);
        assert_eq!(
            second.api_key_pepper.expose_secret(),
            first.api_key_pepper.expose_secret()
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            for file in [OPERATOR_TOKEN_FILE, API_KEY_PEPPER_FILE] {
                let mode = std::fs::metadata(dir.join(file))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o600, "{file}");
            }
            let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o700, "the data directory holds secrets");
        }
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_complete_token() {
        let root = tempfile::tempdir().unwrap();
        let settings = ControlPlaneSettings::for_data_dir(root.path().join("data"));
        let all: Vec<Secrets> = std::thread::scope(|s| {
            let starts: Vec<_> = (0..8)
                .map(|_| s.spawn(|| settings.resolve_secrets().unwrap()))
                .collect();
            starts.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let token = all[0].operator_token.expose_secret();
        assert!(token.starts_with(OPERATOR_TOKEN_PREFIX), "{token:?}");
        assert!(
            all.iter()
                .all(|s| s.operator_token.expose_secret() == token),
            "every start uses the one published token"
        );
        assert_eq!(
            all.iter().filter(|s| s.operator_token_generated).count(),
            1,
            "exactly one start generated (and may print) the token"
        );
    }

    #[test]
    fn a_configured_token_is_used_and_no_file_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut settings = ControlPlaneSettings::for_data_dir(dir.path());
        settings.operator_token = Some(SecretString::from("configured"));
        let secrets = settings.resolve_secrets().unwrap();
        assert_eq!(secrets.operator_token.expose_secret(), "configured");
        assert!(!secrets.operator_token_generated);
        assert!(!dir.path().join(OPERATOR_TOKEN_FILE).exists());
    }
}
