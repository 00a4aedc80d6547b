//! The chat's deterministic classifier: what a question asks about (its [`Intent`]), which of
//! the tenant's content items and metric subjects it names, and which period. No model is
//! involved — the same question about the same tenant always gets the same classification,
//! which decides the only facts the model is shown.

use serde::{Deserialize, Serialize};
use time::Date;
use utoipa::ToSchema;

use crate::series::period::Period;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Intent {
    /// How things went in a period: the whole fact sheet.
    Overview,
    /// How users move through a content item's steps.
    Funnel,
    /// Whose targets the SDK could not find.
    SelectorHealth,
    /// A metric's value over the period and the one before.
    MetricTrend,
    /// This period against the one before.
    Comparison,
    /// Nothing the facts can answer.
    Other,
}

/// Where the period came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PeriodFrom {
    /// Written in the question (`2026-11`, `last month`).
    Asked,
    /// Not named: the current month.
    Default,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Classification {
    pub intent: Intent,
    /// The tenant's content items the question names, by id or by name.
    pub content_ids: Vec<String>,
    /// The tenant's metric subjects the question names.
    pub metric_subjects: Vec<String>,
    #[schema(value_type = String, pattern = r"^[0-9]{4}-([0-9]{2}(-[0-9]{2})?|Q[1-4])$")]
    pub period: Period,
    pub period_from: PeriodFrom,
}

/// What the tenant has, for recognising names in a question.
#[derive(Debug, Default)]
pub struct Known {
    /// Content ids and names.
    pub content: Vec<(String, String)>,
    pub subjects: Vec<String>,
}

/// Names shorter than this are not looked for in a question (too many false hits).
const MIN_NAME_CHARS: usize = 3;

const HEALTH_WORDS: &[&str] = &[
    "selector",
    "selectors",
    "target",
    "targets",
    "missing",
    "broken",
    "health",
    "element",
    "elements",
];
const FUNNEL_WORDS: &[&str] = &[
    "funnel",
    "drop",
    "dropoff",
    "step",
    "steps",
    "completion",
    "complete",
    "completed",
    "completes",
    "conversion",
    "finish",
    "finished",
];
const METRIC_WORDS: &[&str] = &["metric", "metrics", "trend", "kpi", "kpis"];
const COMPARISON_WORDS: &[&str] = &[
    "compare",
    "compared",
    "comparison",
    "vs",
    "versus",
    "change",
    "changed",
    "previous",
    "growth",
    "grew",
    "better",
    "worse",
    "increase",
    "decrease",
    "before",
];
const OVERVIEW_WORDS: &[&str] = &[
    "overview",
    "summary",
    "summarise",
    "summarize",
    "how",
    "doing",
    "performance",
    "activity",
    "events",
    "tours",
    "going",
    "report",
];

/// Classifies `text`, a question asked on `today` (UTC).
pub fn classify(text: &str, known: &Known, today: Date) -> Classification {
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower
        .split(|c: char| !c.is_alphanumeric() && c != '-')
        .filter(|w| !w.is_empty())
        .collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.trim_matches('-')));

    let content_ids: Vec<String> = known
        .content
        .iter()
        .filter(|(id, name)| {
            words.contains(&id.to_lowercase().as_str())
                || (name.chars().count() >= MIN_NAME_CHARS && lower.contains(&name.to_lowercase()))
        })
        .map(|(id, _)| id.clone())
        .collect();
    let metric_subjects: Vec<String> = known
        .subjects
        .iter()
        .filter(|s| s.chars().count() >= MIN_NAME_CHARS && lower.contains(&s.to_lowercase()))
        .cloned()
        .collect();

    let intent = if has(HEALTH_WORDS) {
        Intent::SelectorHealth
    } else if has(FUNNEL_WORDS) {
        Intent::Funnel
    } else if !metric_subjects.is_empty() || has(METRIC_WORDS) {
        Intent::MetricTrend
    } else if has(COMPARISON_WORDS) {
        Intent::Comparison
    } else if has(OVERVIEW_WORDS) || !content_ids.is_empty() {
        Intent::Overview
    } else {
        Intent::Other
    };

    let (period, period_from) = match asked_period(&lower, &words, today) {
        Some(period) => (period, PeriodFrom::Asked),
        None => (month_of(today), PeriodFrom::Default),
    };
    Classification {
        intent,
        content_ids,
        metric_subjects,
        period,
        period_from,
    }
}

fn month_of(day: Date) -> Period {
    Period::Month {
        year: day.year(),
        month: day.month(),
    }
}

fn quarter_of(day: Date) -> Period {
    Period::Quarter {
        year: day.year(),
        quarter: (u8::from(day.month()) - 1) / 3 + 1,
    }
}

/// A period the question writes out (`2026-11`, `2026-Q4`, `2026-11-30`) or names relative to
/// `today`; the first one found.
fn asked_period(lower: &str, words: &[&str], today: Date) -> Option<Period> {
    for word in words {
        if let Ok(period) = Period::parse(&word.to_uppercase()) {
            return Some(period);
        }
    }
    let first_of_month = today.replace_day(1).ok()?;
    let relative = [
        ("last quarter", quarter_of(today).previous()),
        ("previous quarter", quarter_of(today).previous()),
        ("this quarter", Some(quarter_of(today))),
        ("last month", first_of_month.previous_day().map(month_of)),
        (
            "previous month",
            first_of_month.previous_day().map(month_of),
        ),
        ("this month", Some(month_of(today))),
        ("yesterday", today.previous_day().map(Period::Day)),
        ("today", Some(Period::Day(today))),
    ];
    relative
        .into_iter()
        .find(|(phrase, _)| lower.contains(phrase))
        .and_then(|(_, period)| period)
}

/// What the chat answers to a question of [`Intent::Other`], without a model: what it can
/// answer (it states no number).
pub fn help_text() -> String {
    "I answer questions about your guidance analytics from its facts: an overview of a period \
     (\"how did we do last month?\"), a content item's funnel, selector health (targets the SDK \
     could not find), a metric's trend, or a comparison with the period before."
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    const TODAY: Date = date!(2026 - 12 - 02);

    fn known() -> Known {
        Known {
            content: vec![
                ("welcome-tour".to_owned(), "Welcome".to_owned()),
                ("c2".to_owned(), "Checkout tips".to_owned()),
            ],
            subjects: vec!["revenue".to_owned(), "signups".to_owned()],
        }
    }

    fn intent(text: &str) -> Intent {
        classify(text, &known(), TODAY).intent
    }

    #[test]
    fn intents_follow_the_questions_words() {
        assert_eq!(intent("How are our tours doing?"), Intent::Overview);
        assert_eq!(
            intent("Where do users drop off in the Welcome tour?"),
            Intent::Funnel
        );
        assert_eq!(
            intent("Which selectors are broken?"),
            Intent::SelectorHealth
        );
        assert_eq!(intent("What is the revenue trend?"), Intent::MetricTrend);
        assert_eq!(intent("How did signups go?"), Intent::MetricTrend);
        assert_eq!(
            intent("Compare this month with the previous one"),
            Intent::Comparison
        );
        assert_eq!(intent("What's the weather in Paris?"), Intent::Other);
        assert_eq!(intent(""), Intent::Other);
        // A word inside another word is no hit ("stepped" is not "step", "show" not "how").
        assert_eq!(intent("show me the weather"), Intent::Other);
    }

    #[test]
    fn entities_are_the_tenants_own_names_and_ids() {
        let c = classify(
            "Funnel of the welcome tour and c2, and revenue?",
            &known(),
            TODAY,
        );
        assert_eq!(c.content_ids, ["welcome-tour", "c2"]);
        assert_eq!(c.metric_subjects, ["revenue"]);
        let none = classify("How are the checkout pages?", &known(), TODAY);
        assert!(none.content_ids.is_empty(), "{none:?}");
    }

    #[test]
    fn periods_are_read_as_written_or_relative_to_today() {
        let period = |text: &str| {
            let c = classify(text, &known(), TODAY);
            (c.period.to_string(), c.period_from)
        };
        assert_eq!(
            period("how was 2026-10?"),
            ("2026-10".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("and in 2026-q3"),
            ("2026-Q3".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("on 2026-11-30"),
            ("2026-11-30".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("last month"),
            ("2026-11".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("last quarter"),
            ("2026-Q3".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("yesterday"),
            ("2026-12-01".to_owned(), PeriodFrom::Asked)
        );
        assert_eq!(
            period("how are we doing"),
            ("2026-12".to_owned(), PeriodFrom::Default)
        );
        assert_eq!(
            period("in 2026-13"),
            ("2026-12".to_owned(), PeriodFrom::Default)
        );
    }

    #[test]
    fn the_same_question_gets_the_same_classification() {
        let text = "Where do users drop off in the Welcome tour last month?";
        assert_eq!(
            classify(text, &known(), TODAY),
            classify(text, &known(), TODAY)
        );
    }

    #[test]
    fn the_help_text_states_no_number() {
        assert!(!help_text().chars().any(|c| c.is_ascii_digit()));
    }
}
