//! The data plane's own metrics, beside the HTTP metrics every service has
//! (`service::metrics`): tenant resolution by cache outcome, events by tenant and outcome, and
//! the outbox processor's work (records folded, domain events published) and lag.

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

/// How a key was resolved.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Lookup {
    /// Found in the cache.
    hit,
    /// A key the cache remembered as unknown.
    unknown_hit,
    /// Looked up in the registry.
    miss,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LookupLabels {
    pub result: Lookup,
}

/// What became of an event.
#[derive(Debug, Clone, Copy, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)]
pub enum Outcome {
    accepted,
    duplicate,
    rejected,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EventLabels {
    pub tenant: String,
    pub outcome: Outcome,
}

/// A bundle version seen on a tenant's pages (both values checked: a tenant the request
/// resolved to, a version the manifest lists or `unknown`).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct BundleLabels {
    pub tenant_id: String,
    pub version: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SdkErrorLabels {
    pub kind: crate::hosting::SdkErrorKind,
}

/// What the browser SDK reports about itself, under the bare `spotlight_` prefix (they
/// describe the SDK, not the service that happens to count them).
#[derive(Clone, Default)]
pub struct SdkMetrics {
    pub bundle_seen: Family<BundleLabels, Counter>,
    pub errors: Family<SdkErrorLabels, Counter>,
}

impl SdkMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "sdk_bundle_version_seen",
            "SDK requests by tenant and the bundle version that sent them (X-Spotlight-Bundle-Version, checked against the manifest)",
            self.bundle_seen.clone(),
        );
        registry.register(
            "sdk_errors",
            "Failures the SDK reported about itself, by kind",
            self.errors.clone(),
        );
    }
}

#[derive(Clone, Default)]
pub struct DataPlaneMetrics {
    pub sdk: SdkMetrics,
    pub resolutions: Family<LookupLabels, Counter>,
    pub events: Family<EventLabels, Counter>,
    pub outbox_folded: Counter,
    /// Domain events the event sink took.
    pub outbox_published: Counter,
    /// Age of the oldest outbox record at the last sweep, in seconds.
    pub outbox_lag_seconds: Gauge<f64, AtomicU64>,
}

impl DataPlaneMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "tenant_resolutions",
            "API keys resolved, by cache outcome (hit, unknown_hit, miss)",
            self.resolutions.clone(),
        );
        registry.register(
            "events",
            "SDK events received, by tenant and outcome (accepted, duplicate, rejected)",
            self.events.clone(),
        );
        registry.register(
            "outbox_folded",
            "Outbox records folded into aggregates",
            self.outbox_folded.clone(),
        );
        registry.register(
            "outbox_published",
            "Domain events (content changes) published to the event sink",
            self.outbox_published.clone(),
        );
        registry.register(
            "outbox_lag_seconds",
            "Age of the oldest outbox record not yet folded or published, at the last sweep over every tenant",
            self.outbox_lag_seconds.clone(),
        );
    }

    pub fn count_events(&self, tenant: &str, outcome: Outcome, n: usize) {
        if n > 0 {
            self.events
                .get_or_create(&EventLabels {
                    tenant: tenant.to_owned(),
                    outcome,
                })
                .inc_by(n as u64);
        }
    }
}
