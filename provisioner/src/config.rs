//! Settings shared by every Spotlight binary, read from `SPOTLIGHT_*` environment variables and
//! optionally a TOML file (`SPOTLIGHT_CONFIG`, default `spotlight.toml` if present). The file may
//! add settings; the environment wins; neither is required.

use std::path::PathBuf;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use tenancy::{Backend, TablePrefix};

use crate::error::{Error, Result};

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
    /// tenant's key material (the key is disabled at once). 0 destroys it at once (embedded only).
    pub key_deletion_window_days: u32,
    /// `SPOTLIGHT_DATA_PLANE_PRINCIPAL`: the principal tenant roles trust.
    #[serde(deserialize_with = "text::required")]
    pub data_plane_principal: String,
    /// `SPOTLIGHT_OPEN_TENANT_FILES`: embedded backend's bound on open tenant databases.
    pub open_tenant_files: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            backend: BackendKind::Embedded,
            data_dir: PathBuf::from(".spotlight"),
            table_prefix: TablePrefix::default(),
            key_deletion_window_days: 7,
            data_plane_principal: "arn:aws:iam::000000000000:role/spotlight-data-plane".to_owned(),
            open_tenant_files: 256,
        }
    }
}

/// Settings (of any Spotlight binary) whose values are text however they look. Figment reads
/// `SPOTLIGHT_OPERATOR_TOKEN=0123` as the number 123; these are read again verbatim.
pub const TEXT_SETTINGS: [&str; 4] = [
    "table_prefix",
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
    pub fn load() -> Result<Settings> {
        Self::from_figment(&figment())
    }

    pub fn from_figment(figment: &Figment) -> Result<Settings> {
        figment.extract().map_err(|e| Error::Config(e.to_string()))
    }

    /// Opens the configured backend.
    pub fn open_backend(&self) -> Result<Backend> {
        match self.backend {
            BackendKind::Embedded => {
                let options = tenancy::embedded::EmbeddedOptions {
                    data_dir: self.data_dir.clone(),
                    deployment: self.table_prefix.clone(),
                    data_plane_principal: self.data_plane_principal.clone(),
                    open_tenant_files: self.open_tenant_files,
                };
                Ok(tenancy::embedded::open(&options)?)
            }
            BackendKind::Aws => Err(Error::Config(
                "SPOTLIGHT_BACKEND=aws is not available yet in this build; use embedded".to_owned(),
            )),
        }
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
}
