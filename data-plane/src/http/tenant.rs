//! Tenant resolution as a route layer: every `/v1` request is resolved to one tenant from its
//! API key alone, before its handler runs, and the handler is handed a [`TenantContext`]
//! whose tables are that tenant's. Nothing the request names (a path, a query, a body field)
//! can choose the tenant.
//!
//! The key comes from `X-Api-Key`, never from the query string (which ends up in logs and
//! referrers). Only the beacon route ([`beacon`]) also reads it from a `text/plain` body's
//! `api_key` field, as `navigator.sendBeacon` cannot set headers; the header wins.
//!
//! Then: the origin check (a publishable key only from an allowed origin; a secret key only
//! without one), the tenant's rate, and the handler. The CORS allow header is added to the
//! handler's answer only for an allowed origin; a refused request never gets one.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use serde::Deserialize;
use service::ApiError;
use tenancy::Origin;
use time::OffsetDateTime;
use tracing::Instrument;

use super::cors;
use crate::events::batch::MAX_BATCH_BYTES;
use crate::identity::end_user::EndUser;
use crate::resolve::origin;
use crate::resolve::tenant::ResolvedTenant;
use crate::state::{AppState, TenantTables};

/// The header the API key is sent in.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The header an end user's token is sent in (a JWT signed by the tenant's backend).
pub const USER_TOKEN_HEADER: &str = "x-user-token";

/// What a handler of a tenant route knows about its caller.
#[derive(Clone)]
pub struct TenantContext {
    pub tenant: Arc<ResolvedTenant>,
    /// The tenant's tables: the only ones the handler can reach.
    pub tables: TenantTables,
    /// The allowed browser origin the request came from; `None` for a server caller.
    pub origin: Option<Origin>,
    /// The end user's token as sent, verified by the routes that read the user.
    pub user_token: Option<String>,
}

impl TenantContext {
    /// The request's end user: `None` without a token (an anonymous visitor); the user whose
    /// token the tenant's registered keys verify; else `401` saying why (`503` when the
    /// tenant's keys cannot be fetched). A token for a tenant that registered no keys is
    /// refused, never trusted.
    pub async fn end_user(&self, state: &AppState) -> Result<Option<EndUser>, ApiError> {
        let Some(token) = &self.user_token else {
            return Ok(None);
        };
        let Some(identity) = &self.tenant.identity else {
            return Err(ApiError::Unauthorized(
                "end-user token refused: this tenant has registered no identity keys \
                 (PUT /tenants/{id}/identity on the control plane)"
                    .to_owned(),
            ));
        };
        match state
            .verifier
            .verify(identity, token, OffsetDateTime::now_utc())
            .await
        {
            Ok(user) => Ok(Some(user)),
            Err(refusal) if refusal.is_unavailable() => {
                tracing::warn!(tenant_id = %self.tenant.tenant, reason = refusal.message(), "end-user keys unavailable");
                Err(ApiError::Unavailable(
                    "the tenant's end-user keys cannot be fetched right now; retry shortly".into(),
                ))
            }
            Err(refusal) => Err(ApiError::Unauthorized(refusal.message().to_owned())),
        }
    }

    /// [`Self::end_user`], required: `401` without a token.
    pub async fn required_end_user(&self, state: &AppState) -> Result<EndUser, ApiError> {
        self.end_user(state).await?.ok_or_else(|| {
            ApiError::Unauthorized(format!(
                "this route needs the end user's token in {USER_TOKEN_HEADER}; anonymous \
                 visitors have no stored progress"
            ))
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TenantContext {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<TenantContext>()
            .cloned()
            .ok_or_else(|| ApiError::Internal("a tenant route without tenant resolution".into()))
    }
}

/// The layer of every tenant route but the beacon: the key from `X-Api-Key` only.
pub async fn resolve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = header_text(request.headers(), API_KEY_HEADER);
    let user_token = header_text(request.headers(), USER_TOKEN_HEADER);
    admit(&state, request, key, user_token, next).await
}

/// What a beacon body may carry besides its events.
#[derive(Deserialize)]
struct BeaconCredentials {
    #[serde(default)]
    api_key: Option<String>,
    #[serde(default)]
    user_token: Option<String>,
    #[serde(default)]
    bundle_version: Option<String>,
    #[serde(default)]
    sdk_version: Option<String>,
}

/// The layer of `POST /v1/sdk/events`: the key from `X-Api-Key`, or, for a `text/plain` body
/// without the header (a beacon), from the body's `api_key` field. The body is read once
/// here, within the batch limit, and handed on unchanged.
pub async fn beacon(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let key = header_text(request.headers(), API_KEY_HEADER);
    let user_token = header_text(request.headers(), USER_TOKEN_HEADER);
    if key.is_some() || !is_text_plain(request.headers()) {
        return admit(&state, request, key, user_token, next).await;
    }
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, MAX_BATCH_BYTES).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return cors::vary(
                ApiError::PayloadTooLarge(format!(
                    "an event batch is at most {MAX_BATCH_BYTES} bytes"
                ))
                .into_response(),
            );
        }
    };
    let credentials = serde_json::from_slice::<BeaconCredentials>(&bytes).ok();
    let (key, body_token, versions) = credentials.map_or((None, None, None), |c| {
        let versions = super::telemetry::BeaconVersions {
            bundle: c.bundle_version,
            embed: c.sdk_version,
        };
        (c.api_key, c.user_token, Some(versions))
    });
    let mut request = Request::from_parts(parts, axum::body::Body::from(bytes));
    if let Some(versions) = versions {
        request.extensions_mut().insert(versions);
    }
    admit(&state, request, key, user_token.or(body_token), next).await
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

pub(crate) fn is_text_plain(headers: &HeaderMap) -> bool {
    media_type(headers).as_deref() == Some("text/plain")
}

/// The request's media type, lowercase and without parameters (`text/csv; charset=utf-8` is
/// `text/csv`).
pub(crate) fn media_type(headers: &HeaderMap) -> Option<String> {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
}

async fn admit(
    state: &AppState,
    mut request: Request,
    key: Option<String>,
    user_token: Option<String>,
    next: Next,
) -> Response {
    let sent_origin = request.headers().get(header::ORIGIN).map(|v| {
        // A header that is not text cannot equal an allowed origin; keep it refusable.
        v.to_str().unwrap_or("\u{fffd}").to_owned()
    });
    let context = match context(state, key, sent_origin.as_deref(), user_token).await {
        Ok(context) => context,
        Err(e) => return cors::vary(e.into_response()),
    };
    let allow = context.origin.clone();
    let tenant = context.tenant.tenant.clone();
    let mut response = match state.limiter.check_key(&tenant) {
        Ok(()) => {
            request.extensions_mut().insert(context);
            let span = tracing::info_span!("tenant", tenant_id = %tenant);
            next.run(request).instrument(span).await
        }
        Err(not_until) => {
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            ApiError::TooManyRequests {
                message: format!("tenant {tenant} is over its request rate; retry shortly"),
                retry_after_secs: wait.as_secs_f64().ceil() as u64,
            }
            .into_response()
        }
    };
    if let Some(origin) = allow {
        cors::allow(response.headers_mut(), &origin);
    }
    cors::vary(response)
}

async fn context(
    state: &AppState,
    key: Option<String>,
    sent_origin: Option<&str>,
    user_token: Option<String>,
) -> Result<TenantContext, ApiError> {
    let key = key.ok_or_else(|| {
        ApiError::Unauthorized("no API key: send the tenant's API key in X-Api-Key".to_owned())
    })?;
    let tenant = state
        .resolver
        .resolve(&key, OffsetDateTime::now_utc(), Instant::now())
        .await?;
    let origin = origin::check(tenant.key_kind, sent_origin, &tenant.allowed_origins)?;
    let tables = TenantTables::new(
        tenant.tenant.clone(),
        state.backend.items.clone(),
        &tenant.resources,
    );
    Ok(TenantContext {
        tenant,
        tables,
        origin,
        user_token,
    })
}

/// `HeaderValue` of an origin that is known to be valid header text.
pub(crate) fn origin_value(origin: &Origin) -> Option<HeaderValue> {
    HeaderValue::from_str(origin.as_str()).ok()
}
