//! Quota admission: a new tenant is refused, before anything is written or created, when its
//! resources would take the account past a configured quota of DynamoDB tables, IAM roles or
//! KMS keys (`SPOTLIGHT_QUOTA_*`, by default AWS's default account quotas).
//!
//! Usage is counted, not measured: every tenant the registry holds that is not `Deleted` is
//! taken to hold what the plan gives a tenant (its tables, one role, one key), and the
//! platform holds its own ([`Usage::PLATFORM`], the registry table). What else lives in the
//! account is not seen: the quota settings are what the account leaves to Spotlight, so an
//! account shared with other workloads sets them lower.
//!
//! Admission is best effort under concurrency: the count and the create are separate calls,
//! so two tenants requested at the same moment may both be admitted into the last free slot.
//! AWS itself then refuses the create past its real quota, and that tenant's run fails and
//! rolls back like any other failed run.

use serde::Serialize;

use crate::config::Settings;
use crate::plan::TenantPlan;

/// A resource an account quota bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum QuotaResource {
    Tables,
    Roles,
    Keys,
}

impl QuotaResource {
    pub const ALL: [QuotaResource; 3] = [
        QuotaResource::Tables,
        QuotaResource::Roles,
        QuotaResource::Keys,
    ];

    /// The resource as an operator names it.
    pub fn describe(self) -> &'static str {
        match self {
            QuotaResource::Tables => "DynamoDB tables",
            QuotaResource::Roles => "IAM roles",
            QuotaResource::Keys => "KMS keys",
        }
    }

    /// The setting that configures its quota.
    pub fn setting(self) -> &'static str {
        match self {
            QuotaResource::Tables => "SPOTLIGHT_QUOTA_TABLES",
            QuotaResource::Roles => "SPOTLIGHT_QUOTA_ROLES",
            QuotaResource::Keys => "SPOTLIGHT_QUOTA_KEYS",
        }
    }
}

/// How many of each bounded resource something holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    pub tables: u64,
    pub roles: u64,
    pub keys: u64,
}

impl Usage {
    /// What the platform itself holds in the account: the registry table
    /// (`{prefix}_tenants-metadata`). The data plane's role is not counted: it may live in
    /// another account, and where it does not it is one role of the quota's margin.
    pub const PLATFORM: Usage = Usage {
        tables: 1,
        roles: 0,
        keys: 0,
    };

    /// What one tenant holds: the tables of its plan, its role and its key.
    pub fn of_tenant(plan: &TenantPlan) -> Usage {
        Usage {
            tables: plan.tables.len() as u64,
            roles: 1,
            keys: 1,
        }
    }

    pub fn of(self, resource: QuotaResource) -> u64 {
        match resource {
            QuotaResource::Tables => self.tables,
            QuotaResource::Roles => self.roles,
            QuotaResource::Keys => self.keys,
        }
    }
}

/// The account quotas admission holds tenants to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AccountQuota(Usage);

impl AccountQuota {
    pub fn from_settings(settings: &Settings) -> AccountQuota {
        AccountQuota(Usage {
            tables: settings.quota_tables.get(),
            roles: settings.quota_roles.get(),
            keys: settings.quota_keys.get(),
        })
    }

    pub fn of(self, resource: QuotaResource) -> u64 {
        self.0.of(resource)
    }
}

/// A tenant refused because its resources would exceed an account quota.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "tenant {tenant} was not admitted: it needs {needed} {what} and {in_use} of the account \
     quota of {quota} are held by {live_tenants} tenants and the platform; offboard tenants \
     or raise the quota ({setting})",
    what = resource.describe(),
    setting = resource.setting()
)]
pub struct QuotaExceeded {
    pub tenant: String,
    pub resource: QuotaResource,
    pub quota: u64,
    pub in_use: u64,
    pub needed: u64,
    pub live_tenants: u64,
}

/// Admits one more tenant needing `per_tenant`, with `live_tenants` already holding as much
/// each, or says which quota (the first of tables, roles, keys) it would exceed.
pub fn admit(
    tenant: &str,
    quota: AccountQuota,
    live_tenants: u64,
    per_tenant: Usage,
) -> Result<(), QuotaExceeded> {
    for resource in QuotaResource::ALL {
        let needed = per_tenant.of(resource);
        let in_use = Usage::PLATFORM
            .of(resource)
            .saturating_add(needed.saturating_mul(live_tenants));
        if in_use.saturating_add(needed) > quota.of(resource) {
            return Err(QuotaExceeded {
                tenant: tenant.to_owned(),
                resource,
                quota: quota.of(resource),
                in_use,
                needed,
                live_tenants,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TENANT: Usage = Usage {
        tables: 2,
        roles: 1,
        keys: 1,
    };

    fn quota(tables: u64, roles: u64, keys: u64) -> AccountQuota {
        AccountQuota(Usage {
            tables,
            roles,
            keys,
        })
    }

    #[test]
    fn a_tenant_that_fits_exactly_is_admitted_and_the_next_is_not() {
        // The registry table and 2 tenants of 2 tables: 5 of 7, and a third tenant fills it.
        assert_eq!(admit("c", quota(7, 10, 10), 2, TENANT), Ok(()));
        let refused = admit("d", quota(7, 10, 10), 3, TENANT).unwrap_err();
        assert_eq!(
            refused,
            QuotaExceeded {
                tenant: "d".to_owned(),
                resource: QuotaResource::Tables,
                quota: 7,
                in_use: 7,
                needed: 2,
                live_tenants: 3,
            }
        );
        let message = refused.to_string();
        assert!(message.contains("SPOTLIGHT_QUOTA_TABLES"), "{message}");
        assert!(message.contains("DynamoDB tables"), "{message}");
    }

    #[test]
    fn each_quota_is_checked_on_its_own() {
        let roles = admit("x", quota(100, 3, 100), 3, TENANT).unwrap_err();
        assert_eq!((roles.resource, roles.in_use), (QuotaResource::Roles, 3));
        let keys = admit("x", quota(100, 100, 2), 2, TENANT).unwrap_err();
        assert_eq!((keys.resource, keys.in_use), (QuotaResource::Keys, 2));
        assert!(admit("x", quota(100, 4, 3), 2, TENANT).is_ok());
    }

    #[test]
    fn the_platform_counts_even_with_no_tenant() {
        // One table for the registry leaves one of two: not enough for a tenant of two.
        let refused = admit("first", quota(2, 1, 1), 0, TENANT).unwrap_err();
        assert_eq!(
            (refused.resource, refused.in_use),
            (QuotaResource::Tables, 1)
        );
        assert!(admit("first", quota(3, 1, 1), 0, TENANT).is_ok());
    }
}
