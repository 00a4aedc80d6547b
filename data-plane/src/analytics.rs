//! Analytics read from the aggregates the outbox processor keeps (`crate::events::process`),
//! never from raw events: a funnel and selector health are one query of a version's
//! lifetime rows, the overview one index query per day.

use std::collections::BTreeMap;

use serde::Serialize;
use tenancy::ports::{ItemStore, Query, SortKeyCondition};
use tenancy::table_plan::keys;
use time::Date;
use utoipa::ToSchema;

use crate::content::model::{ContentId, StepId};
use crate::events::fold::{Counts, Scope};
use crate::events::process::read_counts;

/// Users per step of one version, in step order.
#[derive(Debug, Serialize, ToSchema)]
pub struct Funnel {
    pub content_id: ContentId,
    pub version: u32,
    pub steps: Vec<FunnelStep>,
    /// Users who reached the last step ÷ users who reached the first (0 when nobody did).
    pub completion_rate: f64,
    /// Events of the version by type, over its lifetime.
    pub events: BTreeMap<String, u64>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FunnelStep {
    pub step_id: StepId,
    /// Distinct users who reached the step (an impression or `tour_step` naming it).
    pub users: u64,
    /// Share of the previous step's users who did not reach this one (0 for the first).
    pub drop_off: f64,
}

/// Per step: distinct users whose target was missing ÷ distinct users who reached it.
#[derive(Debug, Serialize, ToSchema)]
pub struct SelectorHealth {
    pub content_id: ContentId,
    pub version: u32,
    pub step_id: StepId,
    pub reached: u64,
    pub missed: u64,
    /// `missed ÷ reached` (0 when nobody reached it).
    pub missing_rate: f64,
}

/// The lifetime rows of one version: counts per step (`None`: events naming no step).
pub async fn lifetime_rows(
    items: &dyn ItemStore,
    app_table: &str,
    content: &ContentId,
    version: u32,
) -> tenancy::Result<BTreeMap<Option<StepId>, Counts>> {
    let prefix = format!("{}#", Scope::Lifetime.key());
    let mut query = Query {
        pk: keys::aggregate(content.as_str(), version),
        sk: SortKeyCondition::BeginsWith(prefix.clone()),
        limit: 1000,
        ..Query::default()
    };
    let mut rows = BTreeMap::new();
    loop {
        let page = items.query(app_table, &query).await?;
        for item in &page.items {
            let step = item.key.sk.strip_prefix(&prefix).unwrap_or_default();
            let step = StepId::parse(step).ok();
            rows.insert(step, read_counts(item)?);
        }
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => return Ok(rows),
        }
    }
}

/// The funnel of `version`, whose steps are `steps` in order.
pub fn funnel(
    content_id: ContentId,
    version: u32,
    steps: &[StepId],
    rows: &BTreeMap<Option<StepId>, Counts>,
) -> Funnel {
    let users: Vec<u64> = steps
        .iter()
        .map(|s| rows.get(&Some(s.clone())).map_or(0, |c| c.reached))
        .collect();
    let funnel_steps = steps
        .iter()
        .zip(&users)
        .enumerate()
        .map(|(i, (step, &n))| FunnelStep {
            step_id: step.clone(),
            users: n,
            drop_off: match i.checked_sub(1).map(|p| users[p]) {
                Some(prev) if prev > 0 => 1.0 - (n.min(prev) as f64 / prev as f64),
                _ => 0.0,
            },
        })
        .collect();
    let completion_rate = match (users.first(), users.last()) {
        (Some(&first), Some(&last)) if first > 0 => last.min(first) as f64 / first as f64,
        _ => 0.0,
    };
    let mut events = BTreeMap::new();
    for counts in rows.values() {
        for (kind, n) in &counts.events {
            *events.entry(kind.clone()).or_default() += n;
        }
    }
    Funnel {
        content_id,
        version,
        steps: funnel_steps,
        completion_rate,
        events,
    }
}

/// Selector health of every step of `version`.
pub fn selector_health(
    content_id: &ContentId,
    version: u32,
    steps: &[StepId],
    rows: &BTreeMap<Option<StepId>, Counts>,
) -> Vec<SelectorHealth> {
    steps
        .iter()
        .map(|step| {
            let counts = rows.get(&Some(step.clone()));
            let reached = counts.map_or(0, |c| c.reached);
            let missed = counts.map_or(0, |c| c.missed);
            SelectorHealth {
                content_id: content_id.clone(),
                version,
                step_id: step.clone(),
                reached,
                missed,
                missing_rate: if reached == 0 {
                    0.0
                } else {
                    missed as f64 / reached as f64
                },
            }
        })
        .collect()
}

/// Events per type on one UTC day.
#[derive(Debug, Serialize, ToSchema)]
pub struct DayCounts {
    /// The UTC day, `YYYY-MM-DD`.
    #[schema(format = Date)]
    pub day: String,
    pub events: BTreeMap<String, u64>,
}

/// Events per type on `day`, from the day's index partition.
pub async fn day_counts(
    items: &dyn ItemStore,
    app_table: &str,
    day: Date,
) -> tenancy::Result<DayCounts> {
    let mut query = Query {
        use_gsi1: true,
        pk: keys::aggregate_day(&day.to_string()),
        limit: 1000,
        ..Query::default()
    };
    let mut events = BTreeMap::new();
    loop {
        let page = items.query(app_table, &query).await?;
        for item in &page.items {
            for (kind, n) in read_counts(item)?.events {
                *events.entry(kind).or_default() += n;
            }
        }
        match page.next {
            Some(next) => query.start_after = Some(next),
            None => {
                return Ok(DayCounts {
                    day: day.to_string(),
                    events,
                });
            }
        }
    }
}

/// Events per type on each day of `from..=to` (empty when `to` is before `from`), one index
/// query per day.
pub async fn range_counts(
    items: &dyn ItemStore,
    app_table: &str,
    from: Date,
    to: Date,
) -> tenancy::Result<Vec<DayCounts>> {
    let mut days = Vec::new();
    let mut current = Some(from);
    while let Some(day) = current.filter(|d| *d <= to) {
        days.push(day_counts(items, app_table, day).await?);
        current = day.next_day();
    }
    Ok(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(n: u8) -> StepId {
        StepId::parse(&format!("s_{n}")).unwrap()
    }

    fn reached(n: u64) -> Counts {
        Counts {
            reached: n,
            ..Counts::default()
        }
    }

    #[test]
    fn a_funnel_has_users_per_step_drop_off_and_completion() {
        let steps = [step(1), step(2), step(3)];
        let rows = BTreeMap::from([
            (Some(step(1)), reached(10)),
            (Some(step(2)), reached(5)),
            (Some(step(3)), reached(4)),
        ]);
        let f = funnel(ContentId::parse("c_t").unwrap(), 1, &steps, &rows);
        let users: Vec<u64> = f.steps.iter().map(|s| s.users).collect();
        assert_eq!(users, [10, 5, 4]);
        assert_eq!(f.steps[0].drop_off, 0.0);
        assert_eq!(f.steps[1].drop_off, 0.5);
        assert!((f.steps[2].drop_off - 0.2).abs() < 1e-9);
        assert!((f.completion_rate - 0.4).abs() < 1e-9);
    }

    #[test]
    fn nobody_reaching_a_step_is_zero_not_a_division_by_zero() {
        let steps = [step(1), step(2)];
        let f = funnel(
            ContentId::parse("c_t").unwrap(),
            1,
            &steps,
            &BTreeMap::new(),
        );
        assert_eq!(f.completion_rate, 0.0);
        assert!(f.steps.iter().all(|s| s.drop_off == 0.0 && s.users == 0));
        let health = selector_health(
            &ContentId::parse("c_t").unwrap(),
            1,
            &steps,
            &BTreeMap::new(),
        );
        assert!(health.iter().all(|h| h.missing_rate == 0.0));
    }
}
