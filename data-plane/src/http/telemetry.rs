//! What the browser SDK tells about itself: the versions every SDK request carries, counted
//! and recorded per tenant ([`observe`]), and the SDK's own failures (`POST /v1/sdk/errors`).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use serde::Deserialize;
use service::ApiError;
use service::extract::ApiJson;
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenant::TenantContext;
use crate::hosting::SdkErrorKind;
use crate::hosting::versions::{self, SeenVersions};
use crate::metrics::{BundleLabels, SdkErrorLabels};
use crate::state::AppState;

/// The bundle's own version, injected when it was built.
pub const BUNDLE_VERSION_HEADER: &str = "x-spotlight-bundle-version";
/// The version the page embeds: its pinned URL's, or `latest`.
pub const SDK_VERSION_HEADER: &str = "x-spotlight-sdk-version";
/// The longest error message kept.
pub const MAX_ERROR_MESSAGE_CHARS: usize = 500;

/// The versions a beacon carried in its body (it cannot set headers), handed on by the
/// beacon's tenant resolution.
#[derive(Debug, Clone)]
pub struct BeaconVersions {
    pub bundle: Option<String>,
    pub embed: Option<String>,
}

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(report_error))
}

/// The layer of the SDK routes, inside tenant resolution: a request naming its bundle version
/// is counted in `spotlight_sdk_bundle_version_seen_total{tenant_id, version}` and, the first
/// time today in this process, recorded for the tenant's versions report. Requests without
/// one (a tenant's servers, curl) are not SDK pages and are not counted. Recording never
/// fails the request.
pub async fn observe(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let sent = sent_versions(&request);
    let context = request.extensions().get::<TenantContext>().cloned();
    if let (Some((bundle, embed)), Some(context)) = (sent, context) {
        let manifest = state.sdk_dist.manifest();
        let seen = SeenVersions::checked(manifest.as_deref(), &bundle, embed.as_deref());
        let tenant = context.tables.tenant();
        state
            .counters
            .sdk
            .bundle_seen
            .get_or_create(&BundleLabels {
                tenant_id: tenant.to_string(),
                version: seen.bundle.clone(),
            })
            .inc();
        let now = OffsetDateTime::now_utc();
        let day = keys::day(now);
        if state.sdk_seen.is_new(tenant, &seen, &day) {
            let (items, table) = context.tables.app();
            match versions::record_seen(items, table, &seen, now).await {
                Ok(()) => state.sdk_seen.written(tenant, &seen, &day),
                Err(e) => {
                    tracing::warn!(tenant_id = %tenant, error = %e, "recording the SDK version seen")
                }
            }
        }
    }
    next.run(request).await
}

fn sent_versions(request: &Request) -> Option<(String, Option<String>)> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    if let Some(bundle) = header(BUNDLE_VERSION_HEADER) {
        return Some((bundle, header(SDK_VERSION_HEADER)));
    }
    let beacon = request.extensions().get::<BeaconVersions>()?;
    Some((beacon.bundle.clone()?, beacon.embed.clone()))
}

/// A failure the SDK reports about itself.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SdkErrorReport {
    pub kind: SdkErrorKind,
    /// What happened, at most 500 characters (logged, never a metric label).
    #[serde(default)]
    #[schema(max_length = 500)]
    pub message: Option<String>,
}

/// Records a failure of the SDK on a tenant's page: counted in
/// `spotlight_sdk_errors_total{kind}` and logged with the tenant and the message.
#[utoipa::path(post, path = "/v1/sdk/errors", tag = "sdk", request_body = SdkErrorReport,
    responses(
        (status = 204, description = "Recorded"),
        (status = 400, description = "`invalid_request`: the message is over 500 characters; `invalid_json`: not a report", body = service::error::ErrorBody),
    ))]
pub async fn report_error(
    State(state): State<AppState>,
    context: TenantContext,
    headers: HeaderMap,
    ApiJson(report): ApiJson<SdkErrorReport>,
) -> Result<StatusCode, ApiError> {
    let message = report.message.unwrap_or_default();
    let chars = message.chars().count();
    if chars > MAX_ERROR_MESSAGE_CHARS {
        return Err(ApiError::bad_request(format!(
            "message is {chars} characters; at most {MAX_ERROR_MESSAGE_CHARS} are kept"
        )));
    }
    state
        .counters
        .sdk
        .errors
        .get_or_create(&SdkErrorLabels { kind: report.kind })
        .inc();
    let bundle = headers
        .get(BUNDLE_VERSION_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("none");
    tracing::warn!(tenant_id = %context.tables.tenant(), kind = ?report.kind, bundle_version = bundle, message, "the SDK reported a failure");
    Ok(StatusCode::NO_CONTENT)
}
