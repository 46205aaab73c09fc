//! The labelled expectation files (`tests/real-data/expect/<source>.toml`):
//! their shape (strict: unknown keys are refused), the match rule, the
//! session-specific values, and the structural checks the Python checker
//! (`tests/real-data/check_labels.py`) also makes where they need no data.
//! Verifying quotes against the transcripts is the checker's job.

use crate::{QualityError, Result};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Longest lesson text a reviewer writes (characters).
pub const MAX_TEXT: usize = 200;

/// One expectation file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The folder under `real-transcripts/`; the file is named `<source>.toml`.
    pub source: String,
    pub description: String,
    #[serde(default, rename = "lesson")]
    pub lessons: Vec<Lesson>,
    #[serde(default)]
    pub acceptable: Vec<Entry>,
    #[serde(default)]
    pub wrong: Vec<Entry>,
    #[serde(default)]
    pub junk: Vec<Entry>,
    #[serde(default)]
    pub session_specific: Vec<SessionSpecific>,
    /// Per-session coverage for the leave-one-out test (claude-code-log).
    #[serde(default, rename = "session")]
    pub sessions: Vec<LabelledSession>,
}

/// What kind of memory a lesson is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LessonKind {
    Mistake,
    Procedure,
    Preference,
    Fact,
}

impl LessonKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LessonKind::Mistake => "mistake",
            LessonKind::Procedure => "procedure",
            LessonKind::Preference => "preference",
            LessonKind::Fact => "fact",
        }
    }
}

/// Where a lesson holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeHint {
    Project,
    Any,
}

/// How a recovery relates to the failing step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Relation {
    Instead,
    Before,
    With,
    None,
}

/// What the proposal should contain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Lesson {
    pub id: String,
    pub kind: LessonKind,
    pub scope_hint: ScopeHint,
    /// Evidence in at least two distinct sessions: counts toward the goal.
    pub recurring: bool,
    /// No deterministic error grouping can find it.
    #[serde(default)]
    pub needs_model: bool,
    /// claude-code-log: the project folders the lesson applies to.
    #[serde(default)]
    pub projects: Vec<String>,
    pub text: String,
    #[serde(default)]
    pub paraphrases: Vec<String>,
    #[serde(rename = "match")]
    pub groups: Vec<Vec<String>>,
    #[serde(default)]
    pub unless: Vec<String>,
    pub evidence: Vec<Location>,
    #[serde(default)]
    pub recovery: Option<Recovery>,
}

/// An `[[acceptable]]`, `[[wrong]]` or `[[junk]]` entry.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    pub id: String,
    #[serde(rename = "match")]
    pub groups: Vec<Vec<String>>,
    #[serde(default)]
    pub unless: Vec<String>,
    #[serde(default)]
    pub examples: Vec<String>,
    #[serde(default)]
    pub evidence: Vec<Location>,
    /// Required for `wrong` and `junk`.
    #[serde(default)]
    pub why: Option<String>,
}

/// Where a quote is in the source (see the README's *Evidence* table):
/// `file` + `line` (+ `end_line`), `file` + `simulation` + `message`, or
/// `file` + `pointer`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_line: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub simulation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pointer: Option<String>,
    pub quote: String,
}

/// A lesson's recovery: a relation and, unless it is `none`, a location.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Recovery {
    pub relation: Relation,
    #[serde(default)]
    pub file: Option<String>,
    #[serde(default)]
    pub line: Option<u32>,
    #[serde(default)]
    pub end_line: Option<u32>,
    #[serde(default)]
    pub simulation: Option<String>,
    #[serde(default)]
    pub message: Option<u32>,
    #[serde(default)]
    pub pointer: Option<String>,
    #[serde(default)]
    pub quote: Option<String>,
}

impl Recovery {
    /// The recovery as a location, when it has one.
    pub fn location(&self) -> Option<Location> {
        Some(Location {
            file: self.file.clone()?,
            line: self.line,
            end_line: self.end_line,
            simulation: self.simulation.clone(),
            message: self.message,
            pointer: self.pointer.clone(),
            quote: self.quote.clone()?,
        })
    }
}

/// Values and regex patterns that must never appear in memory text.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSpecific {
    #[serde(default)]
    pub values: Vec<String>,
    #[serde(default)]
    pub patterns: Vec<String>,
}

/// A session file that shows at least one recurring lesson.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LabelledSession {
    pub file: String,
    /// 1-based line of the first user record carrying the operator's input.
    pub first_prompt_line: u32,
    pub lessons: Vec<String>,
    #[serde(default)]
    pub first_prompt_quote: Option<String>,
}

/// The README's match rule: the lowercased `text` contains, for every group,
/// at least one alternative as a plain substring, and none of `unless`.
pub fn matches(text: &str, groups: &[Vec<String>], unless: &[String]) -> bool {
    let t = text.to_lowercase();
    if unless.iter().any(|u| t.contains(&u.to_lowercase())) {
        return false;
    }
    !groups.is_empty() && groups.iter().all(|g| g.iter().any(|alt| t.contains(&alt.to_lowercase())))
}

impl Lesson {
    pub fn matches(&self, text: &str) -> bool {
        matches(text, &self.groups, &self.unless)
    }

    /// Evidence and recovery locations.
    pub fn locations(&self) -> Vec<Location> {
        let mut out = self.evidence.clone();
        out.extend(self.recovery.as_ref().and_then(Recovery::location));
        out
    }

    /// True when the lesson holds in `project` (lessons without projects hold everywhere).
    pub fn in_project(&self, project: &str) -> bool {
        self.projects.is_empty() || self.projects.iter().any(|p| p == project)
    }
}

impl Entry {
    pub fn matches(&self, text: &str) -> bool {
        matches(text, &self.groups, &self.unless)
    }
}

/// The session-specific values and patterns of one file, compiled.
#[derive(Debug, Clone, Default)]
pub struct Leaks {
    values: Vec<(String, String)>,
    patterns: Vec<regex::Regex>,
}

impl Leaks {
    /// Compiles every pattern; a pattern that does not compile is a problem
    /// reported by [`Expectations::problems`] and is left out here.
    pub fn new(specific: &[SessionSpecific]) -> Leaks {
        let mut leaks = Leaks::default();
        for s in specific {
            leaks.values.extend(s.values.iter().filter(|v| !v.is_empty()).map(|v| (v.clone(), v.to_lowercase())));
            leaks.patterns.extend(s.patterns.iter().filter_map(|p| regex::Regex::new(p).ok()));
        }
        leaks
    }

    /// The values (case-insensitive) and patterns found in `text`, each as
    /// what was found.
    pub fn find(&self, text: &str) -> Vec<String> {
        let lower = text.to_lowercase();
        let mut out: Vec<String> =
            self.values.iter().filter(|(_, l)| lower.contains(l.as_str())).map(|(v, _)| v.clone()).collect();
        for p in &self.patterns {
            if let Some(m) = p.find(text) {
                out.push(m.as_str().to_string());
            }
        }
        out
    }
}

/// Regex constructs outside the common subset of Rust `regex` and Python
/// `re`: look-around and back-references.
fn non_portable(pattern: &str) -> bool {
    if ["(?=", "(?!", "(?<"].iter().any(|s| pattern.contains(s)) {
        return true;
    }
    let b = pattern.as_bytes();
    b.windows(2).any(|w| matches!(w, [b'\\', b'1'..=b'9']))
}

fn check_groups(groups: &[Vec<String>]) -> Option<String> {
    if groups.is_empty() {
        return Some("`match` must be a non-empty list of groups".into());
    }
    for g in groups {
        if g.is_empty() || g.iter().any(String::is_empty) {
            return Some(format!("match group {g:?} must be a non-empty list of non-empty strings"));
        }
    }
    None
}

fn check_location(where_: &str, loc: &Location, out: &mut Vec<String>) {
    if loc.quote.trim().is_empty() {
        out.push(format!("{where_}: evidence needs a non-empty `quote`"));
    }
    let by_line = loc.line.is_some();
    let by_sim = loc.simulation.is_some() || loc.message.is_some();
    let by_ptr = loc.pointer.is_some();
    match (by_line, by_sim, by_ptr) {
        (true, false, false) => {
            if let (Some(a), Some(b)) = (loc.line, loc.end_line) {
                if b < a {
                    out.push(format!("{where_}: end_line {b} is before line {a}"));
                }
            }
            if loc.line == Some(0) {
                out.push(format!("{where_}: lines are 1-based"));
            }
        }
        (false, true, false) => {
            if loc.simulation.is_none() || loc.message.is_none() {
                out.push(format!("{where_}: a simulation location needs both `simulation` and `message`"));
            }
        }
        (false, false, true) => {
            if loc.pointer.as_deref().is_some_and(|p| !p.is_empty() && !p.starts_with('/')) {
                out.push(format!("{where_}: pointer must start with '/'"));
            }
        }
        _ => out.push(format!("{where_}: give exactly one of `line`, `simulation`+`message` or `pointer`")),
    }
    if loc.end_line.is_some() && !by_line {
        out.push(format!("{where_}: `end_line` needs `line`"));
    }
}

impl Expectations {
    /// Reads and parses one file (unknown keys refused). Structural
    /// problems are left to [`Expectations::problems`].
    pub fn read(path: &Path) -> Result<Expectations> {
        let text = std::fs::read_to_string(path).map_err(|e| QualityError::io(path, e))?;
        Expectations::parse(&text, path)
    }

    /// Parses the text of `path`.
    pub fn parse(text: &str, path: &Path) -> Result<Expectations> {
        toml::from_str(text).map_err(|e| QualityError::Toml { path: path.to_path_buf(), message: e.to_string() })
    }

    /// The compiled session-specific values and patterns.
    pub fn leaks(&self) -> Leaks {
        Leaks::new(&self.session_specific)
    }

    /// The lessons of `project` (all lessons when `None`).
    pub fn lessons_in(&self, project: Option<&str>) -> Vec<&Lesson> {
        self.lessons.iter().filter(|l| project.is_none_or(|p| l.in_project(p))).collect()
    }

    /// The lesson with this id.
    pub fn lesson(&self, id: &str) -> Option<&Lesson> {
        self.lessons.iter().find(|l| l.id == id)
    }

    /// Every structural problem, each naming the entry (empty when the file
    /// is sound). `stem` is the file name without `.toml`.
    pub fn problems(&self, stem: &str) -> Vec<String> {
        let mut out = Vec::new();
        if self.source.trim().is_empty() {
            out.push("`source` is empty".to_string());
        } else if self.source != stem {
            out.push(format!("file should be named {}.toml", self.source));
        }
        if self.description.trim().is_empty() {
            out.push("missing `description`".to_string());
        }
        for (i, ss) in self.session_specific.iter().enumerate() {
            for p in &ss.patterns {
                if non_portable(p) {
                    out.push(format!("session_specific[{i}]: pattern {p:?} uses look-around/back-references"));
                }
                if let Err(e) = regex::Regex::new(p) {
                    out.push(format!("session_specific[{i}]: bad regex {p:?}: {e}"));
                }
            }
        }
        let leaks = self.leaks();
        let mut ids = BTreeSet::new();
        for l in &self.lessons {
            let w = format!("lesson {}", l.id);
            if !ids.insert(l.id.clone()) {
                out.push(format!("{w}: duplicate id"));
            }
            let n = l.text.chars().count();
            if n > MAX_TEXT {
                out.push(format!("{w}: text is {n} chars (> {MAX_TEXT})"));
            }
            let leaked = leaks.find(&l.text);
            if !leaked.is_empty() {
                out.push(format!("{w}: text leaks session-specific values {leaked:?}"));
            }
            match check_groups(&l.groups) {
                Some(p) => out.push(format!("{w}: {p}")),
                None => {
                    if !l.matches(&l.text) {
                        out.push(format!("{w}: the lesson's own `text` does not satisfy its `match`"));
                    }
                }
            }
            if l.evidence.is_empty() {
                out.push(format!("{w}: no evidence"));
            }
            for (j, ev) in l.evidence.iter().enumerate() {
                check_location(&format!("{w} evidence[{j}]"), ev, &mut out);
            }
            if let Some(r) = &l.recovery {
                match r.location() {
                    Some(loc) => check_location(&format!("{w} recovery"), &loc, &mut out),
                    None if r.relation == Relation::None && r.file.is_none() => {}
                    None => out.push(format!("{w} recovery: needs `file` and `quote` (or relation \"none\")")),
                }
            }
            for para in &l.paraphrases {
                let leaked = leaks.find(para);
                if !leaked.is_empty() {
                    out.push(format!("{w}: paraphrase leaks session-specific values {leaked:?}"));
                }
                if !l.matches(para) {
                    out.push(format!("{w}: paraphrase does not satisfy the match: {:?}", short(para)));
                }
            }
        }
        for (section, entries) in [("acceptable", &self.acceptable), ("wrong", &self.wrong), ("junk", &self.junk)] {
            for e in entries {
                let w = format!("{section} {}", e.id);
                if !ids.insert(e.id.clone()) {
                    out.push(format!("{w}: id already used"));
                }
                if let Some(p) = check_groups(&e.groups) {
                    out.push(format!("{w}: {p}"));
                    continue;
                }
                if section != "acceptable" && e.why.as_deref().is_none_or(|w| w.trim().is_empty()) {
                    out.push(format!("{w}: needs `why`"));
                }
                for ex in &e.examples {
                    if !e.matches(ex) {
                        out.push(format!("{w}: example does not satisfy its own match: {:?}", short(ex)));
                    }
                    if section != "acceptable" {
                        for l in self.lessons.iter().filter(|l| l.matches(ex)) {
                            out.push(format!("{w}: example would also match lesson {}: {:?}", l.id, short(ex)));
                        }
                    }
                }
                for (j, ev) in e.evidence.iter().enumerate() {
                    check_location(&format!("{w} evidence[{j}]"), ev, &mut out);
                }
            }
        }
        // A correct op worded like one lesson must not score another, nor count as wrong.
        for l in &self.lessons {
            for wording in std::iter::once(&l.text).chain(&l.paraphrases) {
                for other in self.lessons.iter().filter(|o| o.id != l.id && o.matches(wording)) {
                    out.push(format!(
                        "lesson {}: {:?} also satisfies the match of lesson {}",
                        l.id,
                        short(wording),
                        other.id
                    ));
                }
                for w in self.wrong.iter().filter(|w| w.matches(wording)) {
                    out.push(format!("lesson {}: {:?} would count as wrong ({})", l.id, short(wording), w.id));
                }
            }
        }
        self.session_problems(&mut out);
        out
    }

    fn session_problems(&self, out: &mut Vec<String>) {
        if self.sessions.is_empty() {
            return;
        }
        let files_of: BTreeMap<&str, BTreeSet<&str>> = self
            .lessons
            .iter()
            .map(|l| (l.id.as_str(), l.evidence.iter().map(|e| e.file.as_str()).collect()))
            .collect();
        let mut listed: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        let mut seen = BTreeSet::new();
        for s in &self.sessions {
            let w = format!("session {}", s.file);
            if !seen.insert(s.file.as_str()) {
                out.push(format!("{w}: listed twice"));
            }
            if s.first_prompt_line == 0 {
                out.push(format!("{w}: first_prompt_line is 1-based"));
            }
            for id in &s.lessons {
                match files_of.get(id.as_str()) {
                    None => out.push(format!("{w}: unknown lesson {id}")),
                    Some(files) if !files.contains(s.file.as_str()) => {
                        out.push(format!("{w}: lists {id} but that lesson has no evidence in this file"))
                    }
                    Some(_) => {
                        listed.entry(id.as_str()).or_default().insert(s.file.as_str());
                    }
                }
            }
        }
        for l in self.lessons.iter().filter(|l| l.recurring) {
            let have = listed.get(l.id.as_str());
            for f in files_of.get(l.id.as_str()).into_iter().flatten() {
                if !have.is_some_and(|h| h.contains(f)) {
                    out.push(format!("lesson {}: evidence file {f} has no [[session]] entry listing it", l.id));
                }
            }
        }
    }
}

fn short(s: &str) -> String {
    let mut t: String = s.chars().take(80).collect();
    if t.len() < s.len() {
        t.push('…');
    }
    t
}

/// Every `*.toml` of `dir`, read and checked, sorted by name. Fails when
/// the folder holds none, when a file does not parse, or when one has
/// structural problems (all of them listed).
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, Expectations)>> {
    let rd = std::fs::read_dir(dir).map_err(|e| QualityError::io(dir, e))?;
    let mut paths = Vec::new();
    for entry in rd {
        let p = entry.map_err(|e| QualityError::io(dir, e))?.path();
        if p.extension().is_some_and(|e| e == "toml") {
            paths.push(p);
        }
    }
    paths.sort();
    if paths.is_empty() {
        return Err(QualityError::NoExpectations(dir.to_path_buf()));
    }
    let mut out = Vec::new();
    for p in paths {
        let ex = Expectations::read(&p)?;
        let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
        let problems = ex.problems(&stem);
        if !problems.is_empty() {
            return Err(QualityError::Invalid { path: p, problems });
        }
        out.push((p, ex));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(groups: &[&[&str]]) -> Vec<Vec<String>> {
        groups.iter().map(|g| g.iter().map(|s| s.to_string()).collect()).collect()
    }

    #[test]
    fn a_text_matches_when_every_group_has_an_alternative_and_no_unless() {
        let groups = g(&[&["read"], &["edit", "writ"]]);
        assert!(matches("Read the file before you Edit it", &groups, &[]));
        assert!(!matches("Read the file first", &groups, &[]));
        assert!(!matches("Read before edit", &groups, &["before".into()]));
        assert!(!matches("anything", &[], &[]));
    }

    #[test]
    fn leaks_are_case_insensitive_values_and_case_sensitive_patterns() {
        let leaks =
            Leaks::new(&[SessionSpecific { values: vec!["/Users/dain".into()], patterns: vec!["#W[0-9]{7}".into()] }]);
        assert_eq!(leaks.find("see /users/DAIN/x"), vec!["/Users/dain".to_string()]);
        assert_eq!(leaks.find("order #W1234567 and #w7654321"), vec!["#W1234567".to_string()]);
        assert!(leaks.find("nothing here").is_empty());
    }

    #[test]
    fn non_portable_patterns_are_named() {
        assert!(non_portable("a(?=b)"));
        assert!(non_portable("(a)\\1"));
        assert!(!non_portable("\\b[0-9]{10}\\b"));
    }

    const GOOD: &str = r#"
source = "demo"
description = "d"
[[lesson]]
id = "read-first"
kind = "mistake"
scope_hint = "any"
recurring = true
text = "Read a file before Edit"
match = [["read"], ["edit"]]
evidence = [{ file = "a.jsonl", line = 1, quote = "File has not been read yet" }]
[[wrong]]
id = "never-read"
why = "w"
match = [["never read"]]
examples = ["never read files"]
"#;

    #[test]
    fn a_sound_file_has_no_problems() {
        let ex = Expectations::parse(GOOD, Path::new("demo.toml")).unwrap();
        assert_eq!(ex.problems("demo"), Vec::<String>::new());
        assert_eq!(ex.problems("other"), vec!["file should be named demo.toml".to_string()]);
    }

    #[test]
    fn unknown_keys_are_refused_with_the_file_named() {
        let bad = GOOD.replace("recurring = true", "recurring = true\nrecuring = false");
        let err = Expectations::parse(&bad, Path::new("x/demo.toml")).unwrap_err().to_string();
        assert!(err.contains("x/demo.toml") && err.contains("recuring"), "{err}");
    }

    #[test]
    fn structural_problems_are_all_listed() {
        let bad = GOOD
            .replace("text = \"Read a file before Edit\"", "text = \"Write it down\"")
            .replace("examples = [\"never read files\"]", "examples = [\"never read files before edit\"]")
            .replace("why = \"w\"\n", "");
        let ex = Expectations::parse(&bad, Path::new("demo.toml")).unwrap();
        let p = ex.problems("demo");
        assert!(p.iter().any(|s| s.contains("own `text` does not satisfy")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("wrong never-read: needs `why`")), "{p:?}");
        assert!(p.iter().any(|s| s.contains("would also match lesson read-first")), "{p:?}");
    }
}
