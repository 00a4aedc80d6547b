//! CORS, never with `*`: an answer carries `Access-Control-Allow-Origin` only for an origin
//! that is allowed, echoed exactly, and every answer says `Vary: Origin` so a shared cache
//! never hands one origin's answer to another.
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) carries no API key — browsers
//! send no custom header on it — so it cannot be checked against one tenant. It is answered
//! for an origin that some serving tenant allows ([`OriginDirectory`], read from the registry
//! every `SPOTLIGHT_ORIGIN_REFRESH_SECS`), and refused (403, no allow header) for any other:
//! a foreign, `null` or look-alike origin learns nothing. The request that follows is then
//! checked against its own tenant's list (`super::tenant`), so an origin allowed by tenant A
//! still cannot use tenant B's key.

use std::collections::HashSet;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use service::{ApiError, ErrorCode};
use tenancy::ports::{Registry, TenantFilter};
use tenancy::{Origin, TenantStatus};

use super::tenant::origin_value;
use crate::state::AppState;

/// Request headers the SDK and the admin console send.
const ALLOWED_HEADERS: &str = "content-type, x-api-key, x-user-token, authorization, if-match, \
                               if-none-match, x-spotlight-bundle-version, x-spotlight-sdk-version";
const ALLOWED_METHODS: &str = "GET, POST, PUT, DELETE";
/// Response headers a browser script may read.
const EXPOSED_HEADERS: &str = "etag, retry-after";
/// How long a browser may reuse a preflight answer.
const PREFLIGHT_MAX_AGE_SECS: &str = "600";

/// Every origin some serving tenant allows.
#[derive(Default)]
pub struct OriginDirectory {
    origins: RwLock<HashSet<String>>,
    /// When the last refresh that succeeded began; `None` before the first.
    refreshed_at: Mutex<Option<Instant>>,
}

impl OriginDirectory {
    pub fn allows(&self, origin: &str) -> bool {
        self.origins
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains(origin)
    }

    /// Whether the origins were last read from the registry more than `max_age` ago, or
    /// never.
    pub fn older_than(&self, max_age: Duration) -> bool {
        self.refreshed_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .is_none_or(|at| at.elapsed() > max_age)
    }

    /// Reads every tenant's allowed origins from the registry again; says how many.
    pub async fn refresh(&self, registry: &dyn Registry) -> tenancy::Result<usize> {
        let started = Instant::now();
        let mut origins = HashSet::new();
        let mut filter = TenantFilter {
            limit: tenancy::ports::registry::MAX_LIMIT,
            ..TenantFilter::default()
        };
        loop {
            let page = registry.list_tenants(&filter).await?;
            for tenant in &page.tenants {
                if serves(tenant.status) {
                    origins.extend(tenant.allowed_origins.iter().map(|o| o.as_str().to_owned()));
                }
            }
            match page.next {
                Some(next) => filter.after = Some(next),
                None => break,
            }
        }
        let count = origins.len();
        *self.origins.write().unwrap_or_else(|e| e.into_inner()) = origins;
        *self.refreshed_at.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        Ok(count)
    }
}

fn serves(status: TenantStatus) -> bool {
    matches!(status, TenantStatus::Active | TenantStatus::Upgrading)
}

/// The layer of the `/v1` routes that answers preflights; every other request passes on.
pub async fn preflight(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !is_preflight(&request) {
        return next.run(request).await;
    }
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .filter(|o| state.origins.allows(o))
        .and_then(|o| Origin::parse(o).ok());
    let Some(origin) = origin else {
        return vary(
            ApiError::Forbidden {
                code: ErrorCode::OriginNotAllowed,
                message: "this origin is not allowed by any tenant".to_owned(),
            }
            .into_response(),
        );
    };
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    allow(headers, &origin);
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(ALLOWED_METHODS),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static(ALLOWED_HEADERS),
    );
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static(PREFLIGHT_MAX_AGE_SECS),
    );
    vary(response)
}

/// Whether `request` is a CORS preflight: the only requests the [`OriginDirectory`] answers.
pub fn is_preflight<B>(request: &axum::http::Request<B>) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// Lets `origin` read the answer.
pub fn allow(headers: &mut HeaderMap, origin: &Origin) {
    if let Some(value) = origin_value(origin) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, value);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(EXPOSED_HEADERS),
        );
    }
}

/// Marks the answer as depending on `Origin`.
pub fn vary(mut response: Response) -> Response {
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    response
}
