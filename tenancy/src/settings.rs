//! Settings shared by every Spotlight binary (the control plane, the `provisioner` CLI, the
//! data plane), read from `SPOTLIGHT_*` environment variables and
//! optionally a TOML file (`SPOTLIGHT_CONFIG`, default `spotlight.toml` if present). The file may
//! add settings; the environment wins; neither is required.
//!
//! Every numeric setting of every binary is a [`Bounded`] number: a value outside its
//! documented bounds is a start-up error naming the setting and the bounds, never a value some
//! later `Duration` arithmetic panics on.

use std::fmt;
use std::num::NonZeroU32;
use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::naming::TablePrefix;

/// Settings that could not be loaded: every problem found, each naming its setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(pub String);

/// Which adapters back the ports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// SQLite and local keys in `data_dir`: no cloud, no network.
    #[default]
    Embedded,
    /// The AWS SDK (DynamoDB, KMS, IAM/STS).
    Aws,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// `SPOTLIGHT_BACKEND`
    pub backend: BackendKind,
    /// `SPOTLIGHT_DATA_DIR`: where the embedded backend keeps its state.
    pub data_dir: PathBuf,
    /// `SPOTLIGHT_TABLE_PREFIX`: prefixes tables, key aliases and role names.
    #[serde(deserialize_with = "text::required")]
    pub table_prefix: TablePrefix,
    /// `SPOTLIGHT_KEY_DELETION_WINDOW_DAYS`: days between offboarding and destruction of the
    /// tenant's key material (the key is disabled at once). 0 destroys it at once (embedded only);
    /// 30 is the longest window KMS offers.
    pub key_deletion_window_days: Bounded<0, 30>,
    /// `SPOTLIGHT_DATA_PLANE_PRINCIPAL`: the principal tenant roles trust.
    #[serde(deserialize_with = "text::required")]
    pub data_plane_principal: String,
    /// `SPOTLIGHT_OPEN_TENANT_FILES`: embedded backend's bound on open tenant databases
    /// (1–100000; each holds a file descriptor or two).
    pub open_tenant_files: Bounded<1, 100_000>,
    /// `SPOTLIGHT_QUOTA_TABLES`: DynamoDB tables the account may hold in the region (AWS's
    /// default quota is 2,500; raised on request up to 10,000, or beyond it by AWS support).
    pub quota_tables: Bounded<1, 1_000_000>,
    /// `SPOTLIGHT_QUOTA_ROLES`: IAM roles the account may hold (default quota 1,000; 5,000 at
    /// most).
    pub quota_roles: Bounded<1, 5_000>,
    /// `SPOTLIGHT_QUOTA_KEYS`: KMS customer managed keys the account may hold in the region
    /// (default quota 100,000).
    pub quota_keys: Bounded<1, 10_000_000>,
    /// `SPOTLIGHT_AWS_KMS_CONTROL_RATE`: calls per second of each KMS control API (CreateKey,
    /// CreateAlias, EnableKeyRotation, DeleteAlias, ScheduleKeyDeletion), 1–1000; KMS's
    /// default quota is 5.
    pub aws_kms_control_rate: Bounded<1, 1_000>,
    /// `SPOTLIGHT_AWS_IAM_MUTATION_RATE`: IAM mutations per second, all APIs together,
    /// 1–1000. IAM publishes no per-API rate; 10 is a conservative default.
    pub aws_iam_mutation_rate: Bounded<1, 1_000>,
    /// `SPOTLIGHT_AWS_DYNAMODB_CONTROL_RATE`: DynamoDB control-plane requests per second,
    /// 1–10000; DynamoDB's limit is 2,500.
    pub aws_dynamodb_control_rate: Bounded<1, 10_000>,
    /// `SPOTLIGHT_AWS_DYNAMODB_TABLE_OPERATIONS`: DynamoDB table operations (create, delete,
    /// TTL) under way at once, 1–500; DynamoDB allows 500, or 250 while tables with secondary
    /// indexes are being created, as Spotlight's are.
    pub aws_dynamodb_table_operations: Bounded<1, 500>,
    /// `SPOTLIGHT_COGNITO_USER_POOL_ID` (aws): the user pool of tenant admins, which
    /// `provisioner bootstrap` prints. Without it (and the client id) the admin routes answer
    /// that identity is not configured.
    #[serde(default, deserialize_with = "text::optional")]
    pub cognito_user_pool_id: Option<String>,
    /// `SPOTLIGHT_COGNITO_CLIENT_ID` (aws): the app client whose ID tokens are accepted
    /// (their `aud`).
    #[serde(default, deserialize_with = "text::optional")]
    pub cognito_client_id: Option<String>,
    /// `SPOTLIGHT_IDENTITY_ISSUER` (aws): the `iss` tokens must carry. Default
    /// `https://cognito-idp.{region}.amazonaws.com/{pool id}`, as Cognito (and moto) issue.
    #[serde(default, deserialize_with = "text::optional")]
    pub identity_issuer: Option<String>,
    /// `SPOTLIGHT_IDENTITY_JWKS_URL` (aws): where the signing keys are published. Default
    /// `{issuer}/.well-known/jwks.json`; set apart from the issuer because an AWS-compatible
    /// server serves it at its own endpoint (moto: `{endpoint}/{pool id}/.well-known/jwks.json`).
    #[serde(default, deserialize_with = "text::optional")]
    pub identity_jwks_url: Option<String>,
    /// `SPOTLIGHT_IDENTITY_JWKS_REFETCH_SECS`: the shortest time between two fetches of the
    /// JWKS caused by tokens naming an unknown key (1–3600), so made-up key ids cannot flood
    /// the issuer.
    pub identity_jwks_refetch_secs: Bounded<1, 3600>,
    /// `SPOTLIGHT_EVENT_BUS` (aws): the EventBridge bus domain events are put on, by name or
    /// ARN. Default `default`, the account's default bus; a bus of its own is made outside
    /// Spotlight (Terraform), like the data plane's role that may put events on it.
    #[serde(deserialize_with = "text::required")]
    pub event_bus: crate::aws::EventBusName,
    /// `SPOTLIGHT_STREAM_HANDLER_ARN`: the Lambda function (`data-plane stream-handler`)
    /// that folds tenants' outboxes from their events tables' streams, as an unqualified
    /// function ARN. When set, onboarding gives each tenant an event source mapping from its
    /// events table's stream to it (the provisioner's `stream_trigger` step), and
    /// `reconcile --repair` gives one to tenants made before. Unset: no mappings, and the
    /// outbox is folded by polling.
    #[serde(default, deserialize_with = "text::optional")]
    pub stream_handler_arn: Option<crate::ports::FunctionArn>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: BackendKind::Embedded,
            data_dir: PathBuf::from(".spotlight"),
            table_prefix: TablePrefix::default(),
            key_deletion_window_days: Bounded::must(7),
            data_plane_principal: "arn:aws:iam::000000000000:role/spotlight-data-plane".to_owned(),
            open_tenant_files: Bounded::must(256),
            quota_tables: Bounded::must(2_500),
            quota_roles: Bounded::must(1_000),
            quota_keys: Bounded::must(100_000),
            aws_kms_control_rate: Bounded::must(5),
            aws_iam_mutation_rate: Bounded::must(10),
            aws_dynamodb_control_rate: Bounded::must(2_500),
            aws_dynamodb_table_operations: Bounded::must(250),
            cognito_user_pool_id: None,
            cognito_client_id: None,
            identity_issuer: None,
            identity_jwks_url: None,
            identity_jwks_refetch_secs: Bounded::must(30),
            event_bus: crate::aws::EventBusName::default(),
            stream_handler_arn: None,
        }
    }
}

/// A whole-number setting within `MIN..=MAX`. The bounds are part of the field's type, so a
/// loaded setting cannot hold anything else; reading one accepts what the environment
/// provider or a TOML file makes of a number (an unsigned or signed integer, or its text) and
/// refuses anything outside the bounds, negative or too large for any integer, with
/// "must be a whole number from MIN to MAX; got …" (figment adds which setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(into = "u64")]
pub struct Bounded<const MIN: u64, const MAX: u64>(u64);

/// A value outside a [`Bounded`] setting's bounds; `got` is the value as it was given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a whole number from {min} to {max}; got {got}")]
pub struct OutOfBounds {
    pub min: u64,
    pub max: u64,
    pub got: String,
}

impl<const MIN: u64, const MAX: u64> Bounded<MIN, MAX> {
    /// `value` if it is within the bounds.
    pub fn new(value: u64) -> Result<Self, OutOfBounds> {
        const { assert!(MIN <= MAX, "a Bounded setting needs MIN <= MAX") };
        if (MIN..=MAX).contains(&value) {
            Ok(Bounded(value))
        } else {
            Err(Self::out_of_bounds(value))
        }
    }

    /// `value`, which must be within the bounds: for defaults and constants, where a value
    /// out of bounds is a programming error (in a `const` context, a compile error).
    pub const fn must(value: u64) -> Self {
        assert!(
            MIN <= value && value <= MAX,
            "value out of the setting's bounds"
        );
        Bounded(value)
    }

    pub const fn get(self) -> u64 {
        self.0
    }

    /// The value as a `usize`; the bounds of such settings fit any platform's `usize`.
    pub fn as_usize(self) -> usize {
        const { assert!(MAX <= u32::MAX as u64, "bounds must fit a 32-bit usize") };
        usize::try_from(self.0).expect("the bounds fit usize")
    }

    /// The value as a `u32`, for bounds that fit one.
    pub fn as_u32(self) -> u32 {
        const { assert!(MAX <= u32::MAX as u64, "bounds must fit a u32") };
        u32::try_from(self.0).expect("the bounds fit u32")
    }

    /// The value as seconds.
    pub const fn secs(self) -> std::time::Duration {
        std::time::Duration::from_secs(self.0)
    }

    fn out_of_bounds(got: impl fmt::Display) -> OutOfBounds {
        OutOfBounds {
            min: MIN,
            max: MAX,
            got: got.to_string(),
        }
    }
}

impl<const MIN: u64, const MAX: u64> fmt::Display for Bounded<MIN, MAX> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<const MIN: u64, const MAX: u64> From<Bounded<MIN, MAX>> for u64 {
    fn from(value: Bounded<MIN, MAX>) -> u64 {
        value.0
    }
}

impl<const MIN: u64, const MAX: u64> TryFrom<u64> for Bounded<MIN, MAX> {
    type Error = OutOfBounds;
    fn try_from(value: u64) -> Result<Self, OutOfBounds> {
        Bounded::new(value)
    }
}

impl<'de, const MIN: u64, const MAX: u64> Deserialize<'de> for Bounded<MIN, MAX> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(BoundedVisitor::<MIN, MAX>)
    }
}

struct BoundedVisitor<const MIN: u64, const MAX: u64>;

impl<const MIN: u64, const MAX: u64> BoundedVisitor<MIN, MAX> {
    fn refuse<E: serde::de::Error>(got: impl fmt::Display) -> E {
        E::custom(Bounded::<MIN, MAX>::out_of_bounds(got))
    }
}

impl<const MIN: u64, const MAX: u64> serde::de::Visitor<'_> for BoundedVisitor<MIN, MAX> {
    type Value = Bounded<MIN, MAX>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "a whole number from {MIN} to {MAX}")
    }
    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Bounded::new(v).map_err(E::custom)
    }
    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(Self::refuse(v)),
        }
    }
    fn visit_u128<E: serde::de::Error>(self, v: u128) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(Self::refuse(v)),
        }
    }
    fn visit_i128<E: serde::de::Error>(self, v: i128) -> Result<Self::Value, E> {
        match u64::try_from(v) {
            Ok(v) => self.visit_u64(v),
            Err(_) => Err(Self::refuse(v)),
        }
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Err(Self::refuse(v))
    }
    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Err(Self::refuse(v))
    }
    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
        // The environment provider leaves a number too large for any integer as text.
        match v.trim().parse::<u64>() {
            Ok(n) => self.visit_u64(n),
            Err(_) => Err(Self::refuse(format_args!("{v:?}"))),
        }
    }
}

/// Renders figment's errors, joined by "; ", each naming the setting by its environment
/// variable and its key (`SPOTLIGHT_SHUTDOWN_GRACE_SECS (shutdown_grace_secs): …`) and, when
/// known, where the value came from.
pub fn describe(errors: figment::Error) -> String {
    errors
        .into_iter()
        .map(|e| {
            let source = e
                .metadata
                .as_ref()
                .map(|md| match &md.source {
                    Some(source) => format!(" (from {} {source})", md.name),
                    None => format!(" (from {})", md.name),
                })
                .unwrap_or_default();
            if e.path.is_empty() {
                format!("{}{source}", e.kind)
            } else {
                let key = e.path.join(".");
                let variable = format!("SPOTLIGHT_{}", key.to_ascii_uppercase());
                format!("{variable} ({key}): {}{source}", e.kind)
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Settings (of any Spotlight binary) whose values are text however they look. Figment reads
/// `SPOTLIGHT_OPERATOR_TOKEN=0123` as the number 123; these are read again verbatim.
pub const TEXT_SETTINGS: [&str; 6] = [
    "table_prefix",
    "event_bus",
    "stream_handler_arn",
    "data_plane_principal",
    "operator_token",
    "api_key_pepper",
];

/// Defaults, then the optional config file, then `SPOTLIGHT_*` variables. Binaries extract
/// their own settings struct from it, so every setting has one source of truth.
pub fn figment() -> Figment {
    let file = std::env::var("SPOTLIGHT_CONFIG").unwrap_or_else(|_| "spotlight.toml".to_owned());
    let figment = Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::file(file))
        .merge(Env::prefixed("SPOTLIGHT_").ignore(&["CONFIG"]));
    with_verbatim_text(figment, |name| std::env::var(name).ok())
}

/// Merges the [`TEXT_SETTINGS`] found by `lookup` (given `SPOTLIGHT_{NAME}`) as strings, as
/// they are written: over a value the environment provider parsed into a number or boolean.
/// Empty values are left out, as the environment provider leaves them out.
fn with_verbatim_text(mut figment: Figment, lookup: impl Fn(&str) -> Option<String>) -> Figment {
    for key in TEXT_SETTINGS {
        let name = format!("SPOTLIGHT_{}", key.to_ascii_uppercase());
        if let Some(value) = lookup(&name).filter(|v| !v.trim().is_empty()) {
            figment = figment.merge(Serialized::default(key, value));
        }
    }
    figment
}

/// `deserialize_with` helpers for settings that are text: they accept any scalar (a TOML
/// file may say `table_prefix = 2024`; an environment value may have been parsed into a
/// number) and read it as its text.
pub mod text {
    use std::fmt;

    use serde::Deserialize;
    use serde::de::{self, Deserializer, Visitor};

    /// A scalar read as text.
    struct Text(String);

    impl<'de> Deserialize<'de> for Text {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(TextVisitor).map(Text)
        }
    }

    struct TextVisitor;

    impl Visitor<'_> for TextVisitor {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("a string (a number or boolean is read as its text)")
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
            Ok(v.to_owned())
        }
        fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
            Ok(v)
        }
        fn visit_char<E: de::Error>(self, v: char) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_i128<E: de::Error>(self, v: i128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_u128<E: de::Error>(self, v: u128) -> Result<String, E> {
            Ok(v.to_string())
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
            Ok(v.to_string())
        }
    }

    fn convert<T, E>(raw: String) -> Result<T, E>
    where
        T: TryFrom<String>,
        T::Error: fmt::Display,
        E: de::Error,
    {
        T::try_from(raw).map_err(E::custom)
    }

    /// A required text setting, converted with `T::try_from(String)` (validation errors name
    /// the setting through figment).
    pub fn required<'de, D, T>(deserializer: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<String>,
        T::Error: fmt::Display,
    {
        convert(Text::deserialize(deserializer)?.0)
    }

    /// An optional text setting (use with `#[serde(default)]`).
    pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: TryFrom<String>,
        T::Error: fmt::Display,
    {
        Option::<Text>::deserialize(deserializer)?
            .map(|t| convert(t.0))
            .transpose()
    }
}

impl Settings {
    /// The AWS adapters' client-side limits (`crate::aws::Pacer`).
    pub fn pacing(&self) -> crate::aws::PacingLimits {
        fn at_least_one(n: u32) -> NonZeroU32 {
            NonZeroU32::new(n).expect("the setting's bounds start at 1")
        }
        crate::aws::PacingLimits {
            kms_control_per_sec: at_least_one(self.aws_kms_control_rate.as_u32()),
            iam_mutations_per_sec: at_least_one(self.aws_iam_mutation_rate.as_u32()),
            dynamodb_control_per_sec: at_least_one(self.aws_dynamodb_control_rate.as_u32()),
            dynamodb_table_operations: at_least_one(self.aws_dynamodb_table_operations.as_u32()),
        }
    }

    pub fn load() -> Result<Settings, ConfigError> {
        Self::from_figment(&figment())
    }

    pub fn from_figment(figment: &Figment) -> Result<Settings, ConfigError> {
        figment.extract().map_err(|e| ConfigError(describe(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file_and_no_environment() {
        let s = Settings::from_figment(&Figment::from(Serialized::defaults(Settings::default())))
            .unwrap();
        assert_eq!(s.backend, BackendKind::Embedded);
        assert_eq!(s.table_prefix.as_str(), "spotlight");
        // AWS's default account quotas.
        assert_eq!(
            (
                s.quota_tables.get(),
                s.quota_roles.get(),
                s.quota_keys.get()
            ),
            (2_500, 1_000, 100_000)
        );
    }

    #[test]
    fn an_all_digit_prefix_is_read_as_text() {
        // What the environment provider makes of `SPOTLIGHT_TABLE_PREFIX=2024`: a number.
        let f = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("table_prefix", 2024_u32))
            .merge(Serialized::default("data_plane_principal", 12_i64));
        let s = Settings::from_figment(&f).unwrap();
        assert_eq!(s.table_prefix.as_str(), "2024");
        assert_eq!(s.data_plane_principal, "12");
    }

    #[test]
    fn text_settings_from_the_environment_keep_their_exact_text() {
        // Parsed by the environment provider, `0123` would be the number 123.
        let parsed = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("table_prefix", 123_u32));
        let env = |name: &str| (name == "SPOTLIGHT_TABLE_PREFIX").then(|| "0123".to_owned());
        let s = Settings::from_figment(&with_verbatim_text(parsed, env)).unwrap();
        assert_eq!(s.table_prefix.as_str(), "0123");
    }

    #[test]
    fn a_bad_prefix_is_a_config_error() {
        let f = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("table_prefix", "Not_Valid"));
        let err = Settings::from_figment(&f).unwrap_err().to_string();
        assert!(err.contains("table_prefix"), "{err}");
    }

    #[test]
    fn the_event_bus_is_the_default_one_unless_named_and_a_bad_name_is_a_config_error() {
        let defaults = Figment::from(Serialized::defaults(Settings::default()));
        let s = Settings::from_figment(&defaults).unwrap();
        assert_eq!(s.event_bus.as_str(), "default");
        let named = defaults
            .clone()
            .merge(Serialized::default("event_bus", "spotlight_events"));
        let s = Settings::from_figment(&named).unwrap();
        assert_eq!(s.event_bus.as_str(), "spotlight_events");
        let bad = defaults.merge(Serialized::default("event_bus", "no spaces"));
        let err = Settings::from_figment(&bad).unwrap_err().to_string();
        assert!(err.contains("SPOTLIGHT_EVENT_BUS (event_bus)"), "{err}");
    }

    #[test]
    fn the_stream_handler_is_unset_unless_named_and_a_bad_arn_is_a_config_error() {
        let defaults = Figment::from(Serialized::defaults(Settings::default()));
        assert_eq!(
            Settings::from_figment(&defaults)
                .unwrap()
                .stream_handler_arn,
            None
        );
        let arn = "arn:aws:lambda:eu-west-1:123456789012:function:spotlight-stream-handler";
        let named = defaults
            .clone()
            .merge(Serialized::default("stream_handler_arn", arn));
        let s = Settings::from_figment(&named).unwrap();
        assert_eq!(s.stream_handler_arn.unwrap().as_str(), arn);
        let qualified = defaults.merge(Serialized::default(
            "stream_handler_arn",
            format!("{arn}:live"),
        ));
        let err = Settings::from_figment(&qualified).unwrap_err().to_string();
        assert!(
            err.contains("SPOTLIGHT_STREAM_HANDLER_ARN (stream_handler_arn)"),
            "{err}"
        );
        assert!(err.contains("qualified"), "{err}");
    }

    /// What the environment provider makes of `SPOTLIGHT_{KEY}={raw}`.
    fn as_from_env(key: &str, raw: &str) -> Figment {
        let value: figment::value::Value = raw.parse().expect("the provider's parser");
        Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default(key, value))
    }

    #[test]
    fn numeric_settings_at_their_bounds_are_accepted_however_they_are_written() {
        for (key, raw, expected) in [
            ("key_deletion_window_days", "0", 0),
            ("key_deletion_window_days", "30", 30),
            ("key_deletion_window_days", " 12 ", 12),
            ("open_tenant_files", "1", 1),
            ("open_tenant_files", "100000", 100_000),
            ("quota_tables", "1", 1),
            ("quota_tables", "1000000", 1_000_000),
            ("quota_roles", "5000", 5_000),
            ("quota_keys", "10000000", 10_000_000),
        ] {
            let s = Settings::from_figment(&as_from_env(key, raw))
                .unwrap_or_else(|e| panic!("{key}={raw}: {e}"));
            let got = match key {
                "key_deletion_window_days" => s.key_deletion_window_days.get(),
                "quota_tables" => s.quota_tables.get(),
                "quota_roles" => s.quota_roles.get(),
                "quota_keys" => s.quota_keys.get(),
                _ => s.open_tenant_files.get(),
            };
            assert_eq!(got, expected, "{key}={raw}");
        }
        // A TOML file may quote a number.
        let quoted = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("open_tenant_files", "64"));
        assert_eq!(
            Settings::from_figment(&quoted)
                .unwrap()
                .open_tenant_files
                .get(),
            64
        );
    }

    #[test]
    fn a_numeric_setting_out_of_bounds_is_an_error_naming_the_setting_and_its_bounds() {
        for (key, raw, bounds) in [
            ("key_deletion_window_days", "31", "from 0 to 30"),
            ("key_deletion_window_days", "-1", "from 0 to 30"),
            (
                "key_deletion_window_days",
                "18446744073709551615",
                "from 0 to 30",
            ),
            (
                "key_deletion_window_days",
                "99999999999999999999999",
                "from 0 to 30",
            ),
            ("key_deletion_window_days", "1.5", "from 0 to 30"),
            ("key_deletion_window_days", "seven", "from 0 to 30"),
            ("key_deletion_window_days", "true", "from 0 to 30"),
            ("open_tenant_files", "0", "from 1 to 100000"),
            ("open_tenant_files", "100001", "from 1 to 100000"),
            ("quota_tables", "0", "from 1 to 1000000"),
            ("quota_roles", "5001", "from 1 to 5000"),
            ("quota_keys", "-1", "from 1 to 10000000"),
        ] {
            let err = Settings::from_figment(&as_from_env(key, raw))
                .expect_err(raw)
                .to_string();
            let variable = format!("SPOTLIGHT_{}", key.to_ascii_uppercase());
            assert!(err.contains(&variable), "{key}={raw}: {err}");
            assert!(err.contains(bounds), "{key}={raw}: {err}");
            assert!(err.contains(raw.trim()), "{key}={raw}: {err}");
        }
    }

    #[test]
    fn the_default_pacing_is_awss_published_defaults_and_each_rate_is_configurable() {
        assert_eq!(
            Settings::default().pacing(),
            crate::aws::PacingLimits::AWS_DEFAULTS
        );
        let s = Settings::from_figment(&as_from_env("aws_kms_control_rate", "50")).unwrap();
        assert_eq!(s.pacing().kms_control_per_sec.get(), 50);
        for (key, raw, bounds) in [
            ("aws_kms_control_rate", "0", "from 1 to 1000"),
            ("aws_iam_mutation_rate", "1001", "from 1 to 1000"),
            ("aws_dynamodb_control_rate", "0", "from 1 to 10000"),
            ("aws_dynamodb_table_operations", "501", "from 1 to 500"),
        ] {
            let err = Settings::from_figment(&as_from_env(key, raw))
                .expect_err(raw)
                .to_string();
            assert!(
                err.contains(&key.to_ascii_uppercase()),
                "{key}={raw}: {err}"
            );
            assert!(err.contains(bounds), "{key}={raw}: {err}");
        }
    }

    #[test]
    fn a_bounded_value_cannot_be_made_outside_its_bounds() {
        assert_eq!(Bounded::<5, 10>::new(5).unwrap().get(), 5);
        assert_eq!(Bounded::<5, 10>::new(10).unwrap().get(), 10);
        let err = Bounded::<5, 10>::new(4).unwrap_err();
        assert_eq!(
            err.to_string(),
            "must be a whole number from 5 to 10; got 4"
        );
        assert!(Bounded::<5, 10>::new(11).is_err());
        assert!(Bounded::<0, 30>::new(u64::MAX).is_err());
        assert_eq!(Bounded::<0, 3600>::must(20).secs().as_secs(), 20);
    }
}
