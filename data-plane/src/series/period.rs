//! [`Period`]: the day, month or quarter a metric value is for, written `2026-12-02`,
//! `2026-12` or `2026-Q4` (UTC calendar periods).

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::{Date, Month};

/// The pattern a period's text matches (the OpenAPI document states it).
pub const PATTERN: &str = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$";

/// Years a period may be in.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Day(Date),
    Month { year: i32, month: Month },
    Quarter { year: i32, quarter: u8 },
}

/// How long a period is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Granularity {
    Day,
    Month,
    Quarter,
}

impl Granularity {
    /// The letter that ends a period's sort key: a day sorts before the month and the quarter
    /// starting on it.
    fn letter(self) -> char {
        match self {
            Granularity::Day => 'D',
            Granularity::Month => 'M',
            Granularity::Quarter => 'Q',
        }
    }
}

impl Period {
    /// Errors say what is wrong with `raw`.
    pub fn parse(raw: &str) -> Result<Period, String> {
        let invalid = |why: &str| {
            format!(
                "{raw:?} is not a period (a day 2026-12-02, a month 2026-12 or a quarter 2026-Q4): {why}"
            )
        };
        let (year, rest) = raw
            .split_once('-')
            .ok_or_else(|| invalid("no '-' after the year"))?;
        if year.len() != 4 || !year.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("the year is not four digits"));
        }
        let year: i32 = year
            .parse()
            .map_err(|_| invalid("the year is not a number"))?;
        if !YEARS.contains(&year) {
            return Err(invalid("the year is before 1970"));
        }
        if let Some(q) = rest.strip_prefix('Q') {
            return match q {
                "1" | "2" | "3" | "4" => Ok(Period::Quarter {
                    year,
                    quarter: q.parse().unwrap_or(1),
                }),
                _ => Err(invalid("a quarter is Q1 to Q4")),
            };
        }
        let (month, day) = match rest.split_once('-') {
            Some((m, d)) => (m, Some(d)),
            None => (rest, None),
        };
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(month) {
            return Err(invalid("the month is not two digits"));
        }
        let month = month
            .parse::<u8>()
            .ok()
            .and_then(|m| Month::try_from(m).ok())
            .ok_or_else(|| invalid("the month is not 01 to 12"))?;
        match day {
            None => Ok(Period::Month { year, month }),
            Some(day) if two_digits(day) => {
                let day: u8 = day
                    .parse()
                    .map_err(|_| invalid("the day is not a number"))?;
                Date::from_calendar_date(year, month, day)
                    .map(Period::Day)
                    .map_err(|_| invalid("no such day in that month"))
            }
            Some(_) => Err(invalid("the day is not two digits")),
        }
    }

    pub fn granularity(&self) -> Granularity {
        match self {
            Period::Day(_) => Granularity::Day,
            Period::Month { .. } => Granularity::Month,
            Period::Quarter { .. } => Granularity::Quarter,
        }
    }

    /// The period's first day.
    pub fn first_day(&self) -> Date {
        let start = |year, month| {
            Date::from_calendar_date(year, month, 1).expect("the first of a month exists")
        };
        match *self {
            Period::Day(day) => day,
            Period::Month { year, month } => start(year, month),
            Period::Quarter { year, quarter } => {
                let month = Month::try_from(3 * (quarter - 1) + 1).expect("quarters are 1-4");
                start(year, month)
            }
        }
    }

    /// The period's last day.
    pub fn last_day(&self) -> Date {
        let end_of = |year: i32, month: Month| {
            Date::from_calendar_date(year, month, time::util::days_in_month(month, year))
                .expect("the last of a month exists")
        };
        match *self {
            Period::Day(day) => day,
            Period::Month { year, month } => end_of(year, month),
            Period::Quarter { year, quarter } => {
                let month = Month::try_from(3 * quarter).expect("quarters are 1-4");
                end_of(year, month)
            }
        }
    }

    /// The period just before this one, of the same length.
    pub fn previous(&self) -> Option<Period> {
        match *self {
            Period::Day(day) => day.previous_day().map(Period::Day),
            Period::Month { year, month } => {
                let year = if month == Month::January {
                    year - 1
                } else {
                    year
                };
                YEARS.contains(&year).then_some(Period::Month {
                    year,
                    month: month.previous(),
                })
            }
            Period::Quarter { year, quarter } => {
                let (year, quarter) = if quarter == 1 {
                    (year - 1, 4)
                } else {
                    (year, quarter - 1)
                };
                YEARS
                    .contains(&year)
                    .then_some(Period::Quarter { year, quarter })
            }
        }
    }

    /// The sort key of the period's rows: its first day, then its length, so that a range of
    /// first days is a range of keys.
    pub fn sort_key(&self) -> String {
        format!("{}#{}", iso(self.first_day()), self.granularity().letter())
    }

    /// The smallest and the largest sort key of periods starting within `from..=to`'s days.
    pub fn key_range(from: &Period, to: &Period) -> (String, String) {
        (
            format!("{}#", iso(from.first_day())),
            format!("{}#~", iso(to.last_day())),
        )
    }
}

fn iso(day: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Period::Day(day) => f.write_str(&iso(day)),
            Period::Month { year, month } => write!(f, "{year:04}-{:02}", u8::from(month)),
            Period::Quarter { year, quarter } => write!(f, "{year:04}-Q{quarter}"),
        }
    }
}

impl Serialize for Period {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Period::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_print_and_bound_their_days() {
        for (raw, first, last) in [
            ("2026-12-02", "2026-12-02", "2026-12-02"),
            ("2024-02", "2024-02-01", "2024-02-29"),
            ("2026-Q4", "2026-10-01", "2026-12-31"),
            ("2026-Q1", "2026-01-01", "2026-03-31"),
        ] {
            let period = Period::parse(raw).unwrap();
            assert_eq!(period.to_string(), raw);
            assert_eq!(iso(period.first_day()), first, "{raw}");
            assert_eq!(iso(period.last_day()), last, "{raw}");
        }
    }

    #[test]
    fn malformed_periods_say_why() {
        for (raw, why) in [
            ("2026", "no '-'"),
            ("26-12", "four digits"),
            ("2026-13", "01 to 12"),
            ("2026-Q5", "Q1 to Q4"),
            ("2026-02-30", "no such day"),
            ("2026-2", "two digits"),
            ("2026-12-1", "two digits"),
            ("1969-12", "before 1970"),
            ("2026-12-02T00", "two digits"),
        ] {
            let e = Period::parse(raw).unwrap_err();
            assert!(e.contains(why), "{raw}: {e}");
        }
    }

    #[test]
    fn the_previous_period_has_the_same_length() {
        let prev = |raw: &str| Period::parse(raw).unwrap().previous().unwrap().to_string();
        assert_eq!(prev("2026-01"), "2025-12");
        assert_eq!(prev("2026-Q1"), "2025-Q4");
        assert_eq!(prev("2026-03-01"), "2026-02-28");
    }

    #[test]
    fn sort_keys_order_periods_by_first_day_and_ranges_hold_what_starts_within() {
        let key = |raw: &str| Period::parse(raw).unwrap().sort_key();
        assert!(key("2026-10-01") < key("2026-10"));
        assert!(key("2026-10") < key("2026-Q4"));
        assert!(key("2026-Q4") < key("2026-10-02"));
        let (low, high) = Period::key_range(
            &Period::parse("2026-10").unwrap(),
            &Period::parse("2026-Q4").unwrap(),
        );
        for inside in ["2026-10-01", "2026-10", "2026-Q4", "2026-12-31", "2026-12"] {
            assert!(
                (low.as_str()..=high.as_str()).contains(&key(inside).as_str()),
                "{inside}"
            );
        }
        for outside in ["2026-09-30", "2026-Q3", "2027-01"] {
            assert!(
                !(low.as_str()..=high.as_str()).contains(&key(outside).as_str()),
                "{outside}"
            );
        }
    }
}
