//! Who administers a tenant through the admin routes: a platform ID token (the `Identity`
//! port verifies it) whose tenant is the API key's, and whose user the configured
//! [`AdminStrategy`] accepts.
//!
//! - `table_lookup` (the default): the user is one of the tenant's admin records — the ones
//!   the control plane's invites write. Removing an admin refuses the tokens already handed
//!   out at once.
//! - `jwt_group`: the token lists the admin group in `cognito:groups`. The identity
//!   provider's groups decide, with no lookup per request; the price is that taking a user
//!   out of the group takes effect only as their tokens expire (an hour for Cognito's ID
//!   tokens), which is why it is not the default.
//!
//! Either way the token must be valid and of this tenant first. A token that is not (absent,
//! forged, expired, of another tenant) is `401`; a valid token of this tenant whose user the
//! strategy does not accept is `403 not_an_admin`, so a console can tell "sign in again"
//! from "ask for access".

use std::fmt;

use serde::Deserialize;
use tenancy::jwt::DEFAULT_ADMIN_GROUP;
use tenancy::ports::{Identity, VerifiedAdmin};
use tenancy::{ErrorKind, TenantId};

/// How the admin status of a token's user is decided (`SPOTLIGHT_ADMIN_STRATEGY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdminStrategy {
    /// The tenant's admin records.
    TableLookup,
    /// Membership of this group, as the token's `cognito:groups` claim lists it.
    JwtGroup(AdminGroup),
}

/// The strategy's name, as configured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StrategyKind {
    #[default]
    TableLookup,
    JwtGroup,
}

/// A group name as identity providers allow it (Cognito: 1–128 characters, no whitespace or
/// control characters).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct AdminGroup(String);

impl AdminGroup {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let length = raw.chars().count();
        if length == 0 || length > Self::MAX_LEN {
            return Err(format!(
                "an admin group name is 1 to {} characters long; got {length}",
                Self::MAX_LEN
            ));
        }
        if let Some(c) = raw.chars().find(|c| c.is_whitespace() || c.is_control()) {
            return Err(format!(
                "an admin group name contains no whitespace or control characters; found {c:?}"
            ));
        }
        Ok(AdminGroup(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for AdminGroup {
    fn default() -> Self {
        AdminGroup(DEFAULT_ADMIN_GROUP.to_owned())
    }
}

impl TryFrom<String> for AdminGroup {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        AdminGroup::parse(&raw)
    }
}

impl fmt::Display for AdminGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a token was not admitted.
#[derive(Debug)]
pub enum AdminRefusal {
    /// No valid token of this tenant: the caller must sign in (again). The reason says why.
    Unauthenticated(String),
    /// A valid token of this tenant, whose user is not one of its admins.
    NotAnAdmin(String),
    /// The identity provider (or the admin records) could not be asked.
    Backend(tenancy::Error),
}

impl AdminStrategy {
    /// The admin `token` proves for `tenant`, or why it does not.
    pub async fn admit(
        &self,
        identity: &dyn Identity,
        token: &str,
        tenant: &TenantId,
    ) -> Result<VerifiedAdmin, AdminRefusal> {
        let admin = identity
            .verify_token_claims(token)
            .await
            .map_err(|e| match e.kind() {
                ErrorKind::AccessDenied | ErrorKind::Invalid => {
                    AdminRefusal::Unauthenticated(e.message().to_owned())
                }
                _ => AdminRefusal::Backend(e),
            })?;
        if &admin.tenant != tenant {
            return Err(AdminRefusal::Unauthenticated(
                "the admin token is of another tenant".to_owned(),
            ));
        }
        match self {
            AdminStrategy::TableLookup => {
                let admins = identity
                    .list_admins(tenant)
                    .await
                    .map_err(AdminRefusal::Backend)?;
                // The subject and the e-mail both: an address re-invited later is a new
                // user with a new subject, whom the old token does not prove.
                if !admins
                    .iter()
                    .any(|a| a.id == admin.subject && a.email == admin.email)
                {
                    return Err(AdminRefusal::NotAnAdmin(format!(
                        "{} is not an admin of tenant {tenant}",
                        admin.email
                    )));
                }
            }
            AdminStrategy::JwtGroup(group) => {
                if !admin.in_group(group.as_str()) {
                    return Err(AdminRefusal::NotAnAdmin(format!(
                        "{} is not in the admin group {group:?} (the token's cognito:groups)",
                        admin.email
                    )));
                }
            }
        }
        Ok(admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_names_are_bounded_and_have_no_whitespace() {
        assert_eq!(AdminGroup::default().as_str(), "spotlight-admins");
        assert!(AdminGroup::parse("Tenant-Admins_1").is_ok());
        assert!(AdminGroup::parse("").is_err());
        assert!(AdminGroup::parse("two words").is_err());
        assert!(AdminGroup::parse("tab\there").is_err());
        assert!(AdminGroup::parse(&"g".repeat(128)).is_ok());
        assert!(AdminGroup::parse(&"g".repeat(129)).is_err());
    }
}
