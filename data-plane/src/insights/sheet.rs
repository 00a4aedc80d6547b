//! The fact sheet of one period, built from the tenant's aggregates (never from raw events):
//! events per type in the period and their change against the period before; for the
//! published content items with the most users, users at the first step, the completion rate
//! and the worst selector health, over each version's lifetime; and the tenant's own metrics
//! for exactly that period (a month's value for a month), the period before and the change.
//!
//! Its size is bounded whatever the tenant's size — at most [`MAX_EVENT_TYPES`] types (three
//! facts each: now, before, the change), [`MAX_CONTENT`] content items (three facts each,
//! chosen among at most [`MAX_CANDIDATES`] published items) and [`MAX_METRICS`] metrics (three
//! each), within the sheet's character budget (`facts::MAX_SHEET_CHARS`) — so the prompt
//! stays small. Building it reads one index query per day of the period and of the period
//! before (184 for a quarter), two reads per candidate item and two per candidate metric.

use std::collections::BTreeMap;

use tenancy::Error;

use super::facts::{FactSheet, Unit, quoted};
use crate::analytics;
use crate::content::store::Draft;
use crate::series::period::Period;
use crate::series::store;
use crate::state::TenantTables;

/// Event types the sheet names (the most frequent first).
pub const MAX_EVENT_TYPES: usize = 8;
/// Content items the sheet names (those whose first step most users reached).
pub const MAX_CONTENT: usize = 6;
/// Published content items whose users are read to choose the [`MAX_CONTENT`] (in the order
/// the content list returns them).
pub const MAX_CANDIDATES: usize = 50;
/// Metric subjects the sheet names (those with a value for the period, in name order).
pub const MAX_METRICS: usize = 6;
/// Metric subjects looked at to find the [`MAX_METRICS`].
pub const MAX_METRIC_CANDIDATES: usize = 50;

/// Events per type on the days of `period`.
async fn events_in(tables: &TenantTables, period: &Period) -> Result<BTreeMap<String, u64>, Error> {
    let (items, table) = tables.app();
    let mut totals = BTreeMap::new();
    for day in analytics::range_counts(items, table, period.first_day(), period.last_day()).await? {
        for (kind, n) in day.events {
            *totals.entry(kind).or_default() += n;
        }
    }
    Ok(totals)
}

/// The sheet of `period` for the tenant of `tables`; `drafts` are its content items.
pub async fn build(
    tables: &TenantTables,
    drafts: &[Draft],
    period: &Period,
) -> Result<FactSheet, Error> {
    let mut sheet = FactSheet::new(period.to_string());
    let now = events_in(tables, period).await?;
    let before = match period.previous() {
        Some(previous) => Some((previous, events_in(tables, &previous).await?)),
        None => None,
    };
    let mut kinds: Vec<(&String, &u64)> = now.iter().collect();
    kinds.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let total: u64 = now.values().sum();
    if total > 0 {
        sheet.push(
            "events of all types",
            total as f64,
            Unit::Count,
            total,
            period.to_string(),
        );
    }
    for (kind, &n) in kinds.into_iter().take(MAX_EVENT_TYPES) {
        sheet.push(
            format!("{kind} events"),
            n as f64,
            Unit::Count,
            n,
            period.to_string(),
        );
        if let Some((previous, counts)) = &before
            && let Some(&was) = counts.get(kind).filter(|was| **was > 0)
        {
            let was_label = format!("{kind} events");
            sheet.push(
                was_label,
                was as f64,
                Unit::Count,
                was,
                previous.to_string(),
            );
            let change = (n as f64 - was as f64) / was as f64;
            sheet.push(
                format!("change in {kind} events against {previous}"),
                change,
                Unit::Change,
                n + was,
                period.to_string(),
            );
        }
    }
    content_facts(tables, drafts, &mut sheet).await?;
    metric_facts(tables, period, &mut sheet).await?;
    Ok(sheet)
}

/// The first [`MAX_METRICS`] subjects with a value for `period`: the value, the value of the
/// period before and the change between them.
async fn metric_facts(
    tables: &TenantTables,
    period: &Period,
    sheet: &mut FactSheet,
) -> Result<(), Error> {
    let (items, table) = tables.app();
    let mut named = 0;
    for subject in store::subjects(items, table, MAX_METRIC_CANDIDATES).await? {
        if named == MAX_METRICS {
            break;
        }
        let Some(now) = store::value(items, table, &subject, period).await? else {
            continue;
        };
        named += 1;
        let name = match &now.unit {
            Some(unit) => format!("metric {} in {}", quoted(&subject), quoted(unit)),
            None => format!("metric {}", quoted(&subject)),
        };
        sheet.push_metric(
            name.clone(),
            now.value,
            now.unit.as_deref(),
            period.to_string(),
        );
        let Some(previous) = period.previous() else {
            continue;
        };
        let Some(was) = store::value(items, table, &subject, &previous).await? else {
            continue;
        };
        sheet.push_metric(
            name.clone(),
            was.value,
            was.unit.as_deref(),
            previous.to_string(),
        );
        if was.value != 0.0 && was.unit == now.unit {
            sheet.push(
                format!("change in {name} against {previous}"),
                (now.value - was.value) / was.value.abs(),
                Unit::Change,
                0,
                period.to_string(),
            );
        }
    }
    Ok(())
}

/// Users, completion and the worst selector health of the most used published content.
async fn content_facts(
    tables: &TenantTables,
    drafts: &[Draft],
    sheet: &mut FactSheet,
) -> Result<(), Error> {
    let (items, table) = tables.app();
    let store = tables.content();
    let mut found = Vec::new();
    for draft in drafts
        .iter()
        .filter(|d| d.published_version.is_some())
        .take(MAX_CANDIDATES)
    {
        let Some(version) = draft.published_version else {
            continue;
        };
        let Some(published) = store.version(&draft.id, version).await.map_err(to_error)? else {
            continue;
        };
        let steps: Vec<_> = published
            .body
            .steps
            .iter()
            .filter_map(|s| s.id.clone())
            .collect();
        let rows = analytics::lifetime_rows(items, table, &draft.id, version).await?;
        let funnel = analytics::funnel(draft.id.clone(), version, &steps, &rows);
        let health = analytics::selector_health(&draft.id, version, &steps, &rows);
        let first = funnel.steps.first().map_or(0, |s| s.users);
        found.push((first, draft, version, funnel, health));
    }
    found.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.id.cmp(&b.1.id)));
    for (first, draft, version, funnel, health) in found.into_iter().take(MAX_CONTENT) {
        if first == 0 {
            continue;
        }
        let name = format!(
            "{} {} (version {version})",
            draft.body.kind.as_str(),
            quoted(&draft.body.name)
        );
        let lifetime = "lifetime";
        sheet.push(
            format!("users who reached the first step of {name}"),
            first as f64,
            Unit::Count,
            first,
            lifetime,
        );
        if funnel.steps.len() > 1 {
            sheet.push(
                format!("completion rate of {name}"),
                funnel.completion_rate,
                Unit::Ratio,
                first,
                lifetime,
            );
        }
        if let Some(worst) = health
            .iter()
            .filter(|h| h.missed > 0)
            .max_by(|a, b| a.missing_rate.total_cmp(&b.missing_rate))
        {
            sheet.push(
                format!(
                    "share of users whose target was missing on step {} of {name}",
                    quoted(worst.step_id.as_str())
                ),
                worst.missing_rate,
                Unit::Ratio,
                worst.reached,
                lifetime,
            );
        }
    }
    Ok(())
}

fn to_error(e: crate::content::store::ChangeError) -> Error {
    Error::unavailable(format!("reading content for the fact sheet: {e}"))
}
