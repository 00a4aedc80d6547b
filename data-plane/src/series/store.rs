//! Metric values in the tenant's app table: one item per (subject, period), `METRIC#{subject}`
//! / `{first day}#{D|M|Q}` ([`Period::sort_key`]), so a subject's values over a range of days
//! are one query. An upload is written in one transaction; a row for a (subject, period) that
//! is already stored replaces it, so sending a file again changes nothing.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tenancy::Error;
use tenancy::ports::item_store::{Cursor, MAX_BATCH_GET, MAX_TRANSACT_ITEMS};
use tenancy::ports::{Condition, Item, ItemKey, ItemStore, Query, SortKeyCondition, WriteOp};
use tenancy::table_plan::keys;
use time::OffsetDateTime;
use utoipa::ToSchema;

use super::period::{Granularity, Period};
use super::upload::MetricRow;

/// A stored metric value, as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MetricValue {
    pub subject: String,
    #[schema(value_type = String, pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub period: Period,
    pub granularity: Granularity,
    pub value: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    #[schema(value_type = String, format = DateTime)]
    #[serde(with = "time::serde::rfc3339")]
    pub uploaded_at: OffsetDateTime,
}

/// What an item holds.
#[derive(Debug, Serialize, Deserialize)]
struct Stored {
    subject: String,
    period: Period,
    value: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    dimensions: BTreeMap<String, String>,
    #[serde(with = "time::serde::rfc3339")]
    uploaded_at: OffsetDateTime,
}

impl From<Stored> for MetricValue {
    fn from(s: Stored) -> Self {
        MetricValue {
            granularity: s.period.granularity(),
            subject: s.subject,
            period: s.period,
            value: s.value,
            unit: s.unit,
            dimensions: s.dimensions,
            uploaded_at: s.uploaded_at,
        }
    }
}

fn key(subject: &str, period: &Period) -> ItemKey {
    ItemKey::new(keys::metric(subject), period.sort_key())
}

fn subject_key(subject: &str) -> ItemKey {
    ItemKey::new(keys::METRIC_SUBJECTS, subject)
}

/// Stores every row, and lists each subject not yet in the tenant's subject list
/// ([`keys::METRIC_SUBJECTS`], what the fact sheet reads to find the metrics), in one
/// transaction: all of it or, on any failure, none. Errors: `Invalid`, before any write, when
/// the rows and the new subjects together are more than one transaction holds
/// (`MAX_TRANSACT_ITEMS`).
pub async fn write(
    items: &dyn ItemStore,
    table: &str,
    rows: &[MetricRow],
    now: OffsetDateTime,
) -> Result<usize, Error> {
    if rows.is_empty() {
        return Ok(0);
    }
    let subjects: Vec<ItemKey> = rows
        .iter()
        .map(|r| r.subject.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .map(subject_key)
        .collect();
    let mut listed = std::collections::HashSet::new();
    for chunk in subjects.chunks(MAX_BATCH_GET) {
        listed.extend(
            items
                .batch_get(table, chunk)
                .await?
                .into_iter()
                .map(|i| i.key),
        );
    }
    let new: Vec<ItemKey> = subjects
        .into_iter()
        .filter(|k| !listed.contains(k))
        .collect();
    if rows.len() + new.len() > MAX_TRANSACT_ITEMS {
        return Err(Error::invalid(format!(
            "this upload has {} rows and {} subjects not uploaded before; one upload stores at \
             most {MAX_TRANSACT_ITEMS} of the two together, all or nothing: split the file",
            rows.len(),
            new.len()
        )));
    }
    let mut ops = Vec::with_capacity(rows.len());
    for row in rows {
        let value = Stored {
            subject: row.subject.clone(),
            period: row.period,
            value: row.value,
            unit: row.unit.clone(),
            dimensions: row.dimensions.clone(),
            uploaded_at: now,
        };
        let mut item = Item::new(key(&row.subject, &row.period));
        item.attrs = match serde_json::to_value(&value) {
            Ok(Value::Object(map)) => map,
            _ => return Err(Error::invalid("a metric value serialises to an object")),
        };
        ops.push(WriteOp::Put {
            table: table.to_owned(),
            item,
            condition: Condition::None,
        });
    }
    // Listing a subject twice is harmless (an upload racing this one may list it too).
    for subject in new {
        ops.push(WriteOp::Put {
            table: table.to_owned(),
            item: Item::new(subject),
            condition: Condition::None,
        });
    }
    items.transact_write(&ops).await?;
    Ok(rows.len())
}

/// The first `limit` subjects the tenant uploaded values for, in name order.
pub async fn subjects(
    items: &dyn ItemStore,
    table: &str,
    limit: usize,
) -> Result<Vec<String>, Error> {
    let page = items
        .query(
            table,
            &Query {
                pk: keys::METRIC_SUBJECTS.to_owned(),
                limit: limit as u32,
                ..Query::default()
            },
        )
        .await?;
    Ok(page.items.into_iter().map(|i| i.key.sk).collect())
}

/// `subject`'s value for exactly `period`, if one was uploaded.
pub async fn value(
    items: &dyn ItemStore,
    table: &str,
    subject: &str,
    period: &Period,
) -> Result<Option<MetricValue>, Error> {
    match items.get(table, &key(subject, period)).await? {
        Some(item) => Ok(Some(MetricValue::from(stored(&item)?))),
        None => Ok(None),
    }
}

fn stored(item: &Item) -> Result<Stored, Error> {
    serde_json::from_value(Value::Object(item.attrs.clone())).map_err(|e| {
        Error::invalid(format!(
            "stored metric ({}, {}) does not read back: {e}",
            item.key.pk, item.key.sk
        ))
    })
}

/// A page of a subject's values.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SeriesPage {
    pub subject: String,
    /// In the order of their first day, a day before the month and the quarter starting on it.
    pub values: Vec<MetricValue>,
    /// Send as `after` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub next: Option<Period>,
}

/// `subject`'s values for periods starting within `from..=to`'s days, after `after`, at most
/// `limit` of them.
pub async fn read(
    items: &dyn ItemStore,
    table: &str,
    subject: &str,
    (from, to): (&Period, &Period),
    after: Option<&Period>,
    limit: usize,
) -> Result<SeriesPage, Error> {
    let (low, high) = Period::key_range(from, to);
    let mut query = Query {
        pk: keys::metric(subject),
        sk: SortKeyCondition::Between(low, high),
        limit: limit as u32 + 1,
        start_after: after.map(|p| Cursor {
            key: key(subject, p),
            index_key: None,
        }),
        ..Query::default()
    };
    let mut values = Vec::new();
    loop {
        let page = items.query(table, &query).await?;
        for item in &page.items {
            values.push(MetricValue::from(stored(item)?));
        }
        match page.next {
            Some(next) if values.len() <= limit => query.start_after = Some(next),
            _ => break,
        }
    }
    let next = if values.len() > limit {
        values.truncate(limit);
        values.last().map(|v| v.period)
    } else {
        None
    };
    Ok(SeriesPage {
        subject: subject.to_owned(),
        values,
        next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::upload::{Format, parse};
    use crate::testing::tenant_table;

    fn rows(csv: &str) -> Vec<MetricRow> {
        parse(
            Format::Csv,
            format!("subject,period,value,unit\n{csv}").as_bytes(),
        )
        .unwrap()
    }

    fn period(raw: &str) -> Period {
        Period::parse(raw).unwrap()
    }

    #[tokio::test]
    async fn a_series_reads_back_in_order_and_a_second_upload_replaces_its_rows() {
        let (fx, table) = tenant_table("series").await;
        let items = fx.backend.items.as_ref();
        let now = OffsetDateTime::now_utc();
        let first = rows(
            "signups,2026-11,120,users\nsignups,2026-Q4,300,users\nsignups,2026-10-01,4,users\nvisits,2026-11,9,",
        );
        assert_eq!(write(items, &table, &first, now).await.unwrap(), 4);
        let range = (&period("2026-10"), &period("2026-12"));
        let page = read(items, &table, "signups", range, None, 100)
            .await
            .unwrap();
        let seen: Vec<(String, f64)> = page
            .values
            .iter()
            .map(|v| (v.period.to_string(), v.value))
            .collect();
        assert_eq!(
            seen,
            [
                ("2026-10-01".to_owned(), 4.0),
                ("2026-Q4".to_owned(), 300.0),
                ("2026-11".to_owned(), 120.0)
            ]
        );
        assert_eq!(page.values[1].granularity, Granularity::Quarter);
        assert_eq!(page.next, None);

        write(items, &table, &rows("signups,2026-11,125,users"), now)
            .await
            .unwrap();
        let again = read(items, &table, "signups", range, None, 100)
            .await
            .unwrap();
        assert_eq!(again.values.len(), 3, "replaced, not added");
        assert_eq!(again.values[2].value, 125.0);
    }

    #[tokio::test]
    async fn subjects_are_listed_with_their_values_and_a_file_too_big_for_both_stores_nothing() {
        let (fx, table) = tenant_table("series-subjects").await;
        let items = fx.backend.items.as_ref();
        let now = OffsetDateTime::now_utc();
        let days = |subject: &str, n: usize| -> String {
            (1..=n)
                .map(|d| format!("{subject},2026-10-{d:02},{d},\n"))
                .collect()
        };
        // 30 rows of one new subject and 1 of another: 33 writes, one transaction.
        let csv = days("signups", 30) + "visits,2026-10,9,\n";
        write(items, &table, &rows(&csv), now).await.unwrap();
        assert_eq!(
            subjects(items, &table, 10).await.unwrap(),
            ["signups", "visits"]
        );

        // 93 rows, 31 of a new subject: 94 writes fit.
        let fitting = rows(&(days("visits", 31) + &days("signups", 31) + &days("churn", 31)));
        write(items, &table, &fitting, now).await.unwrap();
        assert_eq!(
            subjects(items, &table, 10).await.unwrap(),
            ["churn", "signups", "visits"]
        );

        // 100 rows and one more new subject: refused before any write, nothing stored.
        let mut over = rows(&(days("refunds", 31) + &days("signups", 31) + &days("visits", 31)));
        over.extend(rows(&days("churn", 7)));
        assert_eq!(over.len(), 100);
        let err = write(items, &table, &over, now).await.unwrap_err();
        assert_eq!(err.kind(), tenancy::ErrorKind::Invalid, "{err}");
        assert!(err.to_string().contains("split the file"), "{err}");
        assert!(
            !subjects(items, &table, 10)
                .await
                .unwrap()
                .contains(&"refunds".to_owned())
        );
        let refunds = read(
            items,
            &table,
            "refunds",
            (&period("2026-10"), &period("2026-10")),
            None,
            100,
        )
        .await
        .unwrap();
        assert!(refunds.values.is_empty());
    }

    #[tokio::test]
    async fn pages_continue_after_the_last_period_shown() {
        let (fx, table) = tenant_table("series-pages").await;
        let items = fx.backend.items.as_ref();
        let csv: Vec<String> = (1..=9)
            .map(|d| format!("daily,2026-11-0{d},{d},"))
            .collect();
        write(
            items,
            &table,
            &rows(&csv.join("\n")),
            OffsetDateTime::now_utc(),
        )
        .await
        .unwrap();
        let range = (&period("2026-11"), &period("2026-11"));
        let mut after = None;
        let mut all = Vec::new();
        loop {
            let page = read(items, &table, "daily", range, after.as_ref(), 4)
                .await
                .unwrap();
            assert!(page.values.len() <= 4);
            all.extend(page.values.iter().map(|v| v.value as u32));
            match page.next {
                Some(next) => after = Some(next),
                None => break,
            }
        }
        assert_eq!(all, (1..=9).collect::<Vec<u32>>());
    }
}
