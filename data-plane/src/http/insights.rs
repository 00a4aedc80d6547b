//! `GET /v1/admin/insights/summary`: a written summary of a period's analytics whose every
//! number is a fact of the tenant's fact sheet (see `crate::insights`).

use axum::extract::State;
use serde::Deserialize;
use service::ApiError;
use service::extract::ApiQuery;
use time::OffsetDateTime;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::content_error;
use super::tenant::TenantContext;
use crate::insights::summary::{self, Answer};
use crate::insights::{ask, cache, sheet};
use crate::series::period::Period;
use crate::state::AppState;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(insights_summary))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryQuery {
    /// The period to summarise: a day `2026-12-02`, a month `2026-12` or a quarter `2026-Q4`.
    #[param(pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub period: String,
}

/// A short written summary of the period: events per type and their change against the
/// period before, and the most used content's users, completion and selector health. Every
/// number is one of `facts`, cited by id; `outcome` says whether the model's first answer
/// passed that check, a second one did, or the narrator's text replaced them. Asked again
/// while the facts are unchanged, the answer kept from the first time is served (`cached`)
/// and no model is called.
#[utoipa::path(get, path = "/v1/admin/insights/summary", tag = "insights",
    params(SummaryQuery),
    responses(
        (status = 200, description = "The summary and the facts it was written from", body = Answer),
        (status = 400, description = "`invalid_request`: not a period", body = service::error::ErrorBody),
    ))]
pub async fn insights_summary(
    State(state): State<AppState>,
    context: TenantContext,
    ApiQuery(query): ApiQuery<SummaryQuery>,
) -> Result<axum::Json<Answer>, ApiError> {
    let period = Period::parse(&query.period)
        .map_err(|why| ApiError::bad_request(format!("period: {why}")))?;
    let drafts = context
        .tables
        .content()
        .list()
        .await
        .map_err(content_error)?;
    let facts = sheet::build(&context.tables, &drafts, &period).await?;
    let (items, table) = context.tables.app();
    let model = state.llm.model().to_owned();
    if let Some(mut kept) = cache::get(items, table, &facts, &model).await? {
        kept.cached = true;
        kept.model_calls = 0;
        kept.input_tokens = 0;
        kept.output_tokens = 0;
        kept.cost_usd = 0.0;
        return Ok(axum::Json(kept));
    }
    let written = ask::write(
        &state,
        &context,
        summary::system_prompt(&facts),
        vec![summary::summary_question(&facts)],
        facts.clone(),
    )
    .await?;
    // The answer is written and paid for: a failure to keep it is logged, not sent.
    if written.keepable()
        && let Err(e) = cache::put(
            items,
            table,
            &facts,
            &model,
            &written,
            OffsetDateTime::now_utc(),
        )
        .await
    {
        tracing::warn!(error = %e, "a summary could not be kept; the next request writes it again");
    }
    Ok(axum::Json(written))
}
