//! Prometheus metrics every service exposes on `GET /metrics` (text exposition format, through
//! `prometheus-client`): requests by route, method and status, and request latency by route —
//! recorded by one layer ([`track`]) — plus whatever a service registers of its own when it
//! builds its [`Metrics`] (the data plane's resolution cache, events and outbox lag).
//!
//! The route label is the route's pattern (`/v1/admin/content/{content_id}`), never the raw
//! path, and `unmatched` for paths no route serves: the label set stays small whatever the
//! clients send. `/metrics` takes the operator token (`Authorization: Bearer`): its labels name
//! tenants.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::error::ApiError;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
}

/// A service's metrics: its registry, with the HTTP metrics every service has.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RouteLabels, Histogram>,
}

/// The latency histogram's buckets: 100 µs to about 13 s, doubling.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_1, 2.0, 18))
}

impl Metrics {
    /// The registry of service `name` (every metric is prefixed `spotlight_{name}_`), with
    /// the HTTP metrics, and whatever `register` adds.
    pub fn new(name: &str, register: impl FnOnce(&mut Registry)) -> Arc<Metrics> {
        Metrics::with_platform(name, register, |_| {})
    }

    /// [`Metrics::new`], plus metrics that describe the platform rather than one service,
    /// registered by `platform` under the bare `spotlight_` prefix (the SDK's
    /// `spotlight_sdk_errors_total`, whichever service counts it).
    pub fn with_platform(
        name: &str,
        register: impl FnOnce(&mut Registry),
        platform: impl FnOnce(&mut Registry),
    ) -> Arc<Metrics> {
        let mut root = Registry::with_prefix("spotlight");
        platform(&mut root);
        let registry = root.sub_registry_with_prefix(name);
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern, method and status",
            requests.clone(),
        );
        let latency =
            Family::<RouteLabels, Histogram>::new_with_constructor(latency_histogram as fn() -> _);
        registry.register(
            "http_request_duration_seconds",
            "Time from the request's arrival at the router to its answer, by route pattern",
            latency.clone(),
        );
        register(registry);
        Arc::new(Metrics {
            registry: root,
            requests,
            latency,
        })
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    fn record(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.latency
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }
}

/// The layer recording every request's route, method, status and latency. Layered on a
/// router after its routes, so that the route pattern is known.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let response = next.run(request).await;
    metrics.record(
        &route,
        &method,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// `GET /metrics`: the exposition text. The caller checks the operator token first.
pub fn exposition(metrics: &Metrics) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        metrics.render(),
    )
        .into_response()
}

/// The operator token check of `/metrics` ([`crate::auth`]).
pub fn check_operator(headers: &axum::http::HeaderMap, token: &str) -> Result<(), ApiError> {
    if crate::auth::bearer_token(headers).is_some_and(|sent| crate::auth::tokens_match(sent, token))
    {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(
            "/metrics needs the operator token in Authorization: Bearer".to_owned(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_and_latency_are_rendered_by_route_pattern() {
        let metrics = Metrics::new("test", |_| {});
        metrics.record("/v1/things/{id}", "GET", 200, 0.002);
        metrics.record("/v1/things/{id}", "GET", 200, 0.004);
        metrics.record("unmatched", "GET", 404, 0.0001);
        let text = metrics.render();
        assert!(
            text.contains(
                r#"spotlight_test_http_requests_total{route="/v1/things/{id}",method="GET",status="200"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains(
                r#"spotlight_test_http_request_duration_seconds_count{route="/v1/things/{id}"} 2"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"status="404"} 1"#), "{text}");
    }

    #[test]
    fn the_operator_token_is_required() {
        let mut headers = axum::http::HeaderMap::new();
        assert!(check_operator(&headers, "tok").is_err());
        headers.insert(header::AUTHORIZATION, "Bearer nope".parse().unwrap());
        assert!(check_operator(&headers, "tok").is_err());
        headers.insert(header::AUTHORIZATION, "Bearer tok".parse().unwrap());
        assert!(check_operator(&headers, "tok").is_ok());
    }
}
