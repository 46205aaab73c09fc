//! Is a stored session an unchanged prefix of what a file holds now?
//!
//! Records (a JSONL line, a message of a JSON document) are compared by
//! their source line and raw JSON, not by the normalized fields, which a
//! later Nocturne may derive differently: raw identical ⇒ same record. The
//! events of one record are consecutive and share line and raw.

use nocturne_core::{Event, NewEvent};
use std::collections::HashSet;

/// One source record: its line, its raw JSON and where its events are.
#[derive(Debug)]
struct Rec<'a> {
    line: Option<u32>,
    raw: &'a str,
    /// Index of its first event.
    first: usize,
}

fn records<'a>(events: impl Iterator<Item = (Option<u32>, &'a str)>) -> Vec<Rec<'a>> {
    let mut out: Vec<Rec<'a>> = Vec::new();
    for (i, (line, raw)) in events.enumerate() {
        if out.last().is_some_and(|r| r.line == line && r.raw == raw) {
            continue;
        }
        out.push(Rec { line, raw, first: i });
    }
    out
}

/// Two raw JSON texts of the same record: equal text, or equal JSON values
/// (a re-serialization that orders keys or spaces differently).
pub(crate) fn same_json(a: &str, b: &str) -> bool {
    a == b
        || matches!(
            (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)),
            (Ok(x), Ok(y)) if x == y
        )
}

/// Where a stored session and a file part ways.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Difference {
    /// The first stored event whose record differs.
    pub seq: u32,
    pub line: Option<u32>,
    /// The record is gone from the file (else: it changed).
    pub missing: bool,
}

/// What the comparison found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Prefix {
    /// Index of the first parsed event that is new (not stored).
    pub new_from: usize,
    /// Parsed records before the stored end that an earlier importer did
    /// not keep; they cannot be inserted into an append-only log.
    pub not_inserted: usize,
}

/// Compares the stored events with the file's events. `file_record(line)`
/// gives the file's own record at a line, for stored records the importer
/// no longer emits (a record type it now skips): unchanged there ⇒ kept.
pub(crate) fn stored_prefix(
    stored: &[Event],
    parsed: &[NewEvent],
    file_record: &dyn Fn(u32) -> Option<String>,
) -> Result<Prefix, Difference> {
    let rs = records(stored.iter().map(|e| (e.body.source_line, e.body.raw.as_str())));
    let rp = records(parsed.iter().map(|e| (e.source_line, e.raw.as_str())));
    let stored_lines: HashSet<u32> = rs.iter().filter_map(|r| r.line).collect();
    let parsed_lines: HashSet<u32> = rp.iter().filter_map(|r| r.line).collect();
    let (mut i, mut j, mut not_inserted) = (0, 0, 0);
    while let Some(s) = rs.get(i) {
        if let Some(p) = rp.get(j) {
            if s.line == p.line && same_json(s.raw, p.raw) {
                i += 1;
                j += 1;
                continue;
            }
            // A record the earlier importer skipped, before the stored one.
            if let (Some(pl), Some(sl)) = (p.line, s.line) {
                if pl < sl && !stored_lines.contains(&pl) {
                    j += 1;
                    not_inserted += 1;
                    continue;
                }
            }
        }
        let seq = stored.get(s.first).map_or(s.first as u32, |e| e.seq);
        let gone = match s.line {
            Some(l) => !parsed_lines.contains(&l),
            None => true,
        };
        // The importer no longer emits this record: still in the file as it was?
        if gone {
            if let Some(l) = s.line {
                if file_record(l).is_some_and(|now| same_json(s.raw, &now)) {
                    i += 1;
                    continue;
                }
            }
        }
        let missing = gone && s.line.and_then(file_record).is_none();
        return Err(Difference { seq, line: s.line, missing });
    }
    let new_from = rp.get(j).map_or(parsed.len(), |r| r.first);
    Ok(Prefix { new_from, not_inserted })
}

/// Line `n` (1-based) of a text, trimmed, if it is not blank.
pub(crate) fn nth_line(text: &str, n: u32) -> Option<String> {
    let l = text.split('\n').nth((n as usize).checked_sub(1)?)?.trim();
    (!l.is_empty()).then(|| l.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nocturne_core::{EventKind, Role};

    fn ev(line: u32, raw: &str, text: &str) -> NewEvent {
        NewEvent {
            role: Role::User,
            kind: EventKind::UserMessage,
            tool_name: None,
            tool_input: None,
            tool_use_id: None,
            text: Some(text.into()),
            is_error: false,
            timestamp: None,
            sidechain: false,
            source_line: Some(line),
            raw: raw.into(),
        }
    }

    fn stored(events: &[NewEvent]) -> Vec<Event> {
        events
            .iter()
            .enumerate()
            .map(|(i, e)| Event { session: "s".into(), seq: i as u32, body: e.clone(), hash: String::new() })
            .collect()
    }

    const NONE: &dyn Fn(u32) -> Option<String> = &|_| None;

    #[test]
    fn a_grown_file_has_the_stored_records_as_its_prefix() {
        let old = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"b":2}"#, "b"), ev(2, r#"{"b":2}"#, "b2")];
        let mut new = old.to_vec();
        new.push(ev(3, r#"{"c":3}"#, "c"));
        assert_eq!(stored_prefix(&stored(&old), &new, NONE), Ok(Prefix { new_from: 3, not_inserted: 0 }));
        assert_eq!(stored_prefix(&stored(&old), &old, NONE), Ok(Prefix { new_from: 3, not_inserted: 0 }));
    }

    #[test]
    fn raw_identical_records_are_the_same_even_when_normalized_otherwise() {
        let old = [ev(1, r#"{"a":1,"b":2}"#, "old reading"), ev(2, r#"{"c":3}"#, "c")];
        // A later importer reads line 1 as two events with other text, and re-serializes the key order.
        let new = [ev(1, r#"{"b":2,"a":1}"#, "x"), ev(1, r#"{"b":2,"a":1}"#, "y"), ev(2, r#"{"c":3}"#, "c")];
        assert_eq!(stored_prefix(&stored(&old), &new, NONE), Ok(Prefix { new_from: 3, not_inserted: 0 }));
    }

    #[test]
    fn a_changed_or_missing_record_is_named_by_its_first_stored_event() {
        let old = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"b":2}"#, "b"), ev(3, r#"{"c":3}"#, "c")];
        let changed = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"b":"changed"}"#, "b"), ev(3, r#"{"c":3}"#, "c")];
        assert_eq!(
            stored_prefix(&stored(&old), &changed, NONE),
            Err(Difference { seq: 1, line: Some(2), missing: false })
        );
        let truncated = [ev(1, r#"{"a":1}"#, "a")];
        assert_eq!(
            stored_prefix(&stored(&old), &truncated, NONE),
            Err(Difference { seq: 1, line: Some(2), missing: true })
        );
    }

    #[test]
    fn records_an_importer_now_skips_or_newly_keeps_do_not_refuse_the_file() {
        let old = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"type":"progress"}"#, "p"), ev(4, r#"{"d":4}"#, "d")];
        // Now: line 2 is skipped by the importer, line 3 is newly kept, line 5 is new.
        let new =
            [ev(1, r#"{"a":1}"#, "a"), ev(3, r#"{"c":3}"#, "c"), ev(4, r#"{"d":4}"#, "d"), ev(5, r#"{"e":5}"#, "e")];
        let file = |l: u32| (l == 2).then(|| r#"{"type": "progress"}"#.to_string());
        assert_eq!(stored_prefix(&stored(&old), &new, &file), Ok(Prefix { new_from: 3, not_inserted: 1 }));
        // If line 2 changed in the file, that is a change.
        let file = |l: u32| (l == 2).then(|| r#"{"type":"other"}"#.to_string());
        assert_eq!(
            stored_prefix(&stored(&old), &new, &file),
            Err(Difference { seq: 1, line: Some(2), missing: false })
        );
    }

    #[test]
    fn an_inserted_line_shifts_the_lines_after_it_and_is_refused() {
        let old = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"b":2}"#, "b")];
        let new = [ev(1, r#"{"a":1}"#, "a"), ev(2, r#"{"x":0}"#, "x"), ev(3, r#"{"b":2}"#, "b")];
        assert_eq!(stored_prefix(&stored(&old), &new, NONE), Err(Difference { seq: 1, line: Some(2), missing: false }));
    }

    #[test]
    fn lines_of_a_text() {
        assert_eq!(nth_line("a\n b \n\nc", 2).as_deref(), Some("b"));
        assert_eq!(nth_line("a\n\n", 2), None);
        assert_eq!(nth_line("a", 0), None);
        assert_eq!(nth_line("a", 9), None);
    }
}
