//! Reading the session log back, and verifying its hash chains.

use crate::{Result, Service, ServiceError};
use nocturne_core::{chain, Event, Session};
use nocturne_store::SessionFilter;
use serde::Serialize;

/// A session whose stored chain no longer matches its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VerifyFailure {
    pub session: String,
    /// First event whose stored hash differs from the recomputed one.
    pub first_bad_event: Option<u32>,
    pub reason: String,
}

/// Result of `sessions verify`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyReport {
    pub sessions_checked: usize,
    pub events_checked: u64,
    pub failures: Vec<VerifyFailure>,
}

impl Service {
    pub(crate) fn sessions(&self, filter: &SessionFilter) -> Result<Vec<Session>> {
        Ok(self.store.sessions(filter)?)
    }

    pub(crate) fn session(&self, id: &str) -> Result<(Session, Vec<Event>)> {
        let s =
            self.store.session(id)?.ok_or_else(|| ServiceError::NotFound { what: "session", id: id.to_string() })?;
        let events = self.store.events(id)?;
        Ok((s, events))
    }

    /// Recomputes every session's chain from its stored events.
    pub(crate) fn verify(&self) -> Result<VerifyReport> {
        let mut rep = VerifyReport::default();
        for s in self.store.sessions(&SessionFilter::default())? {
            rep.sessions_checked += 1;
            let events = match self.store.events(&s.id) {
                Ok(e) => e,
                Err(e) => {
                    rep.failures.push(VerifyFailure {
                        session: s.id.clone(),
                        first_bad_event: None,
                        reason: format!("its events cannot be read: {e}"),
                    });
                    continue;
                }
            };
            rep.events_checked += events.len() as u64;
            if let Some(f) = verify_one(&s, &events) {
                rep.failures.push(f);
            }
        }
        rep.failures.sort_by(|a, b| a.session.cmp(&b.session));
        Ok(rep)
    }

    /// The head hash of one session as stored (for before/after checks).
    pub(crate) fn session_hashes(&self) -> Result<Vec<(String, String)>> {
        let mut v: Vec<(String, String)> =
            self.store.sessions(&SessionFilter::default())?.into_iter().map(|s| (s.id, s.head_hash)).collect();
        v.sort();
        Ok(v)
    }
}

fn verify_one(s: &Session, events: &[Event]) -> Option<VerifyFailure> {
    let fail = |first_bad_event, reason: String| Some(VerifyFailure { session: s.id.clone(), first_bad_event, reason });
    if events.len() != s.event_count as usize {
        return fail(None, format!("{} events stored, {} recorded", events.len(), s.event_count));
    }
    let hashes = chain::hashes(&s.id, events.iter().map(|e| &e.body));
    for (i, (e, h)) in events.iter().zip(&hashes).enumerate() {
        if e.seq as usize != i {
            return fail(Some(i as u32), format!("event {i} is missing or out of order"));
        }
        if hex::encode(h) != e.hash {
            return fail(Some(e.seq), format!("event {} does not match its hash", e.seq));
        }
    }
    let head = hashes.last().map(hex::encode).unwrap_or_else(|| hex::encode(chain::genesis(&s.id)));
    if head != s.head_hash {
        return fail(None, "the session's head hash does not match its events".into());
    }
    None
}

/// A session's parent, as seen from the session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct ParentRef {
    pub id: String,
    /// Whether the parent is in the store (a sub-agent may be ingested
    /// without its main transcript).
    pub stored: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// The parent's tool call that spawned a sub-agent, found at read time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Spawn {
    /// The call's event in the parent.
    pub seq: u32,
    pub tool_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tool_use_id: Option<String>,
    /// The call's `description` input.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `agent_id`: the call's result names the sub-agent's id; `prompt`:
    /// the call's prompt is the sub-agent's first message.
    pub matched_by: &'static str,
}

/// A sub-agent session listed under its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct Child {
    pub session: Session,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spawned_by: Option<Spawn>,
}

/// One session with its events, its parent and its children.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct SessionView {
    pub session: Session,
    pub events: Vec<Event>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<ParentRef>,
    pub children: Vec<Child>,
}

/// A session in the tree of `sessions list --tree`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
pub struct TreeNode {
    #[serde(flatten)]
    pub session: Session,
    /// For a session listed at the top although it has a parent: `not
    /// stored` (the parent was never ingested) or `not listed` (filtered out).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent_status: Option<&'static str>,
    pub children: Vec<TreeNode>,
}

impl Service {
    /// A session with its events, its parent (stored or not) and its
    /// children, each with the parent's tool call that spawned it when it
    /// can be told; `visible` hides sessions the caller may not see.
    pub(crate) fn session_view_where(&self, id: &str, visible: &dyn Fn(&Session) -> bool) -> Result<SessionView> {
        let (session, events) = self.session(id)?;
        let parent = match &session.parent {
            None => None,
            Some(p) => {
                let stored = self.store.session(p)?.filter(|s| visible(s));
                Some(ParentRef { id: p.clone(), stored: stored.is_some(), title: stored.and_then(|s| s.title) })
            }
        };
        let kids: Vec<Session> = self.store.children(id)?.into_iter().filter(|s| visible(s)).collect();
        // A child's first prompt is read only when its agent id matches no call.
        let mut spawns = spawns(&events, &kids, &|_| None);
        if spawns.iter().any(Option::is_none) {
            let mut prompts = Vec::with_capacity(kids.len());
            for (k, sp) in kids.iter().zip(&spawns) {
                prompts.push(if sp.is_none() { first_prompt(&self.store.events(&k.id)?) } else { None });
            }
            spawns = spawns_with_prompts(&events, &kids, &prompts);
        }
        let children =
            kids.into_iter().zip(spawns).map(|(session, spawned_by)| Child { session, spawned_by }).collect();
        Ok(SessionView { session, events, parent, children })
    }
}

/// Builds the tree of `list` (newest first at the top). `stored(id)` says
/// whether a parent that is not in the list exists at all.
pub(crate) fn tree(
    list: Vec<Session>,
    stored: &mut dyn FnMut(&str) -> std::result::Result<bool, nocturne_store::StoreError>,
) -> Result<Vec<TreeNode>> {
    use std::collections::{BTreeMap, HashSet};
    let ids: HashSet<String> = list.iter().map(|s| s.id.clone()).collect();
    let mut kids: BTreeMap<String, Vec<Session>> = BTreeMap::new();
    let mut roots = Vec::new();
    for s in list {
        match &s.parent {
            Some(p) if ids.contains(p) && p != &s.id => kids.entry(p.clone()).or_default().push(s),
            _ => roots.push(s),
        }
    }
    fn build(
        s: Session,
        kids: &mut BTreeMap<String, Vec<Session>>,
        seen: &mut HashSet<String>,
        parent_status: Option<&'static str>,
    ) -> TreeNode {
        seen.insert(s.id.clone());
        let mut mine = kids.remove(&s.id).unwrap_or_default();
        mine.sort_by(|a, b| (&a.started_at, &a.id).cmp(&(&b.started_at, &b.id)));
        let mut children = Vec::with_capacity(mine.len());
        for c in mine {
            if !seen.contains(&c.id) {
                children.push(build(c, kids, seen, None));
            }
        }
        TreeNode { session: s, parent_status, children }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for r in roots {
        let status = match &r.parent {
            Some(p) if p != &r.id => Some(if stored(p)? { "not listed" } else { "not stored" }),
            _ => None,
        };
        out.push(build(r, &mut kids, &mut seen, status));
    }
    // Sessions whose parents form a loop are reachable from no root: list them at the top.
    let rest: Vec<Session> = std::mem::take(&mut kids).into_values().flatten().collect();
    for s in rest {
        if !seen.contains(&s.id) {
            out.push(build(s, &mut kids, &mut seen, Some("not listed")));
        }
    }
    Ok(out)
}

/// The text of a session's first user message.
fn first_prompt(events: &[Event]) -> Option<String> {
    events
        .iter()
        .find(|e| e.body.kind == nocturne_core::EventKind::UserMessage)
        .and_then(|e| e.body.text.as_deref())
        .map(|t| t.trim().to_string())
}

/// The sub-agent id a tool result names: Claude Code's `toolUseResult.agentId`
/// in the raw record, or an `agentId: ID` line in the result text.
fn result_agent_id(e: &Event) -> Option<String> {
    if e.body.raw.contains("\"agentId\"") {
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_str::<serde_json::Value>(&e.body.raw) {
            if let Some(serde_json::Value::String(id)) = o.get("toolUseResult").and_then(|t| t.get("agentId")) {
                return Some(id.clone());
            }
        }
    }
    let text = e.body.text.as_deref()?;
    let at = text.find("agentId: ")? + "agentId: ".len();
    let id: String =
        text.get(at..)?.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect();
    (!id.is_empty()).then_some(id)
}

/// [`spawns_with_prompts`] with the prompts a closure gives (none at all: by agent id only).
fn spawns(parent: &[Event], kids: &[Session], prompt: &dyn Fn(&Session) -> Option<String>) -> Vec<Option<Spawn>> {
    let prompts: Vec<Option<String>> = kids.iter().map(prompt).collect();
    spawns_with_prompts(parent, kids, &prompts)
}

/// For each child, the parent's tool call that spawned it: by the agent id
/// its result names, else by the call's `prompt` equal to the child's first
/// message. Each call spawns at most one child.
fn spawns_with_prompts(parent: &[Event], kids: &[Session], prompts: &[Option<String>]) -> Vec<Option<Spawn>> {
    use nocturne_core::EventKind;
    use std::collections::{HashMap, HashSet};
    let calls: HashMap<&str, &Event> = parent
        .iter()
        .filter(|e| e.body.kind == EventKind::ToolCall)
        .filter_map(|e| e.body.tool_use_id.as_deref().map(|id| (id, e)))
        .collect();
    let mut by_agent: HashMap<String, &str> = HashMap::new();
    for e in parent.iter().filter(|e| e.body.kind == EventKind::ToolResult) {
        if let (Some(agent), Some(tu)) = (result_agent_id(e), e.body.tool_use_id.as_deref()) {
            by_agent.entry(agent).or_insert(tu);
        }
    }
    let input = |e: &Event, key: &str| -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(e.body.tool_input.as_deref()?).ok()?;
        v.get(key).and_then(|x| x.as_str()).map(str::to_string)
    };
    let spawn = |e: &Event, how: &'static str| Spawn {
        seq: e.seq,
        tool_name: e.body.tool_name.clone().unwrap_or_default(),
        tool_use_id: e.body.tool_use_id.clone(),
        description: input(e, "description"),
        matched_by: how,
    };
    let mut used: HashSet<u32> = HashSet::new();
    let mut out: Vec<Option<Spawn>> = kids
        .iter()
        .map(|k| {
            let agent = k.subagent.as_ref().map(|s| s.agent_id.as_str())?;
            let call = by_agent.get(agent).and_then(|tu| calls.get(tu))?;
            used.insert(call.seq);
            Some(spawn(call, "agent_id"))
        })
        .collect();
    for (slot, prompt) in out.iter_mut().zip(prompts) {
        if slot.is_some() {
            continue;
        }
        let Some(prompt) = prompt.as_deref().filter(|p| !p.is_empty()) else { continue };
        let found = parent.iter().find(|e| {
            e.body.kind == EventKind::ToolCall
                && !used.contains(&e.seq)
                && input(e, "prompt").is_some_and(|p| p.trim() == prompt)
        });
        if let Some(call) = found {
            used.insert(call.seq);
            *slot = Some(spawn(call, "prompt"));
        }
    }
    out
}

#[cfg(test)]
mod tree_tests {
    use super::*;
    use nocturne_core::{EventKind, NewEvent, Role, Subagent};

    fn sess(id: &str, parent: Option<&str>, at: &str) -> Session {
        Session {
            id: id.into(),
            format: "claude-code".into(),
            source: None,
            user: None,
            agent: None,
            team: None,
            title: None,
            parent: parent.map(str::to_string),
            subagent: parent
                .map(|_| Subagent { agent_id: id.rsplit("agent-").next().unwrap_or(id).into(), ..Default::default() }),
            counterpart: None,
            event_count: 0,
            head_hash: String::new(),
            started_at: at.into(),
            ended_at: None,
            ingested_at: at.into(),
            closed_at: None,
        }
    }

    fn ev(seq: u32, kind: EventKind, tu: Option<&str>, input: Option<&str>, text: Option<&str>, raw: &str) -> Event {
        Event {
            session: "p".into(),
            seq,
            body: NewEvent {
                role: Role::Assistant,
                kind,
                tool_name: matches!(kind, EventKind::ToolCall).then(|| "Task".to_string()),
                tool_input: input.map(str::to_string),
                tool_use_id: tu.map(str::to_string),
                text: text.map(str::to_string),
                is_error: false,
                timestamp: None,
                sidechain: false,
                source_line: Some(seq + 1),
                raw: raw.into(),
            },
            hash: String::new(),
        }
    }

    fn names(nodes: &[TreeNode], depth: usize, out: &mut Vec<String>) {
        for n in nodes {
            out.push(format!(
                "{}{}{}",
                "  ".repeat(depth),
                n.session.id,
                n.parent_status.map(|s| format!(" ({s})")).unwrap_or_default()
            ));
            names(&n.children, depth + 1, out);
        }
    }

    #[test]
    fn children_go_under_their_parent_and_orphans_say_why() {
        let list = vec![
            sess("q/agent-z", Some("q"), "2026-01-05"),
            sess("p/agent-b", Some("p"), "2026-01-04"),
            sess("p/agent-a", Some("p"), "2026-01-03"),
            sess("p/agent-a/agent-c", Some("p/agent-a"), "2026-01-03T01"),
            sess("p", None, "2026-01-02"),
            sess("r/agent-y", Some("r"), "2026-01-01"),
        ];
        let t = tree(list, &mut |id| Ok(id == "r")).unwrap();
        let mut out = Vec::new();
        names(&t, 0, &mut out);
        assert_eq!(
            out,
            [
                "q/agent-z (not stored)",
                "p",
                "  p/agent-a",
                "    p/agent-a/agent-c",
                "  p/agent-b",
                "r/agent-y (not listed)",
            ]
        );
    }

    #[test]
    fn a_parent_loop_still_lists_every_session() {
        let t = tree(vec![sess("a", Some("b"), "1"), sess("b", Some("a"), "2")], &mut |_| Ok(true)).unwrap();
        let mut out = Vec::new();
        names(&t, 0, &mut out);
        assert_eq!(out.len(), 2, "{out:?}");
    }

    #[test]
    fn a_child_is_matched_to_its_call_by_agent_id_then_by_prompt() {
        let parent = vec![
            ev(0, EventKind::ToolCall, Some("t1"), Some(r#"{"description":"Explore","prompt":"look"}"#), None, "{}"),
            ev(1, EventKind::ToolCall, Some("t2"), Some(r#"{"description":"Plan","prompt":"plan it"}"#), None, "{}"),
            ev(
                2,
                EventKind::ToolResult,
                Some("t1"),
                None,
                Some("done"),
                r#"{"toolUseResult":{"agentId":"a1","status":"completed"}}"#,
            ),
            ev(3, EventKind::ToolResult, Some("t2"), None, Some("ok\nagentId: zz9 (for resuming)"), "{}"),
        ];
        let kids = vec![
            sess("p/agent-a1", Some("p"), "1"),
            sess("p/agent-q", Some("p"), "2"),
            sess("p/agent-zz9", Some("p"), "3"),
        ];
        let prompts = vec![None, Some("plan it".to_string()), None];
        let got = spawns_with_prompts(&parent, &kids, &prompts);
        assert_eq!(
            got[0].as_ref().map(|s| (s.seq, s.matched_by, s.description.as_deref())),
            Some((0, "agent_id", Some("Explore")))
        );
        assert_eq!(got[2].as_ref().map(|s| (s.seq, s.matched_by)), Some((1, "agent_id")), "the id in the result text");
        assert_eq!(got[1], None, "a call matched by id is not matched again by prompt");
    }
}
