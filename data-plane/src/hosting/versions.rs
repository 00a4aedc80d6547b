//! Which SDK version a tenant published, and which its pages were seen running, in the
//! tenant's app table (`SDK` partition): the published version under `PUBLISHED`, and one item
//! per (day, bundle version, embed) seen, `SEEN#{day}#{bundle}#{embed}`, kept
//! [`SEEN_KEPT_DAYS`].
//!
//! A page's request names two versions: the bundle's own (`X-Spotlight-Bundle-Version`,
//! fixed when it was built) and the embed's (`X-Spotlight-SDK-Version`: the pinned version in
//! its script URL, or `latest`). Both are checked against the manifest before they are
//! stored or counted, so a made-up header is `unknown`, never a new label or item.
//!
//! Seen items are written once per process, tenant, day and pair ([`SeenRecorder`]): the
//! first request of the day pays one write, the rest none.

use std::collections::HashSet;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, SortKeyCondition};
use tenancy::table_plan::keys;
use tenancy::{Error, TenantId};
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::dist::Manifest;

/// How long a sighting is kept: the report covers 7 days, plus a day's margin.
pub const SEEN_KEPT_DAYS: i64 = 8;
/// The days the versions report covers, today included.
pub const REPORT_DAYS: i64 = 7;
/// What a page embedding the moving channel sends as its embed version.
pub const LATEST: &str = "latest";
/// What a version the manifest does not list is recorded as.
pub const UNKNOWN: &str = "unknown";

/// The two versions a request carried, checked against the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SeenVersions {
    /// A built version, or [`UNKNOWN`].
    pub bundle: String,
    /// A built version, [`LATEST`], or [`UNKNOWN`].
    pub embed: String,
}

impl SeenVersions {
    /// `bundle` and `embed` as sent, each kept only if `manifest` lists it.
    pub fn checked(manifest: Option<&Manifest>, bundle: &str, embed: Option<&str>) -> Self {
        let known = |v: &str| manifest.is_some_and(|m| m.knows(v));
        let label = |v: &str| {
            if known(v) {
                v.to_owned()
            } else {
                UNKNOWN.to_owned()
            }
        };
        SeenVersions {
            bundle: label(bundle),
            embed: match embed {
                Some(LATEST) => LATEST.to_owned(),
                Some(v) => label(v),
                None => UNKNOWN.to_owned(),
            },
        }
    }
}

/// The version a tenant published: what its pages should embed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Published {
    /// A pinned, built version (`1.0.0`).
    pub version: String,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

/// One (bundle, embed) pair seen on one day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenDay {
    pub day: String,
    pub bundle_version: String,
    pub sdk_version: String,
}

fn published_key() -> ItemKey {
    ItemKey::new(keys::SDK, keys::SDK_PUBLISHED)
}

fn object(value: impl Serialize) -> Result<serde_json::Map<String, Value>, Error> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(Error::invalid(
            "an SDK version record serialises to an object",
        )),
    }
}

pub async fn publish(
    items: &dyn ItemStore,
    table: &str,
    published: &Published,
) -> Result<(), Error> {
    let mut item = Item::new(published_key());
    item.attrs = object(published)?;
    items.put(table, &item, Condition::None).await
}

/// The published version; a record this version cannot read counts as none (and is logged),
/// so the report still answers and publishing again repairs it.
pub async fn published(items: &dyn ItemStore, table: &str) -> Result<Option<Published>, Error> {
    let Some(item) = items.get(table, &published_key()).await? else {
        return Ok(None);
    };
    match serde_json::from_value(Value::Object(item.attrs)) {
        Ok(published) => Ok(Some(published)),
        Err(e) => {
            tracing::warn!(error = %e, "the published SDK version record cannot be read");
            Ok(None)
        }
    }
}

pub async fn record_seen(
    items: &dyn ItemStore,
    table: &str,
    seen: &SeenVersions,
    now: OffsetDateTime,
) -> Result<(), Error> {
    let day = keys::day(now);
    let mut item = Item::new(ItemKey::new(
        keys::SDK,
        keys::sdk_seen(&day, &seen.bundle, &seen.embed),
    ));
    item.ttl = Some((now + time::Duration::days(SEEN_KEPT_DAYS)).unix_timestamp());
    item.attrs = object(SeenDay {
        day,
        bundle_version: seen.bundle.clone(),
        sdk_version: seen.embed.clone(),
    })?;
    items.put(table, &item, Condition::None).await
}

/// Every pair seen from `since` (`YYYY-MM-DD`) on, oldest day first.
pub async fn seen_since(
    items: &dyn ItemStore,
    table: &str,
    since: &str,
) -> Result<Vec<SeenDay>, Error> {
    let mut query = Query {
        pk: keys::SDK.to_owned(),
        // `SEEN#` then days: `~` sorts after every digit, so the range ends after today.
        sk: SortKeyCondition::Between(format!("SEEN#{since}"), "SEEN#~".to_owned()),
        limit: 1000,
        ..Query::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = items.query(table, &query).await?;
        for item in page.items {
            if let Ok(day) = serde_json::from_value::<SeenDay>(Value::Object(item.attrs)) {
                seen.push(day);
            }
        }
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => break,
        }
    }
    Ok(seen)
}

/// Remembers which sightings this process already wrote today.
#[derive(Default)]
pub struct SeenRecorder {
    written: Mutex<(String, HashSet<(TenantId, SeenVersions)>)>,
}

impl SeenRecorder {
    /// Whether the sighting still has to be written today; call [`Self::written`] once it is.
    pub fn is_new(&self, tenant: &TenantId, seen: &SeenVersions, day: &str) -> bool {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.0 != day {
            *written = (day.to_owned(), HashSet::new());
        }
        !written.1.contains(&(tenant.clone(), seen.clone()))
    }

    pub fn written(&self, tenant: &TenantId, seen: &SeenVersions, day: &str) {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        if written.0 == day {
            written.1.insert((tenant.clone(), seen.clone()));
        }
    }
}

/// One pair's days in the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct SeenVersion {
    /// The bundle's own version, or `unknown`.
    pub bundle_version: String,
    /// What the page embeds: a pinned version, `latest`, or `unknown`.
    pub sdk_version: String,
    pub first_seen: String,
    pub last_seen: String,
    /// Days (of the report's) it was seen on.
    pub days: usize,
}

/// Something an admin should act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FindingCode {
    /// Pages embed the moving `latest` channel: a release reaches them unreviewed.
    LatestInProduction,
    /// Pages embed a pinned version other than the published one.
    StalePin,
    /// Pages sent a version no build produced (a self-hosted or altered copy).
    UnknownVersion,
    /// Pages ran the SDK but the tenant never published a version.
    NothingPublished,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Finding {
    pub code: FindingCode,
    /// The embed version it is about, if one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sdk_version: Option<String>,
    pub message: String,
}

/// The sightings folded per pair, most recently seen first.
pub fn fold(days: &[SeenDay]) -> Vec<SeenVersion> {
    let mut pairs: Vec<SeenVersion> = Vec::new();
    for d in days {
        match pairs
            .iter_mut()
            .find(|p| p.bundle_version == d.bundle_version && p.sdk_version == d.sdk_version)
        {
            Some(p) => {
                p.first_seen = p.first_seen.clone().min(d.day.clone());
                p.last_seen = p.last_seen.clone().max(d.day.clone());
                p.days += 1;
            }
            None => pairs.push(SeenVersion {
                bundle_version: d.bundle_version.clone(),
                sdk_version: d.sdk_version.clone(),
                first_seen: d.day.clone(),
                last_seen: d.day.clone(),
                days: 1,
            }),
        }
    }
    pairs.sort_by(|a, b| {
        b.last_seen
            .cmp(&a.last_seen)
            .then(a.sdk_version.cmp(&b.sdk_version))
    });
    pairs
}

/// What the sightings say against the published version.
pub fn assess(published: Option<&Published>, seen: &[SeenVersion]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut embeds: Vec<&str> = seen.iter().map(|s| s.sdk_version.as_str()).collect();
    embeds.sort_unstable();
    embeds.dedup();
    for embed in embeds {
        let finding = match (embed, published) {
            (LATEST, _) => Finding {
                code: FindingCode::LatestInProduction,
                sdk_version: Some(LATEST.into()),
                message: "pages load /sdk/latest/, which changes under them with every release; \
                          embed the published version's pinned URL"
                    .into(),
            },
            (UNKNOWN, _) => Finding {
                code: FindingCode::UnknownVersion,
                sdk_version: Some(UNKNOWN.into()),
                message: "pages ran an SDK whose version no build produced; embed a pinned URL \
                          from /sdk/manifest.json"
                    .into(),
            },
            (pinned, Some(p)) if pinned != p.version => Finding {
                code: FindingCode::StalePin,
                sdk_version: Some(pinned.into()),
                message: format!(
                    "pages still embed {pinned}, but {} is published; update the script tag",
                    p.version
                ),
            },
            (_, Some(_)) => continue,
            (pinned, None) => Finding {
                code: FindingCode::NothingPublished,
                sdk_version: Some(pinned.into()),
                message: format!(
                    "pages embed {pinned}, but no version is published \
                     (PUT /v1/admin/sdk/version)"
                ),
            },
        };
        findings.push(finding);
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(day: &str, bundle: &str, embed: &str) -> SeenDay {
        SeenDay {
            day: day.into(),
            bundle_version: bundle.into(),
            sdk_version: embed.into(),
        }
    }

    fn published(version: &str) -> Published {
        Published {
            version: version.into(),
            published_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn sightings_fold_per_pair() {
        let folded = fold(&[
            day("2026-11-28", "1.0.0", "1.0.0"),
            day("2026-11-30", "1.0.0", "1.0.0"),
            day("2026-12-01", "1.1.0", "latest"),
        ]);
        assert_eq!(folded.len(), 2);
        assert_eq!(folded[0].sdk_version, "latest");
        assert_eq!(
            (
                folded[1].first_seen.as_str(),
                folded[1].last_seen.as_str(),
                folded[1].days
            ),
            ("2026-11-28", "2026-11-30", 2)
        );
    }

    #[test]
    fn an_old_pin_and_latest_are_findings_and_the_published_pin_is_not() {
        let seen = fold(&[
            day("2026-12-01", "1.0.0", "1.0.0"),
            day("2026-12-01", "1.1.0", "1.1.0"),
            day("2026-12-01", "1.1.0", "latest"),
            day("2026-12-01", "unknown", "unknown"),
        ]);
        let findings = assess(Some(&published("1.1.0")), &seen);
        let codes: Vec<_> = findings
            .iter()
            .map(|f| (f.code, f.sdk_version.clone()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (FindingCode::StalePin, Some("1.0.0".into())),
                (FindingCode::LatestInProduction, Some("latest".into())),
                (FindingCode::UnknownVersion, Some("unknown".into())),
            ]
        );
        assert!(findings[0].message.contains("1.1.0 is published"));
        let unpublished = assess(None, &fold(&[day("2026-12-01", "1.1.0", "1.1.0")]));
        assert_eq!(unpublished[0].code, FindingCode::NothingPublished);
        assert!(
            assess(
                Some(&published("1.1.0")),
                &fold(&[day("2026-12-01", "1.1.0", "1.1.0")])
            )
            .is_empty()
        );
    }

    #[test]
    fn versions_outside_the_manifest_are_unknown() {
        let manifest: Manifest = serde_json::from_value(serde_json::json!({
            "latest": "1.0.0", "built_at": "x",
            "versions": {"1.0.0": {"built_at": "x", "files": {}}}
        }))
        .unwrap();
        let checked = SeenVersions::checked(Some(&manifest), "1.0.0", Some("latest"));
        assert_eq!(
            (checked.bundle.as_str(), checked.embed.as_str()),
            ("1.0.0", "latest")
        );
        let made_up = SeenVersions::checked(Some(&manifest), "9.9.9-evil", Some("<script>"));
        assert_eq!(
            (made_up.bundle.as_str(), made_up.embed.as_str()),
            ("unknown", "unknown")
        );
        assert_eq!(SeenVersions::checked(None, "1.0.0", None).bundle, "unknown");
    }

    #[test]
    fn a_sighting_is_new_once_per_day() {
        let recorder = SeenRecorder::default();
        let tenant = TenantId::parse("acme").unwrap();
        let seen = SeenVersions {
            bundle: "1.0.0".into(),
            embed: "1.0.0".into(),
        };
        assert!(recorder.is_new(&tenant, &seen, "2026-12-01"));
        recorder.written(&tenant, &seen, "2026-12-01");
        assert!(!recorder.is_new(&tenant, &seen, "2026-12-01"));
        assert!(recorder.is_new(&tenant, &seen, "2026-12-02"));
    }
}
