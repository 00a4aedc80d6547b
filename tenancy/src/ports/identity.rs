//! `Identity`: a tenant's administrators (the people who manage one tenant through the data
//! plane's admin routes) and the platform JWTs they present.
//!
//! # Where the admin record lives
//!
//! The admin-user record (tenant, e-mail, subject, when invited) lives in the identity
//! store, not in the [`Registry`](crate::ports::Registry): the embedded adapter keeps it in
//! `identity.db` beside its users, the Cognito adapter in the deployment's registry table
//! under a partition of the tenant's own (`ADMINS#{tenant}`), because Cognito's ListUsers
//! cannot filter on a custom attribute. Keeping it behind this port means the data plane
//! consults one thing for "who may administer this tenant", every lookup is keyed by the
//! tenant first (so tenant B's calls can never reach a record of tenant A), and the registry's
//! contract does not grow for a concern only identity has.
//!
//! # One identity, one tenant
//!
//! An admin's tenant is fixed when invited (Cognito's `custom:tenantId`, created immutable)
//! and an e-mail address names one admin in the whole deployment: inviting an address that
//! already administers any tenant is `AlreadyExists`. A person administering two tenants
//! uses two addresses.
//!
//! # Tokens
//!
//! [`Identity::verify_token`] accepts only what the platform issues: an RS256 ID token
//! (`token_use=id`) whose signature a key of the configured JWKS verifies, for the configured
//! audience (the app client id) and issuer, within `nbf`..`exp`, naming a tenant
//! (`custom:tenantId`) and an e-mail — and whose admin is still on record, so removing an
//! admin refuses the tokens already handed out to them at once. Every refusal is
//! `AccessDenied` with the reason.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{InvalidInput, Result};
use crate::id::{OwnerEmail, TenantId};

/// An admin's e-mail address: the rules of [`OwnerEmail`], lowercased as a whole, so that
/// `Ann@Example.com` and `ann@example.com` are the same admin (Cognito compares e-mail
/// usernames without case too).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdminEmail(String);

impl AdminEmail {
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        OwnerEmail::parse(raw)
            .map(|e| AdminEmail(e.as_str().to_ascii_lowercase()))
            .map_err(|e| InvalidInput::new("email", e.reason))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdminEmail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AdminEmail {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, InvalidInput> {
        AdminEmail::parse(&raw)
    }
}

impl From<AdminEmail> for String {
    fn from(email: AdminEmail) -> String {
        email.0
    }
}

/// An admin's subject (the token's `sub`; Cognito's user id): 1–128 characters of letters,
/// digits and `-`, assigned by the identity store and never reused.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AdminId(String);

impl AdminId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.is_empty() || raw.len() > Self::MAX_LEN {
            return Err(InvalidInput::new(
                "admin",
                "must be 1 to 128 characters long",
            ));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(InvalidInput::new(
                "admin",
                "an admin id may contain only letters, digits and '-'",
            ));
        }
        Ok(AdminId(raw.to_owned()))
    }

    /// A fresh random id (the embedded store's subjects).
    pub fn random() -> Self {
        AdminId(uuid::Uuid::new_v4().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AdminId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for AdminId {
    type Error = InvalidInput;
    fn try_from(raw: String) -> Result<Self, InvalidInput> {
        AdminId::parse(&raw)
    }
}

impl From<AdminId> for String {
    fn from(id: AdminId) -> String {
        id.0
    }
}

/// How a caller names one admin of a tenant: by e-mail or by id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminRef {
    Email(AdminEmail),
    Id(AdminId),
}

impl AdminRef {
    /// An e-mail when `raw` contains `@`, an id otherwise (ids never contain one).
    pub fn parse(raw: &str) -> Result<Self, InvalidInput> {
        if raw.contains('@') {
            AdminEmail::parse(raw)
                .map(AdminRef::Email)
                .map_err(|e| InvalidInput::new("admin", e.reason))
        } else {
            AdminId::parse(raw).map(AdminRef::Id)
        }
    }

    /// Whether `admin` is the one this names.
    pub fn matches(&self, admin: &AdminUser) -> bool {
        match self {
            AdminRef::Email(email) => &admin.email == email,
            AdminRef::Id(id) => &admin.id == id,
        }
    }
}

impl fmt::Display for AdminRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminRef::Email(email) => email.fmt(f),
            AdminRef::Id(id) => id.fmt(f),
        }
    }
}

/// The admin-user record: one admin of one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub id: AdminId,
    /// Fixed at invitation; nothing changes it.
    pub tenant: TenantId,
    pub email: AdminEmail,
    #[serde(with = "time::serde::rfc3339")]
    pub invited_at: OffsetDateTime,
}

/// What a verified platform token says, once every check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifiedAdmin {
    pub subject: AdminId,
    pub email: AdminEmail,
    /// From `custom:tenantId`: the only tenant this token may act on.
    pub tenant: TenantId,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    /// From `cognito:groups`: the identity provider's groups the user is in (none when the
    /// token lists none).
    #[serde(default)]
    pub groups: Vec<String>,
}

impl VerifiedAdmin {
    /// Whether the token puts its user in `group` (exact, case-sensitive, as Cognito's
    /// group names are).
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }
}

/// A signed ID token and when it stops being accepted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdToken {
    pub token: String,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

impl fmt::Debug for IdToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdToken")
            .field("token", &"<redacted>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

#[async_trait]
pub trait Identity: Send + Sync {
    /// Creates the admin `email` of `tenant` (a user whose tenant cannot change) and its
    /// record. Errors: `AlreadyExists` when `email` already administers this or any other
    /// tenant.
    async fn invite_admin(&self, tenant: &TenantId, email: &AdminEmail) -> Result<AdminUser>;

    /// The admins of `tenant`, by e-mail. Only that tenant's: never another's.
    async fn list_admins(&self, tenant: &TenantId) -> Result<Vec<AdminUser>>;

    /// Disables the admin's user and removes its record; returns the removed record.
    /// Errors: `NotFound` when `tenant` has no such admin (an admin of another tenant is not
    /// found either).
    async fn remove_admin(&self, tenant: &TenantId, admin: &AdminRef) -> Result<AdminUser>;

    /// Verifies a platform ID token (see the module docs). Errors: `AccessDenied` with the
    /// reason for any token refused; `Unavailable` when the signing keys cannot be fetched.
    async fn verify_token(&self, token: &str) -> Result<VerifiedAdmin>;

    /// [`Identity::verify_token`] without the admin record: the token's signature, issuer,
    /// audience, validity and claims only. For callers that decide admin status from the
    /// token's own claims (the data plane's `jwt_group` strategy) or look the record up
    /// themselves. Same errors.
    async fn verify_token_claims(&self, token: &str) -> Result<VerifiedAdmin>;

    /// Issues an ID token for an admin of `tenant` (the embedded issuer; see
    /// `Capabilities::mints_admin_tokens`). Errors: `NotFound` when `tenant` has no such
    /// admin; `Invalid` where tokens come only from signing in (Cognito).
    async fn mint_token(&self, tenant: &TenantId, admin: &AdminRef) -> Result<IdToken>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_emails_compare_without_case_and_name_the_email_field() {
        let a = AdminEmail::parse("Ann@Example.COM").unwrap();
        assert_eq!(a.as_str(), "ann@example.com");
        let err = AdminEmail::parse("not-an-address").unwrap_err();
        assert_eq!(err.field, "email");
    }

    #[test]
    fn an_admin_is_named_by_email_or_by_id() {
        assert!(matches!(
            AdminRef::parse("ann@example.com").unwrap(),
            AdminRef::Email(_)
        ));
        assert!(matches!(
            AdminRef::parse("0b7c1c1e-8f1e-4c9a-9d7e-2f0b8f6f1a2b").unwrap(),
            AdminRef::Id(_)
        ));
        assert_eq!(AdminRef::parse("a b").unwrap_err().field, "admin");
        assert_eq!(AdminRef::parse("").unwrap_err().field, "admin");
    }
}
