//! The admin routes: a tenant's content (drafts, publish, archive) and its analytics. Called
//! by the tenant's servers with a secret key, or by the admin console in a browser with a
//! publishable key from an allowed origin *and* a platform admin token of the same tenant
//! ([`require_admin`]).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use service::extract::{ApiJson, ApiPath, ApiQuery};
use service::{ApiError, ErrorCode};
use tenancy::ApiKeyKind;
use tenancy::ports::AdminUser;
use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{content_error, content_not_found};
use super::precondition::if_match;
use super::tenant::TenantContext;
use crate::analytics::{self, DayCounts, Funnel, SelectorHealth};
use crate::content::model::{ContentBody, ContentId, StepId};
use crate::content::store::{ContentStatus, Draft, Published};
use crate::events::audit::{self, AuditQuery, Position};
use crate::events::batch::EventType;
use crate::events::fold::Actor;
use crate::identity::AdminRefusal;
use crate::state::AppState;

/// Longest range the overview covers.
const MAX_OVERVIEW_DAYS: i64 = 92;
/// Longest window the interactions view covers, and the one it covers by default.
const MAX_INTERACTION_DAYS: i64 = 31;
const DEFAULT_INTERACTION_HOURS: i64 = 24;
/// Interactions per page: the default and the most.
const DEFAULT_INTERACTIONS: usize = 100;
const MAX_INTERACTIONS: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_content, create_content))
        .routes(routes!(get_content, update_content))
        .routes(routes!(publish_content))
        .routes(routes!(archive_content))
        .routes(routes!(get_version))
        .routes(routes!(funnel))
        .routes(routes!(selector_health))
        .routes(routes!(overview))
        .routes(routes!(interactions))
        .routes(routes!(admins))
        .merge(super::series::router())
        .merge(super::insights::router())
        .merge(super::chat::router())
        .merge(super::sdk_versions::router())
}

/// The admin routes' layer, after tenant resolution: a secret key is an admin of its tenant;
/// a publishable key needs `Authorization: Bearer` with a platform admin token of the key's
/// tenant whose user the configured strategy accepts ([`crate::identity::admin`]).
pub async fn require_admin(
    State(state): State<AppState>,
    context: TenantContext,
    request: Request,
    next: Next,
) -> Response {
    match admit_admin(&state, &context, request.headers()).await {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

async fn admit_admin(
    state: &AppState,
    context: &TenantContext,
    headers: &HeaderMap,
) -> Result<(), ApiError> {
    if context.tenant.key_kind == ApiKeyKind::Secret {
        return Ok(());
    }
    let refuse = |why: &str| {
        ApiError::Unauthorized(format!(
            "admin routes need a secret API key, or a publishable key with an admin token of \
             its tenant in Authorization: Bearer; {why}"
        ))
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| refuse("this request has no admin token"))?;
    state
        .admin_strategy
        .admit(
            state.backend.identity.as_ref(),
            token.trim(),
            &context.tenant.tenant,
        )
        .await
        .map(|_| ())
        .map_err(|refusal| match refusal {
            AdminRefusal::Unauthenticated(why) => refuse(&why),
            AdminRefusal::NotAnAdmin(why) => ApiError::Forbidden {
                code: ErrorCode::NotAnAdmin,
                message: why,
            },
            AdminRefusal::Backend(e) => ApiError::from(e),
        })
}

/// A content item as the admin API shows it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentItem {
    pub id: ContentId,
    pub status: ContentStatus,
    pub published_version: Option<u32>,
    /// The draft's version: send it back in `If-Match` (also the `ETag`) to change it.
    pub revision: u64,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: String,
    pub body: ContentBody,
}

impl From<&Draft> for ContentItem {
    fn from(draft: &Draft) -> Self {
        ContentItem {
            id: draft.id.clone(),
            status: draft.status,
            published_version: draft.published_version,
            revision: draft.revision,
            updated_at: draft
                .updated_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            body: draft.body.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContentList {
    pub items: Vec<ContentItem>,
}

/// A frozen published version.
#[derive(Debug, Serialize, ToSchema)]
pub struct PublishedVersion {
    pub id: ContentId,
    pub version: u32,
    #[schema(value_type = String, format = DateTime)]
    pub published_at: String,
    pub body: ContentBody,
}

impl From<&Published> for PublishedVersion {
    fn from(p: &Published) -> Self {
        PublishedVersion {
            id: p.id.clone(),
            version: p.version,
            published_at: p
                .published_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            body: p.body.clone(),
        }
    }
}

fn with_etag(status: StatusCode, draft: &Draft) -> Response {
    (
        status,
        [(header::ETAG, super::precondition::etag(draft.revision))],
        axum::Json(ContentItem::from(draft)),
    )
        .into_response()
}

fn content_id(raw: &str) -> Result<ContentId, ApiError> {
    ContentId::parse(raw).map_err(|_| content_not_found(raw))
}

/// Every content item of the tenant, most recently changed first.
#[utoipa::path(get, path = "/v1/admin/content", tag = "admin",
    responses((status = 200, description = "The tenant's content", body = ContentList)))]
pub async fn list_content(context: TenantContext) -> Result<axum::Json<ContentList>, ApiError> {
    let drafts = context
        .tables
        .content()
        .list()
        .await
        .map_err(content_error)?;
    Ok(axum::Json(ContentList {
        items: drafts.iter().map(ContentItem::from).collect(),
    }))
}

/// Creates a draft; its steps get stable ids. Publishing is a separate step.
#[utoipa::path(post, path = "/v1/admin/content", tag = "admin", request_body = ContentBody,
    responses((status = 201, description = "The new draft (its revision in `ETag`)", body = ContentItem)))]
pub async fn create_content(
    State(state): State<AppState>,
    context: TenantContext,
    ApiJson(body): ApiJson<ContentBody>,
) -> Result<Response, ApiError> {
    let draft = context
        .tables
        .content()
        .create(body, OffsetDateTime::now_utc())
        .await
        .map_err(content_error)?;
    // Its domain event waits in the outbox: the processor publishes it now.
    state
        .outbox
        .mark(context.tables.tenant(), context.tables.names());
    Ok(with_etag(StatusCode::CREATED, &draft))
}

#[utoipa::path(get, path = "/v1/admin/content/{content_id}", tag = "admin",
    params(("content_id" = String, Path, description = "The content item")),
    responses(
        (status = 200, description = "The draft (its revision in `ETag`)", body = ContentItem),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
    ))]
pub async fn get_content(
    context: TenantContext,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let id = content_id(&id)?;
    let draft = context
        .tables
        .content()
        .get(&id)
        .await
        .map_err(content_error)?
        .ok_or_else(|| content_not_found(id.as_str()))?;
    Ok(with_etag(StatusCode::OK, &draft))
}

/// Replaces the draft (published versions stay frozen). Needs `If-Match`.
#[utoipa::path(put, path = "/v1/admin/content/{content_id}", tag = "admin",
    params(("content_id" = String, Path, description = "The content item"),
        ("If-Match" = String, Header, pattern = r#"^(W/)?("[0-9]{1,19}"|[0-9]{1,19})$"#, description = "The revision the change was made against, as its `ETag` says (`\"3\"`)")),
    request_body = ContentBody,
    responses(
        (status = 200, description = "The changed draft", body = ContentItem),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
        (status = 409, description = "`content_archived`", body = service::error::ErrorBody),
        (status = 400, description = "`invalid_request`: `If-Match` names no revision", body = service::error::ErrorBody),
        (status = 412, description = "`precondition_failed`: changed since that revision", body = service::error::ErrorBody),
        (status = 428, description = "`precondition_required`: no `If-Match`", body = service::error::ErrorBody),
    ))]
pub async fn update_content(
    context: TenantContext,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<ContentBody>,
) -> Result<Response, ApiError> {
    let id = content_id(&id)?;
    let revision = if_match(&headers)?;
    let draft = context
        .tables
        .content()
        .update(&id, revision, body, OffsetDateTime::now_utc())
        .await
        .map_err(content_error)?;
    Ok(with_etag(StatusCode::OK, &draft))
}

/// Publishes the draft as the next frozen version, if it is valid (else 422 naming every
/// problem). Needs `If-Match`.
#[utoipa::path(post, path = "/v1/admin/content/{content_id}/publish", tag = "admin",
    params(("content_id" = String, Path, description = "The content item"),
        ("If-Match" = String, Header, pattern = r#"^(W/)?("[0-9]{1,19}"|[0-9]{1,19})$"#, description = "The revision being published, as its `ETag` says")),
    responses(
        (status = 200, description = "The published version", body = PublishedVersion),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
        (status = 409, description = "`content_archived`", body = service::error::ErrorBody),
        (status = 400, description = "`invalid_request`: `If-Match` names no revision", body = service::error::ErrorBody),
        (status = 412, description = "`precondition_failed`", body = service::error::ErrorBody),
        (status = 422, description = "`content_invalid`: `details.problems` lists every problem", body = service::error::ErrorBody),
        (status = 428, description = "`precondition_required`", body = service::error::ErrorBody),
    ))]
pub async fn publish_content(
    State(state): State<AppState>,
    context: TenantContext,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<axum::Json<PublishedVersion>, ApiError> {
    let id = content_id(&id)?;
    let revision = if_match(&headers)?;
    let published = context
        .tables
        .content()
        .publish(&id, revision, OffsetDateTime::now_utc())
        .await
        .map_err(content_error)?;
    state.catalogs.forget(context.tables.tenant());
    state
        .outbox
        .mark(context.tables.tenant(), context.tables.names());
    Ok(axum::Json(PublishedVersion::from(&published)))
}

/// Takes the content down (the SDK no longer gets it; its versions stay). Needs `If-Match`.
#[utoipa::path(post, path = "/v1/admin/content/{content_id}/archive", tag = "admin",
    params(("content_id" = String, Path, description = "The content item"),
        ("If-Match" = String, Header, pattern = r#"^(W/)?("[0-9]{1,19}"|[0-9]{1,19})$"#, description = "The revision being archived, as its `ETag` says")),
    responses(
        (status = 200, description = "The archived item", body = ContentItem),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
        (status = 400, description = "`invalid_request`: `If-Match` names no revision", body = service::error::ErrorBody),
        (status = 412, description = "`precondition_failed`", body = service::error::ErrorBody),
        (status = 428, description = "`precondition_required`", body = service::error::ErrorBody),
    ))]
pub async fn archive_content(
    State(state): State<AppState>,
    context: TenantContext,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = content_id(&id)?;
    let revision = if_match(&headers)?;
    let draft = context
        .tables
        .content()
        .archive(&id, revision, OffsetDateTime::now_utc())
        .await
        .map_err(content_error)?;
    state.catalogs.forget(context.tables.tenant());
    state
        .outbox
        .mark(context.tables.tenant(), context.tables.names());
    Ok(with_etag(StatusCode::OK, &draft))
}

/// A frozen published version.
#[utoipa::path(get, path = "/v1/admin/content/{content_id}/versions/{version}", tag = "admin",
    params(("content_id" = String, Path, description = "The content item"),
        ("version" = u32, Path, description = "The published version")),
    responses(
        (status = 200, description = "The version", body = PublishedVersion),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
    ))]
pub async fn get_version(
    context: TenantContext,
    ApiPath((id, version)): ApiPath<(String, u32)>,
) -> Result<axum::Json<PublishedVersion>, ApiError> {
    let id = content_id(&id)?;
    let published = context
        .tables
        .content()
        .version(&id, version)
        .await
        .map_err(content_error)?
        .ok_or_else(|| content_not_found(&format!("{id} version {version}")))?;
    Ok(axum::Json(PublishedVersion::from(&published)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// The published version (default: the newest).
    pub version: Option<u32>,
}

/// The published version `requested` (the newest by default) and its steps in order.
async fn steps_of(
    context: &TenantContext,
    id: &ContentId,
    requested: Option<u32>,
) -> Result<(u32, Vec<StepId>), ApiError> {
    let store = context.tables.content();
    let version = match requested {
        Some(v) => v,
        None => store
            .get(id)
            .await
            .map_err(content_error)?
            .and_then(|d| d.published_version)
            .ok_or_else(|| content_not_found(&format!("{id} (never published)")))?,
    };
    let published = store
        .version(id, version)
        .await
        .map_err(content_error)?
        .ok_or_else(|| content_not_found(&format!("{id} version {version}")))?;
    let steps = published
        .body
        .steps
        .iter()
        .filter_map(|s| s.id.clone())
        .collect();
    Ok((version, steps))
}

/// Users per step of a version, completion rate and drop-off per step (exact distinct
/// users, from the aggregates).
#[utoipa::path(get, path = "/v1/admin/analytics/funnels/{content_id}", tag = "analytics",
    params(("content_id" = String, Path, description = "The content item"), VersionQuery),
    responses(
        (status = 200, description = "The funnel", body = Funnel),
        (status = 404, description = "`content_not_found`", body = service::error::ErrorBody),
    ))]
pub async fn funnel(
    context: TenantContext,
    ApiPath(id): ApiPath<String>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<axum::Json<Funnel>, ApiError> {
    let id = content_id(&id)?;
    let (version, steps) = steps_of(&context, &id, query.version).await?;
    let (items, table) = context.tables.app();
    let rows = analytics::lifetime_rows(items, table, &id, version).await?;
    Ok(axum::Json(analytics::funnel(id, version, &steps, &rows)))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SelectorHealthReport {
    pub steps: Vec<SelectorHealth>,
}

/// Per step of the newest version of every published content item: distinct users whose
/// target was missing ÷ distinct users who reached the step.
#[utoipa::path(get, path = "/v1/admin/analytics/selector-health", tag = "analytics",
    responses((status = 200, description = "Selector health per step", body = SelectorHealthReport)))]
pub async fn selector_health(
    context: TenantContext,
) -> Result<axum::Json<SelectorHealthReport>, ApiError> {
    let drafts = context
        .tables
        .content()
        .list()
        .await
        .map_err(content_error)?;
    let mut report = Vec::new();
    for draft in drafts.iter().filter(|d| d.published_version.is_some()) {
        let (version, steps) = steps_of(&context, &draft.id, draft.published_version).await?;
        let (items, table) = context.tables.app();
        let rows = analytics::lifetime_rows(items, table, &draft.id, version).await?;
        report.extend(analytics::selector_health(
            &draft.id, version, &steps, &rows,
        ));
    }
    Ok(axum::Json(SelectorHealthReport { steps: report }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverviewQuery {
    /// First UTC day, `YYYY-MM-DD` (default: 6 days before `to`).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub from: Option<String>,
    /// Last UTC day, `YYYY-MM-DD` (default: today).
    #[param(pattern = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$")]
    pub to: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Overview {
    pub days: Vec<DayCounts>,
}

fn day(raw: &str, name: &str) -> Result<Date, ApiError> {
    Date::parse(
        raw,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|_| ApiError::bad_request(format!("{name} {raw:?} is not a day (YYYY-MM-DD)")))
}

/// Events per type per UTC day, over at most 92 days.
#[utoipa::path(get, path = "/v1/admin/analytics/overview", tag = "analytics", params(OverviewQuery),
    responses(
        (status = 200, description = "Events per type per day", body = Overview),
        (status = 400, description = "`invalid_request`: a bad day or range", body = service::error::ErrorBody),
    ))]
pub async fn overview(
    context: TenantContext,
    ApiQuery(query): ApiQuery<OverviewQuery>,
) -> Result<axum::Json<Overview>, ApiError> {
    let to = match &query.to {
        Some(raw) => day(raw, "to")?,
        None => OffsetDateTime::now_utc().date(),
    };
    let from = match &query.from {
        Some(raw) => day(raw, "from")?,
        None => to - time::Duration::days(6),
    };
    let span = (to - from).whole_days();
    if !(0..MAX_OVERVIEW_DAYS).contains(&span) {
        return Err(ApiError::bad_request(format!(
            "from must be on or before to, and the range at most {MAX_OVERVIEW_DAYS} days"
        )));
    }
    let (items, table) = context.tables.app();
    let days = analytics::range_counts(items, table, from, to).await?;
    Ok(axum::Json(Overview { days }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InteractionsQuery {
    /// Oldest time, RFC 3339 (default: 24 hours before `to`).
    pub from: Option<String>,
    /// Newest time, RFC 3339 (default: now). At most 31 days after `from`.
    pub to: Option<String>,
    /// Only the events of this content item.
    pub content_id: Option<String>,
    /// Events per page, 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`, to read on from it.
    pub cursor: Option<String>,
}

/// Who an interaction is from.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum InteractionUser {
    /// The end user the tenant's token verified (`sub`).
    User(String),
    /// The browser's anonymous id.
    Anonymous(String),
}

/// One event as the SDK sent it and the data plane accepted it.
#[derive(Debug, Serialize, ToSchema)]
pub struct Interaction {
    #[schema(value_type = String, format = Uuid)]
    pub event_id: uuid::Uuid,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub content_id: ContentId,
    pub content_version: u32,
    pub step_id: Option<StepId>,
    /// When it happened (the event's `ts`, corrected by the batch's `sent_at`).
    #[schema(value_type = String, format = DateTime)]
    pub at: String,
    /// Absent when the event came with neither a user token nor an anonymous id.
    pub user: Option<InteractionUser>,
    #[schema(value_type = Object)]
    pub props: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Interactions {
    /// Newest first.
    pub items: Vec<Interaction>,
    /// Send it back as `cursor` for the next page; absent on the last one. A page can be
    /// shorter than `limit` and still have one (a content filter that matched little).
    pub next_cursor: Option<String>,
}

fn instant(raw: &str, name: &str) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::parse(raw, &Rfc3339).map_err(|_| {
        ApiError::bad_request(format!(
            "{name} {raw:?} is not an RFC 3339 time (e.g. 2026-12-01T09:30:00Z)"
        ))
    })
}

/// The tenant's raw events in a time window, newest first, a page at a time: the audit view.
#[utoipa::path(get, path = "/v1/admin/analytics/interactions", tag = "analytics",
    params(InteractionsQuery),
    responses(
        (status = 200, description = "A page of events, newest first", body = Interactions),
        (status = 400, description = "`invalid_request`: a bad time, window, limit, content id or cursor", body = service::error::ErrorBody),
    ))]
pub async fn interactions(
    context: TenantContext,
    ApiQuery(query): ApiQuery<InteractionsQuery>,
) -> Result<axum::Json<Interactions>, ApiError> {
    let to = match &query.to {
        Some(raw) => instant(raw, "to")?,
        None => OffsetDateTime::now_utc(),
    };
    let from = match &query.from {
        Some(raw) => instant(raw, "from")?,
        None => to - time::Duration::hours(DEFAULT_INTERACTION_HOURS),
    };
    if from > to || to - from > time::Duration::days(MAX_INTERACTION_DAYS) {
        return Err(ApiError::bad_request(format!(
            "from must be at or before to, and the window at most {MAX_INTERACTION_DAYS} days"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_INTERACTIONS);
    if !(1..=MAX_INTERACTIONS).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit must be 1 to {MAX_INTERACTIONS}; got {limit}"
        )));
    }
    let content = match &query.content_id {
        Some(raw) => Some(ContentId::parse(raw).map_err(|e| {
            ApiError::bad_request(format!("content_id {raw:?} is not a content id: {e}"))
        })?),
        None => None,
    };
    let before = match &query.cursor {
        Some(raw) => {
            let position = Position::from_cursor(raw).map_err(ApiError::bad_request)?;
            if position.at() < from || position.at() > to {
                return Err(ApiError::bad_request(
                    "the cursor is outside the from..to window it is used with; send the \
                     window of the page that returned it",
                ));
            }
            Some(position)
        }
        None => None,
    };
    let (items, table) = context.tables.events();
    let page = audit::page(
        items,
        table,
        &AuditQuery {
            from,
            to,
            content,
            limit,
            before,
        },
    )
    .await
    .map_err(|e| match e.kind() {
        // A stored row that does not read back is this server's fault, not the request's.
        tenancy::ErrorKind::Invalid => ApiError::Internal(e.message().to_owned()),
        _ => ApiError::from(e),
    })?;
    Ok(axum::Json(Interactions {
        items: page
            .events
            .into_iter()
            .map(|(event, actor)| Interaction {
                event_id: event.event_id,
                kind: event.kind,
                content_id: event.content_id,
                content_version: event.content_version,
                step_id: event.step_id,
                at: event.at.format(&Rfc3339).unwrap_or_default(),
                user: actor.map(|actor| match actor {
                    Actor::User(id) => InteractionUser::User(id),
                    Actor::Anonymous(id) => InteractionUser::Anonymous(id),
                }),
                props: event.props,
            })
            .collect(),
        next_cursor: page.next.map(|p| p.cursor()),
    }))
}

/// An admin of the tenant, as the identity provider lists them.
#[derive(Debug, Serialize, ToSchema)]
pub struct AdminSummary {
    pub id: String,
    pub email: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct AdminList {
    pub admins: Vec<AdminSummary>,
}

/// The tenant's admins, read-only (invites and removals are the control plane's).
#[utoipa::path(get, path = "/v1/admin/users", tag = "admin",
    responses((status = 200, description = "The tenant's admins", body = AdminList)))]
pub async fn admins(
    State(state): State<AppState>,
    context: TenantContext,
) -> Result<axum::Json<AdminList>, ApiError> {
    let admins: Vec<AdminUser> = state
        .backend
        .identity
        .list_admins(context.tables.tenant())
        .await?;
    Ok(axum::Json(AdminList {
        admins: admins
            .into_iter()
            .map(|a| AdminSummary {
                id: a.id.as_str().to_owned(),
                email: a.email.as_str().to_owned(),
            })
            .collect(),
    }))
}
