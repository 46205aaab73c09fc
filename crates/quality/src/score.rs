//! Scoring one proposal against one expectation file: every op classified
//! by the README rule, lessons found, junk, wrong, leaked values, secrets,
//! customer statements, and the quality of the evidence each op cites.

use crate::expect::{Entry, Expectations, Lesson, LessonKind};
use crate::locate::{record_set, EvidenceCheck, Index, Mapping};
use crate::run::{Ingested, Rejected};
use nocturne_core::secrets::contains_secret;
use nocturne_core::{Counterpart, Op, OpKind, Proposal, Role};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What one op is, by the README rule: `wrong` if it matches any wrong
/// entry; else the lessons it matches; else `acceptable`; else junk (with
/// the junk entry it matches, if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum Class {
    Lesson {
        ids: Vec<String>,
    },
    Acceptable {
        id: String,
    },
    Wrong {
        id: String,
    },
    Junk {
        entry: Option<String>,
    },
    /// A retire, promote or demote: its text is an existing memory's, so it
    /// proposes no new memory text and is not classified.
    Maintenance,
}

impl Class {
    pub fn label(&self) -> String {
        match self {
            Class::Lesson { ids } => format!("lesson {}", ids.join(", ")),
            Class::Acceptable { id } => format!("acceptable {id}"),
            Class::Wrong { id } => format!("WRONG {id}"),
            Class::Junk { entry: Some(id) } => format!("junk ({id})"),
            Class::Junk { entry: None } => "junk (matches nothing)".into(),
            Class::Maintenance => "maintenance (not scored)".into(),
        }
    }
}

fn first<'a>(entries: &'a [Entry], text: &str) -> Option<&'a Entry> {
    entries.iter().find(|e| e.matches(text))
}

/// Classifies a memory text (see [`Class`]).
pub fn classify(ex: &Expectations, text: &str) -> Class {
    if let Some(w) = first(&ex.wrong, text) {
        return Class::Wrong { id: w.id.clone() };
    }
    let ids: Vec<String> = ex.lessons.iter().filter(|l| l.matches(text)).map(|l| l.id.clone()).collect();
    if !ids.is_empty() {
        return Class::Lesson { ids };
    }
    if let Some(a) = first(&ex.acceptable, text) {
        return Class::Acceptable { id: a.id.clone() };
    }
    Class::Junk { entry: first(&ex.junk, text).map(|j| j.id.clone()) }
}

/// `found` of `total`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Ratio {
    pub found: usize,
    pub total: usize,
}

impl Ratio {
    /// Percentage, `None` when there is nothing to find.
    pub fn pct(&self) -> Option<f64> {
        (self.total > 0).then(|| self.found as f64 * 100.0 / self.total as f64)
    }

    fn of<'a>(lessons: impl Iterator<Item = &'a Lesson>, found: &BTreeSet<String>) -> Ratio {
        let ids: Vec<&str> = lessons.map(|l| l.id.as_str()).collect();
        Ratio { found: ids.iter().filter(|id| found.contains(**id)).count(), total: ids.len() }
    }
}

impl std::fmt::Display for Ratio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.pct() {
            Some(p) => write!(f, "{}/{} ({p:.0} %)", self.found, self.total),
            None => f.write_str("-"),
        }
    }
}

/// One op as scored.
#[derive(Debug, Clone, Serialize)]
pub struct OpReport {
    pub n: u32,
    pub op: String,
    pub kind: String,
    pub scope: String,
    pub pass: String,
    pub support: u32,
    pub text: String,
    pub class: Class,
    /// A junk entry the text also matches although it was classified otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub also_junk: Option<String>,
    /// Session-specific values found in the memory text.
    pub leaked: Vec<String>,
    /// A secret in the text, a tag or an evidence quote.
    pub secret: bool,
    /// The text repeats what a customer said (see [`SourceReport::customer_statements`]).
    pub customer_statement: bool,
    pub evidence: Vec<EvidenceCheck>,
    /// For an op classified as lessons whose label evidence maps to stored
    /// events: whether it cites one of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cites_label_evidence: Option<bool>,
}

/// How the label locations of the lessons in scope landed in the store.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LabelMapping {
    pub exact: usize,
    pub by_quote: usize,
    pub ambiguous: usize,
    pub unmapped: usize,
    /// `lesson: location: reason` for each ambiguous, unmapped or by-quote location.
    pub notes: Vec<String>,
}

/// Whether the source could be scored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Status {
    Ingested,
    NotIngested { reason: String },
}

/// One dream over one batch of one source, scored.
#[derive(Debug, Clone, Serialize)]
pub struct SourceReport {
    pub source: String,
    /// The batch: `all` (every session of the source) or `project NAME`.
    pub batch: String,
    pub status: Status,
    pub files: usize,
    pub sessions: usize,
    /// Sessions the service skipped as already stored (same id as another file's).
    pub sessions_skipped: usize,
    pub events: u64,
    pub rejected: Vec<Rejected>,
    pub ops: usize,
    /// `create mistake` → count.
    pub ops_by_kind: BTreeMap<String, usize>,
    /// Recurring lessons found (the goal's measure).
    pub recurring: Ratio,
    /// Recurring lessons that need no model (a deterministic pass should find them).
    pub recurring_deterministic: Ratio,
    pub all: Ratio,
    pub needs_model: Ratio,
    pub acceptable: usize,
    /// Ops that match no lesson, acceptable or wrong entry.
    pub junk: usize,
    pub wrong: usize,
    /// Ops whose memory text carries a session-specific value.
    pub leaked: usize,
    /// Ops with a secret in text, tags or quotes.
    pub secrets: usize,
    /// Ops whose text repeats what a customer said: a sentence (≥ 20
    /// characters) of a user message in a customer-facing session, or the
    /// shape of a junk entry whose id starts with `customer`.
    pub customer_statements: usize,
    pub ops_without_evidence: usize,
    pub evidence_entries: usize,
    /// Evidence entries whose quote is not verbatim in the cited events.
    pub unverified_quotes: usize,
    /// Evidence entries citing a session or event that is not stored.
    pub dangling_evidence: usize,
    /// Lesson ops citing one of the label's evidence records, of those
    /// whose label evidence maps to stored events.
    pub lesson_ops_citing_labels: Ratio,
    pub labels: LabelMapping,
    pub found: Vec<String>,
    pub missed_recurring: Vec<String>,
    pub ingest_ms: u64,
    pub dream_ms: u64,
    pub elapsed_ms: u64,
    /// The proposal's own counters (findings per pass, guardrail drops, ...).
    pub dream_stats: BTreeMap<String, serde_json::Value>,
    pub op_details: Vec<OpReport>,
}

/// Sentences a customer said (normalized, lowercased, ≥ 20 characters).
fn customer_sentences(ing: &Ingested) -> Vec<String> {
    let mut out = Vec::new();
    for s in ing.sessions.iter().filter(|s| s.session.counterpart == Some(Counterpart::Customer)) {
        for e in s.events.iter().filter(|e| e.body.role == Role::User) {
            let Some(t) = &e.body.text else { continue };
            for part in t.split(['.', '!', '?', '\n']) {
                let p = crate::data::normalize_ws(part).to_lowercase();
                if p.chars().count() >= 20 {
                    out.push(p);
                }
            }
        }
    }
    out.sort();
    out.dedup();
    out
}

/// What to score: the lessons of one batch.
pub struct Batch {
    pub name: String,
    /// Only lessons of this project (claude-code-log `projects`).
    pub project: Option<String>,
    /// Label locations outside this folder (relative to the source) are not
    /// expected in the store.
    pub prefix: Option<String>,
}

fn writes_text(op: &Op) -> bool {
    matches!(op.op, OpKind::Create | OpKind::Update | OpKind::Merge)
}

/// Scores `proposal` (the dream over `ing`) against `ex`. `root` is the
/// source folder the sessions' `source` paths are under.
#[allow(clippy::too_many_arguments)]
pub fn score(
    ex: &Expectations,
    root: &Path,
    batch: &Batch,
    ing: &Ingested,
    proposal: Option<&Proposal>,
    dream_ms: u64,
    started: std::time::Instant,
) -> SourceReport {
    let index = Index::new(root, &ing.sessions);
    let leaks = ex.leaks();
    let in_scope: Vec<&Lesson> = ex.lessons_in(batch.project.as_deref());

    // Where the label evidence of each lesson in scope is stored.
    let mut labels = LabelMapping::default();
    let mut label_records: BTreeMap<&str, BTreeSet<(String, u32)>> = BTreeMap::new();
    for l in &in_scope {
        let mut maps = Vec::new();
        for loc in l.locations() {
            if batch.prefix.as_deref().is_some_and(|p| !loc.file.starts_with(p)) {
                continue;
            }
            let m = index.map(&loc);
            let at = loc_name(&loc);
            match &m {
                Mapping::Exact { .. } => labels.exact += 1,
                Mapping::ByQuote { why, .. } => {
                    labels.by_quote += 1;
                    labels.notes.push(format!("{}: {at}: by quote ({why})", l.id));
                }
                Mapping::Ambiguous { reason } => {
                    labels.ambiguous += 1;
                    labels.notes.push(format!("{}: {at}: ambiguous: {reason}", l.id));
                }
                Mapping::Unmapped { reason } => {
                    labels.unmapped += 1;
                    let more = if reason.starts_with("no stored session comes from") {
                        format!(" ({})", why_no_session(ing, root, &loc.file))
                    } else {
                        String::new()
                    };
                    labels.notes.push(format!("{}: {at}: unmapped: {reason}{more}", l.id));
                }
            }
            maps.push(m);
        }
        label_records.insert(l.id.as_str(), record_set(&maps));
    }

    let customer = customer_sentences(ing);
    let mut ops = Vec::new();
    let mut found: BTreeSet<String> = BTreeSet::new();
    let mut by_kind: BTreeMap<String, usize> = BTreeMap::new();
    for op in proposal.map_or(&[][..], |p| p.ops.as_slice()) {
        *by_kind.entry(format!("{} {}", op.op.as_str(), op.kind)).or_default() += 1;
        let class = if writes_text(op) { classify(ex, &op.text) } else { Class::Maintenance };
        let also_junk = match &class {
            Class::Junk { .. } | Class::Maintenance => None,
            _ => first(&ex.junk, &op.text).map(|j| j.id.clone()),
        };
        if let Class::Lesson { ids } = &class {
            found.extend(ids.iter().cloned());
        }
        let evidence: Vec<EvidenceCheck> = op.evidence.iter().map(|e| index.check(e)).collect();
        let cites_label_evidence = match &class {
            Class::Lesson { ids } => {
                let wanted: BTreeSet<&(String, u32)> =
                    ids.iter().filter_map(|id| label_records.get(id.as_str())).flatten().collect();
                (!wanted.is_empty()).then(|| {
                    op.evidence.iter().any(|e| {
                        if e.events.is_empty() {
                            wanted.iter().any(|(s, _)| *s == e.session)
                        } else {
                            e.events.iter().any(|q| wanted.contains(&(e.session.clone(), *q)))
                        }
                    })
                })
            }
            _ => None,
        };
        let secret = contains_secret(&op.text)
            || op.tags.iter().any(|t| contains_secret(t))
            || op.evidence.iter().any(|e| contains_secret(&e.quote));
        let lower = crate::data::normalize_ws(&op.text).to_lowercase();
        let customer_statement = writes_text(op)
            && (customer.iter().any(|c| lower.contains(c.as_str()))
                || ex.junk.iter().any(|j| j.id.starts_with("customer") && j.matches(&op.text)));
        ops.push(OpReport {
            n: op.n,
            op: op.op.as_str().to_string(),
            kind: op.kind.to_string(),
            scope: op.scope.to_string(),
            pass: op.pass.clone(),
            support: op.support,
            text: op.text.clone(),
            class,
            also_junk,
            leaked: if writes_text(op) { leaks.find(&op.text) } else { Vec::new() },
            secret,
            customer_statement,
            evidence,
            cites_label_evidence,
        });
    }
    // Only lessons in scope count as found for this batch.
    let in_scope_ids: BTreeSet<&str> = in_scope.iter().map(|l| l.id.as_str()).collect();
    found.retain(|id| in_scope_ids.contains(id.as_str()));

    let count = |f: &dyn Fn(&OpReport) -> bool| ops.iter().filter(|o| f(o)).count();
    let lesson_ops: Vec<&OpReport> = ops.iter().filter(|o| o.cites_label_evidence.is_some()).collect();
    let sessions = ing.sessions.len();
    let status = if sessions == 0 { Status::NotIngested { reason: not_ingested(ing) } } else { Status::Ingested };
    SourceReport {
        source: ex.source.clone(),
        batch: batch.name.clone(),
        status,
        files: ing.summary.files,
        sessions,
        sessions_skipped: ing.summary.sessions_skipped,
        events: ing.events(),
        rejected: ing.summary.rejected.clone(),
        ops: ops.len(),
        ops_by_kind: by_kind,
        recurring: Ratio::of(in_scope.iter().copied().filter(|l| l.recurring), &found),
        recurring_deterministic: Ratio::of(in_scope.iter().copied().filter(|l| l.recurring && !l.needs_model), &found),
        all: Ratio::of(in_scope.iter().copied(), &found),
        needs_model: Ratio::of(in_scope.iter().copied().filter(|l| l.needs_model), &found),
        acceptable: count(&|o| matches!(o.class, Class::Acceptable { .. })),
        junk: count(&|o| matches!(o.class, Class::Junk { .. })),
        wrong: count(&|o| matches!(o.class, Class::Wrong { .. })),
        leaked: count(&|o| !o.leaked.is_empty()),
        secrets: count(&|o| o.secret),
        customer_statements: count(&|o| o.customer_statement),
        ops_without_evidence: proposal.map_or(0, |p| p.ops.iter().filter(|o| o.evidence.is_empty()).count()),
        evidence_entries: ops.iter().map(|o| o.evidence.len()).sum(),
        unverified_quotes: ops.iter().flat_map(|o| &o.evidence).filter(|e| !e.quote_verified).count(),
        dangling_evidence: ops
            .iter()
            .flat_map(|o| &o.evidence)
            .filter(|e| !e.session_exists || !e.missing_events.is_empty())
            .count(),
        lesson_ops_citing_labels: Ratio {
            found: lesson_ops.iter().filter(|o| o.cites_label_evidence == Some(true)).count(),
            total: lesson_ops.len(),
        },
        labels,
        missed_recurring: missed(&in_scope, &found),
        found: found.into_iter().collect(),
        ingest_ms: ing.ingest_ms,
        dream_ms,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        dream_stats: proposal.map(|p| p.stats.clone()).unwrap_or_default(),
        op_details: ops,
    }
}

/// The report of a batch that could not be run: nothing found, `reason` as its status.
pub fn empty(ex: &Expectations, batch: &Batch, reason: String) -> SourceReport {
    let in_scope = ex.lessons_in(batch.project.as_deref());
    let none = BTreeSet::new();
    SourceReport {
        source: ex.source.clone(),
        batch: batch.name.clone(),
        status: Status::NotIngested { reason },
        files: 0,
        sessions: 0,
        sessions_skipped: 0,
        events: 0,
        rejected: Vec::new(),
        ops: 0,
        ops_by_kind: BTreeMap::new(),
        recurring: Ratio::of(in_scope.iter().copied().filter(|l| l.recurring), &none),
        recurring_deterministic: Ratio::of(in_scope.iter().copied().filter(|l| l.recurring && !l.needs_model), &none),
        all: Ratio::of(in_scope.iter().copied(), &none),
        needs_model: Ratio::of(in_scope.iter().copied().filter(|l| l.needs_model), &none),
        acceptable: 0,
        junk: 0,
        wrong: 0,
        leaked: 0,
        secrets: 0,
        customer_statements: 0,
        ops_without_evidence: 0,
        evidence_entries: 0,
        unverified_quotes: 0,
        dangling_evidence: 0,
        lesson_ops_citing_labels: Ratio::default(),
        labels: LabelMapping::default(),
        found: Vec::new(),
        missed_recurring: missed(&in_scope, &none),
        ingest_ms: 0,
        dream_ms: 0,
        elapsed_ms: 0,
        dream_stats: BTreeMap::new(),
        op_details: Vec::new(),
    }
}

fn missed(in_scope: &[&Lesson], found: &BTreeSet<String>) -> Vec<String> {
    in_scope
        .iter()
        .filter(|l| l.recurring && !found.contains(&l.id))
        .map(|l| format!("{} ({}{})", l.id, l.kind.as_str(), if l.needs_model { ", needs model" } else { "" }))
        .collect()
}

/// Why nothing of a source was stored, from the ingest's rejections and
/// what the folder holds.
fn not_ingested(ing: &Ingested) -> String {
    let r = &ing.summary.rejected;
    let folder: usize = ing.summary.folder.values().sum();
    let kinds = ing.summary.folder.iter().map(|(k, n)| format!("{k} ×{n}")).collect::<Vec<_>>().join(", ");
    let read = if folder > 0 {
        format!("the service read {} of the folder's {folder} files ({kinds})", ing.summary.files)
    } else {
        format!("the service read {} files", ing.summary.files)
    };
    if r.is_empty() {
        return format!("{read}; no session stored");
    }
    format!("{read}; refused {}: {}", r.len(), crate::report::group_reasons(r))
}

/// More about a location whose file has no stored session: refused by the
/// ingest (and why), or read but its sessions skipped.
fn why_no_session(ing: &Ingested, root: &Path, file: &str) -> String {
    let suffix = format!("/{file}");
    if let Some(r) = ing.summary.rejected.iter().find(|r| r.file == file || r.file.ends_with(&suffix)) {
        return format!("refused by the ingest: {}", r.reason);
    }
    if !root.join(file).is_file() {
        return "the file is not in the data".into();
    }
    "not refused, yet no session carries it as source: its session id was already stored from another file \
     (skipped), or the file was not read as a transcript"
        .into()
}

fn loc_name(loc: &crate::expect::Location) -> String {
    if let (Some(s), Some(m)) = (&loc.simulation, loc.message) {
        return format!("{} sim {s} msg {m}", loc.file);
    }
    if let Some(p) = &loc.pointer {
        return format!("{}#{p}", loc.file);
    }
    match loc.line {
        Some(l) => format!("{}:{l}", loc.file),
        None => loc.file.clone(),
    }
}

/// The mistake lessons of `ids`.
pub fn mistakes<'a>(ex: &'a Expectations, ids: &[String]) -> Vec<&'a Lesson> {
    ids.iter().filter_map(|id| ex.lesson(id)).filter(|l| l.kind == LessonKind::Mistake).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex() -> Expectations {
        Expectations::parse(
            r#"
source = "demo"
description = "d"
[[lesson]]
id = "read-first"
kind = "mistake"
scope_hint = "any"
recurring = true
text = "Read a file before Edit"
match = [["read"], ["edit"]]
evidence = [{ file = "a.jsonl", line = 1, quote = "q" }]
[[acceptable]]
id = "shell-id"
match = [["shell id"]]
[[wrong]]
id = "always-replace-all"
why = "w"
match = [["replace_all"], ["always"]]
[[junk]]
id = "malware"
why = "w"
match = [["malware"]]
"#,
            Path::new("demo.toml"),
        )
        .unwrap()
    }

    #[test]
    fn classification_follows_the_readme_order() {
        let ex = ex();
        assert_eq!(
            classify(&ex, "Always use replace_all, read before edit"),
            Class::Wrong { id: "always-replace-all".into() }
        );
        assert_eq!(
            classify(&ex, "Read the file before you edit it (no malware)"),
            Class::Lesson { ids: vec!["read-first".into()] }
        );
        assert_eq!(classify(&ex, "The shell id changes"), Class::Acceptable { id: "shell-id".into() });
        assert_eq!(classify(&ex, "Consider whether it is malware"), Class::Junk { entry: Some("malware".into()) });
        assert_eq!(classify(&ex, "Be careful"), Class::Junk { entry: None });
    }

    #[test]
    fn ratios_print_as_fraction_and_percent() {
        assert_eq!(Ratio { found: 2, total: 3 }.to_string(), "2/3 (67 %)");
        assert_eq!(Ratio::default().to_string(), "-");
    }
}
