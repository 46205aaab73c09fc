//! The readable dream report.

use nocturne_core::{OpKind, Proposal};
use std::fmt::Write;

fn heading(op: OpKind) -> &'static str {
    match op {
        OpKind::Create => "New memories",
        OpKind::Update => "Updated memories",
        OpKind::Merge => "Duplicates to merge",
        OpKind::Retire => "Outdated memories to retire",
        OpKind::Promote => "Memories to promote",
        OpKind::Demote => "Memories to demote",
    }
}

fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" ⏎ ")
}

/// The model pass's figures, when it ran: requests, failures, retries,
/// tokens, cost, time, and what was dropped as unverified.
pub fn model_line(p: &Proposal) -> Option<String> {
    let n = |k: &str| p.stats.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
    let requests = p.stats.get("model.requests")?.as_u64()?;
    let name = p.stats.get("model.model").and_then(serde_json::Value::as_str).unwrap_or("?");
    let cost = p.stats.get("model.cost_usd").and_then(serde_json::Value::as_f64).unwrap_or(0.0);
    Some(format!(
        "Model {name}: {requests} requests ({} failed, {} retries) · {} input + {} output tokens · ${cost:.4} · {:.1} s · {} model ops proposed, {} dropped as unverified",
        n("model.failed_requests"),
        n("model.retries"),
        n("model.input_tokens"),
        n("model.output_tokens"),
        n("model.elapsed_ms") as f64 / 1000.0,
        n("model.ops_answered"),
        n("model.dropped_unverified"),
    ))
}

/// Markdown: a summary with counts, then the ops grouped by what they do,
/// each with its text, scope, support, confidence, rationale and evidence
/// (session, events, quote).
pub fn render_markdown(p: &Proposal) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Dream {}\n", p.id);
    let _ = writeln!(
        s,
        "Status: {} · base revision {} · {} · {} sessions read · {} ops\n",
        p.status.as_str(),
        p.base_revision,
        p.created_at,
        p.sessions.len(),
        p.ops.len()
    );
    if let Some(n) = &p.notes {
        let _ = writeln!(s, "Notes: {}\n", one_line(n));
    }
    if let Some(line) = model_line(p) {
        let _ = writeln!(s, "{line}\n");
    }
    let order = [OpKind::Create, OpKind::Retire, OpKind::Update, OpKind::Merge, OpKind::Promote, OpKind::Demote];
    let _ = writeln!(s, "| op | count |\n|---|---|");
    for k in order {
        let c = p.ops.iter().filter(|o| o.op == k).count();
        if c > 0 {
            let _ = writeln!(s, "| {} | {c} |", k.as_str());
        }
    }
    let _ = writeln!(s);
    for k in order {
        let ops: Vec<_> = p.ops.iter().filter(|o| o.op == k).collect();
        if ops.is_empty() {
            continue;
        }
        let _ = writeln!(s, "## {} ({})\n", heading(k), ops.len());
        for o in ops {
            let _ = writeln!(
                s,
                "### #{} {} {} · {} · support {} sessions, {} users · confidence {:.2} · pass {}\n",
                o.n,
                o.op.as_str(),
                o.kind,
                o.scope,
                o.support,
                o.users,
                o.confidence,
                o.pass
            );
            let _ = writeln!(s, "> {}\n", one_line(&o.text));
            if !o.targets.is_empty() {
                let _ = writeln!(s, "Targets: {}\n", o.targets.join(", "));
            }
            let _ = writeln!(s, "Why: {}\n", one_line(&o.rationale));
            let _ = writeln!(s, "Evidence:");
            for e in &o.evidence {
                let evs: Vec<String> = e.events.iter().map(u32::to_string).collect();
                let _ = writeln!(s, "- `{}` events [{}]: “{}”", e.session, evs.join(", "), one_line(&e.quote));
            }
            let _ = writeln!(s);
        }
    }
    if !p.stats.is_empty() {
        let _ = writeln!(s, "## Stats\n");
        for (k, v) in &p.stats {
            let _ = writeln!(s, "- {k}: {v}");
        }
    }
    s
}
