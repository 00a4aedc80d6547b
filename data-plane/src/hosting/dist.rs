//! The SDK's versioned layout on disk, as `scripts/build-sdk.sh` writes it:
//!
//! ```text
//! manifest.json        {"latest", "built_at", "versions": {"1.0.0": {"built_at", "files":
//!                        {"spotlight.min.js": {"integrity": "sha384-…", "bytes"}, …}}}}
//! v1.0.0/…             every version ever built, never rewritten
//! latest/…             a copy of the latest version
//! ```
//!
//! Only names the manifest lists are served, so a request path is never joined onto the
//! directory unchecked. A pinned file is served only if its bytes still hash to the
//! manifest's `integrity`: the bytes behind a version never change, and if they did on disk,
//! refusing is better than handing browsers a script their SRI check rejects.
//!
//! Files are kept in memory, checked against the file's length and modification time on
//! every request (one `stat`), so a rebuild is served at once without a restart.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use axum::body::Bytes;
use base64::Engine;
use serde::Deserialize;
use sha2::{Digest, Sha384};

/// What `manifest.json` says.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Manifest {
    pub latest: semver::Version,
    pub built_at: String,
    pub versions: BTreeMap<semver::Version, BuiltVersion>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuiltVersion {
    pub built_at: String,
    pub files: BTreeMap<String, BuiltFile>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BuiltFile {
    /// The Subresource Integrity value: `sha384-` and the base64 of the SHA-384 digest.
    pub integrity: String,
    pub bytes: u64,
}

impl Manifest {
    /// Whether `version` was built (a label value the metrics may carry).
    pub fn knows(&self, version: &str) -> bool {
        semver::Version::parse(version).is_ok_and(|v| self.versions.contains_key(&v))
    }
}

/// Which copy of a file a request names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Channel {
    /// `v{semver}`: immutable.
    Pinned(semver::Version),
    /// `latest`: moves with every release.
    Latest,
}

impl Channel {
    /// `v1.2.3` or `latest`; anything else names no channel.
    pub fn parse(segment: &str) -> Option<Channel> {
        if segment == "latest" {
            return Some(Channel::Latest);
        }
        let version = segment.strip_prefix('v')?;
        semver::Version::parse(version).ok().map(Channel::Pinned)
    }
}

/// A file as served.
#[derive(Debug, Clone)]
pub struct Served {
    pub bytes: Bytes,
    /// A strong validator of the bytes.
    pub etag: String,
    pub content_type: &'static str,
}

/// Why a file is not served.
#[derive(Debug, thiserror::Error)]
pub enum Missing {
    #[error("no SDK has been built into {0} (run scripts/build-sdk.sh)")]
    NotBuilt(PathBuf),
    #[error("SDK version {0} was never built (built: {1})")]
    Version(semver::Version, String),
    #[error("SDK version {0} has no file {1:?} (it has: {2})")]
    File(String, String, String),
    #[error("the SDK file {0} does not match its manifest: {1}")]
    Corrupt(PathBuf, String),
}

impl Missing {
    /// Whether the fault is the deployment's, not the request's.
    pub fn is_server_fault(&self) -> bool {
        matches!(self, Missing::Corrupt(..))
    }
}

/// A file's modification time and length: what says it changed since it was read.
type Stamp = (SystemTime, u64);

#[derive(Clone)]
struct Cached {
    stamp: Stamp,
    served: Served,
}

/// The layout under one directory.
pub struct SdkDist {
    root: PathBuf,
    manifest: Mutex<Option<(Stamp, Arc<Manifest>)>>,
    files: Mutex<HashMap<PathBuf, Cached>>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// The SRI value of `bytes`.
pub fn integrity(bytes: &[u8]) -> String {
    format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(Sha384::digest(bytes))
    )
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit_once('.').map(|(_, ext)| ext) {
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json" | "map") => "application/json",
        Some("css") => "text/css; charset=utf-8",
        Some("txt") => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl SdkDist {
    pub fn new(root: impl Into<PathBuf>) -> SdkDist {
        SdkDist {
            root: root.into(),
            manifest: Mutex::new(None),
            files: Mutex::new(HashMap::new()),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The manifest as it is on disk now; `None` when there is none or it cannot be read
    /// (which is logged: a broken manifest is the deployment's fault).
    pub fn manifest(&self) -> Option<Arc<Manifest>> {
        let path = self.root.join("manifest.json");
        let now = stamp(&path)?;
        let mut cached = self.manifest.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((at, manifest)) = cached.as_ref()
            && *at == now
        {
            return Some(manifest.clone());
        }
        let read = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                serde_json::from_slice::<Manifest>(&bytes).map_err(|e| e.to_string())
            });
        match read {
            Ok(manifest) => {
                let manifest = Arc::new(manifest);
                *cached = Some((now, manifest.clone()));
                Some(manifest)
            }
            Err(e) => {
                tracing::error!(path = %path.display(), error = %e, "the SDK manifest cannot be read");
                None
            }
        }
    }

    /// `manifest.json` itself.
    pub fn manifest_file(&self) -> Result<Served, Missing> {
        if self.manifest().is_none() {
            return Err(Missing::NotBuilt(self.root.clone()));
        }
        self.read(&self.root.join("manifest.json"), None)
    }

    /// File `name` of `channel`.
    pub fn file(&self, channel: &Channel, name: &str) -> Result<Served, Missing> {
        let manifest = self
            .manifest()
            .ok_or_else(|| Missing::NotBuilt(self.root.clone()))?;
        let (version, dir) = match channel {
            Channel::Pinned(v) => (v.clone(), format!("v{v}")),
            Channel::Latest => (manifest.latest.clone(), "latest".to_owned()),
        };
        let built = manifest.versions.get(&version).ok_or_else(|| {
            let built: Vec<String> = manifest.versions.keys().map(|v| v.to_string()).collect();
            Missing::Version(version.clone(), built.join(", "))
        })?;
        let file = built.files.get(name).ok_or_else(|| {
            let names: Vec<&str> = built.files.keys().map(String::as_str).collect();
            Missing::File(dir.clone(), name.to_owned(), names.join(", "))
        })?;
        // `name` is one the manifest lists, never a path the request made up.
        self.read(&self.root.join(&dir).join(name), Some(&file.integrity))
    }

    fn read(&self, path: &Path, integrity_wanted: Option<&str>) -> Result<Served, Missing> {
        let corrupt = |why: String| Missing::Corrupt(path.to_owned(), why);
        let now = stamp(path).ok_or_else(|| corrupt("the file is missing".into()))?;
        if let Some(hit) = self
            .files
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(path)
            .filter(|c| c.stamp == now)
        {
            return Ok(hit.served.clone());
        }
        let bytes = std::fs::read(path).map_err(|e| corrupt(e.to_string()))?;
        if let Some(wanted) = integrity_wanted {
            let found = integrity(&bytes);
            if found != wanted {
                return Err(corrupt(format!(
                    "its hash is {found}, the manifest's {wanted}"
                )));
            }
        }
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        let served = Served {
            etag: crate::http::sdk::etag_of(&bytes)
                .to_str()
                .unwrap_or_default()
                .to_owned(),
            content_type: content_type(name),
            bytes: Bytes::from(bytes),
        };
        self.files.lock().unwrap_or_else(|e| e.into_inner()).insert(
            path.to_owned(),
            Cached {
                stamp: now,
                served: served.clone(),
            },
        );
        Ok(served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(dir: &Path, files: &[(&str, &[u8])]) {
        let mut listed = serde_json::Map::new();
        for (name, bytes) in files {
            for sub in ["v1.0.0", "latest"] {
                std::fs::create_dir_all(dir.join(sub)).unwrap();
                std::fs::write(dir.join(sub).join(name), bytes).unwrap();
            }
            listed.insert(
                (*name).to_owned(),
                serde_json::json!({"integrity": integrity(bytes), "bytes": bytes.len()}),
            );
        }
        let manifest = serde_json::json!({
            "latest": "1.0.0", "built_at": "2026-12-02T00:00:00Z",
            "versions": {"1.0.0": {"built_at": "2026-12-02T00:00:00Z", "files": listed}}
        });
        std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
    }

    #[test]
    fn channels_are_a_semver_or_latest() {
        assert_eq!(Channel::parse("latest"), Some(Channel::Latest));
        assert_eq!(
            Channel::parse("v1.2.3-beta.1"),
            Some(Channel::Pinned(
                semver::Version::parse("1.2.3-beta.1").unwrap()
            ))
        );
        for bad in ["1.2.3", "v1.2", "vlatest", "", "v1.2.3/../x"] {
            assert_eq!(Channel::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_listed_files_of_built_versions_are_served() {
        let dir = tempfile::tempdir().unwrap();
        let dist = SdkDist::new(dir.path());
        assert!(matches!(
            dist.file(&Channel::Latest, "spotlight.min.js"),
            Err(Missing::NotBuilt(_))
        ));
        layout(dir.path(), &[("spotlight.min.js", b"console.log(1)")]);
        let pinned = Channel::parse("v1.0.0").unwrap();
        let served = dist.file(&pinned, "spotlight.min.js").unwrap();
        assert_eq!(&served.bytes[..], b"console.log(1)");
        assert_eq!(served.content_type, "text/javascript; charset=utf-8");
        assert!(dist.file(&Channel::Latest, "spotlight.min.js").is_ok());
        assert!(matches!(
            dist.file(&Channel::parse("v1.0.1").unwrap(), "spotlight.min.js"),
            Err(Missing::Version(..))
        ));
        // Present on disk but not in the manifest: not served.
        std::fs::write(dir.path().join("v1.0.0/secret.txt"), b"x").unwrap();
        assert!(matches!(
            dist.file(&pinned, "secret.txt"),
            Err(Missing::File(..))
        ));
        assert!(matches!(
            dist.file(&pinned, "../manifest.json"),
            Err(Missing::File(..))
        ));
    }

    #[test]
    fn pinned_bytes_that_changed_on_disk_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        layout(dir.path(), &[("spotlight.min.js", b"original")]);
        let dist = SdkDist::new(dir.path());
        let pinned = Channel::parse("v1.0.0").unwrap();
        assert!(dist.file(&pinned, "spotlight.min.js").is_ok());
        std::fs::write(dir.path().join("v1.0.0/spotlight.min.js"), b"tampered!").unwrap();
        let refused = dist.file(&pinned, "spotlight.min.js").unwrap_err();
        assert!(refused.is_server_fault(), "{refused}");
    }
}
