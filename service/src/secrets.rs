//! Secrets a service runs with that may be configured or, when they are not, live in files of
//! the data directory: read from there, or generated once into a file (mode 0600, never
//! overwritten), so a first start needs no configuration and a restart keeps the same secret.
//!
//! The API-key pepper is resolved here, the one place, because both services must hash keys
//! under the same pepper: keys the control plane issues are looked up by the data plane.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use tenancy::api_key::KeyHasher;
use tenancy::embedded::private_file::{self, Published};

/// File in the data directory holding the generated API-key pepper.
pub const API_KEY_PEPPER_FILE: &str = "api-key-pepper";

/// Why a secret could not be had; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("secret file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("secret file {path} is empty; delete it to have a new secret generated")]
    Empty { path: PathBuf },
}

/// A secret and whether this call generated it (the one time it may be shown).
#[derive(Debug, Clone)]
pub struct Resolved {
    pub secret: SecretString,
    pub generated: bool,
}

/// Makes `dir` private (mode 0700; an existing directory open to other users is tightened,
/// with a warning) before secret files are put in it.
pub fn private_dir(dir: &Path) -> Result<(), SecretError> {
    private_file::create_private_dir(dir).map_err(|source| SecretError::File {
        path: dir.to_owned(),
        source,
    })
}

/// `configured` when it is set and not empty; otherwise the secret in `path`, published from
/// `generate()` when the file does not exist (see [`load_or_create`]).
pub fn configured_or_file(
    configured: Option<&SecretString>,
    path: &Path,
    generate: impl FnOnce() -> String,
) -> Result<Resolved, SecretError> {
    match configured {
        Some(secret) if !secret.expose_secret().is_empty() => Ok(Resolved {
            secret: secret.clone(),
            generated: false,
        }),
        _ => load_or_create(path, generate),
    }
}

/// The API-key pepper: `configured` (`SPOTLIGHT_API_KEY_PEPPER`) when set, otherwise the one
/// in `{data_dir}/api-key-pepper`, generated on first start.
pub fn api_key_pepper(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> Result<SecretString, SecretError> {
    let resolved = configured_or_file(configured, &data_dir.join(API_KEY_PEPPER_FILE), || {
        random_base64url(32)
    })?;
    Ok(resolved.secret)
}

/// File in the data directory holding the generated operator token.
pub const OPERATOR_TOKEN_FILE: &str = "operator-token";
/// Prefix of generated operator tokens, so a leaked one is recognisable in logs and scanners.
pub const OPERATOR_TOKEN_PREFIX: &str = "spo_";

/// The operator token: `configured` (`SPOTLIGHT_OPERATOR_TOKEN`) when set, otherwise the one in
/// `{data_dir}/operator-token`, generated on first start — whichever service starts first, so
/// both services take the same token.
pub fn operator_token(
    configured: Option<&SecretString>,
    data_dir: &Path,
) -> Result<Resolved, SecretError> {
    configured_or_file(configured, &data_dir.join(OPERATOR_TOKEN_FILE), || {
        format!("{OPERATOR_TOKEN_PREFIX}{}", random_base64url(32))
    })
}

/// The keyed hash API keys are stored and looked up under, keyed with `pepper`.
pub fn key_hasher(pepper: &SecretString) -> KeyHasher {
    KeyHasher::new(pepper.expose_secret().as_bytes().to_vec())
}

/// `n` random bytes as unpadded base64url (32 bytes give 43 characters).
pub fn random_base64url(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Reads a secret file, or publishes `generate()` into it when it does not exist. Publishing
/// is atomic (a synced temporary file hard-linked into place, then the directory synced), so a
/// crash or a concurrent start never sees an empty or partial file, and of two processes
/// starting at once the loser reads the winner's secret.
pub fn load_or_create(
    path: &Path,
    generate: impl FnOnce() -> String,
) -> Result<Resolved, SecretError> {
    match read(path) {
        Ok(secret) => {
            return Ok(Resolved {
                secret,
                generated: false,
            });
        }
        Err(SecretError::File { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {}
        Err(other) => return Err(other),
    }
    let secret = generate();
    let published =
        private_file::publish_private_file(path, secret.as_bytes()).map_err(|source| {
            SecretError::File {
                path: path.to_owned(),
                source,
            }
        })?;
    match published {
        Published::Created => Ok(Resolved {
            secret: SecretString::from(secret),
            generated: true,
        }),
        Published::Existing(_) => Ok(Resolved {
            secret: read(path)?,
            generated: false,
        }),
    }
}

/// The secret in `path`, surrounding white space trimmed; an empty file is an error, never an
/// empty secret.
pub fn read(path: &Path) -> Result<SecretString, SecretError> {
    let raw = std::fs::read_to_string(path).map_err(|source| SecretError::File {
        path: path.to_owned(),
        source,
    })?;
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_owned(),
        });
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pepper_is_generated_once_and_then_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let first = api_key_pepper(None, dir.path()).unwrap();
        assert_eq!(first.expose_secret().len(), 43);
        let again = api_key_pepper(None, dir.path()).unwrap();
        assert_eq!(again.expose_secret(), first.expose_secret());
        let empty = SecretString::from(String::new());
        let still = api_key_pepper(Some(&empty), dir.path()).unwrap();
        assert_eq!(still.expose_secret(), first.expose_secret());
    }

    #[test]
    fn a_configured_pepper_wins_and_writes_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let configured = SecretString::from("configured".to_owned());
        let pepper = api_key_pepper(Some(&configured), dir.path()).unwrap();
        assert_eq!(pepper.expose_secret(), "configured");
        assert!(!dir.path().join(API_KEY_PEPPER_FILE).exists());
    }

    #[test]
    fn an_empty_secret_file_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, " \n").unwrap();
        let err = load_or_create(&path, || "new".to_owned()).unwrap_err();
        assert!(matches!(err, SecretError::Empty { .. }), "{err}");
        assert!(err.to_string().contains("secret"), "{err}");
    }
}
