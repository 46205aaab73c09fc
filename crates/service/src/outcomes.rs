//! Outcomes: how sessions ended, checked against a versioned taxonomy;
//! logging (one or bulk), listing, statistics, taxonomy changes.

use crate::{Result, Service, ServiceError};
use nocturne_core::outcome::{
    effective, parse_assignment, parse_bulk, stats, GroupStats, Outcome, OutcomeInput, OutcomeSource, OutcomeValue,
    Taxonomy,
};
use nocturne_core::secrets;
use nocturne_core::{EventKind, Memory, MemoryKind};
use nocturne_store::SessionFilter;
use std::collections::BTreeMap;

/// One outcome to log (`nocturne outcome log`).
#[derive(Debug, Clone, Default)]
pub struct LogOutcome {
    pub session: String,
    pub task: Option<String>,
    /// `DIM=VALUE` assignments.
    pub set: Vec<String>,
    pub source: Option<String>,
    pub by: Option<String>,
    pub comment: Option<String>,
}

/// How `outcomes stats` groups sessions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatsBy {
    All,
    Agent,
    User,
    Team,
    /// ISO week of the session's start, `YYYY-Www`.
    Week,
    /// The procedure memories whose steps the session followed in order.
    Workflow,
}

/// What a taxonomy change did.
#[derive(Debug, Clone, serde::Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TaxonomyChange {
    pub version: u32,
    /// Outcomes the change leaves without a matching dimension or label
    /// (only non-empty when forced).
    pub orphaned: Vec<String>,
}

fn invalid(e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Invalid(e.to_string())
}

impl Service {
    /// The taxonomy in force: the latest stored version, else the default
    /// (version 1).
    pub(crate) fn taxonomy(&self) -> Result<Taxonomy> {
        match self.store.taxonomy()? {
            Some((v, toml)) => Taxonomy::from_toml(&toml)
                .and_then(|t| t.with_version(v))
                .map_err(|e| ServiceError::Invalid(format!("stored taxonomy version {v}: {e}"))),
            None => Ok(Taxonomy::default_taxonomy()),
        }
    }

    /// Stores the default taxonomy as version 1 if none is stored, so every
    /// outcome's version refers to a stored text.
    /// Two first outcomes logged at once (sub-agents of one run, two
    /// processes) both find no taxonomy; the one that stores version 1
    /// second finds it stored, which is what it wanted.
    fn ensure_taxonomy(&self) -> Result<Taxonomy> {
        if self.store.taxonomy()?.is_none() {
            let t = Taxonomy::default_taxonomy();
            match self.store.put_taxonomy(1, &t.to_toml(), &self.now()) {
                Ok(()) => {}
                Err(nocturne_store::StoreError::Conflict(_)) if self.store.taxonomy()?.is_some() => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.taxonomy()
    }

    /// Sets a new taxonomy version. A change that would orphan stored
    /// outcomes is refused, with the reasons, unless `force`.
    pub(crate) fn set_taxonomy(&self, toml: &str, source: &str, force: bool) -> Result<TaxonomyChange> {
        let current = self.ensure_taxonomy()?;
        let new = Taxonomy::from_toml(toml).map_err(|e| ServiceError::invalid_file(source, e.to_string()))?;
        // Stored and exported verbatim (it must stay valid TOML), so refused rather than redacted.
        if secrets::contains_secret(toml) {
            return Err(ServiceError::invalid_file(
                source,
                format!("the taxonomy looks like it contains a secret (it would read: {:?})", secrets::redact(toml)),
            ));
        }
        let all = self.store.outcomes(None)?;
        let in_use: Vec<(String, nocturne_core::outcome::OutcomeValue)> =
            effective(&all).into_iter().map(|o| (o.dimension.clone(), o.value.clone())).collect();
        let orphaned = current.change_impact(&new, &in_use);
        if !orphaned.is_empty() && !force {
            return Err(ServiceError::Conflict(format!(
                "the new taxonomy would orphan stored outcomes (force the change to set it anyway):\n  {}",
                orphaned.join("\n  ")
            )));
        }
        let version = current.version() + 1;
        let new = new.with_version(version).map_err(invalid)?;
        self.store.put_taxonomy(version, &new.to_toml(), &self.now())?;
        Ok(TaxonomyChange { version, orphaned })
    }

    /// Logs one or more dimensions for a session (one outcome each). Every
    /// value is checked first; nothing is stored if any is wrong.
    pub(crate) fn log_outcome(&self, req: &LogOutcome) -> Result<Vec<Outcome>> {
        if self.store.session(&req.session)?.is_none() {
            return Err(ServiceError::NotFound { what: "session", id: req.session.clone() });
        }
        if req.set.is_empty() {
            return Err(ServiceError::invalid_field("set", "nothing to log: give at least one DIMENSION=VALUE"));
        }
        let tax = self.ensure_taxonomy()?;
        let mut values: Vec<(String, nocturne_core::outcome::OutcomeValue)> = Vec::new();
        for a in &req.set {
            let (dim, raw) = parse_assignment(a).map_err(|e| ServiceError::invalid_field("set", e.to_string()))?;
            let v = tax.check(dim, raw).map_err(|e| ServiceError::invalid_field("set", e.to_string()))?;
            if values.iter().any(|(d, _)| d == dim) {
                return Err(ServiceError::invalid_field("set", format!("dimension `{dim}` is set twice")));
            }
            values.push((dim.to_string(), v));
        }
        let source = match &req.source {
            Some(s) => {
                Some(s.parse::<OutcomeSource>().map_err(|e| ServiceError::invalid_field("source", e.to_string()))?)
            }
            None => None,
        };
        let input = OutcomeInput {
            line: 0,
            session: req.session.clone(),
            task: req.task.clone(),
            values,
            source,
            by: req.by.clone(),
            comment: req.comment.clone(),
        };
        let outcomes = input.into_outcomes(tax.version(), OutcomeSource::Human, &self.now()).map_err(invalid)?;
        let outcomes: Vec<Outcome> = outcomes.iter().map(redacted_outcome).collect();
        Ok(self.store.append_outcomes(&outcomes)?)
    }

    /// Imports a JSONL or CSV file of outcomes: all or nothing, every error
    /// reported with its line.
    pub(crate) fn import_outcomes(&self, file: &str, bytes: &[u8]) -> Result<Vec<Outcome>> {
        let tax = self.ensure_taxonomy()?;
        let inputs = parse_bulk(file, bytes, &tax).map_err(|errs| {
            ServiceError::invalid_file(
                file,
                format!(
                    "{} errors, nothing imported:\n  {}",
                    errs.len(),
                    errs.iter().map(|e| format!("{file}:{e}")).collect::<Vec<_>>().join("\n  ")
                ),
            )
        })?;
        let mut missing: Vec<String> = Vec::new();
        for i in &inputs {
            if self.store.session(&i.session)?.is_none() && !missing.contains(&i.session) {
                missing.push(format!("line {}: session {} not found", i.line, i.session));
            }
        }
        if !missing.is_empty() {
            return Err(ServiceError::invalid_file(
                file,
                format!("{} errors, nothing imported:\n  {}", missing.len(), missing.join("\n  ")),
            ));
        }
        let now = self.now();
        let mut outcomes = Vec::new();
        for i in inputs {
            outcomes.extend(i.into_outcomes(tax.version(), OutcomeSource::Human, &now).map_err(invalid)?);
        }
        let outcomes: Vec<Outcome> = outcomes.iter().map(redacted_outcome).collect();
        Ok(self.store.append_outcomes(&outcomes)?)
    }

    /// Every outcome (history included), oldest first.
    pub(crate) fn outcomes(&self, session: Option<&str>) -> Result<Vec<Outcome>> {
        Ok(self.store.outcomes(session)?)
    }

    /// Statistics over the effective outcomes (latest per session, task and
    /// dimension), grouped.
    pub(crate) fn outcome_stats(&self, by: StatsBy) -> Result<Vec<GroupStats>> {
        let tax = self.taxonomy()?;
        let all = self.store.outcomes(None)?;
        let eff = effective(&all);
        let sessions: BTreeMap<String, nocturne_core::Session> =
            self.store.sessions(&SessionFilter::default())?.into_iter().map(|s| (s.id.clone(), s)).collect();
        let workflows = if by == StatsBy::Workflow { self.followed_procedures(&eff)? } else { BTreeMap::new() };
        let none = || vec!["(none)".to_string()];
        let group = |o: &Outcome| -> Vec<String> {
            let s = sessions.get(&o.session);
            match by {
                StatsBy::All => vec!["all".into()],
                StatsBy::Agent => s.and_then(|s| s.agent.clone()).map_or_else(none, |a| vec![a]),
                StatsBy::User => s.and_then(|s| s.user.clone()).map_or_else(none, |a| vec![a]),
                StatsBy::Team => s.and_then(|s| s.team.clone()).map_or_else(none, |a| vec![a]),
                StatsBy::Week => s.and_then(|s| iso_week(&s.started_at)).map_or_else(none, |w| vec![w]),
                StatsBy::Workflow => workflows.get(&o.session).cloned().filter(|v| !v.is_empty()).unwrap_or_else(none),
            }
        };
        Ok(stats(&eff, &tax, &group))
    }

    /// For each session with an outcome: the procedure memories (by id and
    /// first words) whose backquoted steps its tool calls ran in order.
    fn followed_procedures(&self, eff: &[&Outcome]) -> Result<BTreeMap<String, Vec<String>>> {
        let procs: Vec<(String, Vec<String>)> = self
            .store
            .memories()?
            .into_iter()
            .filter(|m| m.is_active() && m.kind.as_str() == MemoryKind::PROCEDURE)
            .map(|m: Memory| {
                let steps = backquoted(&m.text);
                let short: String = m.text.chars().take(48).collect();
                (format!("{} {short}", m.id), steps)
            })
            .filter(|(_, steps)| !steps.is_empty())
            .collect();
        let mut out = BTreeMap::new();
        for o in eff {
            if out.contains_key(&o.session) {
                continue;
            }
            let calls: Vec<String> = self
                .store
                .events(&o.session)?
                .into_iter()
                .filter(|e| e.body.kind == EventKind::ToolCall)
                .map(|e| e.body.tool_input.unwrap_or_default())
                .collect();
            let followed: Vec<String> =
                procs.iter().filter(|(_, steps)| in_order(steps, &calls)).map(|(name, _)| name.clone()).collect();
            out.insert(o.session.clone(), followed);
        }
        Ok(out)
    }
}

/// The free-text fields of an outcome that may hold a secret: the comment,
/// a text value, who logged it and the task id.
fn outcome_texts(o: &Outcome) -> [(&'static str, Option<&str>); 4] {
    let value = match &o.value {
        OutcomeValue::Text(t) => Some(t.as_str()),
        _ => None,
    };
    [("comment", o.comment.as_deref()), ("value", value), ("by", o.by.as_deref()), ("task", o.task.as_deref())]
}

/// The first free-text field of `o` that holds a secret.
pub(crate) fn outcome_secret_field(o: &Outcome) -> Option<&'static str> {
    outcome_texts(o).into_iter().find(|(_, t)| t.is_some_and(secrets::contains_secret)).map(|(f, _)| f)
}

/// `o` with secrets redacted from its free-text fields: outcomes are
/// logged by people, evaluators and scripts, and a comment quoting a
/// command line should not be refused, so it is kept redacted.
pub(crate) fn redacted_outcome(o: &Outcome) -> Outcome {
    let mut o = o.clone();
    if outcome_secret_field(&o).is_none() {
        return o;
    }
    let r = |s: &mut String| *s = secrets::redact_cow(s).into_owned();
    for s in [o.comment.as_mut(), o.by.as_mut(), o.task.as_mut()].into_iter().flatten() {
        r(s);
    }
    if let OutcomeValue::Text(t) = &mut o.value {
        r(t);
    }
    o
}

/// The `code spans` of a text.
pub(crate) fn backquoted(text: &str) -> Vec<String> {
    text.split('`').skip(1).step_by(2).map(str::to_string).filter(|s| !s.trim().is_empty()).collect()
}

/// True when each step occurs in some call, in order.
pub(crate) fn in_order(steps: &[String], calls: &[String]) -> bool {
    let mut i = 0;
    for c in calls {
        if let Some(step) = steps.get(i) {
            if c.contains(step.as_str()) {
                i += 1;
            }
        }
    }
    i == steps.len()
}

/// `YYYY-Www` of an RFC 3339 time (or a `YYYY-MM-DD` prefix).
fn iso_week(ts: &str) -> Option<String> {
    let date = ts.get(..10)?;
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    let d = time::Date::parse(date, &fmt).ok()?;
    let (y, w, _) = d.to_iso_week_date();
    Some(format!("{y}-W{w:02}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_weeks_are_computed_from_the_start_date() {
        assert_eq!(iso_week("2026-01-01T10:00:00Z").as_deref(), Some("2026-W01"));
        assert_eq!(iso_week("2025-12-29").as_deref(), Some("2026-W01"));
        assert_eq!(iso_week("bad"), None);
    }

    #[test]
    fn procedures_are_followed_when_their_steps_run_in_order() {
        let steps = backquoted("Do `npm run lint` → `npm test` → `git commit`.");
        assert_eq!(steps, ["npm run lint", "npm test", "git commit"]);
        let calls: Vec<String> =
            ["{\"command\":\"npm run lint\"}", "ls", "{\"command\":\"npm test\"}", "{\"command\":\"git commit -m x\"}"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        assert!(in_order(&steps, &calls));
        let reversed: Vec<String> = calls.iter().rev().cloned().collect();
        assert!(!in_order(&steps, &reversed));
    }
}

impl Service {
    /// Logs an outcome the source recorded (a benchmark's reward) on the
    /// primary dimension of the taxonomy in force, as source `code`, by the
    /// format that read it. Checked like any outcome; the default taxonomy
    /// is stored on first use.
    pub(crate) fn log_source_outcome(
        &self,
        session: &str,
        format: &str,
        o: &nocturne_core::SourceOutcome,
    ) -> std::result::Result<(), String> {
        let tax = self.ensure_taxonomy().map_err(|e| e.to_string())?;
        let dim = tax.primary().ok_or("the taxonomy has no primary dimension")?;
        let value = value_for_score(dim, o.score)
            .ok_or_else(|| format!("score {} cannot be placed on dimension `{}`", o.score, dim.name))?;
        self.log_outcome(&LogOutcome {
            session: session.to_string(),
            task: None,
            set: vec![format!("{}={value}", dim.name)],
            source: Some("code".into()),
            by: Some(format.to_string()),
            comment: o.comment.clone(),
        })
        .map(|_| ())
        .map_err(|e| e.to_string())
    }
}

/// A normalized score (0 worst, 1 best) as a value of `dim`: the label
/// nearest by its value (1 → the best label, 0 → the worst; among equals
/// the first in taxonomy order), a number placed in the range by its
/// direction, or true from 0.5 up. `None` for text, or a score that is not
/// a number.
pub(crate) fn value_for_score(dim: &nocturne_core::outcome::Dimension, score: f64) -> Option<String> {
    use nocturne_core::outcome::{DimensionKind, Direction};
    if !score.is_finite() {
        return None;
    }
    let s = score.clamp(0.0, 1.0);
    match &dim.kind {
        DimensionKind::Categorical { labels } => {
            let lo = labels.iter().map(|l| l.value).fold(f64::INFINITY, f64::min);
            let hi = labels.iter().map(|l| l.value).fold(f64::NEG_INFINITY, f64::max);
            let norm = |v: f64| if hi > lo { (v - lo) / (hi - lo) } else { 1.0 };
            let mut best: Option<(&str, f64)> = None;
            for l in labels {
                let d = (norm(l.value) - s).abs();
                if best.is_none_or(|(_, bd)| d < bd) {
                    best = Some((&l.name, d));
                }
            }
            best.map(|(n, _)| n.to_string())
        }
        DimensionKind::Numeric { min, max, direction } => {
            let v = match direction {
                Direction::Higher => min + s * (max - min),
                Direction::Lower => max - s * (max - min),
            };
            Some(format!("{v}"))
        }
        DimensionKind::Boolean => Some((s >= 0.5).to_string()),
        DimensionKind::Text => None,
    }
}

#[cfg(test)]
mod source_outcome_tests {
    use super::*;
    use nocturne_core::outcome::{Dimension, DimensionKind, Direction, Taxonomy};

    #[test]
    fn scores_map_onto_the_default_primary_dimension() {
        let t = Taxonomy::default_taxonomy();
        let result = t.primary().unwrap();
        let at = |s: f64| value_for_score(result, s);
        assert_eq!(at(1.0).as_deref(), Some("success"));
        assert_eq!(at(0.0).as_deref(), Some("failure"), "the first of the worst labels");
        assert_eq!(at(0.5).as_deref(), Some("partial"));
        assert_eq!(at(0.8).as_deref(), Some("success"));
        assert_eq!(at(0.3).as_deref(), Some("partial"));
        assert_eq!(at(0.2).as_deref(), Some("failure"));
        assert_eq!(at(7.0).as_deref(), Some("success"), "clamped");
        assert_eq!(at(f64::NAN), None);
    }

    #[test]
    fn numeric_and_boolean_primaries_are_mapped_by_their_direction() {
        let dim = |kind| Dimension { name: "d".into(), description: String::new(), primary: true, kind };
        let rating = dim(DimensionKind::Numeric { min: 1.0, max: 5.0, direction: Direction::Higher });
        assert_eq!(value_for_score(&rating, 1.0).as_deref(), Some("5"));
        assert_eq!(value_for_score(&rating, 0.5).as_deref(), Some("3"));
        let cost = dim(DimensionKind::Numeric { min: 0.0, max: 10.0, direction: Direction::Lower });
        assert_eq!(value_for_score(&cost, 1.0).as_deref(), Some("0"));
        assert_eq!(value_for_score(&cost, 0.0).as_deref(), Some("10"));
        let ok = dim(DimensionKind::Boolean);
        assert_eq!(value_for_score(&ok, 0.5).as_deref(), Some("true"));
        assert_eq!(value_for_score(&ok, 0.4).as_deref(), Some("false"));
        assert_eq!(value_for_score(&dim(DimensionKind::Text), 1.0), None);
    }
}

#[cfg(test)]
mod source_outcome_logging {
    use crate::Service;
    use nocturne_core::outcome::{OutcomeSource, OutcomeValue};
    use std::sync::Arc;

    #[test]
    fn a_source_outcome_is_logged_on_the_primary_dimension_by_its_format() {
        let store = nocturne_store_sqlite::SqliteStore::open_in_memory().unwrap();
        let svc = Service::with_store(Arc::new(store), Arc::new(|| "2026-02-01T00:00:00Z".to_string()));
        let rec = nocturne_store::conformance::sample_session("sim-1", "ana", "2026-01-01T00:00:00Z", 2);
        svc.store().append_sessions(&[rec]).unwrap();
        let o = nocturne_core::SourceOutcome { score: 0.0, comment: Some("user_stop".into()) };
        svc.log_source_outcome("sim-1", "tau-bench", &o).unwrap();
        let got = svc.store().outcomes(Some("sim-1")).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].dimension, "result");
        assert_eq!(got[0].value, OutcomeValue::Label("failure".into()));
        assert_eq!(got[0].source, OutcomeSource::Code);
        assert_eq!(got[0].by.as_deref(), Some("tau-bench"));
        assert_eq!(got[0].comment.as_deref(), Some("user_stop"));
        assert_eq!(
            svc.store().taxonomy().unwrap().map(|(v, _)| v),
            Some(1),
            "the default taxonomy is stored on first use"
        );
        assert!(svc.log_source_outcome("nope", "tau-bench", &o).is_err(), "checked like any outcome");
    }
}
