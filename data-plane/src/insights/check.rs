//! The post-check: every number an answer states must be a number of the fact sheet, as the
//! fact reads (a ratio as a percentage), rounded no further than the fact allows and the way
//! the sheet rounds it. A number that matches none is reported, and the answer is not used as
//! written.
//!
//! What counts as a number: a run of ASCII digits, with `,` thousands separators and a `.`
//! decimal part, an optional sign and an optional `%`. Left out of the check, as whole tokens
//! only: fact ids (`f3`, `[f3]`), the sheet's periods (`2026-Q4`), the versions it names
//! (`version 2`) and tenant-supplied names quoted as the sheet quotes them (`"Tour 3"`), whose
//! digits back nothing anywhere else — a title saying "99%" cannot make a "99%" pass. Refused
//! outright, whatever their value: a number with a magnitude or factor suffix (`10k`, `3x`),
//! one starting with a bare `.`, one glued to other letters (`EUR1200`), and any non-ASCII
//! digit.
//!
//! A number followed by a citation (`42.1% [f2]`, one space at most between) must be backed by
//! the fact it cites — a true number with the wrong id, or an id the sheet does not have, is
//! reported; a number without one passes if any fact backs it.

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
    /// The magnitude as written, without sign.
    magnitude: f64,
    /// `Some('+')` or `Some('-')` when a sign is written.
    sign: Option<char>,
    decimals: u32,
    percent: bool,
    /// Written in a form no fact can back (`10k`, `.5`, `EUR12`).
    malformed: bool,
}

/// Every number of `answer` that the sheet does not back, in order.
pub fn unmatched(answer: &str, sheet: &FactSheet) -> Vec<Unmatched> {
    let answer = blank(answer, &exempt_tokens(sheet));
    let ids: Vec<&str> = sheet.facts.iter().map(|f| f.id.as_str()).collect();
    numbers(&answer, &ids)
        .into_iter()
        .filter(|n| {
            n.malformed
                || match cited(&answer, n) {
                    Some(id) => !sheet
                        .facts
                        .iter()
                        .any(|fact| fact.id == id && reads_as(n, fact)),
                    None => !backed(n, sheet),
                }
        })
        .map(|n| Unmatched {
            text: n.text,
            at: n.at,
        })
        .collect()
}

/// `value` rounded to `decimals` the way the sheet writes it (`format!`'s rounding).
fn as_written(value: f64, decimals: u32) -> f64 {
    format!("{value:.*}", decimals as usize)
        .parse()
        .unwrap_or(value)
}

/// The fact id cited right after `n` (`12 [f3]`, at most one space between), if any.
fn cited<'a>(text: &'a str, n: &Written) -> Option<&'a str> {
    let after = text.get(n.at + n.text.len()..)?;
    let after = after.strip_prefix(' ').unwrap_or(after);
    let inside = after.strip_prefix('[')?;
    let end = inside.find(']')?;
    let id = &inside[..end];
    let digits = id.strip_prefix('f')?;
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some(id)
}

/// Whether any fact backs `n`.
fn backed(n: &Written, sheet: &FactSheet) -> bool {
    sheet.facts.iter().any(|fact| reads_as(n, fact))
}

/// Whether `fact` reads as `n`: equal once the fact is rounded to the decimals `n` shows,
/// which may be no more than the fact allows.
fn reads_as(n: &Written, fact: &super::facts::Fact) -> bool {
    {
        let (reading, max_decimals) = fact.readings();
        let as_percent = matches!(fact.unit, Unit::Ratio | Unit::Change);
        if n.percent != as_percent || n.decimals > max_decimals {
            return false;
        }
        let rounded = as_written(reading, n.decimals);
        let same = |a: f64, b: f64| (a - b).abs() < 1e-9 * b.abs().max(1.0);
        match n.sign {
            // An explicit sign must agree with the fact's ("+12.5%" is no fall of 12.5%).
            Some('-') => same(-n.magnitude, rounded),
            Some(_) => rounded > 0.0 && same(n.magnitude, rounded),
            // Unsigned: a count or ratio as it is, a change by its size ("fell by 12.5%").
            None if fact.unit == Unit::Change => same(n.magnitude, rounded.abs()),
            None => same(n.magnitude, rounded),
        }
    }
}

/// The tokens left out of the check: tenant names quoted as the sheet quotes them, the
/// sheet's periods, the versions its labels name. Longest first, so that a period inside a
/// name does not break the name.
fn exempt_tokens(sheet: &FactSheet) -> Vec<String> {
    let mut tokens: Vec<String> = vec![sheet.period.clone()];
    for fact in &sheet.facts {
        tokens.extend(quoted_segments(&fact.label));
        tokens.push(fact.period.clone());
        let label = blank(&fact.label, &quoted_segments(&fact.label));
        for word in label.split(|c: char| c.is_whitespace() || "(),;:".contains(c)) {
            if crate::series::period::Period::parse(word).is_ok() {
                tokens.push(word.to_owned());
            }
        }
        let mut rest = label.as_str();
        while let Some(at) = rest.find("version ") {
            let after = &rest[at + "version ".len()..];
            let digits: String = after.chars().take_while(char::is_ascii_digit).collect();
            if !digits.is_empty() {
                tokens.push(format!("version {digits}"));
            }
            rest = after;
        }
    }
    tokens.retain(|t| !t.is_empty());
    tokens.sort_by_key(|t| std::cmp::Reverse(t.len()));
    tokens.dedup();
    tokens
}

/// The JSON-quoted segments of a label (`"Tour 3"`, quotes included), as `facts::quoted`
/// writes tenant-supplied names.
fn quoted_segments(label: &str) -> Vec<String> {
    let mut segments = Vec::new();
    let mut offset = 0;
    while let Some(start) = label[offset..].find('"') {
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
    }
    segments
}

/// `text` with every occurrence of each of `tokens` replaced by blanks of the same length
/// (a period only as a whole token: `2026-11` is not blanked inside `2026-11-05`).
fn blank(text: &str, tokens: &[String]) -> String {
    let mut out = text.to_owned();
    for token in tokens {
        let mut from = 0;
        while let Some(found) = out[from..].find(token.as_str()) {
            let start = from + found;
            let end = start + token.len();
            let glued = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'-');
            let whole = token.starts_with('"')
                || (!glued(start.checked_sub(1).and_then(|i| out.as_bytes().get(i)))
                    && !glued(out.as_bytes().get(end)));
            if whole {
                out.replace_range(start..end, &" ".repeat(token.len()));
            }
            from = end;
        }
    }
    out
}

/// The numbers written in `text`, the fact ids `ids` left out.
fn numbers(text: &str, ids: &[&str]) -> Vec<Written> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    // A digit no ASCII rule reads (`９９`) is refused where it stands.
    for (at, c) in text.char_indices() {
        if c.is_numeric() && !c.is_ascii_digit() {
            found.push(Written {
                text: c.to_string(),
                at,
                magnitude: 0.0,
                sign: None,
                decimals: 0,
                percent: false,
                malformed: true,
            });
        }
    }
    let mut i = 0;
    while i < bytes.len() {
        if !bytes[i].is_ascii_digit() {
            i += 1;
            continue;
        }
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
        // A fact id (`f3` after a non-letter) is a citation.
        let word_start = text[..start]
            .rfind(|c: char| !c.is_ascii_alphanumeric())
            .map_or(0, |p| p + 1);
        let word = &text[word_start..end];
        if word_start < start && ids.contains(&word) {
            continue;
        }
        let glued_before = word_start < start;
        let glued_after = bytes.get(end).is_some_and(u8::is_ascii_alphabetic);
        let bare_point = start > 0
            && bytes[start - 1] == b'.'
            && !(start > 1 && bytes[start - 2].is_ascii_digit());
        let sign = match start.checked_sub(1).map(|p| bytes[p]) {
            Some(b'-') => Some('-'),
            Some(b'+') => Some('+'),
            _ if text[..start].ends_with('\u{2212}') => Some('-'),
            _ => None,
        };
        let sign_start = match sign {
            Some(_) if matches!(bytes.get(start.wrapping_sub(1)), Some(b'-' | b'+')) => start - 1,
            _ => start,
        };
        let after = &text[end..];
        let percent = after.starts_with('%')
            || after.starts_with(" %")
            || (after.starts_with(" percent") && !after.starts_with(" percentage"));
        let raw = &text[start..end];
        let Ok(magnitude) = raw.replace(',', "").parse::<f64>() else {
            continue;
        };
        found.push(Written {
            text: text[sign_start..end].to_owned() + if after.starts_with('%') { "%" } else { "" },
            at: sign_start,
            magnitude,
            sign,
            decimals,
            percent,
            malformed: glued_before || glued_after || bare_point,
        });
    }
    found.sort_by_key(|n| n.at);
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
    use crate::insights::facts::quoted;

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
                "completion rate of tour {} (version 2)",
                quoted("Onboarding 2")
            ),
            0.4213,
            Unit::Ratio,
            812,
            "2026-11",
        );
        sheet.push(
            "change in events against 2026-10",
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
                "In 2026-11 there were 12,345 events [f1], down 12.5% [f3] (-12.5% against \
                 2026-10), and 42% of users finished \"Onboarding 2\" (version 2) (42.1% [f2]); \
                 12345 in all."
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
    fn the_digits_of_periods_and_versions_back_nothing_but_themselves() {
        assert_eq!(
            flagged("11% churned, -10% left, 1.1% came back."),
            ["11%", "-10%", "1.1%"]
        );
        assert_eq!(
            flagged("2,026 sign-ups; 20.26% of them; 2% more."),
            ["2,026", "20.26%", "2%"]
        );
        assert_eq!(flagged("Version 2 had 2 users."), ["2", "2"]);
    }

    #[test]
    fn a_change_keeps_its_direction() {
        assert_eq!(flagged("Events fell by 12.5% [f3]."), Vec::<String>::new());
        assert_eq!(flagged("Events grew +12.5% [f3]."), ["+12.5%"]);
        assert_eq!(flagged("Events: -12.5% [f3]."), Vec::<String>::new());
    }

    #[test]
    fn numbers_in_forms_no_fact_backs_are_refused() {
        assert_eq!(flagged("About 12k events."), ["12"]);
        assert_eq!(flagged("A 3x rise."), ["3"]);
        assert_eq!(flagged("Only .5% failed."), ["5%"]);
        assert_eq!(flagged("Revenue EUR12345."), ["12345"]);
        assert_eq!(flagged("Completion ４２%."), ["４", "２"]);
        assert_eq!(flagged("Up 42 percentage points [f2]."), ["42"]);
    }

    #[test]
    fn fact_ids_and_the_sheets_own_tokens_are_not_numbers_to_check() {
        assert_eq!(
            flagged("See [f1], [f2] and f3; in 2026-10 and 2026-11, tour \"Onboarding 2\"."),
            Vec::<String>::new()
        );
        // An id the sheet does not have is no citation.
        assert_eq!(flagged("See [f9]."), ["9"]);
    }

    #[test]
    fn a_cited_number_must_be_the_cited_facts() {
        assert_eq!(
            flagged("12,345 [f1] events, 42.1% [f2], down 12.5% [f3]."),
            Vec::<String>::new()
        );
        // True numbers, wrong ids: 12,345 is f1's, 42.1% is f2's.
        assert_eq!(
            flagged("12,345 [f2] events and 42.1%[f1]."),
            ["12,345", "42.1%"]
        );
        // An id the sheet does not have backs nothing (and is no id: its digits are flagged).
        assert_eq!(flagged("12,345 [f9] events."), ["12,345", "9"]);
        // Uncited, any fact may back it; a citation further away is not read as its.
        assert_eq!(
            flagged("12,345 events happened [f2]."),
            Vec::<String>::new()
        );
    }

    #[test]
    fn rounding_is_the_sheets_own() {
        // 1/16 = 6.25%: the sheet writes 6.2 (ties to even), and so may the answer.
        let mut sheet = FactSheet::new("2026-11");
        sheet.push("a share", 0.0625, Unit::Ratio, 16, "2026-11");
        let written = sheet.facts[0].display();
        assert_eq!(written, "6.2%");
        assert!(unmatched(&format!("{written} [f1]"), &sheet).is_empty());
    }

    #[test]
    fn digits_of_a_quoted_name_back_nothing_outside_it() {
        assert_eq!(
            flagged("Tour \"Onboarding 2\" is fine."),
            Vec::<String>::new()
        );
        assert_eq!(flagged("Onboarding 2 had 2 users."), ["2", "2"]);
        let mut injected = sheet();
        injected.push(
            format!("users who reached {}", quoted("say 99% [f9]")),
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

/// Answers SmolLM2-135M-Instruct wrote (temperature 0, seed 42, through `scripts/local-model.sh`)
/// from the sheet below, kept as they came, invented numbers and all.
#[cfg(test)]
mod recorded {
    use super::*;
    use crate::insights::facts::quoted;

    fn sheet() -> FactSheet {
        let mut sheet = FactSheet::new("2026-11");
        let welcome = quoted("Welcome");
        sheet.push("events of all types", 1240.0, Unit::Count, 1240, "2026-11");
        sheet.push("impression events", 900.0, Unit::Count, 900, "2026-11");
        sheet.push("impression events", 700.0, Unit::Count, 700, "2026-10");
        sheet.push(
            "change in impression events against 2026-10",
            2.0 / 7.0,
            Unit::Change,
            1600,
            "2026-11",
        );
        sheet.push(
            format!("users who reached the first step of tour {welcome} (version 2)"),
            310.0,
            Unit::Count,
            310,
            "lifetime",
        );
        sheet.push(
            format!("completion rate of tour {welcome} (version 2)"),
            130.0 / 310.0,
            Unit::Ratio,
            310,
            "lifetime",
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
    fn the_sheet_reads_as_the_model_was_shown_it() {
        let lines = sheet().as_prompt_lines();
        assert!(
            lines.contains("f4 | change in impression events against 2026-10 | +28.6%"),
            "{lines}"
        );
        assert!(
            lines.contains("f6 | completion rate of tour \"Welcome\" (version 2) | 41.9%"),
            "{lines}"
        );
    }

    #[test]
    fn a_grounded_answer_passes() {
        assert_eq!(
            flagged("The completion rate of the Welcome tour was 41.9%."),
            Vec::<String>::new()
        );
        assert_eq!(
            flagged(
                "In 2026-11, the team's in-app guidance analytics for that team included a new \
                 feature called \"f3\" which allowed users to track their own personal tour of \
                 the company."
            ),
            Vec::<String>::new()
        );
    }

    #[test]
    fn invented_numbers_are_caught_and_true_ones_beside_them_are_not() {
        assert_eq!(
            flagged(
                "The number of impression events was 120, and the change occurred in the period \
                 \"2026-11\" when the tour \"Welcome\" ended."
            ),
            ["120"]
        );
        assert_eq!(
            flagged(
                "2026-11:\nf3 | 7,598.4\nf4 | 1,240\nf5 | 3,292\nf6 | 4,292\n\nThe numbers are \
                 from the data set of events that were recorded in 2026-11 and have been tracked \
                 for a period of 7 years."
            ),
            ["7,598.4", "3,292", "4,292", "7"]
        );
        assert_eq!(
            flagged(
                "The tour \"Welcome\" was the 2019-20, which included a new version of the \
                 tour called \"Tour 3.5.\""
            ),
            ["2019", "-20", "3.5"]
        );
    }
}
