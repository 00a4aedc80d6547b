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

/// Which facts a sheet holds: everything (a summary, an overview question) or only what one
/// kind of chat question needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// Events and their change, the most used content, the metrics.
    Overview,
    /// Events and metrics against the period before.
    Comparison,
    /// Users per step and completion of the named content items (none named: the most used).
    Funnel(Vec<String>),
    /// Per step, the share of users whose target was missing, of the named content items (none
    /// named: the most used).
    SelectorHealth(Vec<String>),
    /// The named metric subjects (none named: the first ones with a value).
    Metrics(Vec<String>),
}

/// The sheet of `period` for the tenant of `tables`; `drafts` are its content items.
pub async fn build(
    tables: &TenantTables,
    drafts: &[Draft],
    period: &Period,
) -> Result<FactSheet, Error> {
    build_scoped(tables, drafts, period, &Scope::Overview).await
}

/// The facts of `scope` for `period`.
pub async fn build_scoped(
    tables: &TenantTables,
    drafts: &[Draft],
    period: &Period,
    scope: &Scope,
) -> Result<FactSheet, Error> {
    let mut sheet = FactSheet::new(period.to_string());
    match scope {
        Scope::Overview => {
            event_facts(tables, period, &mut sheet).await?;
            let ranked = ranked_content(tables, drafts, &[]).await?;
            content_facts(&ranked, &mut sheet);
            metric_facts(tables, period, &[], &mut sheet).await?;
        }
        Scope::Comparison => {
            event_facts(tables, period, &mut sheet).await?;
            metric_facts(tables, period, &[], &mut sheet).await?;
        }
        Scope::Funnel(ids) => {
            let ranked = ranked_content(tables, drafts, ids).await?;
            funnel_facts(&ranked, &mut sheet);
        }
        Scope::SelectorHealth(ids) => {
            let ranked = ranked_content(tables, drafts, ids).await?;
            health_facts(&ranked, &mut sheet);
        }
        Scope::Metrics(subjects) => metric_facts(tables, period, subjects, &mut sheet).await?,
    }
    Ok(sheet)
}

/// Events of all types and per type in `period`, and per type against the period before.
async fn event_facts(
    tables: &TenantTables,
    period: &Period,
    sheet: &mut FactSheet,
) -> Result<(), Error> {
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
            sheet.push(
                format!("{kind} events"),
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
    Ok(())
}

/// A published content item's lifetime analytics, for ranking and for its facts.
struct Ranked<'a> {
    first: u64,
    draft: &'a Draft,
    version: u32,
    funnel: analytics::Funnel,
    health: Vec<analytics::SelectorHealth>,
}

impl Ranked<'_> {
    /// `tour "Welcome" (version 2)`, the name quoted.
    fn name(&self) -> String {
        format!(
            "{} {} (version {})",
            self.draft.body.kind.as_str(),
            quoted(&self.draft.body.name),
            self.version
        )
    }
}

/// The published items among `drafts` (those of `only`, when it names any; else the first
/// [`MAX_CANDIDATES`]) that some user reached, most users at the first step first, at most
/// [`MAX_CONTENT`].
async fn ranked_content<'a>(
    tables: &TenantTables,
    drafts: &'a [Draft],
    only: &[String],
) -> Result<Vec<Ranked<'a>>, Error> {
    let (items, table) = tables.app();
    let store = tables.content();
    let mut found = Vec::new();
    for draft in drafts
        .iter()
        .filter(|d| d.published_version.is_some())
        .filter(|d| only.is_empty() || only.iter().any(|id| id.as_str() == d.id.as_str()))
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
        if first > 0 {
            found.push(Ranked {
                first,
                draft,
                version,
                funnel,
                health,
            });
        }
    }
    found.sort_by(|a, b| b.first.cmp(&a.first).then(a.draft.id.cmp(&b.draft.id)));
    found.truncate(MAX_CONTENT);
    Ok(found)
}

/// Users at the first step, the completion rate and the worst selector health of each item.
fn content_facts(ranked: &[Ranked<'_>], sheet: &mut FactSheet) {
    let lifetime = "lifetime";
    for item in ranked {
        let name = item.name();
        sheet.push(
            format!("users who reached the first step of {name}"),
            item.first as f64,
            Unit::Count,
            item.first,
            lifetime,
        );
        if item.funnel.steps.len() > 1 {
            sheet.push(
                format!("completion rate of {name}"),
                item.funnel.completion_rate,
                Unit::Ratio,
                item.first,
                lifetime,
            );
        }
        if let Some(worst) = item
            .health
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
}

/// Users at every step and the completion rate of each item.
fn funnel_facts(ranked: &[Ranked<'_>], sheet: &mut FactSheet) {
    let lifetime = "lifetime";
    for item in ranked {
        let name = item.name();
        // In step order; no step numbers in the label, whose digits would read as numbers.
        for step in &item.funnel.steps {
            sheet.push(
                format!(
                    "users who reached step {} of {name}",
                    quoted(step.step_id.as_str())
                ),
                step.users as f64,
                Unit::Count,
                step.users,
                lifetime,
            );
        }
        if item.funnel.steps.len() > 1 {
            sheet.push(
                format!("completion rate of {name}"),
                item.funnel.completion_rate,
                Unit::Ratio,
                item.first,
                lifetime,
            );
        }
    }
}

/// Per step whose target some user missed: the share of its users who missed it.
fn health_facts(ranked: &[Ranked<'_>], sheet: &mut FactSheet) {
    for item in ranked {
        let name = item.name();
        for health in item.health.iter().filter(|h| h.missed > 0) {
            sheet.push(
                format!(
                    "share of users whose target was missing on step {} of {name}",
                    quoted(health.step_id.as_str())
                ),
                health.missing_rate,
                Unit::Ratio,
                health.reached,
                "lifetime",
            );
        }
    }
}

/// The first [`MAX_METRICS`] subjects (of `only`, when it names any) with a value for
/// `period`: the value, the value of the period before and the change between them.
async fn metric_facts(
    tables: &TenantTables,
    period: &Period,
    only: &[String],
    sheet: &mut FactSheet,
) -> Result<(), Error> {
    let (items, table) = tables.app();
    let subjects = if only.is_empty() {
        store::subjects(items, table, MAX_METRIC_CANDIDATES).await?
    } else {
        only.iter().take(MAX_METRIC_CANDIDATES).cloned().collect()
    };
    let mut named = 0;
    for subject in subjects {
        if named == MAX_METRICS {
            break;
        }
        let Some(now) = store::value(items, table, &subject, period).await? else {
            continue;
        };
        named += 1;
        // Each value under its own unit: a subject's unit may change between periods.
        let name_in = |unit: &Option<String>| match unit {
            Some(unit) => format!("metric {} in {}", quoted(&subject), quoted(unit)),
            None => format!("metric {}", quoted(&subject)),
        };
        let name = name_in(&now.unit);
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
            name_in(&was.unit),
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

fn to_error(e: crate::content::store::ChangeError) -> Error {
    Error::unavailable(format!("reading content for the fact sheet: {e}"))
}
