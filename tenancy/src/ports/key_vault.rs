//! `KeyVault`: one customer-managed key per tenant — create with alias, describe, encrypt and
//! decrypt, schedule deletion (crypto-shredding).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::Result;
use crate::naming::Tags;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeySpec {
    /// `alias/…`: the key's stable name, and what makes creation an ensure.
    pub alias: String,
    pub description: String,
    pub tags: Tags,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state")]
pub enum KeyState {
    Enabled,
    /// Disabled at once; the key material is destroyed at `deletion_at`.
    PendingDeletion {
        #[serde(with = "time::serde::rfc3339")]
        deletion_at: OffsetDateTime,
    },
    /// Key material gone: nothing it encrypted can ever be decrypted again.
    Destroyed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyInfo {
    pub key_id: String,
    pub arn: String,
    /// `None` once deletion has been scheduled (the alias is released with it).
    pub alias: Option<String>,
    pub state: KeyState,
    pub tags: Tags,
}

#[async_trait]
pub trait KeyVault: Send + Sync {
    /// Creates a symmetric key and points `spec.alias` at it.
    /// Errors: `AlreadyExists` when the alias already names a key; `Invalid` for an alias that
    /// does not start with `alias/`.
    async fn create_key(&self, spec: &KeySpec) -> Result<KeyInfo>;

    /// By key id, key ARN or `alias/…` name, like KMS DescribeKey. A destroyed key is still
    /// described by id. Errors: `NotFound`.
    async fn describe_key(&self, key: &str) -> Result<KeyInfo>;

    /// Encrypts up to 4 KiB under the key, binding `aad`. Errors: `NotFound`; `AccessDenied`
    /// when the key is pending deletion or destroyed; `Invalid` over 4 KiB.
    async fn encrypt(&self, key: &str, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>>;

    /// Errors: `NotFound`; `AccessDenied` when the key is pending deletion or destroyed;
    /// `Invalid` when the ciphertext or `aad` does not authenticate.
    async fn decrypt(&self, key: &str, ciphertext: &[u8], aad: &[u8]) -> Result<Vec<u8>>;

    /// Releases the key's alias, disables the key at once and destroys its material after
    /// `window_days` (0 = now; the AWS adapter raises it to KMS's minimum of 7). Idempotent:
    /// scheduling a key already pending deletion or destroyed returns its current info.
    /// Errors: `NotFound`; `Invalid` for a window over 30 days (KMS's maximum).
    async fn schedule_key_deletion(&self, key: &str, window_days: u32) -> Result<KeyInfo>;

    /// Destroys the material of every key whose deletion window has ended; returns how many.
    /// Without it a key nobody touches after offboarding would keep its material forever.
    /// KMS destroys keys itself, so the AWS adapter returns 0.
    async fn destroy_due_keys(&self) -> Result<u32>;

    /// Every key whose tags include all of `tags` (a deployment's keys: its
    /// `spotlight:managed-by` tag; one tenant's: both tags), in any state but destroyed, with
    /// or without an alias, sorted by key id. What a sweep and a resumed key creation look for:
    /// keys carry no name of their own, so their tags are how they are found.
    async fn list_keys(&self, tags: &Tags) -> Result<Vec<KeyInfo>>;

    /// Points `alias` at an existing enabled key that has no alias and turns its rotation on:
    /// how a key whose creation was cut short after the key was made but before it was named
    /// (KMS makes the two separate calls) is adopted instead of making a second one.
    /// Errors: `NotFound`; `AlreadyExists` when `alias` names a key; `Invalid` for an alias
    /// that does not start with `alias/`, or a key that has another alias or is not enabled.
    /// A key that has `alias` already is returned as it is, so a retried call succeeds.
    async fn alias_key(&self, key: &str, alias: &str) -> Result<KeyInfo>;
}

/// Adopts the key a cut-short creation of `spec` left behind, if there is one: a key tagged
/// with every tag of `spec`, enabled, without an alias, is named `spec.alias` (which turns its
/// rotation on too), so that the tenant ends with one key rather than a second one beside it.
/// `None` when there is no such key.
///
/// KMS makes a key and names it in separate calls, and CreateKey has no idempotency token, so
/// a creation that failed part-way — or whose answer was lost after KMS made the key — may
/// have left one. Finding it reads every key of the account (keys can only be found by their
/// tags), so this is for a creation known to have been tried before: the retry layer's
/// attempts after the first, and a resumed provisioning run.
pub async fn adopt_unnamed_key(vault: &dyn KeyVault, spec: &KeySpec) -> Result<Option<KeyInfo>> {
    let left = vault.list_keys(&spec.tags).await?;
    let Some(key) = left
        .into_iter()
        .find(|k| k.alias.is_none() && k.state == KeyState::Enabled)
    else {
        return Ok(None);
    };
    tracing::warn!(key = %key.key_id, alias = %spec.alias, "adopting a key a cut-short creation left without its alias");
    match vault.alias_key(&key.key_id, &spec.alias).await {
        Ok(named) => Ok(Some(named)),
        // Another creation named a key meanwhile: that one is the tenant's.
        Err(e) if e.kind() == crate::ErrorKind::AlreadyExists => {
            vault.describe_key(&spec.alias).await.map(Some)
        }
        Err(e) => Err(e),
    }
}

/// Whether `actual` carries every tag of `wanted` with the same value (others may be added).
pub fn has_tags(actual: &Tags, wanted: &Tags) -> bool {
    wanted.iter().all(|(k, v)| actual.get(k) == Some(v))
}
