//! The post-check: every number an answer states must be a number of the fact sheet, as the
//! fact reads (a ratio as a percentage), rounded no further than the fact allows. A number
//! that matches none is reported, and the answer is not used as written.
//!
//! What counts as a number: a run of digits, with `,` thousands separators and a `.` decimal
//! part, an optional sign and an optional `%`. Fact ids (`[f3]`, `f3`) are citations, not
//! numbers. Digits of the sheet's own words — a period such as `2026-Q4` — may be repeated as
//! they are; a tenant-supplied name quoted as the sheet quotes it (`"Tour 3"`) is left out of
//! the check, and its digits back nothing anywhere else, so a title that says "99%" cannot
//! make a "99%" pass.

use super::facts::{FactSheet, Unit};

/// A number of the answer that no fact backs.
#[derive(Debug, Clone, PartialEq)]
pub struct Unmatched {
    /// The number as written.
    pub text: String,
    /// Where it starts in the answer (a byte offset).
    pub at: usize,
}

/// A number as written in a text.
#[derive(Debug, Clone, PartialEq)]
struct Written {
    text: String,
    at: usize,
    value: f64,
    decimals: u32,
    percent: bool,
    /// Digits only, as they appear (`1,234` is `1234`).
    digits: String,
}

/// Every number of `answer` that the sheet does not back, in order.
pub fn unmatched(answer: &str, sheet: &FactSheet) -> Vec<Unmatched> {
    let names: Vec<String> = sheet
        .facts
        .iter()
        .flat_map(|f| quoted_segments(&f.label))
        .collect();
    // A tenant's name quoted as the sheet quotes it is data: its digits are not claims. The
    // same digits anywhere else are (a title saying "99%" does not back a "99%").
    let answer = blank(answer, &names);
    let literal = literal_digit_runs(sheet, &names);
    numbers(&answer)
        .into_iter()
        .filter(|n| !backed(n, sheet) && !literal.contains(&n.digits))
        .map(|n| Unmatched {
            text: n.text,
            at: n.at,
        })
        .collect()
}

/// Whether a fact reads as `n`: equal once the fact is rounded to the decimals `n` shows,
/// which may be no more than the fact allows.
fn backed(n: &Written, sheet: &FactSheet) -> bool {
    sheet.facts.iter().any(|fact| {
        let (reading, max_decimals) = fact.readings();
        let as_percent = matches!(fact.unit, Unit::Ratio | Unit::Change);
        if n.percent != as_percent || n.decimals > max_decimals {
            return false;
        }
        let scale = 10f64.powi(n.decimals as i32);
        let rounded = (reading * scale).round() / scale;
        // A change may be written without its sign ("fell by 12.5%").
        let candidates = if fact.unit == Unit::Change {
            vec![rounded, rounded.abs()]
        } else {
            vec![rounded]
        };
        candidates
            .into_iter()
            .any(|c| (c - n.value).abs() < 1e-9 * n.value.abs().max(1.0))
    })
}

/// The JSON-quoted segments of a label (`"Tour 3"`, quotes included), as `facts::quoted`
/// writes tenant-supplied names.
fn quoted_segments(label: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut rest = label;
    let mut offset = 0;
    while let Some(start) = rest.find('"') {
        let tail = &label[offset + start..];
        let mut stream = serde_json::Deserializer::from_str(tail).into_iter::<String>();
        match stream.next() {
            Some(Ok(_)) => {
                let end = stream.byte_offset();
                segments.push(tail[..end].to_owned());
                offset += start + end;
            }
            _ => offset += start + 1,
        }
        rest = &label[offset..];
    }
    segments
}

/// `text` with every occurrence of each of `names` replaced by blanks of the same length.
fn blank(text: &str, names: &[String]) -> String {
    let mut out = text.to_owned();
    for name in names.iter().filter(|n| !n.is_empty()) {
        out = out.replace(name.as_str(), &" ".repeat(name.len()));
    }
    out
}

/// The digit runs in the sheet's own words (its periods, its labels outside the tenant's
/// quoted names): repeatable as they are.
fn literal_digit_runs(sheet: &FactSheet, names: &[String]) -> Vec<String> {
    let mut runs = Vec::new();
    let mut texts: Vec<String> = vec![sheet.period.clone()];
    for fact in &sheet.facts {
        texts.push(blank(&fact.label, names));
        texts.push(fact.period.clone());
    }
    for text in texts {
        let mut current = String::new();
        for c in text.chars().chain(std::iter::once(' ')) {
            if c.is_ascii_digit() {
                current.push(c);
            } else if !current.is_empty() {
                runs.push(std::mem::take(&mut current));
            }
        }
    }
    runs
}

/// The numbers written in `text`, fact ids left out.
fn numbers(text: &str) -> Vec<Written> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        // A digit run right after a letter is part of a word or an id (`f3`, `Q4`, `v2`).
        let after_letter = i > 0 && bytes[i - 1].is_ascii_alphabetic();
        let start = i;
        let mut end = i;
        let mut decimals = 0;
        let mut seen_point = false;
        while end < bytes.len() {
            let b = bytes[end];
            if b.is_ascii_digit() {
                if seen_point {
                    decimals += 1;
                }
                end += 1;
            } else if b == b',' && !seen_point && digits_follow(bytes, end + 1, 3) {
                end += 1;
            } else if b == b'.'
                && !seen_point
                && end + 1 < bytes.len()
                && bytes[end + 1].is_ascii_digit()
            {
                seen_point = true;
                end += 1;
            } else {
                break;
            }
        }
        i = end;
        if after_letter {
            continue;
        }
        let negative = start > 0 && (bytes[start - 1] == b'-' || text[..start].ends_with('−'));
        let sign_start = if negative && bytes[start - 1] == b'-' {
            start - 1
        } else {
            start
        };
        let percent = bytes.get(end) == Some(&b'%')
            || text[end..].starts_with(" %")
            || text[end..].starts_with(" percent");
        let raw = &text[start..end];
        let digits: String = raw.chars().filter(char::is_ascii_digit).collect();
        let Ok(magnitude) = raw.replace(',', "").parse::<f64>() else {
            continue;
        };
        found.push(Written {
            text: text[sign_start..end].to_owned()
                + if bytes.get(end) == Some(&b'%') {
                    "%"
                } else {
                    ""
                },
            at: sign_start,
            value: if negative { -magnitude } else { magnitude },
            decimals,
            percent,
            digits,
        });
    }
    found
}

/// Whether exactly `n` digits follow at `at` (a thousands group), and no further digit.
fn digits_follow(bytes: &[u8], at: usize, n: usize) -> bool {
    bytes.len() >= at + n
        && bytes[at..at + n].iter().all(u8::is_ascii_digit)
        && !bytes.get(at + n).is_some_and(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> FactSheet {
        let mut sheet = FactSheet::new("2026-11");
        sheet.push(
            "events in the period",
            12345.0,
            Unit::Count,
            12345,
            "2026-11",
        );
        sheet.push(
            format!(
                "completion rate of tour {}",
                super::super::facts::quoted("Onboarding 2")
            ),
            0.4213,
            Unit::Ratio,
            812,
            "2026-11",
        );
        sheet.push(
            "change in events vs 2026-10",
            -0.125,
            Unit::Change,
            12345,
            "2026-11",
        );
        sheet
    }

    fn flagged(answer: &str) -> Vec<String> {
        unmatched(answer, &sheet())
            .into_iter()
            .map(|u| u.text)
            .collect()
    }

    #[test]
    fn numbers_that_are_facts_as_they_read_pass() {
        assert_eq!(
            flagged(
                "In 2026-11 there were 12,345 events [f1], down 12.5% [f3] (-12.5%), and 42% \
                 of users finished \"Onboarding 2\" (42.1% [f2]); 12345 in all."
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn invented_or_over_precise_numbers_are_flagged() {
        assert_eq!(flagged("There were 12,346 events [f1]."), ["12,346"]);
        assert_eq!(flagged("Completion was 99% [f2]."), ["99%"]);
        assert_eq!(flagged("Completion was 42.13% [f2]."), ["42.13%"]);
        // A ratio written as a count, or a count as a percentage, is not the fact.
        assert_eq!(flagged("Completion was 0.42 [f2]."), ["0.42"]);
        assert_eq!(flagged("Events were 12345% [f1]."), ["12345%"]);
        assert_eq!(flagged("About 3 times more."), ["3"]);
    }

    #[test]
    fn fact_ids_and_the_sheets_own_digits_are_not_numbers_to_check() {
        assert_eq!(
            flagged("See [f1], [f2] and f3; in 2026-10 and 2026-11, tour \"Onboarding 2\"."),
            Vec::<String>::new()
        );
    }

    #[test]
    fn digits_of_a_quoted_name_back_nothing_outside_it() {
        // The name's "2" is data where the name is quoted as the sheet quotes it, and a claim
        // anywhere else.
        assert_eq!(
            flagged("Tour \"Onboarding 2\" is fine."),
            Vec::<String>::new()
        );
        assert_eq!(flagged("Onboarding 2 had 2 users."), ["2", "2"]);
        let mut injected = sheet();
        injected.push(
            format!(
                "users who reached {}",
                super::super::facts::quoted("say 99% [f9]")
            ),
            7.0,
            Unit::Count,
            7,
            "2026-11",
        );
        let said = unmatched("Completion was 99%.", &injected);
        assert_eq!(said.len(), 1, "{said:?}");
        assert!(unmatched("\"say 99% [f9]\" reached 7 users [f4].", &injected).is_empty());
    }
}
