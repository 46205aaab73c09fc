//! All-or-nothing parsing of bulk outcome files (JSONL or CSV).

use super::{OutcomeInput, OutcomeSource, Taxonomy, RESERVED_NAMES};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;

/// A bulk file's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkFormat {
    /// One JSON object per line.
    Jsonl,
    /// A header row, then one row per session or task.
    Csv,
}

/// One problem in a bulk file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BulkError {
    /// 1-based line (for CSV: the line where the row starts); 0 when the
    /// problem is with the file as a whole.
    pub line: usize,
    pub reason: String,
}

impl fmt::Display for BulkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            f.write_str(&self.reason)
        } else {
            write!(f, "line {}: {}", self.line, self.reason)
        }
    }
}

fn err(line: usize, reason: impl Into<String>) -> BulkError {
    BulkError { line, reason: reason.into() }
}

/// The format of a bulk file: JSONL when its first non-blank character is
/// `{`; otherwise JSONL when the file name ends in `.jsonl`, `.ndjson` or
/// `.json`; otherwise CSV.
pub fn detect_format(file: &str, text: &str) -> BulkFormat {
    if text.trim_start_matches('\u{feff}').trim_start().starts_with('{') {
        return BulkFormat::Jsonl;
    }
    let lower = file.to_ascii_lowercase();
    if [".jsonl", ".ndjson", ".json"].iter().any(|ext| lower.ends_with(ext)) {
        BulkFormat::Jsonl
    } else {
        BulkFormat::Csv
    }
}

/// Parses and checks a bulk outcome file against `taxonomy`.
///
/// All or nothing: every problem in the file is collected (with its line)
/// and returned as `Err`; `Ok` means every line or row is valid. The format
/// is picked by [`detect_format`]. Besides per-value checks, a file may set
/// each (session, task, dimension) only once. A file with no outcomes is an
/// error. See `docs/outcomes.md` for both formats.
pub fn parse_bulk(file: &str, bytes: &[u8], taxonomy: &Taxonomy) -> Result<Vec<OutcomeInput>, Vec<BulkError>> {
    let text = match std::str::from_utf8(bytes) {
        Ok(t) => t,
        Err(e) => {
            let line = 1 + bytes.get(..e.valid_up_to()).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count());
            return Err(vec![err(line, "the file is not valid UTF-8")]);
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(vec![err(0, "the file holds no outcomes")]);
    }
    let mut errors = Vec::new();
    let inputs = match detect_format(file, text) {
        BulkFormat::Jsonl => parse_jsonl(text, taxonomy, &mut errors),
        BulkFormat::Csv => parse_csv_outcomes(text, taxonomy, &mut errors),
    };
    check_duplicates(&inputs, &mut errors);
    if inputs.is_empty() && errors.is_empty() {
        errors.push(err(0, "the file holds no outcomes"));
    }
    if errors.is_empty() {
        Ok(inputs)
    } else {
        errors.sort_by_key(|e| e.line);
        Err(errors)
    }
}

fn check_duplicates(inputs: &[OutcomeInput], errors: &mut Vec<BulkError>) {
    let mut first: BTreeMap<(&str, Option<&str>, &str), usize> = BTreeMap::new();
    for input in inputs {
        for (dim, _) in &input.values {
            let key = (input.session.as_str(), input.task.as_deref(), dim.as_str());
            if let Some(line) = first.get(&key) {
                let task = input.task.as_deref().map(|t| format!(", task `{t}`")).unwrap_or_default();
                errors.push(err(
                    input.line,
                    format!("session `{}`{task}: dimension `{dim}` is already set on line {line}", input.session),
                ));
            } else {
                first.insert(key, input.line);
            }
        }
    }
}

// ---- JSONL -------------------------------------------------------------------

const JSONL_FIELDS: [&str; 6] = ["session", "task", "set", "source", "by", "comment"];

fn parse_jsonl(text: &str, taxonomy: &Taxonomy, errors: &mut Vec<BulkError>) -> Vec<OutcomeInput> {
    let mut inputs = Vec::new();
    for (i, raw_line) in text.lines().enumerate() {
        let line = i + 1;
        if raw_line.trim().is_empty() {
            continue;
        }
        let before = errors.len();
        let input = parse_jsonl_line(line, raw_line, taxonomy, errors);
        if errors.len() == before {
            if let Some(input) = input {
                inputs.push(input);
            }
        }
    }
    inputs
}

fn parse_jsonl_line(line: usize, text: &str, taxonomy: &Taxonomy, errors: &mut Vec<BulkError>) -> Option<OutcomeInput> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(e) => {
            errors.push(err(line, format!("invalid JSON: {e}")));
            return None;
        }
    };
    let Some(obj) = value.as_object() else {
        errors.push(err(line, "expected a JSON object like {\"session\": \"...\", \"set\": {...}}"));
        return None;
    };
    for key in obj.keys() {
        if !JSONL_FIELDS.contains(&key.as_str()) {
            errors.push(err(line, format!("unknown field \"{key}\"; expected {}", JSONL_FIELDS.join(", "))));
        }
    }
    let mut optional_string = |name: &str| -> Option<String> {
        match obj.get(name) {
            None | Some(serde_json::Value::Null) => None,
            Some(serde_json::Value::String(s)) if s.trim().is_empty() => None,
            Some(serde_json::Value::String(s)) => Some(s.clone()),
            Some(_) => {
                errors.push(err(line, format!("\"{name}\" must be a string")));
                None
            }
        }
    };
    let session = optional_string("session").map(|s| s.trim().to_string());
    let task = optional_string("task").map(|s| s.trim().to_string());
    let source_raw = optional_string("source");
    let by = optional_string("by").map(|s| s.trim().to_string());
    let comment = optional_string("comment");
    if session.is_none()
        && matches!(obj.get("session"), None | Some(serde_json::Value::Null | serde_json::Value::String(_)))
    {
        errors.push(err(line, "missing \"session\": every line needs the id of the session it judges"));
    }
    let source = source_raw.and_then(|s| match s.parse::<OutcomeSource>() {
        Ok(src) => Some(src),
        Err(e) => {
            errors.push(err(line, e.to_string()));
            None
        }
    });
    let mut values = Vec::new();
    match obj.get("set") {
        None | Some(serde_json::Value::Null) => {
            errors.push(err(line, "missing \"set\": an object of dimension values like {\"result\": \"success\"}"));
        }
        Some(serde_json::Value::Object(set)) => {
            if set.is_empty() {
                errors.push(err(line, "\"set\" is empty; give at least one dimension value"));
            }
            for (dim, v) in set {
                let raw = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    serde_json::Value::Null | serde_json::Value::Array(_) | serde_json::Value::Object(_) => {
                        errors.push(err(line, format!("\"set\".\"{dim}\" must be a string, number or boolean")));
                        continue;
                    }
                };
                match taxonomy.check(dim, &raw) {
                    Ok(value) => values.push((dim.trim().to_string(), value)),
                    Err(e) => errors.push(err(line, e.to_string())),
                }
            }
        }
        Some(_) => {
            errors.push(err(line, "\"set\" must be an object of dimension values like {\"result\": \"success\"}"))
        }
    }
    Some(OutcomeInput { line, session: session?, task, values, source, by, comment })
}

// ---- CSV ---------------------------------------------------------------------

/// One CSV record: the line it starts on and its fields, unescaped.
#[derive(Debug, Clone, PartialEq)]
struct Record {
    line: usize,
    fields: Vec<String>,
    /// Whether the record had a syntax error (already reported).
    bad: bool,
}

impl Record {
    fn is_blank(&self) -> bool {
        !self.bad && self.fields.len() == 1 && self.fields.first().is_some_and(|f| f.trim().is_empty())
    }
}

/// RFC 4180 CSV: `,` separates fields; `\n`, `\r\n` or `\r` ends a record;
/// a field may be quoted with `"`, inside which `""` is a quote and commas
/// and line breaks are literal. A `"` inside an unquoted field is literal.
/// Syntax errors (text after a closing quote, an unterminated quote) are
/// reported and the record is marked bad.
fn parse_csv(text: &str, errors: &mut Vec<BulkError>) -> Vec<Record> {
    let mut records = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1;
    let mut rec = Record { line: 1, fields: Vec::new(), bad: false };
    let mut field = String::new();
    let mut started = false; // whether the current record has any content
    loop {
        let Some(c) = chars.next() else {
            if started {
                rec.fields.push(std::mem::take(&mut field));
                records.push(rec);
            }
            break;
        };
        started = true;
        match c {
            '"' if field.is_empty() => {
                // Quoted field.
                let quote_line = line;
                let mut closed = false;
                while let Some(q) = chars.next() {
                    match q {
                        '"' if chars.peek() == Some(&'"') => {
                            chars.next();
                            field.push('"');
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\r' if chars.peek() == Some(&'\n') => {
                            chars.next();
                            field.push_str("\r\n");
                            line += 1;
                        }
                        '\n' | '\r' => {
                            field.push(q);
                            line += 1;
                        }
                        q => field.push(q),
                    }
                }
                if !closed {
                    errors.push(err(quote_line, "unterminated quoted field (a `\"` is never closed)"));
                    rec.bad = true;
                } else if !matches!(chars.peek(), None | Some(',' | '\n' | '\r')) {
                    errors.push(err(
                        rec.line,
                        "unexpected text after a closing quote; inside a quoted field write a quote as \"\"",
                    ));
                    rec.bad = true;
                    // Keep the rest of the field as literal text.
                    while let Some(&n) = chars.peek() {
                        if matches!(n, ',' | '\n' | '\r') {
                            break;
                        }
                        field.push(n);
                        chars.next();
                    }
                }
            }
            ',' => rec.fields.push(std::mem::take(&mut field)),
            '\n' | '\r' => {
                if c == '\r' && chars.peek() == Some(&'\n') {
                    chars.next();
                }
                rec.fields.push(std::mem::take(&mut field));
                records.push(std::mem::replace(&mut rec, Record { line: line + 1, fields: Vec::new(), bad: false }));
                line += 1;
                started = false;
            }
            c => field.push(c),
        }
    }
    records
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Column<'a> {
    Session,
    Task,
    Source,
    By,
    Comment,
    Dimension(&'a str),
    /// An unknown or duplicate column (already reported).
    Ignored,
}

fn parse_csv_outcomes(text: &str, taxonomy: &Taxonomy, errors: &mut Vec<BulkError>) -> Vec<OutcomeInput> {
    let records = parse_csv(text, errors);
    let mut rows = records.iter().filter(|r| !r.is_blank());
    let Some(header) = rows.next() else {
        return Vec::new();
    };
    if header.bad {
        return Vec::new();
    }
    let mut columns = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for name in &header.fields {
        let name = name.trim().to_ascii_lowercase();
        if seen.contains(&name) {
            errors.push(err(header.line, format!("column `{name}` appears more than once")));
            columns.push(Column::Ignored);
            continue;
        }
        seen.push(name.clone());
        columns.push(match name.as_str() {
            "session" => Column::Session,
            "task" => Column::Task,
            "source" => Column::Source,
            "by" => Column::By,
            "comment" => Column::Comment,
            _ => match taxonomy.dimension(&name) {
                Some(d) => Column::Dimension(d.name.as_str()),
                None => {
                    errors.push(err(
                        header.line,
                        format!(
                            "unknown column `{name}`; expected {} or a dimension: {}",
                            RESERVED_NAMES.join(", "),
                            taxonomy.dimension_names().join(", ")
                        ),
                    ));
                    Column::Ignored
                }
            },
        });
    }
    let has_session = columns.contains(&Column::Session);
    if !has_session {
        errors.push(err(header.line, "the header has no `session` column"));
    }
    if !columns.iter().any(|c| matches!(c, Column::Dimension(_))) {
        errors.push(err(
            header.line,
            format!("the header names no dimension; valid dimensions: {}", taxonomy.dimension_names().join(", ")),
        ));
    }
    let mut inputs = Vec::new();
    for rec in rows {
        if rec.bad {
            continue;
        }
        let line = rec.line;
        if rec.fields.len() != columns.len() {
            errors.push(err(
                line,
                format!("expected {} fields as in the header, found {}", columns.len(), rec.fields.len()),
            ));
            continue;
        }
        let before = errors.len();
        let mut input = OutcomeInput {
            line,
            session: String::new(),
            task: None,
            values: Vec::new(),
            source: None,
            by: None,
            comment: None,
        };
        for (col, cell) in columns.iter().zip(&rec.fields) {
            let trimmed = cell.trim();
            let non_empty = (!trimmed.is_empty()).then(|| trimmed.to_string());
            match col {
                Column::Session => input.session = trimmed.to_string(),
                Column::Task => input.task = non_empty,
                Column::By => input.by = non_empty,
                Column::Comment => input.comment = non_empty.map(|_| cell.clone()),
                Column::Source => {
                    if !trimmed.is_empty() {
                        match trimmed.parse::<OutcomeSource>() {
                            Ok(s) => input.source = Some(s),
                            Err(e) => errors.push(err(line, e.to_string())),
                        }
                    }
                }
                Column::Dimension(dim) => {
                    if !trimmed.is_empty() {
                        match taxonomy.check(dim, cell) {
                            Ok(v) => input.values.push(((*dim).to_string(), v)),
                            Err(e) => errors.push(err(line, e.to_string())),
                        }
                    }
                }
                Column::Ignored => {}
            }
        }
        if has_session && input.session.is_empty() {
            errors.push(err(line, "empty session: every row needs the id of the session it judges"));
        }
        if input.values.is_empty() && errors.len() == before {
            errors.push(err(line, "no dimension value on this row"));
        }
        if errors.len() == before {
            inputs.push(input);
        }
    }
    inputs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outcome::OutcomeValue;

    fn values_of(input: &OutcomeInput) -> Vec<(&str, &OutcomeValue)> {
        input.values.iter().map(|(d, v)| (d.as_str(), v)).collect()
    }

    fn tax() -> Taxonomy {
        Taxonomy::default_taxonomy()
    }

    fn csv(text: &str) -> (Vec<Record>, Vec<BulkError>) {
        let mut errors = Vec::new();
        let records = parse_csv(text, &mut errors);
        (records, errors)
    }

    fn fields(r: &Record) -> Vec<&str> {
        r.fields.iter().map(String::as_str).collect()
    }

    #[test]
    fn csv_parser_handles_quotes_escapes_commas_and_newlines() {
        let text = "a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\nplain,\"\",last\n";
        let (records, errors) = csv(text);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(records.len(), 3);
        assert_eq!(fields(&records[0]), ["a", "b", "c"]);
        assert_eq!(fields(&records[1]), ["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(records[1].line, 2);
        // The quoted newline moves the next record to line 4.
        assert_eq!(fields(&records[2]), ["plain", "", "last"]);
        assert_eq!(records[2].line, 4);
    }

    #[test]
    fn csv_parser_without_trailing_newline_and_with_blank_lines() {
        let (records, errors) = csv("a,b\n\n1,2");
        assert!(errors.is_empty());
        assert_eq!(records.len(), 3);
        assert!(records[1].is_blank());
        assert_eq!(fields(&records[2]), ["1", "2"]);
        assert_eq!(records[2].line, 3);
        // A quote inside an unquoted field is literal.
        let (records, _) = csv("say 5\" nail,x\n");
        assert_eq!(fields(&records[0]), ["say 5\" nail", "x"]);
        // Trailing empty field.
        let (records, _) = csv("a,\n");
        assert_eq!(fields(&records[0]), ["a", ""]);
    }

    #[test]
    fn csv_parser_reports_syntax_errors_with_lines() {
        let (records, errors) = csv("a,b\n\"ab\"c,d\ne,f\n\"open,g\nh\n");
        assert_eq!(
            errors,
            vec![
                err(2, "unexpected text after a closing quote; inside a quoted field write a quote as \"\""),
                err(4, "unterminated quoted field (a `\"` is never closed)"),
            ]
        );
        assert!(records[1].bad);
        assert_eq!(fields(&records[1]), ["abc", "d"]);
        assert!(!records[2].bad);
        assert!(records[3].bad);
    }

    #[test]
    fn format_is_detected_by_content_then_extension() {
        assert_eq!(detect_format("x.csv", "\n  {\"session\":\"a\"}"), BulkFormat::Jsonl);
        assert_eq!(detect_format("x.jsonl", "session,result"), BulkFormat::Jsonl);
        assert_eq!(detect_format("x.NDJSON", ""), BulkFormat::Jsonl);
        assert_eq!(detect_format("x.csv", "session,result"), BulkFormat::Csv);
        assert_eq!(detect_format("-", "session,result"), BulkFormat::Csv);
    }

    #[test]
    fn jsonl_import_accepts_valid_lines() {
        let text = concat!(
            "{\"session\":\"s1\",\"set\":{\"result\":\"success\",\"user_rating\":4},\"source\":\"human\",\"by\":\"ana\"}\n",
            "\n",
            "{\"session\":\"s2\",\"task\":\"t1\",\"set\":{\"result\":\"Failure\",\"failure_reason\":\"timeout\"},",
            "\"comment\":\"ran out of time\"}\n",
        );
        let inputs = parse_bulk("o.jsonl", text.as_bytes(), &tax()).unwrap();
        assert_eq!(inputs.len(), 2);
        assert_eq!(inputs[0].line, 1);
        assert_eq!(inputs[0].session, "s1");
        assert_eq!(inputs[0].source, Some(OutcomeSource::Human));
        assert_eq!(inputs[0].by.as_deref(), Some("ana"));
        assert_eq!(
            values_of(&inputs[0]),
            [("result", &OutcomeValue::Label("success".into())), ("user_rating", &OutcomeValue::Number(4.0))]
        );
        assert_eq!(inputs[1].line, 3);
        assert_eq!(inputs[1].task.as_deref(), Some("t1"));
        assert_eq!(inputs[1].source, None);
        assert_eq!(inputs[1].comment.as_deref(), Some("ran out of time"));
        assert_eq!(
            values_of(&inputs[1]),
            [
                ("result", &OutcomeValue::Label("failure".into())),
                ("failure_reason", &OutcomeValue::Label("timeout".into()))
            ]
        );
    }

    #[test]
    fn jsonl_import_reports_every_error_with_its_line_and_accepts_nothing() {
        let text = concat!(
            "{\"session\":\"ok\",\"set\":{\"result\":\"success\"}}\n",
            "{\"session\":\"s2\",\"set\":{\"result\":\"great\"}}\n",
            "not json\n",
            "{\"set\":{\"user_rating\":9}}\n",
            "{\"session\":\"s5\",\"set\":{\"mood\":\"ok\"},\"source\":\"robot\",\"extra\":1}\n",
            "[1,2]\n",
            "{\"session\":\"ok\",\"set\":{\"result\":\"failure\"}}\n",
        );
        let errors = parse_bulk("o.jsonl", text.as_bytes(), &tax()).unwrap_err();
        let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4, 4, 5, 5, 5, 6, 7], "{errors:#?}");
        assert_eq!(
            errors[0].reason,
            "`great` is not a label of dimension `result`; valid labels: success, partial, failure, abandoned"
        );
        assert!(errors[1].reason.starts_with("invalid JSON: "));
        assert_eq!(errors[2].reason, "missing \"session\": every line needs the id of the session it judges");
        assert_eq!(errors[3].reason, "dimension `user_rating` expects a number from 1 to 5, got 9");
        assert_eq!(errors[4].reason, "unknown field \"extra\"; expected session, task, set, source, by, comment");
        assert_eq!(errors[5].reason, "invalid outcome source `robot`; expected human, model or code");
        assert_eq!(
            errors[6].reason,
            "unknown outcome dimension `mood`; valid dimensions: result, failure_reason, user_rating, reviewer_note"
        );
        assert_eq!(errors[7].reason, "expected a JSON object like {\"session\": \"...\", \"set\": {...}}");
        assert_eq!(errors[8].reason, "session `ok`: dimension `result` is already set on line 1");
        assert_eq!(errors[8].to_string(), "line 7: session `ok`: dimension `result` is already set on line 1");
    }

    #[test]
    fn csv_import_accepts_any_column_subset_and_quoting() {
        let text = "Session,result,comment,user_rating,task\n\
                    s1,success,\"fine, really\",5,\n\
                    s2,partial,\"said \"\"meh\"\"\nthen left\",,t9\n\
                    \n\
                    s3,,,2,\n";
        let inputs = parse_bulk("outcomes.csv", text.as_bytes(), &tax()).unwrap();
        assert_eq!(inputs.len(), 3);
        assert_eq!(inputs[0].comment.as_deref(), Some("fine, really"));
        assert_eq!(inputs[0].task, None);
        assert_eq!(
            values_of(&inputs[0]),
            [("result", &OutcomeValue::Label("success".into())), ("user_rating", &OutcomeValue::Number(5.0))]
        );
        assert_eq!(inputs[1].line, 3);
        assert_eq!(inputs[1].comment.as_deref(), Some("said \"meh\"\nthen left"));
        assert_eq!(inputs[1].task.as_deref(), Some("t9"));
        assert_eq!(values_of(&inputs[1]), [("result", &OutcomeValue::Label("partial".into()))]);
        assert_eq!(inputs[2].line, 6);
        assert_eq!(values_of(&inputs[2]), [("user_rating", &OutcomeValue::Number(2.0))]);
    }

    #[test]
    fn csv_import_reports_every_error_with_its_line_and_accepts_nothing() {
        let text = "session,result,user_rating,source\n\
                    s1,success,4,human\n\
                    s2,won,4,human\n\
                    ,success,abc,\n\
                    s4,success\n\
                    s5,,,\n\
                    s6,failure,0,martian\n";
        let errors = parse_bulk("x.csv", text.as_bytes(), &tax()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 3: `won` is not a label of dimension `result`; valid labels: success, partial, failure, abandoned",
                "line 4: dimension `user_rating` expects a number from 1 to 5, got `abc`",
                "line 4: empty session: every row needs the id of the session it judges",
                "line 5: expected 4 fields as in the header, found 2",
                "line 6: no dimension value on this row",
                "line 7: dimension `user_rating` expects a number from 1 to 5, got 0",
                "line 7: invalid outcome source `martian`; expected human, model or code",
            ]
        );
    }

    #[test]
    fn csv_header_problems_are_reported() {
        let errors = parse_bulk("x.csv", b"task,mood,task\nt,1,t\n", &tax()).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "line 1: unknown column `mood`; expected session, task, source, by, comment or a dimension: \
                 result, failure_reason, user_rating, reviewer_note",
                "line 1: column `task` appears more than once",
                "line 1: the header has no `session` column",
                "line 1: the header names no dimension; valid dimensions: result, failure_reason, user_rating, \
                 reviewer_note",
                "line 2: no dimension value on this row",
            ]
        );
    }

    #[test]
    fn empty_and_non_utf8_files_are_rejected() {
        assert_eq!(parse_bulk("x.csv", b"  \n\n", &tax()).unwrap_err(), [err(0, "the file holds no outcomes")]);
        assert_eq!(
            parse_bulk("x.csv", b"session,result\n", &tax()).unwrap_err(),
            [err(0, "the file holds no outcomes")]
        );
        assert_eq!(
            parse_bulk("x.csv", b"session,result\ns1,\xff\n", &tax()).unwrap_err(),
            [err(2, "the file is not valid UTF-8")]
        );
        // A byte-order mark is ignored.
        let ok = parse_bulk("x", "\u{feff}{\"session\":\"s\",\"set\":{\"result\":\"success\"}}".as_bytes(), &tax());
        assert_eq!(ok.unwrap().len(), 1);
    }
}
