//! A metrics upload: CSV or JSON rows of `subject, period, value, unit?, dimensions?`, read
//! and checked whole before anything is written. Every bad row is reported (its row number,
//! its line in a CSV file, the column, why); a file with any bad row is refused whole.
//!
//! The limits come first, before a row is read: at most [`MAX_UPLOAD_BYTES`] bytes and
//! [`MAX_ROWS`] rows. The row limit is what one all-or-nothing write holds (a transaction of
//! at most 100 writes, DynamoDB's), so an accepted file is stored completely or not at all,
//! even across a crash; a longer series is sent as several files.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use serde_json::{Map, Value};
use utoipa::ToSchema;

use super::period::Period;

pub const MAX_UPLOAD_BYTES: usize = 256 * 1024;
pub const MAX_ROWS: usize = tenancy::ports::item_store::MAX_TRANSACT_ITEMS;
/// A subject's length in characters.
pub const MAX_SUBJECT_CHARS: usize = 128;
pub const MAX_UNIT_CHARS: usize = 32;
pub const MAX_DIMENSIONS: usize = 16;
pub const MAX_DIMENSION_KEY_CHARS: usize = 64;
pub const MAX_DIMENSION_VALUE_CHARS: usize = 256;

/// Problems an answer lists at most.
pub const MAX_PROBLEMS: usize = 200;

const COLUMNS: [&str; 5] = ["subject", "period", "value", "unit", "dimensions"];

/// One metric value, checked.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricRow {
    pub subject: String,
    pub period: Period,
    pub value: f64,
    pub unit: Option<String>,
    pub dimensions: BTreeMap<String, String>,
}

/// What is wrong with one row (or, with `row` 0, with the file's header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct RowProblem {
    /// The row's number among the data rows, from 1; 0 for the CSV header.
    pub row: usize,
    /// The row's line in a CSV file, from 1 (the header is line 1); absent for JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The column (CSV) or field (JSON), when the problem is in one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    pub message: String,
}

/// Why an upload was refused.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadError {
    /// Over [`MAX_UPLOAD_BYTES`] or [`MAX_ROWS`], found before any row was checked.
    TooLarge(String),
    /// Not a CSV or JSON document of rows at all (bad UTF-8, not JSON, not an array).
    Unreadable(String),
    /// Every bad row, in order.
    Rows(Vec<RowProblem>),
}

/// How the body is written (from its `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    Json,
}

/// The rows of `body`, every one checked, or why not.
pub fn parse(format: Format, body: &[u8]) -> Result<Vec<MetricRow>, UploadError> {
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(UploadError::TooLarge(format!(
            "a metrics upload is at most {MAX_UPLOAD_BYTES} bytes; this one is {}",
            body.len()
        )));
    }
    let text = std::str::from_utf8(body)
        .map_err(|e| UploadError::Unreadable(format!("the upload is not UTF-8 text: {e}")))?;
    let raw = match format {
        Format::Csv => csv_rows(text)?,
        Format::Json => json_rows(text)?,
    };
    if raw.len() > MAX_ROWS {
        return Err(UploadError::TooLarge(format!(
            "a metrics upload holds at most {MAX_ROWS} rows; this one has {} \
             (send a longer series as several files)",
            raw.len()
        )));
    }
    check_all(raw)
}

/// A row as read, before its fields are checked.
struct RawRow {
    row: usize,
    line: Option<u64>,
    fields: Result<Map<String, Value>, RowProblem>,
}

fn csv_rows(text: &str) -> Result<Vec<RawRow>, UploadError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| UploadError::Unreadable(format!("the CSV header cannot be read: {e}")))?
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    let mut header_problems = Vec::new();
    for (i, name) in header.iter().enumerate() {
        if !COLUMNS.contains(&name.as_str()) {
            header_problems.push(header_problem(
                Some(name),
                format!(
                    "unknown column {name:?}; the columns are {}",
                    COLUMNS.join(", ")
                ),
            ));
        } else if header[..i].contains(name) {
            header_problems.push(header_problem(
                Some(name),
                format!("column {name:?} is named twice"),
            ));
        }
    }
    for required in ["subject", "period", "value"] {
        if !header.iter().any(|h| h == required) {
            header_problems.push(header_problem(
                Some(required),
                format!("the header has no {required:?} column"),
            ));
        }
    }
    if !header_problems.is_empty() {
        return Err(UploadError::Rows(header_problems));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let row = i + 1;
        rows.push(match record {
            Err(e) => RawRow {
                row,
                line: e.position().map(|p| p.line()),
                fields: Err(RowProblem {
                    row,
                    line: e.position().map(|p| p.line()),
                    column: None,
                    message: format!("the row cannot be read: {e}"),
                }),
            },
            Ok(record) => {
                let line = record.position().map(|p| p.line());
                let mut fields = Map::new();
                for (name, value) in header.iter().zip(record.iter()) {
                    if value.is_empty() {
                        continue;
                    }
                    let value = match name.as_str() {
                        // A CSV cell is text; the value and the dimensions are read from it.
                        "value" => Value::String(value.to_owned()),
                        "dimensions" => match serde_json::from_str::<Value>(value) {
                            Ok(parsed) => parsed,
                            Err(_) => Value::String(value.to_owned()),
                        },
                        _ => Value::String(value.to_owned()),
                    };
                    fields.insert(name.clone(), value);
                }
                RawRow {
                    row,
                    line,
                    fields: Ok(fields),
                }
            }
        });
    }
    Ok(rows)
}

fn header_problem(column: Option<&str>, message: String) -> RowProblem {
    RowProblem {
        row: 0,
        line: Some(1),
        column: column.map(str::to_owned),
        message,
    }
}

fn json_rows(text: &str) -> Result<Vec<RawRow>, UploadError> {
    let document: Value = serde_json::from_str(text)
        .map_err(|e| UploadError::Unreadable(format!("the upload is not JSON: {e}")))?;
    let rows = match document {
        Value::Array(rows) => rows,
        Value::Object(mut object) if object.len() == 1 && object.contains_key("rows") => {
            match object.remove("rows") {
                Some(Value::Array(rows)) => rows,
                _ => {
                    return Err(UploadError::Unreadable(
                        "\"rows\" must be an array of rows".to_owned(),
                    ));
                }
            }
        }
        _ => {
            return Err(UploadError::Unreadable(
                "a JSON upload is an array of rows, or {\"rows\": [...]}".to_owned(),
            ));
        }
    };
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, value)| {
            let row = i + 1;
            RawRow {
                row,
                line: None,
                fields: match value {
                    Value::Object(fields) => Ok(fields),
                    other => Err(RowProblem {
                        row,
                        line: None,
                        column: None,
                        message: format!("a row is an object, not {}", kind(&other)),
                    }),
                },
            }
        })
        .collect())
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks every row, and that no two name the same subject and period.
fn check_all(raw: Vec<RawRow>) -> Result<Vec<MetricRow>, UploadError> {
    let mut problems = Vec::new();
    let mut rows = Vec::new();
    let mut seen: HashMap<(String, String), usize> = HashMap::new();
    for raw in raw {
        let fields = match raw.fields {
            Ok(fields) => fields,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let at = |column: Option<&str>, message: String| RowProblem {
            row: raw.row,
            line: raw.line,
            column: column.map(str::to_owned),
            message,
        };
        match check_row(&fields) {
            Err(found) => problems.extend(found.into_iter().map(|(c, m)| at(c, m))),
            Ok(row) => {
                let key = (row.subject.clone(), row.period.to_string());
                if let Some(first) = seen.get(&key) {
                    problems.push(at(
                        Some("period"),
                        format!(
                            "row {first} already has subject {:?} for period {}; a file names \
                             each (subject, period) once",
                            row.subject, row.period
                        ),
                    ));
                } else {
                    seen.insert(key, raw.row);
                    rows.push(row);
                }
            }
        }
    }
    if problems.is_empty() {
        return Ok(rows);
    }
    // The answer stays small whatever the file: the first problems, and how many more.
    if problems.len() > MAX_PROBLEMS {
        let more = problems.len() - MAX_PROBLEMS;
        problems.truncate(MAX_PROBLEMS);
        problems.push(RowProblem {
            row: 0,
            line: None,
            column: None,
            message: format!("and {more} more problems not listed"),
        });
    }
    Err(UploadError::Rows(problems))
}

type FieldProblems = Vec<(Option<&'static str>, String)>;

fn check_row(fields: &Map<String, Value>) -> Result<MetricRow, FieldProblems> {
    let mut problems: FieldProblems = Vec::new();
    for name in fields.keys() {
        if !COLUMNS.contains(&name.as_str()) {
            problems.push((
                None,
                format!(
                    "unknown field {name:?}; the fields are {}",
                    COLUMNS.join(", ")
                ),
            ));
        }
    }
    let subject = text(fields, "subject", MAX_SUBJECT_CHARS, true, &mut problems);
    let period = match fields.get("period") {
        None => {
            problems.push((Some("period"), "the period is missing".to_owned()));
            None
        }
        Some(Value::String(raw)) => match Period::parse(raw) {
            Ok(period) => Some(period),
            Err(why) => {
                problems.push((Some("period"), why));
                None
            }
        },
        Some(other) => {
            problems.push((
                Some("period"),
                format!("the period is text, not {}", kind(other)),
            ));
            None
        }
    };
    let value = match fields.get("value") {
        None => {
            problems.push((Some("value"), "the value is missing".to_owned()));
            None
        }
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => match s.parse::<f64>() {
            Ok(v) => Some(v),
            Err(_) => {
                problems.push((Some("value"), format!("{s:?} is not a number")));
                None
            }
        },
        Some(other) => {
            problems.push((
                Some("value"),
                format!("the value is a number, not {}", kind(other)),
            ));
            None
        }
    };
    let value = value.filter(|v| {
        let finite = v.is_finite();
        if !finite {
            problems.push((
                Some("value"),
                "the value must be a finite number".to_owned(),
            ));
        }
        finite
    });
    let unit = text(fields, "unit", MAX_UNIT_CHARS, false, &mut problems);
    let dimensions = dimensions(fields.get("dimensions"), &mut problems);
    match (subject, period, value) {
        (Some(subject), Some(period), Some(value)) if problems.is_empty() => Ok(MetricRow {
            subject,
            period,
            value,
            unit,
            dimensions,
        }),
        _ => Err(problems),
    }
}

/// A text field of at most `max` characters, without control characters or surrounding
/// blanks.
fn text(
    fields: &Map<String, Value>,
    name: &'static str,
    max: usize,
    required: bool,
    problems: &mut FieldProblems,
) -> Option<String> {
    match fields.get(name) {
        None if required => {
            problems.push((Some(name), format!("the {name} is missing")));
            None
        }
        None => None,
        Some(Value::String(s)) => match text_problem(s, max) {
            Some(why) => {
                problems.push((Some(name), format!("the {name} {why}")));
                None
            }
            None => Some(s.clone()),
        },
        Some(other) => {
            problems.push((
                Some(name),
                format!("the {name} is text, not {}", kind(other)),
            ));
            None
        }
    }
}

fn text_problem(s: &str, max: usize) -> Option<String> {
    let chars = s.chars().count();
    if chars == 0 {
        Some("is empty".to_owned())
    } else if chars > max {
        Some(format!("is {chars} characters; at most {max}"))
    } else if s.chars().any(char::is_control) {
        Some("holds a control character".to_owned())
    } else if s.trim() != s {
        Some("starts or ends with blanks".to_owned())
    } else {
        None
    }
}

fn dimensions(value: Option<&Value>, problems: &mut FieldProblems) -> BTreeMap<String, String> {
    let column = Some("dimensions");
    let mut out = BTreeMap::new();
    let object = match value {
        None | Some(Value::Null) => return out,
        Some(Value::Object(object)) => object,
        Some(other) => {
            problems.push((
                column,
                format!(
                    "the dimensions are an object of text values (in CSV, written as JSON: \
                     {{\"region\":\"eu\"}}), not {}",
                    kind(other)
                ),
            ));
            return out;
        }
    };
    if object.len() > MAX_DIMENSIONS {
        problems.push((
            column,
            format!("{} dimensions; at most {MAX_DIMENSIONS}", object.len()),
        ));
        return out;
    }
    for (key, value) in object {
        let key_ok = (1..=MAX_DIMENSION_KEY_CHARS).contains(&key.len())
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
        if !key_ok {
            problems.push((
                column,
                format!(
                    "dimension name {key:?} is not 1-{MAX_DIMENSION_KEY_CHARS} of A-Z a-z 0-9 _ . -"
                ),
            ));
            continue;
        }
        match value {
            Value::String(s) => match text_problem(s, MAX_DIMENSION_VALUE_CHARS) {
                Some(why) => problems.push((column, format!("dimension {key:?} {why}"))),
                None => {
                    out.insert(key.clone(), s.clone());
                }
            },
            other => problems.push((
                column,
                format!("dimension {key:?} is text, not {}", kind(other)),
            )),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn problems(format: Format, body: &str) -> Vec<RowProblem> {
        match parse(format, body.as_bytes()) {
            Err(UploadError::Rows(problems)) => problems,
            other => panic!("expected row problems, got {other:?}"),
        }
    }

    #[test]
    fn a_good_csv_file_reads_every_row() {
        let rows = parse(
            Format::Csv,
            b"subject,period,value,unit,dimensions\n\
              signups,2026-11,120,users,\"{\"\"plan\"\":\"\"pro\"\"}\"\n\
              revenue, 2026-Q4 ,1e4,EUR,\n\
              signups,2026-12-01,3,,\n",
        )
        .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(
            rows[0].dimensions.get("plan").map(String::as_str),
            Some("pro")
        );
        assert_eq!(rows[1].period.to_string(), "2026-Q4");
        assert_eq!(rows[1].value, 10_000.0);
        assert_eq!(rows[2].unit, None);
    }

    #[test]
    fn a_good_json_file_reads_as_an_array_or_under_rows() {
        let body =
            r#"[{"subject":"signups","period":"2026-11","value":120,"dimensions":{"plan":"pro"}}]"#;
        assert_eq!(parse(Format::Json, body.as_bytes()).unwrap().len(), 1);
        let wrapped = format!("{{\"rows\":{body}}}");
        assert_eq!(parse(Format::Json, wrapped.as_bytes()).unwrap().len(), 1);
    }

    #[test]
    fn every_bad_row_is_listed_with_its_line_and_column() {
        let found = problems(
            Format::Csv,
            "subject,period,value\n\
             signups,2026-11,120\n\
             signups,2026-13,1\n\
             ,2026-11,1\n\
             visits,2026-11,lots\n\
             signups,2026-11,7\n",
        );
        let summary: Vec<(usize, Option<u64>, Option<&str>)> = found
            .iter()
            .map(|p| (p.row, p.line, p.column.as_deref()))
            .collect();
        assert_eq!(
            summary,
            [
                (2, Some(3), Some("period")),
                (3, Some(4), Some("subject")),
                (4, Some(5), Some("value")),
                (5, Some(6), Some("period")),
            ],
            "{found:#?}"
        );
        assert!(
            found[3].message.contains("row 1 already has"),
            "{}",
            found[3].message
        );
    }

    #[test]
    fn a_bad_header_is_reported_before_any_row() {
        let found = problems(Format::Csv, "subject,when,value\nsignups,2026-11,1\n");
        assert!(
            found.iter().all(|p| p.row == 0 && p.line == Some(1)),
            "{found:#?}"
        );
        assert!(
            found
                .iter()
                .any(|p| p.message.contains("unknown column \"when\""))
        );
        assert!(
            found
                .iter()
                .any(|p| p.message.contains("no \"period\" column"))
        );
    }

    #[test]
    fn json_rows_are_checked_field_by_field() {
        let found = problems(
            Format::Json,
            r#"[{"subject":"a","period":"2026-11","value":"NaN"},
                 7,
                 {"subject":" a","period":2026,"value":1,"colour":"red",
                  "dimensions":{"bad key":"x","n":3}}]"#,
        );
        let rows: Vec<usize> = found.iter().map(|p| p.row).collect();
        assert_eq!(rows, [1, 2, 3, 3, 3, 3, 3], "{found:#?}");
        assert!(found[0].message.contains("finite"), "{}", found[0].message);
        assert!(found[1].message.contains("an object, not a number"));
    }

    #[test]
    fn the_limits_come_before_any_row_is_checked() {
        let big = vec![b' '; MAX_UPLOAD_BYTES + 1];
        assert!(matches!(
            parse(Format::Json, &big),
            Err(UploadError::TooLarge(_))
        ));
        let mut csv = String::from("subject,period,value\n");
        for i in 0..=MAX_ROWS {
            // Bad rows all: the row count is refused first, not the rows.
            csv.push_str(&format!("s{i},never,x\n"));
        }
        assert!(matches!(
            parse(Format::Csv, csv.as_bytes()),
            Err(UploadError::TooLarge(_))
        ));
        assert!(matches!(
            parse(Format::Json, b"{\"rows\": 3}"),
            Err(UploadError::Unreadable(_))
        ));
    }

    proptest! {
        /// Whatever the bytes, parsing answers (no panic), and an accepted file's rows are
        /// all checked: finite values, parseable periods, unique (subject, period).
        #[test]
        fn random_uploads_never_panic_and_accepted_rows_hold(
            body in proptest::collection::vec(any::<u8>(), 0..512),
            csv in proptest::bool::ANY,
        ) {
            let format = if csv { Format::Csv } else { Format::Json };
            if let Ok(rows) = parse(format, &body) {
                let mut keys = std::collections::HashSet::new();
                for row in &rows {
                    prop_assert!(row.value.is_finite());
                    prop_assert!(keys.insert((row.subject.clone(), row.period.to_string())));
                }
            }
        }

        /// Rows built from random fields: a file is accepted exactly when every row is good.
        #[test]
        fn a_file_is_accepted_only_when_every_row_is_good(
            rows in proptest::collection::vec(
                ("[a-z]{1,8}", prop_oneof![Just("2026-11"), Just("2026-Q4"), Just("2026-13"), Just("x")],
                 prop_oneof![Just("1"), Just("2.5"), Just("-3"), Just("inf"), Just("abc")]),
                1..20,
            ),
        ) {
            let mut body = String::from("subject,period,value\n");
            for (subject, period, value) in &rows {
                body.push_str(&format!("{subject},{period},{value}\n"));
            }
            let mut seen = std::collections::HashSet::new();
            let all_good = rows.iter().all(|(s, p, v)| {
                Period::parse(p).is_ok()
                    && v.parse::<f64>().is_ok_and(f64::is_finite)
                    && seen.insert((s.clone(), p.to_string()))
            });
            prop_assert_eq!(parse(Format::Csv, body.as_bytes()).is_ok(), all_good);
        }
    }
}
