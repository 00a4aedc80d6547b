//! `GET /tenants/{id}/usage`: the tenant's model usage — calls, tokens and estimated cost per
//! UTC day and model — as the data plane records it in the registry for every summary and
//! chat answer a model wrote.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use tenancy::ports::{UsageDay, UsageDelta, total_usage};
use time::{Date, OffsetDateTime};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::{ApiQuery, TenantPath};
use crate::routes::tenants::{TenantIdParam, tenant_port_error};
use crate::state::AppState;

/// Days one request may cover.
pub const MAX_DAYS: i64 = 366;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_usage))
}

/// `GET /tenants/{id}/usage` query.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageParams {
    /// First day, `YYYY-MM-DD` (UTC; default: the first of `to`'s month).
    #[param(format = Date)]
    pub from: Option<String>,
    /// Last day, `YYYY-MM-DD` (default: today); the range holds at most 366 days, both ends
    /// counted.
    #[param(format = Date)]
    pub to: Option<String>,
}

/// Usage summed over some calls.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageTotals {
    pub calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// Estimated at the data plane's configured price of each model, in US dollars.
    pub cost_usd: f64,
}

impl From<UsageDelta> for UsageTotals {
    fn from(u: UsageDelta) -> Self {
        UsageTotals {
            calls: u.calls,
            input_tokens: u.input_tokens,
            output_tokens: u.output_tokens,
            cost_usd: u.cost_nano_usd as f64 / 1e9,
        }
    }
}

/// One day's usage of one model.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageDayView {
    #[schema(value_type = String, format = Date)]
    pub day: String,
    pub model: String,
    #[serde(flatten)]
    pub usage: UsageTotals,
}

impl From<UsageDay> for UsageDayView {
    fn from(d: UsageDay) -> Self {
        UsageDayView {
            day: d.day.to_string(),
            model: d.model,
            usage: d.usage.into(),
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct UsageReport {
    pub tenant_id: String,
    #[schema(value_type = String, format = Date)]
    pub from: String,
    #[schema(value_type = String, format = Date)]
    pub to: String,
    /// By day, then model; days without model calls are absent.
    pub days: Vec<UsageDayView>,
    pub total: UsageTotals,
}

fn day(field: &str, raw: &str) -> ApiResult<Date> {
    Date::parse(raw, tenancy::ports::registry::USAGE_DAY).map_err(|e| ApiError::BadRequest {
        code: crate::error::ErrorCode::InvalidRequest,
        message: format!("{field}: {raw:?} is not a day (YYYY-MM-DD): {e}"),
        details: Some(serde_json::json!({ "field": field })),
    })
}

/// The tenant's model usage over `from..=to`: per day and model, and in total.
#[utoipa::path(get, path = "/tenants/{id}/usage", tag = "tenants", params(TenantIdParam, UsageParams),
    responses(
        (status = 200, description = "The tenant's model usage", body = UsageReport),
        (status = 400, description = "`invalid_request`: invalid tenant id, a day that is not `YYYY-MM-DD`, `from` after `to`, or more than 366 days", body = ErrorBody),
        (status = 404, description = "`tenant_not_found`", body = ErrorBody),
    ))]
pub async fn get_usage(
    State(state): State<AppState>,
    TenantPath(id): TenantPath,
    ApiQuery(params): ApiQuery<UsageParams>,
) -> ApiResult<Json<UsageReport>> {
    let today = OffsetDateTime::now_utc().date();
    let to = match &params.to {
        Some(raw) => day("to", raw)?,
        None => today,
    };
    let from = match &params.from {
        Some(raw) => day("from", raw)?,
        None => to.replace_day(1).unwrap_or(to),
    };
    if from > to {
        return Err(ApiError::bad_request(format!(
            "from ({from}) is after to ({to})"
        )));
    }
    if (to - from).whole_days() >= MAX_DAYS {
        return Err(ApiError::bad_request(format!(
            "from {from} to {to} is more than {MAX_DAYS} days, both ends counted; ask for a \
             shorter range"
        )));
    }
    let registry = state.registry();
    registry
        .get_tenant(&id)
        .await
        .map_err(|e| tenant_port_error(&id, e))?;
    let days = registry
        .usage(&id, from, to)
        .await
        .map_err(|e| tenant_port_error(&id, e))?;
    let total = total_usage(&days).into();
    Ok(Json(UsageReport {
        tenant_id: id.as_str().to_owned(),
        from: from.to_string(),
        to: to.to_string(),
        days: days.into_iter().map(UsageDayView::from).collect(),
        total,
    }))
}
