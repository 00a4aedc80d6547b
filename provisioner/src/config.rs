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
    pub table_prefix: TablePrefix,
    /// `SPOTLIGHT_KEY_DELETION_WINDOW_DAYS`: days between offboarding and destruction of the
    /// tenant's key material (the key is disabled at once). 0 destroys it at once (embedded only).
    pub key_deletion_window_days: u32,
    /// `SPOTLIGHT_DATA_PLANE_PRINCIPAL`: the principal tenant roles trust.
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

/// Defaults, then the optional config file, then `SPOTLIGHT_*` variables. Binaries extract
/// their own settings struct from it, so every setting has one source of truth.
pub fn figment() -> Figment {
    let file = std::env::var("SPOTLIGHT_CONFIG").unwrap_or_else(|_| "spotlight.toml".to_owned());
    Figment::from(Serialized::defaults(Settings::default()))
        .merge(Toml::file(file))
        .merge(Env::prefixed("SPOTLIGHT_").ignore(&["CONFIG"]))
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
        assert_eq!(s.table_prefix.as_str(), "spotlight-");
    }

    #[test]
    fn a_bad_prefix_is_a_config_error() {
        let f = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::default("table_prefix", "Not_Valid"));
        let err = Settings::from_figment(&f).unwrap_err().to_string();
        assert!(err.contains("table_prefix"), "{err}");
    }
}
