//! [`Identity`] on a Cognito user pool, with the admin-user records in the deployment's
//! registry table.
//!
//! - The pool's users are signed in by e-mail (`UsernameAttributes = email`) and carry
//!   `custom:tenantId`, created immutable ([`ensure_user_pool`]), so a user's tenant never
//!   changes once invited.
//! - ListUsers cannot filter on a custom attribute, so each admin also has a record in the
//!   registry table: `pk = ADMINS#{tenant}`, `sk = ADMIN#{email}` (`admin_id`, `email`,
//!   `tenant`, `invited_at` in Unix seconds). Every lookup is keyed by the tenant's partition:
//!   tenant B's calls cannot read or remove a record of tenant A.
//! - Before disabling a user, the adapter reads the user back and checks that its
//!   `custom:tenantId` is the tenant asking; an invitation meeting an existing user adopts it
//!   only when it is already that tenant's (a resumed invitation), re-enabling it if it was
//!   removed before.
//! - Tokens come from Cognito sign-in; [`TokenVerifier`] checks them against the pool's
//!   issuer and JWKS, and the record must still name the token's subject.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cognitoidentityprovider::Client;
use aws_sdk_cognitoidentityprovider::types::{
    AdminCreateUserConfigType, AttributeDataType, AttributeType, ExplicitAuthFlowsType,
    SchemaAttributeType, StringAttributeConstraintsType, UsernameAttributeType,
};
use aws_sdk_dynamodb::types::AttributeValue;
use time::OffsetDateTime;

use crate::aws::errors::sdk_error;
use crate::error::{Error, ErrorKind, Result};
use crate::id::TenantId;
use crate::jwt::{KeySource, RemoteJwks, TENANT_CLAIM, TokenRules, TokenVerifier, http_client};
use crate::ports::identity::{
    AdminEmail, AdminId, AdminRef, AdminUser, IdToken, Identity, VerifiedAdmin,
};

/// The custom attribute's name in the pool's schema (Cognito prefixes it with `custom:`).
const TENANT_ATTRIBUTE: &str = "tenantId";

/// Where a deployment's admins live and which tokens it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CognitoConfig {
    pub user_pool_id: String,
    /// The app client id: the `aud` of accepted ID tokens.
    pub client_id: String,
    pub issuer: String,
    pub jwks_url: String,
    /// Shortest time between two JWKS fetches caused by unknown key ids.
    pub jwks_refetch: Duration,
}

impl CognitoConfig {
    /// Cognito's issuer for a pool in `region`.
    pub fn issuer_for(region: &str, user_pool_id: &str) -> String {
        format!("https://cognito-idp.{region}.amazonaws.com/{user_pool_id}")
    }

    /// The JWKS URL an issuer publishes by default.
    pub fn jwks_url_for(issuer: &str) -> String {
        format!("{}/.well-known/jwks.json", issuer.trim_end_matches('/'))
    }
}

pub struct CognitoIdentity {
    cognito: Client,
    dynamodb: aws_sdk_dynamodb::Client,
    /// The registry table holding the admin records.
    table: String,
    pool: String,
    verifier: TokenVerifier,
}

impl CognitoIdentity {
    /// Errors: `Invalid` for a JWKS URL that is not `https` (plain `http` only to a
    /// loopback host, such as a local moto); `Unavailable` when the HTTP client for the JWKS
    /// cannot be built.
    pub fn new(
        cognito: Client,
        dynamodb: aws_sdk_dynamodb::Client,
        table: String,
        config: &CognitoConfig,
    ) -> Result<Self> {
        crate::jwt::check_jwks_url(&config.jwks_url)?;
        let keys = KeySource::Remote(Box::new(RemoteJwks::new(
            &config.jwks_url,
            http_client()?,
            config.jwks_refetch,
        )));
        let rules = TokenRules {
            issuer: config.issuer.clone(),
            audience: config.client_id.clone(),
        };
        Ok(CognitoIdentity {
            cognito,
            dynamodb,
            table,
            pool: config.user_pool_id.clone(),
            verifier: TokenVerifier::new(rules, keys),
        })
    }

    fn key(tenant: &TenantId, email: &AdminEmail) -> [(&'static str, AttributeValue); 2] {
        [
            ("pk", AttributeValue::S(partition(tenant))),
            ("sk", AttributeValue::S(format!("ADMIN#{email}"))),
        ]
    }

    /// The user's id and tenant and whether it is enabled, or `None` when there is none.
    async fn user(&self, email: &AdminEmail) -> Result<Option<PoolUser>> {
        let got = self
            .cognito
            .admin_get_user()
            .user_pool_id(&self.pool)
            .username(email.as_str())
            .send()
            .await;
        let out = match got {
            Ok(out) => out,
            Err(e) => {
                let err = sdk_error(format!("reading user {email} of pool {}", self.pool), e);
                return if err.kind() == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(err)
                };
            }
        };
        let attr = |name: &str| {
            out.user_attributes()
                .iter()
                .find(|a| a.name() == name)
                .and_then(|a| a.value())
                .map(str::to_owned)
        };
        let id = attr("sub").ok_or_else(|| {
            Error::unavailable(format!("user {email} of pool {} has no sub", self.pool))
        })?;
        Ok(Some(PoolUser {
            id: AdminId::parse(&id).map_err(|e| {
                Error::unavailable(format!("user {email}: unreadable sub {id:?}: {e}"))
            })?,
            tenant: attr(TENANT_CLAIM),
            enabled: out.enabled(),
        }))
    }

    async fn record(&self, tenant: &TenantId, email: &AdminEmail) -> Result<Option<AdminUser>> {
        let [(pk, pv), (sk, sv)] = Self::key(tenant, email);
        let out = self
            .dynamodb
            .get_item()
            .table_name(&self.table)
            .key(pk, pv)
            .key(sk, sv)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error(format!("reading admin {email} of tenant {tenant}"), e))?;
        out.item.as_ref().map(from_item).transpose()
    }

    async fn find(&self, tenant: &TenantId, who: &AdminRef) -> Result<AdminUser> {
        let found = match who {
            AdminRef::Email(email) => self.record(tenant, email).await?,
            AdminRef::Id(_) => self
                .list_admins(tenant)
                .await?
                .into_iter()
                .find(|a| who.matches(a)),
        };
        found.ok_or_else(|| Error::not_found(format!("tenant {tenant} has no admin {who}")))
    }
}

struct PoolUser {
    id: AdminId,
    tenant: Option<String>,
    enabled: bool,
}

fn partition(tenant: &TenantId) -> String {
    format!("ADMINS#{tenant}")
}

fn from_item(item: &std::collections::HashMap<String, AttributeValue>) -> Result<AdminUser> {
    let text = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .ok_or_else(|| Error::unavailable(format!("admin record without {name}")))
    };
    let unreadable = |e: String| Error::unavailable(format!("unreadable admin record: {e}"));
    let invited = item
        .get("invited_at")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .ok_or_else(|| unreadable("no invited_at".to_owned()))?;
    Ok(AdminUser {
        id: AdminId::parse(&text("admin_id")?).map_err(|e| unreadable(e.to_string()))?,
        tenant: TenantId::parse(&text("tenant")?).map_err(|e| unreadable(e.to_string()))?,
        email: AdminEmail::parse(&text("email")?).map_err(|e| unreadable(e.to_string()))?,
        invited_at: OffsetDateTime::from_unix_timestamp(invited)
            .map_err(|e| unreadable(e.to_string()))?,
    })
}

fn attribute(name: &str, value: &str) -> AttributeType {
    AttributeType::builder()
        .name(name)
        .value(value)
        .build()
        .expect("name is set")
}

#[async_trait]
impl Identity for CognitoIdentity {
    async fn invite_admin(&self, tenant: &TenantId, email: &AdminEmail) -> Result<AdminUser> {
        let user = match self.user(email).await? {
            Some(existing) => {
                if existing.tenant.as_deref() != Some(tenant.as_str()) {
                    return Err(Error::already_exists(format!(
                        "{email} is already an admin of another tenant; an address \
                         administers one tenant"
                    )));
                }
                if !existing.enabled {
                    // Removed before, invited again by the same tenant.
                    self.cognito
                        .admin_enable_user()
                        .user_pool_id(&self.pool)
                        .username(email.as_str())
                        .send()
                        .await
                        .map_err(|e| sdk_error(format!("re-enabling admin {email}"), e))?;
                }
                existing.id
            }
            None => {
                let created = self
                    .cognito
                    .admin_create_user()
                    .user_pool_id(&self.pool)
                    .username(email.as_str())
                    .user_attributes(attribute("email", email.as_str()))
                    .user_attributes(attribute("email_verified", "true"))
                    .user_attributes(attribute(TENANT_CLAIM, tenant.as_str()))
                    .send()
                    .await
                    .map_err(|e| {
                        sdk_error(format!("creating admin {email} of tenant {tenant}"), e)
                    })?;
                let sub = created
                    .user()
                    .and_then(|u| u.attributes().iter().find(|a| a.name() == "sub"))
                    .and_then(|a| a.value())
                    .ok_or_else(|| {
                        Error::unavailable(format!("Cognito created {email} without a sub"))
                    })?;
                AdminId::parse(sub)
                    .map_err(|e| Error::unavailable(format!("user {email}: sub {sub:?}: {e}")))?
            }
        };
        let admin = AdminUser {
            id: user,
            tenant: tenant.clone(),
            email: email.clone(),
            invited_at: OffsetDateTime::from_unix_timestamp(
                OffsetDateTime::now_utc().unix_timestamp(),
            )
            .expect("now is in range"),
        };
        let [(pk, pv), (sk, sv)] = Self::key(tenant, email);
        let put = self
            .dynamodb
            .put_item()
            .table_name(&self.table)
            .item(pk, pv)
            .item(sk, sv)
            .item("admin_id", AttributeValue::S(admin.id.to_string()))
            .item("email", AttributeValue::S(email.to_string()))
            .item("tenant", AttributeValue::S(tenant.to_string()))
            .item(
                "invited_at",
                AttributeValue::N(admin.invited_at.unix_timestamp().to_string()),
            )
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await;
        match put {
            Ok(_) => Ok(admin),
            Err(e) => {
                let err = sdk_error(format!("recording admin {email} of tenant {tenant}"), e);
                if err.kind() == ErrorKind::ConditionFailed {
                    Err(Error::already_exists(format!(
                        "{email} is already an admin of tenant {tenant}"
                    )))
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn list_admins(&self, tenant: &TenantId) -> Result<Vec<AdminUser>> {
        let mut admins = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .dynamodb
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", AttributeValue::S(partition(tenant)))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| sdk_error(format!("listing the admins of tenant {tenant}"), e))?;
            for item in out.items() {
                admins.push(from_item(item)?);
            }
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(admins)
    }

    /// The record goes first, then the user is disabled: tokens are verified against the
    /// record, so from the first step on nothing the admin holds is accepted, even if the
    /// second step fails.
    async fn remove_admin(&self, tenant: &TenantId, who: &AdminRef) -> Result<AdminUser> {
        let admin = self.find(tenant, who).await?;
        let email = &admin.email;
        let user = self.user(email).await?;
        if let Some(user) = &user
            && user.tenant.as_deref() != Some(tenant.as_str())
        {
            return Err(Error::access_denied(format!(
                "user {email} of pool {} does not belong to tenant {tenant}; \
                 it is left as it is",
                self.pool
            )));
        }
        let [(pk, pv), (sk, sv)] = Self::key(tenant, email);
        self.dynamodb
            .delete_item()
            .table_name(&self.table)
            .key(pk, pv)
            .key(sk, sv)
            .send()
            .await
            .map_err(|e| sdk_error(format!("removing admin {email} of tenant {tenant}"), e))?;
        // Already disabled (a resumed removal), or gone from the pool: nothing to do.
        if user.is_some_and(|u| u.enabled) {
            self.cognito
                .admin_disable_user()
                .user_pool_id(&self.pool)
                .username(email.as_str())
                .send()
                .await
                .map_err(|e| sdk_error(format!("disabling admin {email} of tenant {tenant}"), e))?;
        }
        Ok(admin)
    }

    async fn verify_token(&self, token: &str) -> Result<VerifiedAdmin> {
        let verified = self.verifier.verify(token).await?;
        let record = self.record(&verified.tenant, &verified.email).await?;
        if record.is_none_or(|r| r.id != verified.subject) {
            return Err(Error::access_denied(format!(
                "token refused: {} is no longer an admin of tenant {}",
                verified.email, verified.tenant
            )));
        }
        Ok(verified)
    }

    async fn verify_token_claims(&self, token: &str) -> Result<VerifiedAdmin> {
        self.verifier.verify(token).await
    }

    async fn mint_token(&self, tenant: &TenantId, admin: &AdminRef) -> Result<IdToken> {
        Err(Error::invalid(format!(
            "tokens for admin {admin} of tenant {tenant} come from signing in to the Cognito \
             user pool {}; the aws backend does not mint them",
            self.pool
        )))
    }
}

/// The identity port of a deployment whose Cognito settings are missing: every call says
/// what to set, instead of the backend failing to open for services that never use it.
pub struct UnconfiguredIdentity;

impl UnconfiguredIdentity {
    fn refuse<T>() -> Result<T> {
        Err(Error::invalid(
            "identity is not configured for the aws backend: set SPOTLIGHT_COGNITO_USER_POOL_ID \
             and SPOTLIGHT_COGNITO_CLIENT_ID (provisioner bootstrap prints them)",
        ))
    }
}

#[async_trait]
impl Identity for UnconfiguredIdentity {
    async fn invite_admin(&self, _: &TenantId, _: &AdminEmail) -> Result<AdminUser> {
        Self::refuse()
    }
    async fn list_admins(&self, _: &TenantId) -> Result<Vec<AdminUser>> {
        Self::refuse()
    }
    async fn remove_admin(&self, _: &TenantId, _: &AdminRef) -> Result<AdminUser> {
        Self::refuse()
    }
    async fn verify_token(&self, token: &str) -> Result<VerifiedAdmin> {
        self.verify_token_claims(token).await
    }
    async fn verify_token_claims(&self, _: &str) -> Result<VerifiedAdmin> {
        Err(Error::access_denied(
            "token refused: identity is not configured for the aws backend",
        ))
    }
    async fn mint_token(&self, _: &TenantId, _: &AdminRef) -> Result<IdToken> {
        Self::refuse()
    }
}

/// The user pool (and app client) name of the deployment with `prefix`.
pub fn user_pool_name(prefix: &crate::naming::TablePrefix) -> String {
    format!("{}-admins", prefix.as_str())
}

/// A deployment's user pool and app client, as `provisioner bootstrap` ensures them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPool {
    pub user_pool_id: String,
    pub client_id: String,
}

/// Ensures the user pool `name` (e-mail sign-in, `custom:tenantId` immutable) and its app
/// client `name` (no secret, admin password sign-in) exist, finding each by name first, so
/// running it again changes nothing. Errors: `ConditionFailed` when a pool of that name
/// exists without an immutable `custom:tenantId`.
pub async fn ensure_user_pool(client: &Client, name: &str) -> Result<UserPool> {
    let pool_id = match find_pool(client, name).await? {
        Some(id) => {
            let described = client
                .describe_user_pool()
                .user_pool_id(&id)
                .send()
                .await
                .map_err(|e| sdk_error(format!("describing user pool {name}"), e))?;
            let immutable_tenant = described.user_pool().is_some_and(|p| {
                p.schema_attributes()
                    .iter()
                    .any(|a| a.name() == Some(TENANT_CLAIM) && a.mutable() == Some(false))
            });
            if !immutable_tenant {
                return Err(Error::condition_failed(format!(
                    "user pool {name} ({id}) exists without an immutable {TENANT_CLAIM}; \
                     it cannot hold tenant admins"
                )));
            }
            let invite_only = described.user_pool().is_some_and(|p| {
                p.admin_create_user_config()
                    .is_some_and(|c| c.allow_admin_create_user_only())
            });
            if !invite_only {
                return Err(Error::condition_failed(format!(
                    "user pool {name} ({id}) lets users sign themselves up, choosing their own \
                     {TENANT_CLAIM}; it cannot hold tenant admins"
                )));
            }
            id
        }
        None => client
            .create_user_pool()
            .pool_name(name)
            .username_attributes(UsernameAttributeType::Email)
            // Only Spotlight creates users: a self sign-up would choose its own tenant.
            .admin_create_user_config(
                AdminCreateUserConfigType::builder()
                    .allow_admin_create_user_only(true)
                    .build(),
            )
            .schema(
                SchemaAttributeType::builder()
                    .name(TENANT_ATTRIBUTE)
                    .attribute_data_type(AttributeDataType::String)
                    .mutable(false)
                    .string_attribute_constraints(
                        StringAttributeConstraintsType::builder()
                            .min_length("3")
                            .max_length("40")
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .map_err(|e| sdk_error(format!("creating user pool {name}"), e))?
            .user_pool()
            .and_then(|p| p.id())
            .map(str::to_owned)
            .ok_or_else(|| Error::unavailable(format!("user pool {name} created without an id")))?,
    };
    let client_id = match find_client(client, &pool_id, name).await? {
        Some(id) => id,
        None => client
            .create_user_pool_client()
            .user_pool_id(&pool_id)
            .client_name(name)
            .generate_secret(false)
            // Signed-in users may change their e-mail, never their tenant.
            .write_attributes("email")
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowAdminUserPasswordAuth)
            .explicit_auth_flows(ExplicitAuthFlowsType::AllowRefreshTokenAuth)
            .send()
            .await
            .map_err(|e| sdk_error(format!("creating app client {name}"), e))?
            .user_pool_client()
            .and_then(|c| c.client_id())
            .map(str::to_owned)
            .ok_or_else(|| {
                Error::unavailable(format!("app client {name} created without an id"))
            })?,
    };
    Ok(UserPool {
        user_pool_id: pool_id,
        client_id,
    })
}

async fn find_pool(client: &Client, name: &str) -> Result<Option<String>> {
    let mut next = None;
    loop {
        let out = client
            .list_user_pools()
            .max_results(60)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| sdk_error("listing user pools", e))?;
        if let Some(found) = out
            .user_pools()
            .iter()
            .find(|p| p.name() == Some(name))
            .and_then(|p| p.id())
        {
            return Ok(Some(found.to_owned()));
        }
        match out.next_token {
            Some(token) if !token.is_empty() => next = Some(token),
            _ => return Ok(None),
        }
    }
}

async fn find_client(client: &Client, pool: &str, name: &str) -> Result<Option<String>> {
    let mut next = None;
    loop {
        let out = client
            .list_user_pool_clients()
            .user_pool_id(pool)
            .max_results(60)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| sdk_error(format!("listing the app clients of {pool}"), e))?;
        if let Some(found) = out
            .user_pool_clients()
            .iter()
            .find(|c| c.client_name() == Some(name))
            .and_then(|c| c.client_id())
        {
            return Ok(Some(found.to_owned()));
        }
        match out.next_token {
            Some(token) if !token.is_empty() => next = Some(token),
            _ => return Ok(None),
        }
    }
}
