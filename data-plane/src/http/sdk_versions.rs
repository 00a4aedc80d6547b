//! The SDK version a tenant publishes, and which versions its pages ran in the last
//! [`REPORT_DAYS`] days against it: an old pin never updated, `latest` in production, a copy
//! no build produced.

use axum::extract::State;
use serde::{Deserialize, Serialize};
use service::ApiError;
use service::extract::ApiJson;
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenant::TenantContext;
use crate::hosting::versions::{self, Finding, Published, REPORT_DAYS, SeenVersion};
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report))
        .routes(routes!(publish))
}

/// Which version to publish.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishVersion {
    /// A built version (`1.0.0`), as `/sdk/manifest.json` lists it; never `latest`, which
    /// moves under the tenant's pages.
    pub version: String,
}

/// The tenant's SDK versions.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionsReport {
    /// What the tenant published; `null` before it published one.
    pub published: Option<Published>,
    /// The newest version built here; `null` when none was.
    pub latest_built: Option<String>,
    /// The first day the report covers (UTC, today included in the 7).
    pub since: String,
    /// What its pages ran, most recently seen first.
    pub seen: Vec<SeenVersion>,
    /// What to act on.
    pub findings: Vec<Finding>,
}

/// The versions the tenant's pages ran in the last 7 days (from the versions every SDK
/// request carries) against the one it published.
#[utoipa::path(get, path = "/v1/admin/sdk/versions", tag = "admin",
    responses((status = 200, description = "Published, seen, and what to act on", body = VersionsReport)))]
pub async fn report(
    State(state): State<AppState>,
    context: TenantContext,
) -> Result<axum::Json<VersionsReport>, ApiError> {
    let (items, table) = context.tables.app();
    let since = keys::day(OffsetDateTime::now_utc() - time::Duration::days(REPORT_DAYS - 1));
    let published = versions::published(items, table).await?;
    let seen = versions::fold(&versions::seen_since(items, table, &since).await?);
    let findings = versions::assess(published.as_ref(), &seen);
    Ok(axum::Json(VersionsReport {
        published,
        latest_built: state.sdk_dist.manifest().map(|m| m.latest.to_string()),
        since,
        seen,
        findings,
    }))
}

/// Records the version the tenant's pages are to embed (`/sdk/v{version}/spotlight.min.js`).
#[utoipa::path(put, path = "/v1/admin/sdk/version", tag = "admin", request_body = PublishVersion,
    responses(
        (status = 200, description = "The published version", body = Published),
        (status = 400, description = "`invalid_request`: not a version built here, or `latest`", body = service::error::ErrorBody),
    ))]
pub async fn publish(
    State(state): State<AppState>,
    context: TenantContext,
    ApiJson(body): ApiJson<PublishVersion>,
) -> Result<axum::Json<Published>, ApiError> {
    let manifest = state.sdk_dist.manifest();
    let built = || {
        manifest.as_ref().map_or_else(
            || "none".to_owned(),
            |m| {
                let v: Vec<String> = m.versions.keys().map(|v| v.to_string()).collect();
                v.join(", ")
            },
        )
    };
    if body.version == versions::LATEST {
        return Err(ApiError::bad_request(format!(
            "publish a pinned version, not latest: latest changes under your pages with every \
             release (built: {})",
            built()
        )));
    }
    if !manifest.as_ref().is_some_and(|m| m.knows(&body.version)) {
        return Err(ApiError::bad_request(format!(
            "version {:?} was never built here (built: {})",
            body.version,
            built()
        )));
    }
    let published = Published {
        version: body.version,
        published_at: OffsetDateTime::now_utc(),
    };
    let (items, table) = context.tables.app();
    versions::publish(items, table, &published).await?;
    Ok(axum::Json(published))
}
