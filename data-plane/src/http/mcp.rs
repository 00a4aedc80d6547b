//! `/mcp`: the tenant's analytics for AI assistants, over the Model Context Protocol's
//! Streamable HTTP transport (the official SDK, `rmcp`).
//!
//! The route sits behind the same layers as every admin route — tenant resolution from the API
//! key, then the admin check — so an MCP request is authenticated exactly as `/v1/admin/…` is,
//! and the SDK hands each tool the request's HTTP parts, where resolution left the
//! [`TenantContext`]. A tool can only reach the caller's tenant. Each tool calls the admin
//! route's own handler and returns its JSON answer as text, so a tool returns the same facts
//! the route does; a refused request (a `4xx`) is a tool error carrying the route's error body.
//!
//! The server keeps no sessions (every POST stands alone, as on Lambda) and answers plain JSON.
//! Its `Host` check is off: it exists to stop DNS rebinding against unauthenticated local
//! servers, and every request here is refused without a tenant's key before it arrives.

use axum::Router;
use axum::http::request::Parts;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::service::RequestContext;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use serde::Serialize;
use service::ApiError;
use service::extract::{ApiPath, ApiQuery};

use super::tenant::TenantContext;
use super::{admin, insights, series};
use crate::state::AppState;

/// Where the route is served.
pub const PATH: &str = "/mcp";

/// The route, to be put behind tenant resolution and the admin check.
pub fn router(state: AppState) -> Router<AppState> {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        .disable_allowed_hosts();
    let service: StreamableHttpService<AnalyticsTools, NeverSessionManager> =
        StreamableHttpService::new(
            move || Ok(AnalyticsTools::new(state.clone())),
            Default::default(),
            config,
        );
    Router::new().route_service(PATH, service)
}

/// The tools, one per analytics read of the admin API.
#[derive(Clone)]
pub struct AnalyticsTools {
    state: AppState,
    #[allow(dead_code)] // read by the `tool_handler` expansion
    tool_router: ToolRouter<Self>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct ContentArgs {
    /// The content item's id, as `list_content` gives it.
    pub content_id: String,
    /// A published version (default: the newest).
    pub version: Option<u32>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct RangeArgs {
    /// First UTC day, YYYY-MM-DD (default: 6 days before `to`).
    pub from: Option<String>,
    /// Last UTC day, YYYY-MM-DD (default: today).
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct SeriesArgs {
    /// The metric subject, as uploaded.
    pub subject: String,
    /// The first period: a day 2026-12-02, a month 2026-12 or a quarter 2026-Q4.
    pub from: String,
    /// The last period (default: the same as `from`).
    pub to: Option<String>,
}

#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub struct PeriodArgs {
    /// The period: a day 2026-12-02, a month 2026-12 or a quarter 2026-Q4.
    pub period: String,
}

/// The caller's tenant, as resolution left it in the request.
fn tenant(context: &RequestContext<RoleServer>) -> Result<TenantContext, ErrorData> {
    context
        .extensions
        .get::<Parts>()
        .and_then(|parts| parts.extensions.get::<TenantContext>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("an MCP request without tenant resolution", None))
}

/// A route's answer as the tool's: its JSON on success; a refusal as a tool error with the
/// route's error body, so the assistant reads what was wrong; a failure as a protocol error.
fn answer<T: Serialize>(
    result: Result<axum::Json<T>, ApiError>,
) -> Result<CallToolResult, ErrorData> {
    match result {
        Ok(axum::Json(value)) => {
            let text = serde_json::to_string(&value).map_err(|e| {
                ErrorData::internal_error(format!("serialising the answer: {e}"), None)
            })?;
            Ok(CallToolResult::success(vec![ContentBlock::text(text)]))
        }
        Err(e) if e.status().is_client_error() => {
            let (code, message, mut details) = e.parts();
            // What the route sends as `Retry-After`, the tool says in its body.
            if let ApiError::TooManyRequests {
                retry_after_secs, ..
            } = &e
            {
                details = Some(serde_json::json!({ "retry_after_secs": retry_after_secs }));
            }
            let body = serde_json::json!({"error": {"code": code, "message": message, "details": details}});
            Ok(CallToolResult::error(vec![ContentBlock::text(
                body.to_string(),
            )]))
        }
        Err(e) => {
            // The route would log the cause when answering; the tool answers here instead.
            tracing::error!(error = %e, "an MCP tool failed");
            let (_, message, _) = e.parts();
            Err(ErrorData::internal_error(message, None))
        }
    }
}

#[tool_router]
impl AnalyticsTools {
    pub fn new(state: AppState) -> Self {
        AnalyticsTools {
            state,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(
        description = "List the tenant's content items (tours, tooltips, modals, …): id, kind, name, status and published version."
    )]
    async fn list_content(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        answer(admin::list_content(tenant(&context)?).await)
    }

    #[tool(
        description = "The funnel of one content item's published version: distinct users per step, drop-off per step and the completion rate, over the version's lifetime."
    )]
    async fn funnel(
        &self,
        Parameters(args): Parameters<ContentArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = admin::VersionQuery {
            version: args.version,
        };
        answer(admin::funnel(tenant(&context)?, ApiPath(args.content_id), ApiQuery(query)).await)
    }

    #[tool(
        description = "Selector health per step of every published content item: users whose target element was missing ÷ users who reached the step."
    )]
    async fn selector_health(
        &self,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        answer(admin::selector_health(tenant(&context)?).await)
    }

    #[tool(description = "Events per type per UTC day over a range of days (at most 92).")]
    async fn overview(
        &self,
        Parameters(args): Parameters<RangeArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = admin::OverviewQuery {
            from: args.from,
            to: args.to,
        };
        answer(admin::overview(tenant(&context)?, ApiQuery(query)).await)
    }

    #[tool(
        description = "The values the tenant uploaded for one business metric (sign-ups, revenue, …) over a range of periods."
    )]
    async fn metric_series(
        &self,
        Parameters(args): Parameters<SeriesArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = series::ValuesQuery {
            subject: args.subject,
            from: args.from,
            to: args.to,
            limit: None,
            after: None,
        };
        answer(series::metric_values(tenant(&context)?, ApiQuery(query)).await)
    }

    #[tool(
        description = "A short written summary of a period's analytics whose every number is one of the returned facts, cited by id; `outcome` says whether the model's text passed that check or the narrator's replaced it."
    )]
    async fn summary(
        &self,
        Parameters(args): Parameters<PeriodArgs>,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        let query = insights::SummaryQuery {
            period: args.period,
        };
        answer(
            insights::insights_summary(
                axum::extract::State(self.state.clone()),
                tenant(&context)?,
                ApiQuery(query),
            )
            .await,
        )
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for AnalyticsTools {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build()).with_instructions(
            "Spotlight analytics of the tenant whose API key made the request: content, \
             funnels, selector health, daily events, business metrics and grounded summaries.",
        )
    }
}
