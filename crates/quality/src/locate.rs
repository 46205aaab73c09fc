//! From a label's location (file + line, τ² simulation + message, JSON
//! pointer, aider line range) to the stored session and events that came
//! from it, and checks of the evidence an op cites.
//!
//! The link is the session's `source` (the path the importer was given)
//! and each event's `source_line` (1-based line for line-based formats,
//! 1-based record index for JSON documents, the first line of a block for
//! aider). A location maps to the record its rule names when that record
//! holds the quote (`exact`); otherwise, when exactly one stored record of
//! the same file (or simulation) holds the quote, to that one (`by_quote`,
//! reported as such); otherwise it is `ambiguous` or `unmapped`, with the
//! reason. The suite never picks one of several candidates.

use crate::data::{json_strings, normalize_ws};
use crate::expect::Location;
use crate::run::Stored;
use nocturne_core::{Event, Evidence};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

/// Separates the strings of one event in its haystack (never in a quote).
const SEP: char = '\u{1}';

/// Where a label location landed in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Mapping {
    /// The record the location names holds the quote.
    Exact { session: String, events: Vec<u32> },
    /// The named record does not hold the quote, but exactly one record of
    /// the same file (or simulation) does.
    ByQuote { session: String, events: Vec<u32>, why: String },
    /// Several stored records could be the one; none is chosen.
    Ambiguous { reason: String },
    /// No stored record holds it.
    Unmapped { reason: String },
}

impl Mapping {
    /// The session and events, when mapped.
    pub fn record(&self) -> Option<(&str, &[u32])> {
        match self {
            Mapping::Exact { session, events } | Mapping::ByQuote { session, events, .. } => Some((session, events)),
            _ => None,
        }
    }
}

/// What the check of one cited evidence entry found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EvidenceCheck {
    pub session: String,
    pub events: Vec<u32>,
    /// The session is stored.
    pub session_exists: bool,
    /// Cited event numbers the session does not have.
    pub missing_events: Vec<u32>,
    /// The quote (whitespace-normalized) is quotable text of a cited event
    /// (`nocturne_core::quote`; of any event of the session when none is cited).
    pub quote_verified: bool,
}

struct Hay {
    /// The event's quotable texts (`nocturne_core::quote::quotable_texts`:
    /// text, tool name, the strings of the tool input) and the input itself.
    content: String,
    /// `content` plus every string of the raw source record.
    all: String,
}

fn hay_of(e: &Event) -> Hay {
    // What an op's quote may quote: the one definition in `nocturne_core::quote`.
    let mut content: Vec<String> =
        nocturne_core::quote::quotable_texts(&e.body).iter().map(|t| normalize_ws(t)).collect();
    if let Some(input) = &e.body.tool_input {
        content.push(normalize_ws(input));
    }
    let mut all = content.clone();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(&e.body.raw) {
        let mut strings = Vec::new();
        json_strings(&v, &mut strings);
        all.extend(strings.iter().map(|s| normalize_ws(s)));
    } else {
        all.push(normalize_ws(&e.body.raw));
    }
    let sep = SEP.to_string();
    Hay { content: content.join(&sep), all: all.join(&sep) }
}

/// The stored sessions of one run, indexed by source file and id.
pub struct Index<'a> {
    sessions: &'a [Stored],
    /// Source file relative to the source folder → sessions from it.
    by_file: BTreeMap<String, Vec<usize>>,
    by_id: HashMap<&'a str, usize>,
    hay: Vec<Vec<Hay>>,
}

/// `source` relative to `root` with `/` separators, when under it.
fn relative(root: &Path, source: &str) -> String {
    let p = Path::new(source);
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/")
}

impl<'a> Index<'a> {
    /// Indexes `sessions`, whose sources are paths under `root` (the source folder).
    pub fn new(root: &Path, sessions: &'a [Stored]) -> Index<'a> {
        let mut by_file: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut by_id = HashMap::new();
        for (i, s) in sessions.iter().enumerate() {
            by_id.insert(s.session.id.as_str(), i);
            if let Some(src) = &s.session.source {
                by_file.entry(relative(root, src)).or_default().push(i);
            }
        }
        let hay = sessions.iter().map(|s| s.events.iter().map(hay_of).collect()).collect();
        Index { sessions, by_file, by_id, hay }
    }

    /// Stored sessions that came from `file` (relative to the source folder).
    pub fn sessions_of(&self, file: &str) -> Vec<&'a Stored> {
        self.files(file).iter().filter_map(|&i| self.sessions.get(i)).collect()
    }

    fn files(&self, file: &str) -> &[usize] {
        if let Some(v) = self.by_file.get(file) {
            return v;
        }
        // A source recorded under another prefix (a relative path given to ingest).
        let suffix = format!("/{file}");
        self.by_file.iter().find(|(k, _)| k.ends_with(&suffix)).map_or(&[], |(_, v)| v.as_slice())
    }

    fn event_index(&self, s: usize, seq: u32) -> Option<usize> {
        self.sessions.get(s)?.events.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    fn hay(&self, s: usize, e: usize) -> Option<&Hay> {
        self.hay.get(s)?.get(e)
    }

    /// Where `loc` landed (see the module docs).
    pub fn map(&self, loc: &Location) -> Mapping {
        let quote = normalize_ws(&loc.quote);
        let mut from_file: Vec<usize> = self.files(&loc.file).to_vec();
        if from_file.is_empty() {
            return Mapping::Unmapped { reason: format!("no stored session comes from {}", loc.file) };
        }
        // The sessions the location names, and the source lines it names in them.
        let lines: Option<(u32, u32)>;
        if let Some(sim) = &loc.simulation {
            let suffix = format!("/{sim}");
            from_file.retain(|&i| {
                self.sessions.get(i).is_some_and(|s| s.session.id == *sim || s.session.id.ends_with(&suffix))
            });
            if from_file.is_empty() {
                return Mapping::Unmapped {
                    reason: format!("no stored session of {} has the simulation id {sim}", loc.file),
                };
            }
            lines = loc.message.map(|m| (m.saturating_add(1), m.saturating_add(1)));
        } else if let Some(ptr) = &loc.pointer {
            // The first array index of the pointer is the record (`/messages/4`, `/history/4`).
            lines = ptr
                .split('/')
                .find_map(|seg| seg.parse::<u32>().ok())
                .map(|n| (n.saturating_add(1), n.saturating_add(1)));
        } else {
            lines = loc.line.map(|l| (l, loc.end_line.unwrap_or(l)));
        }
        let mut named: BTreeMap<(usize, u32), Vec<u32>> = BTreeMap::new();
        if let Some((a, b)) = lines {
            self.collect(&from_file, &|l| (a..=b).contains(&l), &mut named);
            // A block-based format (aider: one event per block, numbered by
            // its first line): the block of the file that starts last at or
            // before the line.
            if named.is_empty() && loc.line.is_some() {
                let start = from_file
                    .iter()
                    .filter_map(|&i| self.sessions.get(i))
                    .flat_map(|s| s.events.iter().filter_map(|e| e.body.source_line))
                    .filter(|l| *l <= a)
                    .max();
                if let Some(start) = start {
                    self.collect(&from_file, &|l| l == start, &mut named);
                }
            }
        }
        let holds = |i: usize, seqs: &[u32]| {
            seqs.iter()
                .any(|&q| self.event_index(i, q).and_then(|e| self.hay(i, e)).is_some_and(|h| h.all.contains(&quote)))
        };
        let exact: Vec<(&(usize, u32), &Vec<u32>)> = named.iter().filter(|(k, v)| holds(k.0, v)).collect();
        match exact.as_slice() {
            [((i, _), seqs)] => {
                return Mapping::Exact { session: self.id(*i), events: (*seqs).clone() };
            }
            [] => {}
            many => {
                return Mapping::Ambiguous {
                    reason: format!("{} names {} stored records holding the quote", describe(loc), many.len()),
                }
            }
        }
        // By quote, among the sessions of the file (or simulation).
        let mut found: BTreeMap<(usize, Option<u32>), Vec<u32>> = BTreeMap::new();
        for &i in &from_file {
            let Some(s) = self.sessions.get(i) else { continue };
            for (k, e) in s.events.iter().enumerate() {
                if self.hay(i, k).is_some_and(|h| h.all.contains(&quote)) {
                    found.entry((i, e.body.source_line)).or_default().push(e.seq);
                }
            }
        }
        let why = if named.is_empty() {
            format!("{} names no stored event", describe(loc))
        } else {
            format!("the events {} names do not hold the quote", describe(loc))
        };
        let n = found.len();
        let mut found = found.into_iter();
        match (found.next(), n) {
            (Some(((i, _), seqs)), 1) => Mapping::ByQuote { session: self.id(i), events: seqs, why },
            (None, _) => Mapping::Unmapped { reason: format!("{why}, and no stored event of {} holds it", loc.file) },
            _ => Mapping::Ambiguous { reason: format!("{why}; {n} stored records of {} hold the quote", loc.file) },
        }
    }

    /// The events of `sessions` whose source line is `wanted`, by (session, line).
    fn collect(&self, sessions: &[usize], wanted: &dyn Fn(u32) -> bool, out: &mut BTreeMap<(usize, u32), Vec<u32>>) {
        for &i in sessions {
            let Some(s) = self.sessions.get(i) else { continue };
            for e in &s.events {
                if let Some(l) = e.body.source_line.filter(|l| wanted(*l)) {
                    out.entry((i, l)).or_default().push(e.seq);
                }
            }
        }
    }

    fn id(&self, i: usize) -> String {
        self.sessions.get(i).map(|s| s.session.id.clone()).unwrap_or_default()
    }

    /// Checks one evidence entry an op cites.
    pub fn check(&self, ev: &Evidence) -> EvidenceCheck {
        let quote = normalize_ws(&ev.quote);
        let mut out = EvidenceCheck {
            session: ev.session.clone(),
            events: ev.events.clone(),
            session_exists: false,
            missing_events: Vec::new(),
            quote_verified: false,
        };
        let Some(&i) = self.by_id.get(ev.session.as_str()) else { return out };
        out.session_exists = true;
        let n = self.sessions.get(i).map_or(0, |s| s.events.len());
        let cited: Vec<usize> = if ev.events.is_empty() {
            (0..n).collect()
        } else {
            let mut v = Vec::new();
            for &q in &ev.events {
                match self.event_index(i, q) {
                    Some(k) => v.push(k),
                    None => out.missing_events.push(q),
                }
            }
            v
        };
        out.quote_verified =
            !quote.is_empty() && cited.iter().any(|&k| self.hay(i, k).is_some_and(|h| h.content.contains(&quote)));
        out
    }
}

fn describe(loc: &Location) -> String {
    if let (Some(s), Some(m)) = (&loc.simulation, loc.message) {
        return format!("{} simulation {s} message {m}", loc.file);
    }
    if let Some(p) = &loc.pointer {
        return format!("{} pointer {p}", loc.file);
    }
    match (loc.line, loc.end_line) {
        (Some(a), Some(b)) if b != a => format!("{} lines {a}-{b}", loc.file),
        (Some(a), _) => format!("{}:{a}", loc.file),
        _ => loc.file.clone(),
    }
}

/// The stored records a set of mapped locations names, as (session, event) pairs.
pub fn record_set(mappings: &[Mapping]) -> BTreeSet<(String, u32)> {
    mappings
        .iter()
        .filter_map(Mapping::record)
        .flat_map(|(s, evs)| evs.iter().map(move |e| (s.to_string(), *e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stored session from `source` with events `(source_line, text, raw)`.
    fn session(id: &str, source: &str, events: &[(Option<u32>, &str, &str)]) -> Stored {
        let session = serde_json::from_value(json!({
            "id": id, "format": "test", "source": source, "event_count": events.len(),
            "head_hash": "", "started_at": "2026-01-01T00:00:00Z", "ingested_at": "2026-01-01T00:00:00Z",
        }))
        .unwrap();
        let events = events
            .iter()
            .enumerate()
            .map(|(i, (line, text, raw))| {
                serde_json::from_value(json!({
                    "session": id, "seq": i, "role": "tool", "kind": "tool_result", "text": text,
                    "source_line": line, "raw": raw, "hash": "",
                }))
                .unwrap()
            })
            .collect();
        Stored { session, events }
    }

    fn at(file: &str, quote: &str) -> Location {
        Location {
            file: file.into(),
            line: None,
            end_line: None,
            simulation: None,
            message: None,
            pointer: None,
            quote: quote.into(),
        }
    }

    #[test]
    fn a_line_maps_to_every_event_of_its_record() {
        let s = vec![session(
            "s1",
            "/data/src/p/a.jsonl",
            &[
                (Some(2), "hello", "{}"),
                (Some(3), "x", "{\"m\":\"File has not been read yet.\"}"),
                (Some(3), "y", "{}"),
            ],
        )];
        let idx = Index::new(Path::new("/data/src"), &s);
        let loc = Location { line: Some(3), ..at("p/a.jsonl", "File has  not been\nread yet") };
        assert_eq!(idx.map(&loc), Mapping::Exact { session: "s1".into(), events: vec![1, 2] });
        let missing = at("p/b.jsonl", "x");
        assert!(matches!(idx.map(&missing), Mapping::Unmapped { reason } if reason.contains("no stored session")));
    }

    #[test]
    fn a_simulation_message_maps_to_its_one_based_record() {
        let s = vec![
            session("sim-1", "/d/t.json", &[(Some(1), "hi", "{}"), (Some(2), "Error: User not found", "{}")]),
            session("sim-2", "/d/t.json", &[(Some(1), "hi", "{}"), (Some(2), "Error: User not found", "{}")]),
        ];
        let idx = Index::new(Path::new("/d"), &s);
        let loc = Location { simulation: Some("sim-2".into()), message: Some(1), ..at("t.json", "User not found") };
        assert_eq!(idx.map(&loc), Mapping::Exact { session: "sim-2".into(), events: vec![1] });
        let other = Location { simulation: Some("sim-9".into()), message: Some(1), ..at("t.json", "x") };
        assert!(matches!(idx.map(&other), Mapping::Unmapped { .. }));
    }

    #[test]
    fn a_line_inside_a_block_maps_to_the_block() {
        let s = vec![
            session(
                "run-1",
                "/d/h.md",
                &[(Some(1), "# start", "\"# start\""), (Some(5), "> Applied edit\n> SearchReplaceNoExactMatch", "{}")],
            ),
            session("run-2", "/d/h.md", &[(Some(9), "# start", "{}")]),
        ];
        let idx = Index::new(Path::new("/d"), &s);
        let loc = Location { line: Some(6), end_line: Some(6), ..at("h.md", "SearchReplaceNoExactMatch") };
        assert_eq!(idx.map(&loc), Mapping::Exact { session: "run-1".into(), events: vec![1] });
    }

    #[test]
    fn a_location_whose_record_lacks_the_quote_maps_by_a_unique_quote_or_not_at_all() {
        let s = vec![session(
            "run",
            "/d/x.traj",
            &[
                (Some(6), "other", "{}"),
                (Some(7), "E999 SyntaxError: unmatched ']'", "{}"),
                (Some(8), "twice", "{}"),
                (Some(9), "twice", "{}"),
            ],
        )];
        let idx = Index::new(Path::new("/d"), &s);
        let unique = Location { pointer: Some("/trajectory/5/observation".into()), ..at("x.traj", "unmatched ']'") };
        assert!(matches!(idx.map(&unique), Mapping::ByQuote { events, .. } if events == vec![1]));
        let twice = Location { pointer: Some("/trajectory/5/observation".into()), ..at("x.traj", "twice") };
        assert!(matches!(idx.map(&twice), Mapping::Ambiguous { reason } if reason.contains("2 stored records")));
        let none = Location { pointer: Some("/trajectory/5".into()), ..at("x.traj", "absent") };
        assert!(matches!(idx.map(&none), Mapping::Unmapped { .. }));
    }

    #[test]
    fn cited_evidence_is_checked_against_text_and_tool_input() {
        let mut s = vec![session("s", "/d/a.jsonl", &[(Some(1), "npm install failed", "{}"), (Some(2), "ok", "{}")])];
        s[0].events[1].body.tool_input = Some("{\"command\":\"pnpm   install\"}".into());
        let idx = Index::new(Path::new("/d"), &s);
        let ev = |events: Vec<u32>, quote: &str| Evidence { session: "s".into(), events, quote: quote.into() };
        assert!(idx.check(&ev(vec![0], "install failed")).quote_verified);
        assert!(idx.check(&ev(vec![1], "pnpm install")).quote_verified);
        assert!(!idx.check(&ev(vec![1], "install failed")).quote_verified);
        assert!(idx.check(&ev(vec![], "install failed")).quote_verified);
        let dangling = idx.check(&ev(vec![7], "x"));
        assert_eq!(dangling.missing_events, vec![7]);
        assert!(!idx.check(&Evidence { session: "nope".into(), events: vec![], quote: "x".into() }).session_exists);
    }
}
