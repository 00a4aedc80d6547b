//! What the tenant routes read and write: request bodies and query parameters (each with the
//! validation that turns it into domain types, field by field) and the views responses show.
//! The stored record is never serialised as is.

use serde::{Deserialize, Serialize};
use tenancy::ports::TenantFilter;
use tenancy::{
    Failure, JournalEntry, Origin, OwnerEmail, RequestId, ResourceArns, ResourceNames, TenantId,
    TenantName, TenantRecord, TenantStatus, Tier,
};
use time::OffsetDateTime;

use provisioner::{NewTenant, TenantChanges};

use crate::error::ApiError;

/// Page size of `GET /tenants` when no limit is given, and the largest one accepted.
const DEFAULT_PAGE: u32 = 100;
const MAX_PAGE: u32 = 1000;

/// `POST /tenants` body. Unknown fields are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double hyphen.
    #[schema(example = "acme")]
    pub id: Option<String>,
    /// Display name, 1–200 characters.
    #[schema(example = "Acme Corp")]
    pub name: Option<String>,
    #[schema(example = "ops@acme.io")]
    pub owner_email: Option<String>,
    /// Defaults to `standard`.
    pub tier: Option<Tier>,
    /// Origins the tenant's publishable keys are accepted from (`https://app.example.com`).
    pub allowed_origins: Option<Vec<String>>,
}

impl CreateTenantRequest {
    /// Every field checked; the first invalid one is reported with its name.
    /// `request`: the idempotent request this body came with, if any.
    pub(super) fn validate(self, request: Option<RequestId>) -> Result<NewTenant, ApiError> {
        let id = TenantId::parse(&required("id", self.id)?)?;
        let name = TenantName::parse(&required("name", self.name)?)?;
        let owner_email = OwnerEmail::parse(&required("owner_email", self.owner_email)?)?;
        let allowed_origins = parse_origins(self.allowed_origins.unwrap_or_default())?;
        Ok(NewTenant {
            id,
            name,
            owner_email,
            tier: self.tier.unwrap_or_default(),
            allowed_origins,
            request,
        })
    }
}

/// `PATCH /tenants/{id}` body: every field optional; unknown fields (including `id`, `tier`
/// and `status`, which cannot be patched) are refused.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenantRequest {
    pub name: Option<String>,
    pub owner_email: Option<String>,
    /// Replaces the whole list.
    pub allowed_origins: Option<Vec<String>>,
}

impl UpdateTenantRequest {
    pub(super) fn validate(self) -> Result<TenantChanges, ApiError> {
        Ok(TenantChanges {
            name: self.name.as_deref().map(TenantName::parse).transpose()?,
            owner_email: self
                .owner_email
                .as_deref()
                .map(OwnerEmail::parse)
                .transpose()?,
            allowed_origins: self.allowed_origins.map(parse_origins).transpose()?,
        })
    }
}

fn required(field: &'static str, value: Option<String>) -> Result<String, ApiError> {
    value.ok_or_else(|| tenancy::InvalidInput::new(field, "is required").into())
}

fn parse_origins(raw: Vec<String>) -> Result<Vec<Origin>, ApiError> {
    let mut origins: Vec<Origin> = Vec::with_capacity(raw.len());
    for r in &raw {
        let origin = Origin::parse(r)?;
        if !origins.contains(&origin) {
            origins.push(origin);
        }
    }
    Ok(origins)
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantView {
    #[schema(example = "acme")]
    pub id: String,
    pub name: String,
    pub owner_email: String,
    pub tier: Tier,
    pub allowed_origins: Vec<String>,
    pub status: TenantStatus,
    /// Why the last provisioning run failed, while the tenant is `failed`.
    pub failure: Option<Failure>,
    pub resources: TenantResources,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: OffsetDateTime,
    /// Optimistic-concurrency version; grows with every change.
    pub version: u64,
}

/// The tenant's resources: their deterministic names, and the identifiers the backend
/// assigned (set as provisioning creates them, cleared as offboarding removes them).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantResources {
    pub names: ResourceNames,
    pub arns: ResourceArns,
}

impl From<TenantRecord> for TenantView {
    fn from(r: TenantRecord) -> Self {
        TenantView {
            id: r.id.as_str().to_owned(),
            name: r.name.as_str().to_owned(),
            owner_email: r.owner_email.as_str().to_owned(),
            tier: r.tier,
            allowed_origins: r
                .allowed_origins
                .iter()
                .map(|o| o.as_str().to_owned())
                .collect(),
            status: r.status,
            failure: r.failure,
            resources: TenantResources {
                names: r.resources,
                arns: r.arns,
            },
            created_at: r.created_at,
            updated_at: r.updated_at,
            version: r.version,
        }
    }
}

/// `GET /tenants/{id}`: the tenant and the newest entries of its provisioning journal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantDetail {
    #[serde(flatten)]
    pub tenant: TenantView,
    /// Up to 20 newest entries, oldest first.
    pub journal: Vec<JournalEntry>,
}

/// One page of tenants in id order.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TenantList {
    pub tenants: Vec<TenantView>,
    /// Pass as `after` to get the next page; absent on the last page.
    pub next: Option<String>,
}

/// `?wait=true` on requests that start a provisioning run.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitParams {
    /// Wait (at most `SPOTLIGHT_WAIT_TIMEOUT_SECS`) for the run to end.
    #[param(value_type = Option<bool>)]
    pub wait: Option<String>,
}

impl WaitParams {
    pub(super) fn wait(&self) -> Result<bool, ApiError> {
        match self.wait.as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") | Some("") => Ok(true),
            Some(other) => Err(invalid_param(
                "wait",
                format!("must be true or false, not '{other}'"),
            )),
        }
    }
}

/// `GET /tenants` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Only tenants in this status.
    #[param(value_type = Option<TenantStatus>)]
    pub status: Option<String>,
    /// Page size, 1–1000 (default 100).
    #[param(value_type = Option<u32>)]
    pub limit: Option<String>,
    /// The previous page's `next`.
    pub after: Option<String>,
}

impl ListParams {
    pub(super) fn filter(&self) -> Result<TenantFilter, ApiError> {
        let status = self
            .status
            .as_deref()
            .map(|s| {
                TenantStatus::parse(s)
                    .ok_or_else(|| invalid_param("status", format!("unknown status '{s}'")))
            })
            .transpose()?;
        let limit = match self.limit.as_deref() {
            None => DEFAULT_PAGE,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n) if (1..=MAX_PAGE).contains(&n) => n,
                _ => {
                    return Err(invalid_param(
                        "limit",
                        format!("must be a number from 1 to {MAX_PAGE}"),
                    ));
                }
            },
        };
        let after = self
            .after
            .as_deref()
            .map(|a| TenantId::parse(a).map_err(|e| invalid_param("after", e.reason)))
            .transpose()?;
        Ok(TenantFilter {
            status,
            after,
            limit,
        })
    }
}

fn invalid_param(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::from(tenancy::InvalidInput::new(field, reason))
}
