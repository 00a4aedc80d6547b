//! `POST /v1/admin/metrics` (upload a tenant's business metrics, CSV or JSON, all or nothing)
//! and `GET /v1/admin/metrics` (a subject's values over a range of periods). Admin routes:
//! behind the same admin check as the rest of `/v1/admin`.

use axum::body::Bytes;
use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};
use serde_json::json;
use service::extract::ApiQuery;
use service::{ApiError, ErrorCode};
use time::OffsetDateTime;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::tenant::{TenantContext, media_type};
use crate::series::period::Period;
use crate::series::store::{self, SeriesPage};
use crate::series::upload::{self, Format, MAX_SUBJECT_CHARS, RowProblem, UploadError};
use crate::state::AppState;

/// Values per page: the default and the most.
const DEFAULT_VALUES: usize = 500;
const MAX_VALUES: usize = 1000;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload_metrics, metric_values))
}

/// What an accepted upload stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct UploadOutcome {
    /// Rows stored (each new, or replacing the stored value of its subject and period).
    pub written: usize,
}

/// The rows of a JSON upload (also accepted as a bare array).
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the JSON body; `upload` reads it field by field.
pub struct MetricUpload {
    pub rows: Vec<MetricUploadRow>,
}

/// One row of an upload.
#[derive(Debug, Deserialize, ToSchema)]
#[allow(dead_code)] // documents the JSON body; `upload` reads it field by field.
pub struct MetricUploadRow {
    /// What is measured (1–128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub subject: String,
    /// A day `2026-12-02`, a month `2026-12` or a quarter `2026-Q4`.
    #[schema(pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub period: String,
    pub value: f64,
    #[schema(min_length = 1, max_length = 32)]
    pub unit: Option<String>,
    pub dimensions: Option<std::collections::BTreeMap<String, String>>,
}

/// Uploads metric values: CSV (`text/csv`, a header naming `subject`, `period`, `value` and
/// optionally `unit` and `dimensions` — a JSON object) or JSON (`application/json`, an array
/// of rows or `{"rows": [...]}`). The whole file is checked first: one bad row and nothing is
/// stored, and the `422` lists every bad row. A good file is stored whole, in one
/// transaction; a row for a subject and period already stored replaces it.
#[utoipa::path(post, path = "/v1/admin/metrics", tag = "series",
    request_body(content(
        (String = "text/csv"),
        (MetricUpload = "application/json"),
    )),
    responses(
        (status = 200, description = "Every row stored", body = UploadOutcome),
        (status = 400, description = "`invalid_request`: not UTF-8, not JSON, or not rows", body = service::error::ErrorBody),
        (status = 413, description = "`payload_too_large`: over 256 KiB or 100 rows", body = service::error::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: neither text/csv nor JSON", body = service::error::ErrorBody),
        (status = 422, description = "`metrics_invalid`: `details.problems` lists every bad row (row, line, column, message)", body = service::error::ErrorBody),
    ))]
pub async fn upload_metrics(
    context: TenantContext,
    headers: HeaderMap,
    body: Bytes,
) -> Result<axum::Json<UploadOutcome>, ApiError> {
    let format = match media_type(&headers).as_deref() {
        Some("text/csv") => Format::Csv,
        Some("application/json") => Format::Json,
        _ => {
            return Err(ApiError::UnsupportedMediaType(
                "send metrics as text/csv or application/json".to_owned(),
            ));
        }
    };
    let rows = upload::parse(format, &body).map_err(upload_error)?;
    let (items, table) = context.tables.app();
    let written = store::write(items, table, &rows, OffsetDateTime::now_utc()).await?;
    Ok(axum::Json(UploadOutcome { written }))
}

fn upload_error(e: UploadError) -> ApiError {
    match e {
        UploadError::TooLarge(why) => ApiError::PayloadTooLarge(why),
        UploadError::Unreadable(why) => ApiError::bad_request(why),
        UploadError::Rows(problems) => rows_invalid(problems),
    }
}

fn rows_invalid(problems: Vec<RowProblem>) -> ApiError {
    ApiError::Unprocessable {
        code: ErrorCode::MetricsInvalid,
        message: format!(
            "nothing was stored: {} problem(s) in the upload; see details.problems",
            problems.len()
        ),
        details: Some(json!({ "problems": problems })),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ValuesQuery {
    /// The subject whose values to read.
    #[param(min_length = 1, max_length = 128)]
    pub subject: String,
    /// The first period (a day, month or quarter); values of periods starting on or after its
    /// first day.
    #[param(pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub from: String,
    /// The last period; values of periods starting on or before its last day (default: the
    /// same as `from`).
    #[param(pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub to: Option<String>,
    /// Values per page, 1–1000 (default 500).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The previous page's `next`, to read on after it.
    #[param(pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub after: Option<String>,
}

/// A subject's values for the periods starting within `from`..`to`, in order of their first
/// day.
#[utoipa::path(get, path = "/v1/admin/metrics", tag = "series",
    params(ValuesQuery),
    responses(
        (status = 200, description = "The subject's values", body = SeriesPage),
        (status = 400, description = "`invalid_request`: a malformed period, a range that ends before it starts, a bad limit", body = service::error::ErrorBody),
    ))]
pub async fn metric_values(
    context: TenantContext,
    ApiQuery(query): ApiQuery<ValuesQuery>,
) -> Result<axum::Json<SeriesPage>, ApiError> {
    let subject_chars = query.subject.chars().count();
    if subject_chars == 0 || subject_chars > MAX_SUBJECT_CHARS {
        return Err(ApiError::bad_request(format!(
            "subject is 1-{MAX_SUBJECT_CHARS} characters"
        )));
    }
    let period = |name: &str, raw: &str| {
        Period::parse(raw).map_err(|why| ApiError::bad_request(format!("{name}: {why}")))
    };
    let from = period("from", &query.from)?;
    let to = match &query.to {
        Some(raw) => period("to", raw)?,
        None => from,
    };
    if to.last_day() < from.first_day() {
        return Err(ApiError::bad_request(format!(
            "the range ends ({to}) before it starts ({from})"
        )));
    }
    let after = query
        .after
        .as_deref()
        .map(|a| period("after", a))
        .transpose()?;
    if let Some(after) = after
        && !(from.first_day()..=to.last_day()).contains(&after.first_day())
    {
        return Err(ApiError::bad_request(format!(
            "after ({after}) is not a period of the range {from}..{to}: send the `next` of a \
             page of this range"
        )));
    }
    let limit = query.limit.unwrap_or(DEFAULT_VALUES);
    if !(1..=MAX_VALUES).contains(&limit) {
        return Err(ApiError::bad_request(format!(
            "limit is 1-{MAX_VALUES}; got {limit}"
        )));
    }
    let (items, table) = context.tables.app();
    let page = store::read(
        items,
        table,
        &query.subject,
        (&from, &to),
        after.as_ref(),
        limit,
    )
    .await?;
    Ok(axum::Json(page))
}
