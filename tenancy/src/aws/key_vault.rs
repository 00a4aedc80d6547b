//! [`KeyVault`] on KMS: one customer-managed symmetric key per tenant, tagged, with its alias;
//! encryption context instead of raw associated data; deletion scheduled within KMS's window.

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, Tag};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use time::OffsetDateTime;

use crate::aws::errors::sdk_error;
use crate::aws::pacing::{ControlCall, Pacer};
use crate::error::{Error, Result};
use crate::naming::Tags;
use crate::ports::key_vault::{KeyInfo, KeySpec, KeyState, KeyVault, has_tags};

/// KMS's shortest and longest deletion windows.
pub const MIN_WINDOW_DAYS: u32 = 7;
pub const MAX_WINDOW_DAYS: u32 = 30;
/// Most plaintext KMS `Encrypt` takes.
const MAX_PLAINTEXT_BYTES: usize = 4096;
/// The encryption-context entry that carries the port's associated data.
const AAD_CONTEXT_KEY: &str = "spotlight:aad";

pub struct KmsKeyVault {
    kms: aws_sdk_kms::Client,
    pacer: Arc<Pacer>,
}

impl KmsKeyVault {
    pub fn new(kms: aws_sdk_kms::Client) -> Self {
        KmsKeyVault {
            kms,
            pacer: Arc::default(),
        }
    }

    /// Control-plane calls wait on `pacer` (shared by every adapter of the process).
    pub fn paced(self, pacer: Arc<Pacer>) -> Self {
        KmsKeyVault { pacer, ..self }
    }

    /// The key's metadata, by id, ARN or alias.
    async fn metadata(&self, key: &str) -> Result<KeyMetadata> {
        let out = self
            .kms
            .describe_key()
            .key_id(key)
            .send()
            .await
            .map_err(|e| sdk_error(format!("describing key {key}"), e))?;
        out.key_metadata
            .ok_or_else(|| Error::unavailable(format!("KMS described key {key} without metadata")))
    }

    /// Everything the port reports of a key: its state, its alias and its tags, each read
    /// from KMS.
    async fn info(&self, meta: KeyMetadata) -> Result<KeyInfo> {
        let key_id = meta.key_id().to_owned();
        let arn = meta.arn().unwrap_or_default().to_owned();
        let aliases = self
            .kms
            .list_aliases()
            .key_id(&key_id)
            .send()
            .await
            .map_err(|e| sdk_error(format!("listing the aliases of key {key_id}"), e))?;
        let alias = aliases
            .aliases()
            .iter()
            .filter_map(|a| a.alias_name())
            .min()
            .map(str::to_owned);
        let tags = self.tags(&key_id).await?;
        Ok(KeyInfo {
            state: state_of(&meta),
            key_id,
            arn,
            alias,
            tags,
        })
    }

    /// Every tag of the key, page by page.
    async fn tags(&self, key_id: &str) -> Result<Tags> {
        let mut tags = Tags::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .kms
                .list_resource_tags()
                .key_id(key_id)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing the tags of key {key_id}"), e))?;
            for t in page.tags() {
                tags.insert(t.tag_key().to_owned(), t.tag_value().to_owned());
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_owned()),
                _ => return Ok(tags),
            }
        }
    }

    /// Turns rotation on and points `alias` at the key: the second half of a creation.
    async fn name_key(&self, key_id: &str, alias: &str) -> Result<()> {
        self.pacer.ready(ControlCall::KmsEnableKeyRotation).await;
        self.kms
            .enable_key_rotation()
            .key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk_error(format!("turning on rotation of key {key_id}"), e))?;
        self.pacer.ready(ControlCall::KmsCreateAlias).await;
        self.kms
            .create_alias()
            .alias_name(alias)
            .target_key_id(key_id)
            .send()
            .await
            .map_err(|e| sdk_error(format!("pointing alias {alias} at key {key_id}"), e))?;
        Ok(())
    }

    fn context(aad: &[u8]) -> (String, String) {
        (AAD_CONTEXT_KEY.to_owned(), STANDARD.encode(aad))
    }
}

/// The port's state of a key from its KMS metadata.
fn state_of(meta: &KeyMetadata) -> KeyState {
    use aws_sdk_kms::types::KeyState as K;
    match meta.key_state() {
        Some(K::PendingDeletion) | Some(K::PendingReplicaDeletion) => {
            let deletion_at = meta
                .deletion_date()
                .and_then(|d| OffsetDateTime::from_unix_timestamp(d.secs()).ok())
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
            KeyState::PendingDeletion { deletion_at }
        }
        Some(K::Enabled) => KeyState::Enabled,
        // Disabled, unavailable or being created: not usable; a destroyed key is not
        // described at all by KMS.
        _ => KeyState::PendingDeletion {
            deletion_at: OffsetDateTime::UNIX_EPOCH,
        },
    }
}

#[async_trait]
impl KeyVault for KmsKeyVault {
    /// CreateKey (tagged), then rotation and CreateAlias. KMS has no idempotency token for
    /// CreateKey: the provisioner journals its intent first and, on a resume, finds the key by
    /// alias or — when the earlier attempt stopped between CreateKey and CreateAlias — by its
    /// tags ([`KeyVault::list_keys`]) and adopts it ([`KeyVault::alias_key`]). The failpoint
    /// `kms:after:create_key` (feature `failpoints`) stops a process in that gap.
    async fn create_key(&self, spec: &KeySpec) -> Result<KeyInfo> {
        if !spec.alias.starts_with("alias/") || spec.alias.starts_with("alias/aws/") {
            return Err(Error::invalid(format!(
                "key alias {:?} must start with alias/ (and not alias/aws/)",
                spec.alias
            )));
        }
        // An alias that exists already is refused before a key is made for nothing.
        match self.metadata(&spec.alias).await {
            Ok(_) => {
                return Err(Error::already_exists(format!(
                    "alias {} already names a key",
                    spec.alias
                )));
            }
            Err(e) if e.kind() == crate::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut create = self.kms.create_key().description(&spec.description);
        for (k, v) in &spec.tags {
            let tag = Tag::builder()
                .tag_key(k)
                .tag_value(v)
                .build()
                .map_err(|e| Error::invalid(format!("tag {k}: {e}")))?;
            create = create.tags(tag);
        }
        self.pacer.ready(ControlCall::KmsCreateKey).await;
        let created = create
            .send()
            .await
            .map_err(|e| sdk_error(format!("creating key {}", spec.alias), e))?;
        let meta = created
            .key_metadata
            .ok_or_else(|| Error::unavailable("KMS created a key without metadata"))?;
        crate::failpoint::hit("kms:after:create_key")?;
        self.name_key(meta.key_id(), &spec.alias).await?;
        self.info(meta).await
    }

    async fn alias_key(&self, key: &str, alias: &str) -> Result<KeyInfo> {
        if !alias.starts_with("alias/") || alias.starts_with("alias/aws/") {
            return Err(Error::invalid(format!(
                "key alias {alias:?} must start with alias/ (and not alias/aws/)"
            )));
        }
        let info = self.info(self.metadata(key).await?).await?;
        if info.state != KeyState::Enabled {
            return Err(Error::invalid(format!("key {key} is not enabled")));
        }
        match info.alias.as_deref() {
            // Named already by an attempt whose answer was lost.
            Some(have) if have == alias => return Ok(info),
            Some(have) => {
                return Err(Error::invalid(format!(
                    "key {key} has the alias {have} already"
                )));
            }
            None => {}
        }
        self.name_key(&info.key_id, alias).await?;
        Ok(KeyInfo {
            alias: Some(alias.to_owned()),
            ..info
        })
    }

    /// ListKeys page by page; each key's tags are read (ListResourceTags) and only the keys
    /// carrying `tags` are described. KMS cannot filter keys by tag itself, so this reads
    /// every key of the account: a sweep's cost, and a resumed creation's, never a plain one's.
    async fn list_keys(&self, tags: &Tags) -> Result<Vec<KeyInfo>> {
        let mut keys = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let page = self
                .kms
                .list_keys()
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| sdk_error("listing keys", e))?;
            for entry in page.keys() {
                let Some(key_id) = entry.key_id() else {
                    continue;
                };
                if !has_tags(&self.tags(key_id).await?, tags) {
                    continue;
                }
                match self.metadata(key_id).await {
                    Ok(meta) => keys.push(self.info(meta).await?),
                    // Gone since it was listed.
                    Err(e) if e.kind() == crate::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
            }
            match page.next_marker() {
                Some(next) if page.truncated() => marker = Some(next.to_owned()),
                _ => break,
            }
        }
        keys.sort_by(|a, b| a.key_id.cmp(&b.key_id));
        Ok(keys)
    }

    async fn describe_key(&self, key: &str) -> Result<KeyInfo> {
        let meta = self.metadata(key).await?;
        self.info(meta).await
    }

    async fn encrypt(&self, key: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_BYTES {
            return Err(Error::invalid(format!(
                "at most {MAX_PLAINTEXT_BYTES} bytes can be encrypted under a key at once"
            )));
        }
        let (k, v) = Self::context(aad);
        let out = self
            .kms
            .encrypt()
            .key_id(key)
            .plaintext(Blob::new(plaintext))
            .encryption_context(k, v)
            .send()
            .await
            .map_err(|e| sdk_error(format!("encrypting under key {key}"), e))?;
        out.ciphertext_blob
            .map(Blob::into_inner)
            .ok_or_else(|| Error::unavailable("KMS returned no ciphertext"))
    }

    async fn decrypt(&self, key: &str, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let (k, v) = Self::context(aad);
        let out = self
            .kms
            .decrypt()
            .key_id(key)
            .ciphertext_blob(Blob::new(ciphertext))
            .encryption_context(k, v)
            .send()
            .await
            .map_err(|e| sdk_error(format!("decrypting under key {key}"), e))?;
        out.plaintext
            .map(Blob::into_inner)
            .ok_or_else(|| Error::unavailable("KMS returned no plaintext"))
    }

    /// Releases every alias of the key, then schedules its deletion with KMS's window (a
    /// window under 7 days is raised to 7). By key id: moto refuses a key ARN here.
    async fn schedule_key_deletion(&self, key: &str, window_days: u32) -> Result<KeyInfo> {
        if window_days > MAX_WINDOW_DAYS {
            return Err(Error::invalid(format!(
                "a key deletion window is at most {MAX_WINDOW_DAYS} days, not {window_days}"
            )));
        }
        let meta = self.metadata(key).await?;
        let info = self.info(meta).await?;
        if info.state != KeyState::Enabled {
            return Ok(info);
        }
        if let Some(alias) = &info.alias {
            self.pacer.ready(ControlCall::KmsDeleteAlias).await;
            self.kms
                .delete_alias()
                .alias_name(alias)
                .send()
                .await
                .map_err(|e| sdk_error(format!("releasing alias {alias}"), e))?;
        }
        self.pacer.ready(ControlCall::KmsScheduleKeyDeletion).await;
        self.kms
            .schedule_key_deletion()
            .key_id(&info.key_id)
            .pending_window_in_days(window_days.clamp(MIN_WINDOW_DAYS, MAX_WINDOW_DAYS) as i32)
            .send()
            .await
            .map_err(|e| sdk_error(format!("scheduling deletion of key {}", info.key_id), e))?;
        let meta = self.metadata(&info.key_id).await?;
        self.info(meta).await
    }

    /// KMS destroys keys itself when their window ends.
    async fn destroy_due_keys(&self) -> Result<u32> {
        Ok(0)
    }
}
