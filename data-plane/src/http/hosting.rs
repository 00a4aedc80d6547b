//! The browser SDK's files, as a CDN would serve them (and does, in front of this in
//! production): `/sdk/v{semver}/{file}` immutable for a year, `/sdk/latest/{file}` and
//! `/sdk/manifest.json` for a minute with five more of stale-while-revalidate, each with an
//! `ETag` and its `Content-Type`. A version that was never built is a `404`, never a fallback
//! to another.
//!
//! The files are public, so they answer `Access-Control-Allow-Origin: *` (the API's routes
//! never do): a tenant page loading the SDK with `integrity` and `crossorigin` needs it for
//! the browser to check the hash.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use service::extract::ApiPath;
use service::{ApiError, ErrorCode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::hosting::dist::{Channel, Missing, Served};
use crate::state::AppState;

/// A pinned version's bytes never change.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// `latest` and the manifest move with each release: browsers and CDNs check back within a
/// minute, and may serve the old copy while they do for five more.
const SHORT: &str = "public, max-age=60, stale-while-revalidate=300";

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(manifest))
        .routes(routes!(file))
}

/// The built versions: `latest`, `built_at`, and per version its files with their SRI
/// `integrity` (`sha384-…`) and size.
#[utoipa::path(get, path = "/sdk/manifest.json", tag = "hosting", security(()),
    responses(
        (status = 200, description = "The manifest (`Cache-Control: public, max-age=60, stale-while-revalidate=300`)", content_type = "application/json", body = Object),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`"),
        (status = 404, description = "`sdk_not_found`: no SDK was built here", body = service::error::ErrorBody),
    ))]
pub async fn manifest(State(state): State<AppState>, headers: HeaderMap) -> Response {
    answer(state.sdk_dist.manifest_file(), SHORT, &headers)
}

/// A file of one version (`v1.0.0`: immutable) or of `latest`.
#[utoipa::path(get, path = "/sdk/{channel}/{file}", tag = "hosting", security(()),
    params(
        ("channel" = String, Path, description = "`v{semver}` (`v1.0.0`) or `latest`"),
        ("file" = String, Path, description = "`spotlight.min.js` or `admin.min.js`"),
    ),
    responses(
        (status = 200, description = "The file (`Cache-Control` immutable for a pinned version, a minute for `latest`)", content_type = "text/javascript", body = String),
        (status = 304, description = "Unchanged since the `ETag` in `If-None-Match`"),
        (status = 404, description = "`sdk_not_found`: no such version (never a fallback to another) or file", body = service::error::ErrorBody),
    ))]
pub async fn file(
    State(state): State<AppState>,
    ApiPath((channel, name)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let Some(parsed) = Channel::parse(&channel) else {
        return not_found(format!(
            "{channel:?} names no SDK version: use v{{semver}} (v1.0.0) or latest"
        ));
    };
    let cache = match parsed {
        Channel::Pinned(_) => IMMUTABLE,
        Channel::Latest => SHORT,
    };
    answer(state.sdk_dist.file(&parsed, &name), cache, &headers)
}

fn not_found(message: String) -> Response {
    ApiError::NotFound {
        code: ErrorCode::SdkNotFound,
        message,
    }
    .into_response()
}

fn answer(found: Result<Served, Missing>, cache: &'static str, headers: &HeaderMap) -> Response {
    let served = match found {
        Ok(served) => served,
        Err(e) if e.is_server_fault() => {
            tracing::error!(error = %e, "an SDK file is not served");
            return ApiError::Internal(
                "this SDK file does not match its manifest and is not served".into(),
            )
            .into_response();
        }
        Err(e) => return not_found(e.to_string()),
    };
    let etag = HeaderValue::from_str(&served.etag).unwrap_or(HeaderValue::from_static("\"\""));
    let common = [
        (header::ETAG, etag),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ),
    ];
    if super::sdk::if_none_match(headers, &common[0].1) {
        return (StatusCode::NOT_MODIFIED, common).into_response();
    }
    (
        common,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(served.content_type),
        )],
        served.bytes,
    )
        .into_response()
}
