//! The SDK routes, called by the browser SDK on a tenant's pages with a publishable key (or
//! by the tenant's servers with a secret one): the content for a page, and event batches.

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use service::ApiError;
use service::extract::ApiQuery;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenant::{TenantContext, is_text_plain};
use crate::content::catalog::Answer;
use crate::content::model::{BannerPosition, ContentId, ContentKind, Step};
use crate::events::batch::{self, BatchError, Rejection, WireEvent};
use crate::events::ingest;
use crate::state::AppState;

/// How old a cached catalog may be before an event naming unknown content makes it read
/// again (content published by another process a moment ago).
const UNKNOWN_CONTENT_RECHECK: Duration = Duration::from_secs(1);

/// The content route, behind tenant resolution by header.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(content))
}

/// The events route, behind tenant resolution by header or beacon body.
pub fn beacon_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(events))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// The page's full URL (`https://app.example.com/settings`); matched on host and path.
    pub url: String,
}

/// Content that shows on the page, in the order it was published.
#[derive(Debug, Serialize, ToSchema)]
pub struct PageContent {
    pub items: Vec<SdkContent>,
}

/// One published content item as the SDK renders it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SdkContent {
    pub id: ContentId,
    /// The published version (events name it).
    pub version: u32,
    pub kind: ContentKind,
    pub name: String,
    /// Steps with their stable ids.
    pub steps: Vec<Step>,
    /// Offered again after it was completed or dismissed.
    pub repeat: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub banner_position: Option<BannerPosition>,
}

/// The published content that targets `url`. Answers `ETag`; a request whose
/// `If-None-Match` names it gets `304` with no body.
#[utoipa::path(get, path = "/v1/sdk/content", tag = "sdk", params(ContentQuery),
    responses(
        (status = 200, description = "The content for the page", body = PageContent),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`"),
        (status = 400, description = "`invalid_request`: `url` is not an absolute http(s) URL", body = service::error::ErrorBody),
    ))]
pub async fn content(
    State(state): State<AppState>,
    context: TenantContext,
    ApiQuery(query): ApiQuery<ContentQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let page = url::Url::parse(&query.url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.host_str().is_some())
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "url {:?} is not an absolute http(s) URL of the page",
                query.url
            ))
        })?;
    let host = page.host_str().unwrap_or_default();
    let catalog = state.catalog(&context.tables, Duration::MAX).await?;
    // Serialised and hashed once per catalog and set of items, not per request.
    let answer = catalog.answer(catalog.showing(host, page.path()), |showing| {
        let items = showing
            .iter()
            .map(|&i| &catalog.live[i])
            .map(|p| SdkContent {
                id: p.id.clone(),
                version: p.version,
                kind: p.body.kind,
                name: p.body.name.clone(),
                steps: p.body.steps.clone(),
                repeat: p.body.repeat,
                banner_position: p.body.banner_position,
            })
            .collect();
        let body = serde_json::to_vec(&PageContent { items })
            .map_err(|e| ApiError::Internal(format!("serialising content: {e}")))?;
        Ok::<_, ApiError>(Answer {
            etag: etag_of(&body),
            body: body.into(),
        })
    })?;
    if if_none_match(&headers, &answer.etag) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, answer.etag)]).into_response());
    }
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            ),
            (header::ETAG, answer.etag),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        answer.body,
    )
        .into_response())
}

/// A strong validator of a body: the first 16 bytes of its SHA-256, in hex, quoted.
pub(crate) fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
    let Some(sent) = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let ours = etag.to_str().unwrap_or_default();
    sent.split(',')
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == ours || t == "*")
}

/// An event batch as the SDK sends it (documentation of the body; the body is read by
/// `crate::events::batch`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventBatch {
    /// The client's clock when it sent the batch; event times are corrected by its skew.
    #[schema(format = DateTime)]
    sent_at: String,
    /// At most 500 events, 512 KiB in all, 32 KiB each.
    #[schema(max_items = 500)]
    events: Vec<WireEvent>,
    /// Beacons only (`text/plain`, which cannot carry headers): the API key. `X-Api-Key` wins.
    api_key: Option<String>,
    /// Beacons only: the end user's token. `X-User-Token` wins.
    user_token: Option<String>,
}

/// What became of a batch.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestOutcome {
    /// Events stored now.
    pub accepted: usize,
    /// Events stored before (same `event_id`), or twice in this batch: accepted and ignored.
    pub duplicates: usize,
    /// Events refused, each with its index in the batch and why.
    pub rejected: Vec<Rejection>,
}

/// Stores a batch of SDK events: each new one is committed durably with its outbox record
/// before the answer; a duplicate `event_id` is acknowledged and stored once. Events that
/// are too large, malformed, out of the time window or name content never published are
/// rejected one by one; the rest are accepted. `application/json`, or `text/plain` for
/// `navigator.sendBeacon`, which sends no preflight and no headers.
#[utoipa::path(post, path = "/v1/sdk/events", tag = "sdk",
    request_body(content(
        (EventBatch = "application/json"),
        (EventBatch = "text/plain"),
    )),
    responses(
        (status = 200, description = "Accepted, duplicate and rejected events", body = IngestOutcome),
        (status = 400, description = "`invalid_json`: the body is not an event batch", body = service::error::ErrorBody),
        (status = 413, description = "`payload_too_large`: over 500 events or 512 KiB", body = service::error::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: neither JSON nor text/plain", body = service::error::ErrorBody),
    ))]
pub async fn events(
    State(state): State<AppState>,
    context: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<IngestOutcome>, ApiError> {
    if !is_json(&headers) && !is_text_plain(&headers) {
        return Err(ApiError::UnsupportedMediaType(
            "send events as application/json, or text/plain from sendBeacon".to_owned(),
        ));
    }
    let retention = state.settings.event_retention();
    let mut checked =
        batch::check(&body, OffsetDateTime::now_utc(), retention).map_err(|e| match e {
            BatchError::TooManyBytes(_) | BatchError::TooManyEvents(_) => {
                ApiError::PayloadTooLarge(e.to_string())
            }
            BatchError::Unparseable(_) => ApiError::BadRequest {
                code: service::ErrorCode::InvalidJson,
                message: e.to_string(),
                details: None,
            },
        })?;
    let mut catalog = state.catalog(&context.tables, Duration::MAX).await?;
    let known = |catalog: &crate::content::catalog::Catalog, e: &batch::Event| {
        catalog
            .latest
            .get(&e.content_id)
            .is_some_and(|v| (1..=*v).contains(&e.content_version))
    };
    if checked.events.iter().any(|(_, e)| !known(&catalog, e)) {
        catalog = state
            .catalog(&context.tables, UNKNOWN_CONTENT_RECHECK)
            .await?;
    }
    checked.keep_known(|id| catalog.latest.get(id).copied());
    let events: Vec<batch::Event> = checked.events.into_iter().map(|(_, e)| e).collect();
    let (items, table) = context.tables.events();
    let stored = ingest::store(items, table, &events, None, retention).await?;
    if stored.accepted > 0 {
        state
            .outbox
            .mark(context.tables.tenant(), context.tables.names());
    }
    Ok(axum::Json(IngestOutcome {
        accepted: stored.accepted,
        duplicates: stored.duplicates,
        rejected: checked.rejected,
    }))
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"))
}
