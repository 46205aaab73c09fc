//! Human-readable output.

use nocturne_core::{EventKind, Memory, Proposal, Revision, Session};
use nocturne_service::{FileStatus, HistoryEntry, IngestReport, SessionResult, SessionView, TreeNode, VerifyReport};
use std::fmt::Write;

/// Whether `c` would act on a terminal rather than be shown: C0/C1 control
/// characters (ESC starts colour and cursor sequences, CR overwrites the
/// line) and the bidirectional overrides that reorder what is displayed.
fn acts_on_terminal(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn escaped(c: char) -> String {
    match c {
        '\n' => "\\n".into(),
        '\r' => "\\r".into(),
        '\t' => "\\t".into(),
        c => format!("\\u{{{:x}}}", c as u32),
    }
}

/// `s` safe to print on a terminal: every character that would act on it
/// is shown escaped (`\u{1b}`, `\r`); line breaks and tabs stay.
pub fn terminal(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| acts_on_terminal(c) && c != '\n' && c != '\t') {
        return s.into();
    }
    s.chars()
        .map(|c| if acts_on_terminal(c) && c != '\n' && c != '\t' { escaped(c) } else { c.to_string() })
        .collect::<String>()
        .into()
}

/// A name (a session id, a file path) on one line: line breaks and tabs
/// inside it are escaped too, so a crafted id cannot fake a line.
pub fn name(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(acts_on_terminal) {
        return s.into();
    }
    s.chars().map(|c| if acts_on_terminal(c) { escaped(c) } else { c.to_string() }).collect::<String>().into()
}

fn clip(s: &str, n: usize) -> String {
    let one_line: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= n {
        one_line
    } else {
        let mut t: String = one_line.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

fn skipped_list(m: &std::collections::BTreeMap<String, u64>) -> String {
    m.iter().map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ")
}

fn plural(n: impl Into<u64>, one: &str, many: &str) -> String {
    let n = n.into();
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The ingest report: one line per file that changed something or needs
/// a look, then the totals. Files whose sessions were all stored already
/// are counted, not listed.
pub fn ingest(r: &IngestReport) -> String {
    let mut s = String::new();
    let mut quiet = 0;
    for f in &r.files {
        match f.status {
            FileStatus::Empty => {
                let _ = writeln!(s, "{}: empty", name(&f.file));
                continue;
            }
            FileStatus::Refused => {
                let not = r.refused.iter().any(|x| x.file == f.file && x.not_transcript);
                let _ = writeln!(s, "{}: refused{}", name(&f.file), if not { " (not a transcript)" } else { "" });
                continue;
            }
            FileStatus::Read => {}
        }
        let count = |res: SessionResult| f.sessions.iter().filter(|x| x.result == res).count();
        let (added, extended, unchanged, duplicate, refused) = (
            count(SessionResult::Added),
            count(SessionResult::Extended),
            count(SessionResult::Unchanged),
            count(SessionResult::Duplicate),
            count(SessionResult::Refused),
        );
        if !f.sessions.is_empty() && added + extended + refused == 0 && f.events_added == 0 {
            quiet += 1;
            continue;
        }
        let mut parts = vec![format!(
            "{} read, {} stored",
            plural(f.records, "record", "records"),
            plural(f.events_added, "event", "events")
        )];
        if !f.skipped.is_empty() {
            parts.push(format!("skipped {}", skipped_list(&f.skipped)));
        }
        let mut what = Vec::new();
        for (n, word) in [
            (added, "added"),
            (extended, "extended"),
            (unchanged, "unchanged"),
            (duplicate, "duplicate"),
            (refused, "refused"),
        ] {
            if n > 0 {
                what.push(format!("{n} {word}"));
            }
        }
        if what.is_empty() {
            parts.push("no session in it".into());
        } else {
            parts.push(format!("sessions: {}", what.join(", ")));
        }
        if f.children_linked > 0 {
            let parents: std::collections::BTreeSet<&str> = f
                .sessions
                .iter()
                .filter(|x| x.result == SessionResult::Added)
                .filter_map(|x| x.parent.as_deref())
                .collect();
            let parents: Vec<&str> = parents.into_iter().collect();
            parts.push(format!(
                "{} linked to {}",
                plural(f.children_linked as u64, "sub-agent session", "sub-agent sessions"),
                parents.join(", ")
            ));
        }
        let _ = writeln!(s, "{}: {}", name(&f.file), parts.join("; "));
    }
    if quiet > 0 {
        let _ = writeln!(s, "{} already stored, nothing new (not listed)", plural(quiet as u64, "file", "files"));
    }
    let t = &r.totals;
    let _ = write!(
        s,
        "total: {} ({} empty, {} refused), {} read, {} stored",
        plural(t.files as u64, "file", "files"),
        t.files_empty,
        t.files_refused,
        plural(t.records_read, "record", "records"),
        plural(t.events_added, "event", "events"),
    );
    if !t.records_skipped.is_empty() {
        let _ = write!(s, "; skipped {}", skipped_list(&t.records_skipped));
    }
    let _ = write!(
        s,
        "; sessions: {} added, {} extended, {} unchanged, {} refused",
        t.sessions_added, t.sessions_extended, t.sessions_unchanged, t.sessions_refused
    );
    if t.children_linked > 0 {
        let _ = write!(
            s,
            "; {} linked to their parent",
            plural(t.children_linked as u64, "sub-agent session", "sub-agent sessions")
        );
    }
    if t.outcomes_logged > 0 {
        let _ = write!(s, "; {} from the sources logged", plural(t.outcomes_logged as u64, "outcome", "outcomes"));
    }
    s.push('\n');
    for n in &r.notes {
        let _ = writeln!(s, "note: {n}");
    }
    if r.refused_any() {
        let _ = writeln!(
            s,
            "{} refused (see the errors below)",
            plural(r.refused.len() as u64, "thing was", "things were")
        );
    }
    s
}

pub fn sessions(list: &[Session]) -> String {
    if list.is_empty() {
        return "no sessions (add some with: nocturne ingest PATH)".into();
    }
    let mut s = format!(
        "{:<38} {:<20} {:>6}  {:<12} {:<12} {:<10} {:<38} title\n",
        "id", "started", "events", "user", "agent", "team", "parent"
    );
    for x in list {
        let _ = writeln!(
            s,
            "{:<38} {:<20} {:>6}  {:<12} {:<12} {:<10} {:<38} {}",
            clip(&name(&x.id), 38),
            clip(&x.started_at, 20),
            x.event_count,
            clip(x.user.as_deref().unwrap_or("-"), 12),
            clip(x.agent.as_deref().unwrap_or("-"), 12),
            clip(x.team.as_deref().unwrap_or("-"), 10),
            clip(x.parent.as_deref().unwrap_or("-"), 38),
            clip(&title_of(x), 50)
        );
    }
    s
}

/// A session's title; for a sub-agent, its type and what it was asked
/// (its description, else its title).
fn title_of(x: &Session) -> String {
    match &x.subagent {
        Some(a) => {
            let kind = if a.compaction {
                "compaction".to_string()
            } else {
                a.agent_type.clone().unwrap_or_else(|| "sub-agent".into())
            };
            match a.description.as_ref().or(x.title.as_ref()) {
                Some(d) => format!("[{kind}] {d}"),
                None => format!("[{kind}]"),
            }
        }
        None => x.title.clone().unwrap_or_default(),
    }
}

/// `sessions list --tree`: sub-agents indented under their parents.
pub fn session_tree(nodes: &[TreeNode]) -> String {
    if nodes.is_empty() {
        return "no sessions (add some with: nocturne ingest PATH)".into();
    }
    fn walk(s: &mut String, nodes: &[TreeNode], depth: usize) {
        for n in nodes {
            let x = &n.session;
            let indent = "  ".repeat(depth);
            let mut line = format!("{indent}{}  {}  {} events", name(&x.id), clip(&x.started_at, 20), x.event_count);
            let title = title_of(x);
            if !title.is_empty() {
                line.push_str(&format!("  {}", clip(&title, 60)));
            }
            if let (Some(p), Some(status)) = (&x.parent, n.parent_status) {
                line.push_str(&format!("  (parent {} ({status}))", name(p)));
            }
            let _ = writeln!(s, "{line}");
            walk(s, &n.children, depth + 1);
        }
    }
    let mut s = String::new();
    walk(&mut s, nodes, 0);
    s
}

pub fn session(v: &SessionView, raw: bool) -> String {
    let x = &v.session;
    let mut s = format!(
        "session {}\n  format {}  source {}\n  user {}  agent {}  team {}\n  started {}  events {}\n  chain {}\n",
        name(&x.id),
        x.format,
        x.source.as_deref().unwrap_or("-"),
        x.user.as_deref().unwrap_or("-"),
        x.agent.as_deref().unwrap_or("-"),
        x.team.as_deref().unwrap_or("-"),
        x.started_at,
        x.event_count,
        x.head_hash
    );
    if let Some(c) = x.counterpart {
        let _ = writeln!(s, "  counterpart {}", c.as_str());
    }
    if let Some(p) = &v.parent {
        let state = if p.stored { "" } else { " (not stored)" };
        let title = p.title.as_deref().map(|t| format!(": {}", clip(t, 60))).unwrap_or_default();
        let _ = writeln!(s, "  parent {}{state}{title}", name(&p.id));
    }
    if let Some(a) = &x.subagent {
        let mut parts = vec![format!("agent {}", a.agent_id)];
        if let Some(t) = &a.agent_type {
            parts.push(format!("type {t}"));
        }
        if a.compaction {
            parts.push("compaction".into());
        }
        if let Some(d) = &a.description {
            parts.push(format!("\"{}\"", clip(d, 80)));
        }
        let _ = writeln!(s, "  sub-agent: {}", parts.join(", "));
    }
    if !v.children.is_empty() {
        let _ = writeln!(s, "  sub-agent sessions ({}):", v.children.len());
        for c in &v.children {
            let cs = &c.session;
            let mut line = format!("    {}  {} events", name(&cs.id), cs.event_count);
            let title = title_of(cs);
            if !title.is_empty() {
                line.push_str(&format!("  {}", clip(&title, 60)));
            }
            match &c.spawned_by {
                Some(sp) => {
                    let d = sp.description.as_deref().map(|d| format!(" \"{}\"", clip(d, 50))).unwrap_or_default();
                    line.push_str(&format!("  spawned by event {} {}{d}", sp.seq, sp.tool_name));
                }
                None => line.push_str("  (spawning call not found)"),
            }
            let _ = writeln!(s, "{line}");
        }
    }
    s.push('\n');
    for e in &v.events {
        let b = &e.body;
        let what = match b.kind {
            EventKind::ToolCall => format!(
                "{}({})",
                b.tool_name.as_deref().unwrap_or("?"),
                clip(b.tool_input.as_deref().unwrap_or(""), 100)
            ),
            _ => clip(b.text.as_deref().unwrap_or(""), 110),
        };
        let flag = if b.is_error { " ERROR" } else { "" };
        let side = if b.sidechain { " [sidechain]" } else { "" };
        let _ = writeln!(s, "{:>4} {:<17}{flag}{side} {what}", e.seq, b.kind.as_str());
        if raw {
            let _ = writeln!(s, "       raw: {}", b.raw);
        }
    }
    s
}

pub fn verify(r: &VerifyReport) -> String {
    let mut s = format!("{} sessions, {} events checked: ", r.sessions_checked, r.events_checked);
    if r.failures.is_empty() {
        s.push_str("every hash chain matches");
    } else {
        let _ = writeln!(s, "{} sessions do NOT match their hash chain", r.failures.len());
        for f in &r.failures {
            let _ = writeln!(s, "  {}: {}", name(&f.session), f.reason);
        }
    }
    s
}

pub fn memory(m: &Memory) -> String {
    let mut s = format!(
        "{}  {}  {}  priority {}  {}\n  {}\n",
        m.id,
        m.kind,
        m.scope,
        m.priority,
        m.status.as_str(),
        m.text.replace('\n', "\n  ")
    );
    if !m.tags.is_empty() {
        let _ = writeln!(s, "  tags: {}", m.tags.join(", "));
    }
    if let Some(r) = &m.retired_reason {
        let _ = writeln!(s, "  retired: {r}");
    }
    let _ = writeln!(s, "  created {}  updated {}", m.created_at, m.updated_at);
    for e in &m.evidence {
        let _ = writeln!(s, "  evidence: session {} events {:?}: {}", e.session, e.events, clip(&e.quote, 90));
    }
    s
}

pub fn memories(list: &[Memory]) -> String {
    if list.is_empty() {
        return "no memories".into();
    }
    let mut s = String::new();
    for m in list {
        let status = if m.is_active() { "" } else { " (retired)" };
        let _ = writeln!(
            s,
            "{}  {:<10} {:>3}  {:<14} {}{status}",
            m.id,
            m.kind.as_str(),
            m.priority,
            m.scope.to_string(),
            clip(&m.text, 90)
        );
    }
    s
}

pub fn history(h: &[HistoryEntry]) -> String {
    let mut s = String::new();
    for e in h {
        let what = match (&e.change.before, &e.change.after) {
            (None, Some(a)) => format!("created: {}", clip(&a.text, 80)),
            (Some(b), Some(a)) if b.status != a.status => format!("{} -> {}", b.status.as_str(), a.status.as_str()),
            (Some(b), Some(a)) if b.text != a.text => format!("text: {} -> {}", clip(&b.text, 40), clip(&a.text, 40)),
            (Some(b), Some(a)) if b.priority != a.priority => format!("priority {} -> {}", b.priority, a.priority),
            (Some(_), Some(_)) => "changed".into(),
            (Some(_), None) => "removed (rolled back before it existed)".into(),
            (None, None) => "no change".into(),
        };
        let _ = writeln!(s, "rev {:>4}  {}  {:<24} {}  ({})", e.rev, e.created_at, e.author, what, e.reason);
    }
    s
}

pub fn revisions(revs: &[Revision]) -> String {
    if revs.is_empty() {
        return "no revisions yet (revision 0 is the empty store)".into();
    }
    let mut s = String::new();
    for r in revs {
        let _ = writeln!(
            s,
            "rev {:>4}  {}  {:<24} {} changes  {}",
            r.rev,
            r.created_at,
            r.author.0,
            r.changes.len(),
            r.reason
        );
    }
    s
}

pub fn proposals(list: &[Proposal]) -> String {
    if list.is_empty() {
        return "no dreams yet (run: nocturne dream)".into();
    }
    let mut s = String::new();
    for p in list {
        let applied = p.applied_revision.map(|r| format!(" as revision {r}")).unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<22} {}  {:<8}{applied}  {} ops over {} sessions (base revision {})",
            p.id,
            p.created_at,
            p.status.as_str(),
            p.ops.len(),
            p.sessions.len(),
            p.base_revision
        );
    }
    s
}

pub fn outcomes(list: &[nocturne_core::outcome::Outcome]) -> String {
    if list.is_empty() {
        return "no outcomes".into();
    }
    let mut s = String::new();
    for o in list {
        let task = o.task.as_deref().map(|t| format!(" task {t}")).unwrap_or_default();
        let by = o.by.as_deref().map(|b| format!(" by {b}")).unwrap_or_default();
        let comment = o.comment.as_deref().map(|c| format!("  # {}", clip(c, 60))).unwrap_or_default();
        let _ = writeln!(
            s,
            "#{:<5} {}  {}{task}  {}={}  ({}{by}, taxonomy v{}){comment}",
            o.id,
            o.recorded_at,
            o.session,
            o.dimension,
            o.value,
            o.source.as_str(),
            o.taxonomy_version
        );
    }
    s
}

pub fn outcome_stats(groups: &[nocturne_core::outcome::GroupStats]) -> String {
    use nocturne_core::outcome::StatsDetail;
    if groups.is_empty() {
        return "no outcomes yet (log one with: nocturne outcome log SESSION --set result=success)".into();
    }
    let mut s = String::new();
    for g in groups {
        let primary = g.primary_score.map(|p| format!(", primary score {p:.2}")).unwrap_or_default();
        let _ = writeln!(s, "{}: {} sessions, {} outcomes{primary}", g.group, g.sessions, g.outcomes);
        for d in &g.dimensions {
            let detail = match &d.detail {
                StatsDetail::Categorical { labels } => labels
                    .iter()
                    .map(|l| format!("{} {} ({})", l.label, l.count, pct(l.rate)))
                    .collect::<Vec<_>>()
                    .join(", "),
                StatsDetail::Numeric { mean, min, max } => {
                    format!("mean {} (min {}, max {})", num(*mean), num(*min), num(*max))
                }
                StatsDetail::Boolean { true_count, true_rate } => format!("true {true_count} ({})", pct(*true_rate)),
                StatsDetail::Text => "free text".into(),
            };
            let _ = writeln!(s, "  {:<16} n={:<4} {detail}", d.dimension, d.count);
        }
    }
    s
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "-".into(), |r| format!("{:.0}%", r * 100.0))
}

fn num(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

pub fn memory_hits(hits: &[nocturne_service::MemoryHit]) -> String {
    if hits.is_empty() {
        return "no matching memories".into();
    }
    let mut s = String::new();
    for h in hits {
        let _ = writeln!(s, "{:.4}  {}  {:<10} {:<14} {}", h.score, h.id, h.kind, h.scope, clip(&h.text, 90));
    }
    s
}

pub fn event_hits(hits: &[nocturne_service::EventHit]) -> String {
    if hits.is_empty() {
        return "no matching events".into();
    }
    let mut s = String::new();
    for h in hits {
        let _ = writeln!(s, "{:.4}  {}#{}  {:<17} {}", h.score, h.session, h.event, h.kind, clip(&h.text, 90));
    }
    s
}

pub fn runs(runs: &[nocturne_store::DreamRun]) -> String {
    let mut s = String::new();
    for r in runs {
        let what = match (&r.summary, &r.error) {
            (_, Some(e)) => format!("error: {}", clip(e, 80)),
            (Some(sum), None) => sum.clone(),
            (None, None) => String::new(),
        };
        let retry = r.next_retry_at.as_deref().map(|t| format!(" (retry at {t})")).unwrap_or_default();
        let _ = writeln!(
            s,
            "{:<8} {:<14} {}  attempt {}  {}: {what}{retry}",
            r.state, r.schedule, r.started_at, r.attempt, r.trigger
        );
    }
    s
}

pub fn dreams_overview(
    list: &[Proposal],
    runs_list: &[nocturne_store::DreamRun],
    planned: &[nocturne_service::Planned],
) -> String {
    let mut s = String::new();
    if !planned.is_empty() {
        s.push_str("Scheduled:\n");
        for p in planned {
            let mut when = Vec::new();
            if let Some(c) = &p.next_cron {
                when.push(format!("next at {c}"));
            }
            if let Some(n) = p.after_sessions {
                when.push(format!("after {n} new sessions ({} so far)", p.new_sessions));
            }
            if let Some(r) = &p.retry_at {
                when.push(format!("retry at {r}"));
            }
            let _ = writeln!(s, "  {:<14} {:?}  {}", p.schedule, p.policy, when.join(", "));
        }
        s.push('\n');
    }
    if !runs_list.is_empty() {
        s.push_str("Runs:\n");
        for line in runs(runs_list).lines() {
            let _ = writeln!(s, "  {line}");
        }
        s.push('\n');
    }
    s.push_str(&proposals(list));
    s
}

/// `run RUN-ID: ` for a run job (its run; `resume` for a resumption), else nothing.
fn run_of(j: &nocturne_service::Job) -> String {
    match j.job.payload.get("run").and_then(|r| r.as_str()) {
        Some(r) if j.job.kind == nocturne_service::KIND_RUN => {
            let what =
                if j.job.payload.get("resume").and_then(|v| v.as_bool()) == Some(true) { "resume" } else { "run" };
            format!("{what} {r}: ")
        }
        _ => String::new(),
    }
}

/// Jobs: who runs what, what finished.
pub fn jobs(list: &[nocturne_service::Job]) -> String {
    if list.is_empty() {
        return "no jobs".into();
    }
    let mut o = format!("{:<30} {:<9} {:<8} {:>3}  {:<28} {}\n", "JOB", "KIND", "STATE", "TRY", "WORKER", "DETAIL");
    for j in list {
        let worker = j.worker.as_deref().map(nocturne_service::ids::holder_process).unwrap_or_else(|| "-".into());
        let detail = match j.state {
            nocturne_service::JobState::Running => {
                format!("{}lease until {}", run_of(j), j.lease_until.as_deref().unwrap_or("?"))
            }
            nocturne_service::JobState::Queued => match &j.error {
                Some(e) => format!("{}queued {} (after: {e})", run_of(j), j.job.run_after),
                None => format!("{}queued {}", run_of(j), j.job.created_at),
            },
            nocturne_service::JobState::Done => match &j.result {
                Some(r) => {
                    match (r.get("proposal").and_then(|p| p.as_str()), r.get("state").and_then(|p| p.as_str())) {
                        (Some(p), _) => format!("proposal {p}, {}", j.finished_at.as_deref().unwrap_or("")),
                        (None, Some(state)) => {
                            format!("{}{state}, {}", run_of(j), j.finished_at.as_deref().unwrap_or(""))
                        }
                        _ => r.get("summary").and_then(|s| s.as_str()).unwrap_or("done").to_string(),
                    }
                }
                None => "done".into(),
            },
            nocturne_service::JobState::Failed => format!("{}{}", run_of(j), j.error.clone().unwrap_or_default()),
        };
        o.push_str(&format!(
            "{:<30} {:<9} {:<8} {:>3}  {:<28} {}\n",
            name(&j.job.id),
            name(&j.job.kind),
            j.state.as_str(),
            j.attempts,
            name(&worker),
            terminal(&detail)
        ));
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_acts_on_a_terminal_and_keeps_ordinary_text() {
        assert_eq!(terminal("plain text, ünïcode ✓\n\tindented"), "plain text, ünïcode ✓\n\tindented");
        assert_eq!(terminal("a\u{1b}[31mred\rb\u{7}\u{9b}c"), "a\\u{1b}[31mred\\rb\\u{7}\\u{9b}c");
        assert_eq!(terminal("x\u{202e}gnp.exe"), "x\\u{202e}gnp.exe");
        assert_eq!(name("id\nfake line\tx"), "id\\nfake line\\tx");
        assert!(matches!(name("ordinary-id_1"), std::borrow::Cow::Borrowed(_)));
    }
}
