//! The suite's report: one markdown table row per batch (what BENCHMARKS.md
//! carries), the leave-one-out table, and details an engine developer can
//! act on (every op with its class, the missed recurring lessons, where the
//! label evidence did not map). The same data serializes to JSON.

use crate::loo::LooReport;
use crate::run::Rejected;
use crate::score::{SourceReport, Status};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Everything one run of the suite measured.
#[derive(Debug, Clone, Serialize)]
pub struct QualityReport {
    /// The real-transcripts folder read.
    pub data: String,
    /// The expectation files read.
    pub expectations: Vec<String>,
    /// Sources whose folder is missing from the data.
    pub missing_sources: Vec<String>,
    pub sources: Vec<SourceReport>,
    pub leave_one_out: Vec<LooReport>,
    pub elapsed_ms: u64,
}

/// A markdown table cell: one line, pipes escaped, at most `n` characters.
pub fn cell(s: &str, n: usize) -> String {
    let one = crate::data::normalize_ws(s).replace('|', "\\|");
    let mut t: String = one.chars().take(n).collect();
    if t.len() < one.len() {
        t.push('…');
    }
    t
}

fn secs(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// Rejections grouped by reason: `reason (×n); ...`.
pub fn group_reasons(rejected: &[Rejected]) -> String {
    let mut reasons: BTreeMap<&str, usize> = BTreeMap::new();
    for x in rejected {
        *reasons.entry(x.reason.as_str()).or_default() += 1;
    }
    reasons
        .iter()
        .map(|(why, n)| if *n > 1 { format!("{why} (×{n})") } else { (*why).to_string() })
        .collect::<Vec<_>>()
        .join("; ")
}

fn ops_cell(s: &SourceReport) -> String {
    if s.ops == 0 {
        return "0".into();
    }
    let kinds: Vec<String> =
        s.ops_by_kind.iter().map(|(k, n)| format!("{} {n}", k.strip_prefix("create ").unwrap_or(k))).collect();
    format!("{} ({})", s.ops, kinds.join(", "))
}

fn junk_cell(s: &SourceReport) -> String {
    if s.ops == 0 {
        return "0".into();
    }
    format!("{} ({:.0} %)", s.junk, s.junk as f64 * 100.0 / s.ops as f64)
}

impl QualityReport {
    /// The per-batch table, with a note under it for each batch that was
    /// not ingested.
    pub fn table(&self) -> String {
        let mut t = String::from(
            "| source | batch | sessions | events | ops | recurring found | recurring, no model | all lessons | \
             needs_model | junk | wrong | leaked | secrets | quotes verified | time |\n\
             |---|---|---:|---:|---|---|---|---|---|---|---:|---:|---:|---|---:|\n",
        );
        let mut notes = Vec::new();
        for s in &self.sources {
            let sessions = match &s.status {
                Status::Ingested => s.sessions.to_string(),
                Status::NotIngested { reason } => {
                    notes.push(format!("- {} [{}]: not ingested: {reason}", s.source, s.batch));
                    "not ingested".into()
                }
            };
            let _ = writeln!(
                t,
                "| {} | {} | {sessions} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {}/{} | {} |",
                s.source,
                s.batch,
                s.events,
                ops_cell(s),
                s.recurring,
                s.recurring_deterministic,
                s.all,
                s.needs_model,
                junk_cell(s),
                s.wrong,
                s.leaked,
                s.secrets,
                s.evidence_entries.saturating_sub(s.unverified_quotes),
                s.evidence_entries,
                secs(s.ingest_ms + s.dream_ms),
            );
        }
        if !notes.is_empty() {
            t.push('\n');
            t.push_str(&notes.join("\n"));
            t.push('\n');
        }
        t
    }

    /// One line per leave-one-out source, then its per-session table.
    pub fn loo_table(&self) -> String {
        let mut t = String::new();
        for l in &self.leave_one_out {
            let _ = writeln!(
                t,
                "Leave-one-out ({}): {} recurring mistake lessons carried into the held-out session's context bundle, \
                 {} sessions scored, {} skipped; {}.\n",
                l.source,
                l.score(),
                l.sessions.len(),
                l.skipped.len(),
                secs(l.elapsed_ms)
            );
            t.push_str("| held-out session | project | mistakes expected | carried | sessions | ops | memories by scope | bundle |\n");
            t.push_str("|---|---|---|---|---:|---:|---|---:|\n");
            for s in &l.sessions {
                let file = s.file.rsplit('/').next().unwrap_or(&s.file);
                let carried = if s.carried.is_empty() { "-".to_string() } else { s.carried.join(", ") };
                let err = s.error.as_deref().map(|e| format!(" (error: {})", cell(e, 80))).unwrap_or_default();
                let scopes: Vec<String> = s.memories.iter().map(|(k, n)| format!("{k} {n}")).collect();
                let scopes = if scopes.is_empty() { "-".to_string() } else { scopes.join(", ") };
                let _ = writeln!(
                    t,
                    "| {file} | {} | {} | {carried}{err} | {} | {} | {scopes} | {} |",
                    s.project,
                    s.expected.join(", "),
                    s.sessions,
                    s.ops,
                    s.bundle.len()
                );
            }
            t.push('\n');
        }
        t
    }

    /// Per batch: ingest, dream counters, found and missed lessons, every
    /// op with its class, and the label locations that did not map exactly.
    pub fn details(&self) -> String {
        let mut t = String::new();
        for s in &self.sources {
            let _ = writeln!(t, "### {} — {}\n", s.source, s.batch);
            if let Status::NotIngested { reason } = &s.status {
                let _ = writeln!(t, "Not ingested: {reason}\n");
            }
            let _ = writeln!(
                t,
                "{} sessions ({} skipped as already stored), {} events; {} files read, {} refused{}. \
                 Ingest {}, dream {}.\n",
                s.sessions,
                s.sessions_skipped,
                s.events,
                s.files,
                s.rejected.len(),
                if s.rejected.is_empty() { String::new() } else { format!(": {}", group_reasons(&s.rejected)) },
                secs(s.ingest_ms),
                secs(s.dream_ms)
            );
            if !s.dream_stats.is_empty() {
                let stats: Vec<String> = s
                    .dream_stats
                    .iter()
                    .filter(|(k, _)| k.starts_with("findings.") || k.starts_with("guardrail.") || k.contains("success"))
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                let _ = writeln!(t, "Dream counters: {}\n", stats.join(", "));
            }
            let found = if s.found.is_empty() { "-".to_string() } else { s.found.join(", ") };
            let missed = if s.missed_recurring.is_empty() { "-".to_string() } else { s.missed_recurring.join(", ") };
            let _ = writeln!(t, "Found: {found}\n\nMissed recurring: {missed}\n");
            if !s.op_details.is_empty() {
                t.push_str(
                    "| op | kind | scope | pass | support | class | leaked | quotes ok | cites label | text |\n",
                );
                t.push_str("|---:|---|---|---|---:|---|---|---|---|---|\n");
                for o in &s.op_details {
                    let ok = o.evidence.iter().filter(|e| e.quote_verified).count();
                    let cites = match o.cites_label_evidence {
                        Some(true) => "yes",
                        Some(false) => "no",
                        None => "-",
                    };
                    let mut class = o.class.label();
                    if let Some(j) = &o.also_junk {
                        class.push_str(&format!(" (also junk {j})"));
                    }
                    if o.customer_statement {
                        class.push_str(" (customer statement)");
                    }
                    let _ = writeln!(
                        t,
                        "| {} | {} {} | {} | {} | {} | {} | {} | {ok}/{} | {cites} | {} |",
                        o.n,
                        o.op,
                        o.kind,
                        o.scope,
                        o.pass,
                        o.support,
                        class,
                        cell(&o.leaked.join(", "), 60),
                        o.evidence.len(),
                        cell(&o.text, 200)
                    );
                }
                t.push('\n');
            }
            let l = &s.labels;
            if l.exact + l.by_quote + l.ambiguous + l.unmapped > 0 {
                let _ = writeln!(
                    t,
                    "Label evidence in the store: {} exact, {} by quote, {} ambiguous, {} unmapped.",
                    l.exact, l.by_quote, l.ambiguous, l.unmapped
                );
                const SHOWN: usize = 12;
                for n in l.notes.iter().take(SHOWN) {
                    let _ = writeln!(t, "- {}", cell(n, 240));
                }
                if l.notes.len() > SHOWN {
                    let _ = writeln!(t, "- … {} more (see the JSON report)", l.notes.len() - SHOWN);
                }
                t.push('\n');
            }
        }
        t
    }

    /// The whole report as markdown.
    pub fn markdown(&self) -> String {
        let mut t = format!(
            "# Real-data quality\n\nData: {}; {} expectation files; {}.\n\n",
            self.data,
            self.expectations.len(),
            secs(self.elapsed_ms)
        );
        for m in &self.missing_sources {
            let _ = writeln!(t, "Missing source folder: {m}\n");
        }
        t.push_str(&self.table());
        t.push('\n');
        t.push_str(&self.loo_table());
        t.push_str("## Details\n\n");
        t.push_str(&self.details());
        t
    }

    /// The whole report as pretty JSON.
    pub fn json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }
}
