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

use super::tenant::{TenantContext, is_text_plain, media_type};
use std::collections::HashMap;

use crate::content::catalog::{Answer, Catalog};
use crate::content::model::{BannerPosition, ContentId, ContentKind, Step};
use crate::content::progress::{self, Progress, ProgressError, ProgressUpdate};
use crate::events::batch::{self, BatchError, Rejection};
use crate::events::fold::Actor;
use crate::events::ingest;
use crate::metrics::Outcome;
use crate::state::AppState;

/// How old a cached catalog may be before an event naming unknown content makes it read
/// again (content published by another process a moment ago).
const UNKNOWN_CONTENT_RECHECK: Duration = Duration::from_secs(1);

/// The content route, behind tenant resolution by header.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(content))
        .routes(routes!(list_progress))
        .routes(routes!(put_progress))
        .merge(super::telemetry::router())
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
    #[param(pattern = "^https?://[^/?#\\s]+")]
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
    /// The signed-in user's progress on it, if any (never for anonymous visitors).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub progress: Option<Progress>,
}

/// The published content that targets `url` (and, with an end-user token in `X-User-Token`,
/// the user's traits: the token's claims), with the user's progress merged in: content the
/// user completed or dismissed is not offered again unless it repeats. Answers `ETag`; a
/// request whose `If-None-Match` names it gets `304` with no body.
#[utoipa::path(get, path = "/v1/sdk/content", tag = "sdk", params(ContentQuery),
    responses(
        (status = 200, description = "The content for the page", body = PageContent),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`"),
        (status = 400, description = "`invalid_request`: `url` is not an absolute http(s) URL", body = service::error::ErrorBody),
        (status = 401, description = "`unauthorized`: the end-user token is refused (the reason is in the message)", body = service::error::ErrorBody),
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
    let user = context.end_user(&state).await?;
    let catalog = state.catalog(&context.tables, Duration::MAX).await?;
    let answer = match user {
        // Anonymous visitors: the answer is made once per catalog and set of items.
        None => catalog.answer(catalog.showing(host, page.path()), |showing| {
            page_answer(&catalog, showing.iter().map(|&i| (i, None)))
        })?,
        // A signed-in user: their traits and progress make the answer theirs alone.
        Some(user) => {
            let (items, table) = context.tables.app();
            let mut progress: HashMap<ContentId, Progress> = progress::list(items, table, &user.id)
                .await?
                .into_iter()
                .map(|p| (p.content_id.clone(), p))
                .collect();
            let showing = catalog.showing_to(host, page.path(), Some(&user.claims));
            page_answer(
                &catalog,
                showing.into_iter().filter_map(|i| {
                    let item = &catalog.live[i];
                    let mine = progress.remove(&item.id);
                    let done = mine.as_ref().is_some_and(|m| m.state.is_done());
                    (item.body.repeat || !done).then_some((i, mine))
                }),
            )?
        }
    };
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

/// The answer listing the live items at the given indices of `catalog`, each with the user's
/// progress on it, if any.
fn page_answer(
    catalog: &Catalog,
    showing: impl Iterator<Item = (usize, Option<Progress>)>,
) -> Result<Answer, ApiError> {
    let items = showing
        .map(|(i, progress)| {
            let p = &catalog.live[i];
            SdkContent {
                id: p.id.clone(),
                version: p.version,
                kind: p.body.kind,
                name: p.body.name.clone(),
                steps: p.body.steps.clone(),
                repeat: p.body.repeat,
                banner_position: p.body.banner_position,
                progress,
            }
        })
        .collect();
    let body = serde_json::to_vec(&PageContent { items })
        .map_err(|e| ApiError::Internal(format!("serialising content: {e}")))?;
    Ok(Answer {
        etag: etag_of(&body),
        body: body.into(),
    })
}

/// A strong validator of a body: the first 16 bytes of its SHA-256, in hex, quoted.
pub(crate) fn etag_of(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    HeaderValue::from_str(&format!("\"{hex}\"")).unwrap_or(HeaderValue::from_static("\"\""))
}

pub(crate) fn if_none_match(headers: &HeaderMap, etag: &HeaderValue) -> bool {
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
/// `crate::events::batch`). The envelope is checked whole (a wrong shape is a `400`); each
/// event is checked alone against the `SdkEvent` schema, and one that does not match is listed
/// in the answer's `rejected` while the others are stored.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct EventBatch {
    /// The client's clock when it sent the batch; event times are corrected by its skew.
    #[schema(format = DateTime)]
    sent_at: String,
    /// At most 500 events, 512 KiB in all, 32 KiB each. Each item is checked alone against
    /// the `SdkEvent` schema: anything else is rejected in the answer, not refused as a batch.
    events: Vec<serde_json::Value>,
    /// Beacons only (`text/plain`, which cannot carry headers): the API key. `X-Api-Key` wins.
    api_key: Option<String>,
    /// Beacons only: the end user's token. `X-User-Token` wins.
    user_token: Option<String>,
    /// Beacons only: the SDK bundle's version (`X-Spotlight-Bundle-Version` otherwise).
    bundle_version: Option<String>,
    /// Beacons only: the SDK version the tenant published (`X-Spotlight-SDK-Version`).
    sdk_version: Option<String>,
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
        (status = 401, description = "`unauthorized`: the end-user token is refused", body = service::error::ErrorBody),
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
    // The user is the verified token's subject, else each event's anonymous id.
    let actor = context.end_user(&state).await?.map(|u| Actor::User(u.id));
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
    let stored = ingest::store(items, table, &events, actor.as_ref(), retention).await?;
    let tenant = context.tables.tenant().as_str();
    state
        .counters
        .count_events(tenant, Outcome::accepted, stored.accepted);
    state
        .counters
        .count_events(tenant, Outcome::duplicate, stored.duplicates);
    state
        .counters
        .count_events(tenant, Outcome::rejected, checked.rejected.len());
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
    media_type(headers).as_deref() == Some("application/json")
}

/// The signed-in user's progress.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgressList {
    pub items: Vec<Progress>,
}

/// The signed-in user's progress on every content item (an end-user token in `X-User-Token`
/// is required: anonymous visitors have none).
#[utoipa::path(get, path = "/v1/sdk/progress", tag = "sdk",
    responses(
        (status = 200, description = "The user's progress", body = ProgressList),
        (status = 401, description = "`unauthorized`: no end-user token, or a refused one", body = service::error::ErrorBody),
    ))]
pub async fn list_progress(
    State(state): State<AppState>,
    context: TenantContext,
) -> Result<axum::Json<ProgressList>, ApiError> {
    let user = context.required_end_user(&state).await?;
    let (items, table) = context.tables.app();
    Ok(axum::Json(ProgressList {
        items: progress::list(items, table, &user.id).await?,
    }))
}

/// Records the signed-in user's progress on a published content item. Without `If-Match` it
/// only creates (`412` when progress exists); with it, it replaces the progress at that
/// revision (`412` when it changed meanwhile). Answers the stored progress with its `ETag`.
#[utoipa::path(put, path = "/v1/sdk/progress/{content_id}", tag = "sdk",
    params(("content_id" = String, Path, description = "The content item"),
        ("If-Match" = String, Header, pattern = r#"^(W/)?("[0-9]{1,19}"|[0-9]{1,19})$"#,
            description = "The revision of the progress this change was made against")),
    request_body = ProgressUpdate,
    responses(
        (status = 200, description = "The stored progress (its revision in `ETag`)", body = Progress),
        (status = 400, description = "`invalid_request`: `If-Match` names no revision", body = service::error::ErrorBody),
        (status = 401, description = "`unauthorized`: no end-user token, or a refused one", body = service::error::ErrorBody),
        (status = 404, description = "`content_not_found`: the tenant never published that version of it", body = service::error::ErrorBody),
        (status = 412, description = "`precondition_failed`: the progress changed, or exists when `If-Match` was not sent", body = service::error::ErrorBody),
    ))]
pub async fn put_progress(
    State(state): State<AppState>,
    context: TenantContext,
    service::extract::ApiPath(id): service::extract::ApiPath<String>,
    headers: HeaderMap,
    service::extract::ApiJson(update): service::extract::ApiJson<ProgressUpdate>,
) -> Result<Response, ApiError> {
    let user = context.required_end_user(&state).await?;
    let expected = super::precondition::optional_if_match(&headers)?;
    let not_found = || super::error::content_not_found(&id);
    let content = ContentId::parse(&id).map_err(|_| not_found())?;
    let catalog = state
        .catalog(&context.tables, UNKNOWN_CONTENT_RECHECK)
        .await?;
    if !catalog
        .latest
        .get(&content)
        .is_some_and(|v| (1..=*v).contains(&update.content_version))
    {
        return Err(super::error::content_not_found(&format!(
            "{id} version {}",
            update.content_version
        )));
    }
    let (items, table) = context.tables.app();
    let stored = progress::put(
        items,
        table,
        &user.id,
        &content,
        update,
        expected,
        OffsetDateTime::now_utc(),
    )
    .await
    .map_err(|e| match e {
        ProgressError::Stale { .. } => ApiError::PreconditionFailed(e.to_string()),
        ProgressError::Store(e) => e.into(),
    })?;
    Ok((
        [(header::ETAG, super::precondition::etag(stored.revision))],
        axum::Json(stored),
    )
        .into_response())
}
