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

/// The `{id}` segment of every tenant path, as [`TenantId::parse`] accepts it. Only documents
/// the parameter: handlers read it with `crate::extract::TenantPath`.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
pub struct TenantIdParam {
    /// Tenant id: lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double hyphen.
    #[param(
        pattern = "^[a-z0-9]+(-[a-z0-9]+)*$",
        min_length = 3,
        max_length = 40,
        example = "acme"
    )]
    pub id: String,
}

/// `POST /tenants` body. Unknown fields are refused.
///
/// `id`, `name` and `owner_email` are required; they are `Option`s here only so that a missing
/// one is a 400 naming the field (the schema says what the server accepts).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenantRequest {
    /// Lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double hyphen.
    #[schema(schema_with = schema::tenant_id, required = true)]
    pub id: Option<String>,
    /// Display name, 1–200 characters after trimming surrounding white space, not only white
    /// space, no control characters.
    #[schema(schema_with = schema::tenant_name, required = true)]
    pub name: Option<String>,
    /// An e-mail address: one `@` after a non-empty local part, a dotted domain, no white
    /// space, at most 254 bytes (UTF-8).
    #[schema(schema_with = schema::owner_email, required = true)]
    pub owner_email: Option<String>,
    /// Defaults to `standard`.
    pub tier: Option<Tier>,
    /// Origins the tenant's publishable keys are accepted from: `http` or `https`, a host and
    /// an optional port, nothing else (`https://app.example.com`). Defaults to none.
    #[schema(schema_with = schema::create_origins)]
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
    /// As in `CreateTenantRequest`; absent or `null`: unchanged.
    #[schema(schema_with = schema::nullable_tenant_name)]
    pub name: Option<String>,
    /// As in `CreateTenantRequest`; absent or `null`: unchanged.
    #[schema(schema_with = schema::nullable_owner_email)]
    pub owner_email: Option<String>,
    /// Replaces the whole list; absent or `null`: unchanged.
    #[schema(schema_with = schema::update_origins)]
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
    /// Why the last provisioning run failed, while the tenant is `failed`; else `null`.
    #[schema(required = true)]
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
    /// Pass as `after` to get the next page; `null` on the last page.
    #[schema(required = true)]
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
    #[param(value_type = Option<u32>, minimum = 1, maximum = 1000)]
    pub limit: Option<String>,
    /// The previous page's `next`: a tenant id; the page starts after it.
    #[param(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", min_length = 3, max_length = 40)]
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

/// Schemas of the validated strings in requests. Every value a pattern here admits is one
/// `tenancy`'s parsers accept (checked by sampling thousands of values from each pattern
/// against the parsers). Where a limit cannot be counted by a regular expression — a domain's
/// 253 characters, an e-mail local part's 64 across its dots — the pattern states a narrower
/// form that stays within it (at most three labels in an origin's host, three atoms in a local
/// part), and the description states the real rule, which the parsers apply. So the parsers
/// also take longer dotted forms and IPv6 addresses with an embedded IPv4 part; and a name's
/// pattern does not list the astral planes' noncharacters, which the parser refuses.
pub(crate) mod schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, SchemaType, Type};

    /// [`tenancy::TenantId::parse`]: 3–40 of `[a-z0-9-]`, hyphens only between alphanumerics.
    /// (The `{id}` and `after` parameters state it literally: `IntoParams` takes a literal.)
    pub const TENANT_ID_PATTERN: &str = "^[a-z0-9]+(-[a-z0-9]+)*$";

    /// [`tenancy::TenantName::parse`]: none of the characters it refuses (controls, bidi
    /// controls, line and paragraph separators, invisible formatting characters, the BMP's
    /// noncharacters) and at least one that is not white space.
    pub const TENANT_NAME_PATTERN: &str = concat!(
        r"^[^\x00-\x1F\x7F-\x9F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\uFDD0-\uFDEF\uFFFE\uFFFF]*",
        r"[^\s\x00-\x1F\x7F-\x9F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\uFDD0-\uFDEF\uFFFE\uFFFF]",
        r"[^\x00-\x1F\x7F-\x9F\u061C\u200B\u200E\u200F\u2028-\u202E\u2060-\u2064\u2066-\u206F\uFEFF\uFFF9-\uFFFB\uFDD0-\uFDEF\uFFFE\uFFFF]*$",
    );

    /// A DNS label: 1–63 letters, digits and hyphens, not starting or ending with a hyphen.
    macro_rules! label {
        () => {
            r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        };
    }
    /// The last label of a domain name: at most 63 characters with a letter among them, and
    /// not `0x…` (a last label of digits only, or `0x` and hex digits, makes the URL rules read
    /// the host as an IPv4 address).
    macro_rules! top_label {
        () => {
            r"(([1-9]|0[0-9-])[0-9-]{0,29})?[A-Za-z]([A-Za-z0-9-]{0,29}[A-Za-z0-9])?"
        };
    }

    /// [`tenancy::OwnerEmail::parse`]: a dot-atom local part of letters, digits and
    /// ``!#$%*+/=?^_{|}~-``, one `@`, and an ASCII domain name of at least two labels. A pattern
    /// cannot count the local part's 64 characters across its dots, so it states a form that
    /// stays within them (up to three dot-separated atoms); the parser takes any dot-atom of
    /// at most 64.
    pub const OWNER_EMAIL_PATTERN: &str = concat!(
        r"^[A-Za-z0-9!#$%*+/=?^_{|}~-]{1,32}(\.[A-Za-z0-9!#$%*+/=?^_{|}~-]{1,15}){0,2}",
        "@(",
        label!(),
        r"\.){1,3}",
        top_label!(),
        "$",
    );

    /// An IPv6 address in any of its written forms but the one with an embedded IPv4 address.
    const IPV6: &str = concat!(
        r"([0-9A-Fa-f]{1,4}:){7}[0-9A-Fa-f]{1,4}",
        r"|([0-9A-Fa-f]{1,4}:){1,7}:",
        r"|([0-9A-Fa-f]{1,4}:){1,6}:[0-9A-Fa-f]{1,4}",
        r"|([0-9A-Fa-f]{1,4}:){1,5}(:[0-9A-Fa-f]{1,4}){1,2}",
        r"|([0-9A-Fa-f]{1,4}:){1,4}(:[0-9A-Fa-f]{1,4}){1,3}",
        r"|([0-9A-Fa-f]{1,4}:){1,3}(:[0-9A-Fa-f]{1,4}){1,4}",
        r"|([0-9A-Fa-f]{1,4}:){1,2}(:[0-9A-Fa-f]{1,4}){1,5}",
        r"|[0-9A-Fa-f]{1,4}:(:[0-9A-Fa-f]{1,4}){1,6}",
        r"|:((:[0-9A-Fa-f]{1,4}){1,7}|:)",
    );

    /// [`tenancy::Origin::parse`]: `http` or `https` (any case), then a host — an ASCII domain
    /// name (in a form of at most three labels, so that the pattern stays within 253
    /// characters; the parser takes more), an IPv4 address as four decimal numbers, or a
    /// bracketed IPv6 address — an optional port from 1 to 65535 without leading zeros, and an
    /// optional `/`.
    pub fn origin_pattern() -> String {
        let ipv4_part = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])";
        format!(
            r"^[Hh][Tt][Tt][Pp]([Ss])?://((({label}\.){{0,2}}{top})|({ipv4_part}(\.{ipv4_part}){{3}})|\[({IPV6})\])(:([1-9][0-9]{{0,3}}|[1-5][0-9]{{4}}|6[0-4][0-9]{{3}}|65[0-4][0-9]{{2}}|655[0-2][0-9]|6553[0-5]))?/?$",
            label = label!(),
            top = top_label!(),
        )
    }

    // `schema_with` replaces the whole property schema, doc comment included: each schema
    // carries its own description.

    pub fn tenant_id() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "Lowercase `[a-z0-9-]`, 3–40 characters, no leading, trailing or double hyphen.",
            ))
            .pattern(Some(TENANT_ID_PATTERN))
            .min_length(Some(tenancy::TenantId::MIN_LEN))
            .max_length(Some(tenancy::TenantId::MAX_LEN))
            .examples(["acme"])
    }

    const TENANT_NAME: &str = "Display name: 1–200 characters, not only white space, without \
        control, bidirectional-control, separator, invisible formatting or noncharacter code \
        points; stored without its surrounding white space.";

    pub fn tenant_name() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(TENANT_NAME))
            .pattern(Some(TENANT_NAME_PATTERN))
            .min_length(Some(1))
            .max_length(Some(200))
            .examples(["Acme Corp"])
    }

    pub fn nullable_tenant_name() -> ObjectBuilder {
        tenant_name()
            .schema_type(nullable(Type::String))
            .description(Some(unchanged_if_absent(TENANT_NAME)))
    }

    const OWNER_EMAIL: &str = "The owner's e-mail address: a local part of at most 64 \
        characters (letters, digits, `!#$%*+/=?^_{|}~-`, dots between them), one `@`, and an \
        ASCII domain name of at least two labels (an international domain in its `xn--` form; \
        at most 253 characters, labels of at most 63); stored with the domain lowercased.";

    pub fn owner_email() -> ObjectBuilder {
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(OWNER_EMAIL))
            .pattern(Some(OWNER_EMAIL_PATTERN))
            .max_length(Some(254))
            .examples(["ops@acme.io"])
    }

    pub fn nullable_owner_email() -> ObjectBuilder {
        owner_email()
            .schema_type(nullable(Type::String))
            .description(Some(unchanged_if_absent(OWNER_EMAIL)))
    }

    const ORIGINS: &str = "Origins the tenant's publishable keys are accepted from: `http` or \
        `https`, a host (an ASCII domain name of at most 253 characters, an international one \
        in its `xn--` form; an IPv4 address; a bracketed IPv6 address) and an optional port, \
        nothing else (`https://app.example.com`). Stored as browsers send them in `Origin` \
        (lowercase, default port dropped); duplicates are dropped.";

    /// In `POST /tenants`: absent or `null` is no origins.
    pub fn create_origins() -> ArrayBuilder {
        origins().description(Some(format!("{ORIGINS} Absent or `null`: none.")))
    }

    /// In `PATCH /tenants/{id}`: the list replaces the old one; absent or `null` keeps it.
    pub fn update_origins() -> ArrayBuilder {
        origins().description(Some(format!(
            "{ORIGINS} Replaces the whole list. Absent or `null`: unchanged."
        )))
    }

    fn origins() -> ArrayBuilder {
        ArrayBuilder::new()
            .schema_type(nullable(Type::Array))
            .items(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .pattern(Some(origin_pattern()))
                    .examples(["https://app.acme.io"]),
            )
    }

    fn unchanged_if_absent(description: &str) -> String {
        format!("{description} Absent or `null`: unchanged.")
    }

    fn nullable(ty: Type) -> SchemaType {
        SchemaType::from_iter([ty, Type::Null])
    }
}
