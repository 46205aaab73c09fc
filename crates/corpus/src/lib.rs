//! Labelled synthetic corpora: sessions with planted patterns (recurring
//! mistakes, workflows, preferences phrased many ways), noise (one-offs,
//! a poisoning attempt, secrets, failed sessions, random steps), and
//! pre-existing memories (duplicates, outdated, useful, stale), with labels
//! saying what was planted where. Reproducible: everything comes from a
//! splitmix64 generator seeded by the caller.

mod bank;
mod bank2;
mod formats;

use bank::{MistakeT, PreferenceT, Step, WorkflowT};
use nocturne_core::{EventKind, Memory, MemoryKind, NewEvent, NewSession, Role, Scope, ScopeLevel};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use formats::write_files;

/// splitmix64: tiny, fast, good enough for synthetic data.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (0 when n is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 1.0 < p
    }
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> Option<&'a T> {
        xs.get(self.below(xs.len()))
    }
    fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        self.pick(xs).copied().unwrap_or("")
    }
    /// `k` distinct indexes of `0..n`, sorted.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        let mut all: Vec<usize> = (0..n).collect();
        for i in 0..k.min(n) {
            let j = i + self.below(n - i);
            all.swap(i, j);
        }
        let mut out: Vec<usize> = all.into_iter().take(k.min(n)).collect();
        out.sort_unstable();
        out
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        (0..n).map(|_| char::from(A.get(self.below(A.len())).copied().unwrap_or(b'x'))).collect()
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusSpec {
    pub seed: u64,
    pub sessions: usize,
    /// Approximate events per session (at least what the planted patterns need).
    pub events_per_session: usize,
    pub users: usize,
    /// Teams users are spread over (user i is in team i % teams).
    pub teams: usize,
    /// Unrelated filler memories added to the planted ones.
    pub extra_memories: usize,
    /// Share of sessions (0..1) carrying each planted pattern (at least 4 sessions each).
    pub pattern_share: f64,
    /// Share of sessions ending with an unresolved failure.
    pub failed_share: f64,
    /// Attach an outcome score to every session (`Corpus::outcomes`) and
    /// plant a workflow that keeps failing by outcome (a
    /// [`PatternKind::Caution`]). Off by default; turning it on leaves the
    /// rest of the corpus unchanged.
    #[serde(default)]
    pub outcomes: bool,
    /// Which bank of templates and phrasings (see [`Style`]).
    #[serde(default)]
    pub style: Style,
}

/// The template bank a corpus is written from. Each style has its own
/// commands, tools, input shapes, memories and wordings, written apart, so
/// a dream that only works on one way of saying things shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Style {
    /// A Rust/Node/Python shop: `cargo`, `npm`, `pytest`, `docker compose`;
    /// preferences spelled out in full sentences; duplicate memories in
    /// pairs.
    #[default]
    Classic,
    /// A Go + TypeScript monorepo on `make`, `go` and `pnpm`; other tool
    /// names (`execute_command`, `write_to_file`...) and input keys; terse
    /// requests; duplicate memories in groups of up to three, with look-alike
    /// memories that must not be merged, and advice ("Use yarn") the recent
    /// sessions contradict.
    Monorepo,
}

/// Everything a style brings.
struct Bank {
    mistakes: &'static [MistakeT],
    workflows: &'static [WorkflowT],
    failing_workflow: &'static WorkflowT,
    preferences: &'static [PreferenceT],
    one_off_mistakes: &'static [(&'static str, &'static str, &'static str, &'static str)],
    one_off_preferences: &'static [(&'static str, &'static str)],
    poison: &'static [&'static str],
    poison_terms: [&'static str; 2],
    noise_commands: &'static [&'static str],
    random_commands: &'static [&'static str],
    files: &'static [&'static str],
    chat: &'static [&'static str],
    assistant: &'static [&'static str],
    /// (format, shell tool, edit tool) for sessions 0, 1, 2, 3 mod 4.
    flavors: [(&'static str, &'static str, &'static str); 4],
    /// The input key of the shell tool (`command`, `cmd`...).
    shell_key: &'static str,
    /// The unresolved failure that ends a failed session.
    failed: (&'static str, &'static str),
    /// A code failure fixed by an edit and the same command again.
    retry: (&'static str, &'static str, &'static str),
}

const CLASSIC: Bank = Bank {
    mistakes: bank::MISTAKES,
    workflows: bank::WORKFLOWS,
    failing_workflow: &bank::FAILING_WORKFLOW,
    preferences: bank::PREFERENCES,
    one_off_mistakes: bank::ONE_OFF_MISTAKES,
    one_off_preferences: bank::ONE_OFF_PREFERENCES,
    poison: bank::POISON,
    poison_terms: ["main", "review"],
    noise_commands: bank::NOISE_COMMANDS,
    random_commands: bank::RANDOM_COMMANDS,
    files: bank::FILES,
    chat: bank::CHAT,
    assistant: bank::ASSISTANT,
    flavors: [
        ("claude-code", "Bash", "Edit"),
        ("anthropic", "bash", "str_replace_editor"),
        ("openai", "shell", "apply_patch"),
        ("nocturne", "run_command", "edit_file"),
    ],
    shell_key: "command",
    failed: ("npm run e2e", "Error: Timed out waiting for http://localhost:3000\nexit code 1"),
    retry: ("cargo build", "error[E0308]: mismatched types\nerror: could not compile `app`", "src/lib.rs"),
};

const MONOREPO: Bank = Bank {
    mistakes: bank2::MISTAKES,
    workflows: bank2::WORKFLOWS,
    failing_workflow: &bank2::FAILING_WORKFLOW,
    preferences: bank2::PREFERENCES,
    one_off_mistakes: bank2::ONE_OFF_MISTAKES,
    one_off_preferences: bank2::ONE_OFF_PREFERENCES,
    poison: bank2::POISON,
    poison_terms: ["race", "-race"],
    noise_commands: bank2::NOISE_COMMANDS,
    random_commands: bank2::RANDOM_COMMANDS,
    files: bank2::FILES,
    chat: bank2::CHAT,
    assistant: bank2::ASSISTANT,
    flavors: [
        ("claude-code", "Bash", "MultiEdit"),
        ("anthropic", "execute_command", "write_to_file"),
        ("openai", "exec", "patch_file"),
        ("nocturne", "sh", "replace_in_file"),
    ],
    shell_key: "cmd",
    failed: bank2::FAILED,
    retry: bank2::RETRY,
};

impl Style {
    fn bank(self) -> &'static Bank {
        match self {
            Style::Classic => &CLASSIC,
            Style::Monorepo => &MONOREPO,
        }
    }
}

impl Default for CorpusSpec {
    fn default() -> Self {
        CorpusSpec {
            seed: 1,
            sessions: 120,
            events_per_session: 60,
            users: 8,
            teams: 2,
            extra_memories: 20,
            pattern_share: 0.06,
            failed_share: 0.12,
            outcomes: false,
            style: Style::Classic,
        }
    }
}

/// What a planted pattern should produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternKind {
    /// A `create mistake` whose text contains the key terms (or, when
    /// `memory_ids` is set, a promote of that already-known memory).
    Mistake,
    /// A `create procedure` containing the key terms (the steps).
    Procedure,
    /// A `create preference` containing the key terms.
    Preference,
    /// A `merge` whose targets include all `memory_ids` (two or more).
    Duplicate,
    /// A `retire` or `update` of `memory_ids`.
    Outdated,
    /// A `promote` of `memory_ids`.
    Useful,
    /// A `demote` of `memory_ids`.
    Stale,
    /// A `create mistake` starting with `Caution` that contains the key
    /// terms (the steps of a workflow whose sessions failed by outcome;
    /// only with `CorpusSpec::outcomes`).
    Caution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantedPattern {
    pub id: String,
    pub kind: PatternKind,
    pub key_terms: Vec<String>,
    pub sessions: Vec<String>,
    #[serde(default)]
    pub memory_ids: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoiseKind {
    /// A failing command fixed in fewer than 3 sessions.
    OneOffMistake,
    /// A preference stated in fewer than 3 sessions.
    OneOffPreference,
    /// One session repeating a rule many times.
    Poisoning,
    /// A session ending with an unresolved failure.
    FailedSession,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantedNoise {
    pub kind: NoiseKind,
    pub key_terms: Vec<String>,
    pub sessions: Vec<String>,
}

/// Ground truth for a corpus.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Labels {
    pub patterns: Vec<PlantedPattern>,
    pub noise: Vec<PlantedNoise>,
    /// Secret strings planted in commands and messages; none may reach memory.
    pub secrets: Vec<String>,
    /// Memories that resemble a duplicate group but say something else:
    /// no merge may target them.
    #[serde(default)]
    pub distinct: Vec<String>,
}

/// A generated corpus.
#[derive(Debug, Clone, PartialEq)]
pub struct Corpus {
    pub sessions: Vec<NewSession>,
    pub memories: Vec<Memory>,
    pub labels: Labels,
    /// The "current time" the corpus is built around (RFC 3339).
    pub now: String,
    /// Outcome score (0..1, 1 best) by session id; empty unless
    /// `CorpusSpec::outcomes`. Sessions ending with an unresolved failure
    /// and the carriers of the failing workflow score 0.05–0.2, workflow
    /// sessions 0.8–1.0, the others 0.7–1.0.
    pub outcomes: BTreeMap<String, f64>,
}

pub const NOW: &str = "2026-03-01T00:00:00Z";
const SESSIONS_START: i64 = 1_767_571_200; // 2026-01-05T00:00:00Z
const SESSIONS_SPAN: i64 = 50 * 86_400;

/// Formats `secs` since the epoch as RFC 3339 UTC.
pub fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One event being built (rendered to every format later).
struct Item(Vec<NewEvent>);

struct Builder<'r> {
    rng: &'r mut Rng,
    bank: &'static Bank,
    shell: &'static str,
    edit: &'static str,
    calls: &'r std::cell::Cell<u32>,
    session: usize,
}

fn event(role: Role, kind: EventKind) -> NewEvent {
    NewEvent {
        role,
        kind,
        tool_name: None,
        tool_input: None,
        tool_use_id: None,
        text: None,
        is_error: false,
        timestamp: None,
        sidechain: false,
        source_line: None,
        raw: String::new(),
    }
}

impl Builder<'_> {
    fn tool(&mut self, name: &str, input: serde_json::Value, output: &str, is_error: bool) -> Vec<NewEvent> {
        self.calls.set(self.calls.get() + 1);
        let id = format!("call_{}_{}", self.session, self.calls.get());
        let mut c = event(Role::Assistant, EventKind::ToolCall);
        c.tool_name = Some(name.to_string());
        c.tool_input = Some(input.to_string());
        c.tool_use_id = Some(id.clone());
        let mut r = event(Role::Tool, EventKind::ToolResult);
        r.tool_name = Some(name.to_string());
        r.tool_use_id = Some(id);
        r.text = Some(output.to_string());
        r.is_error = is_error;
        vec![c, r]
    }
    fn shell(&mut self, cmd: &str, output: &str, is_error: bool) -> Vec<NewEvent> {
        let name = self.shell;
        let mut input = serde_json::Map::new();
        input.insert(self.bank.shell_key.into(), serde_json::json!(cmd));
        self.tool(name, serde_json::Value::Object(input), output, is_error)
    }
    fn edit(&mut self, file: &str) -> Vec<NewEvent> {
        let name = self.edit;
        self.tool(
            name,
            serde_json::json!({ "file_path": file, "old_string": "a", "new_string": "b" }),
            "The file has been updated.",
            false,
        )
    }
    fn read(&mut self, file: &str) -> Vec<NewEvent> {
        self.tool("Read", serde_json::json!({ "file_path": file }), "1\tfn main() {}\n", false)
    }
    fn text(role: Role, text: &str) -> Vec<NewEvent> {
        let kind = if role == Role::User { EventKind::UserMessage } else { EventKind::AssistantMessage };
        let mut e = event(role, kind);
        e.text = Some(text.to_string());
        vec![e]
    }
    fn ok_output(&mut self, cmd: &str) -> String {
        let outs = ["ok", "Done.", "done in 2.3s", "✓ all checks passed", "Finished in 0.8s"];
        format!("$ {cmd}\n{}", self.rng.pick_str(&outs))
    }
    fn noise(&mut self) -> Vec<NewEvent> {
        match self.rng.below(10) {
            0..=3 => {
                let c = self.rng.pick_str(self.bank.noise_commands);
                let o = self.ok_output(c);
                self.shell(c, &o, false)
            }
            4..=5 => {
                let c = self.rng.pick_str(self.bank.random_commands);
                let o = self.ok_output(c);
                self.shell(c, &o, false)
            }
            6..=7 => {
                let f = self.rng.pick_str(self.bank.files);
                self.read(f)
            }
            8 => {
                let f = self.rng.pick_str(self.bank.files);
                self.edit(f)
            }
            _ => Self::text(Role::Assistant, self.rng.pick_str(self.bank.assistant)),
        }
    }
}

/// Sessions carrying a pattern: `max(4, share × n)` distinct sessions (at
/// most n). Workflows get at least 6, so the memory the rust-release
/// workflow confirms (`Run cargo fmt before every commit`) reaches the
/// default promotion threshold of 5.
fn carriers(rng: &mut Rng, n: usize, share: f64) -> Vec<usize> {
    let k = ((share * n as f64).round() as usize).max(4).min(n);
    rng.sample(n, k)
}

fn memory(kind: MemoryKind, text: &str, created: &str, salt: &str, scope: Scope) -> Option<Memory> {
    let mut m = Memory::new(kind, text, scope, created, salt).ok()?;
    m.updated_at = created.to_string();
    Some(m)
}

/// Generates a corpus (deterministic in `spec`).
pub fn generate(spec: &CorpusSpec) -> Corpus {
    let mut rng = Rng::new(spec.seed ^ 0x6E6F_6374_7572_6E65);
    let bank = spec.style.bank();
    let n = spec.sessions;
    let users: Vec<String> = (0..spec.users.max(1)).map(|i| format!("user{i:02}")).collect();
    let teams = spec.teams.max(1);
    let flavors = bank.flavors;
    let mut items: Vec<Vec<Item>> = (0..n).map(|_| Vec::new()).collect();
    let mut labels = Labels::default();
    let sid = |i: usize| format!("s{:05}-{:x}", i, spec.seed);
    let mut builders_shell = Vec::new();
    for i in 0..n {
        let f = flavors.get(i % 4).copied().unwrap_or(("nocturne", "run_command", "edit_file"));
        builders_shell.push(f);
    }
    let counter = std::cell::Cell::new(0u32);
    fn mk<'r>(
        rng: &'r mut Rng,
        flavors: &[(&'static str, &'static str, &'static str)],
        counter: &'r std::cell::Cell<u32>,
        i: usize,
        bank: &'static Bank,
    ) -> Builder<'r> {
        let f = flavors.get(i).copied().unwrap_or(("nocturne", "run_command", "edit_file"));
        Builder { rng, bank, shell: f.1, edit: f.2, calls: counter, session: i }
    }

    // Opening request.
    for (i, it) in items.iter_mut().enumerate() {
        let _ = i;
        it.push(Item(Builder::text(Role::User, rng.pick_str(bank.chat))));
    }
    // Workflows (in sessions that will succeed).
    let mut workflow_sessions = std::collections::BTreeSet::new();
    for w in bank.workflows {
        let cs = carriers(&mut rng, n, spec.pattern_share * 1.4).into_iter().collect::<Vec<_>>();
        let cs = if cs.len() < 6 { rng.sample(n, 6) } else { cs };
        for &i in &cs {
            workflow_sessions.insert(i);
            for step in w.steps {
                let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
                let ev = match step {
                    Step::Shell(vs) => {
                        let c = b.rng.pick_str(vs);
                        let o = b.ok_output(c);
                        b.shell(c, &o, false)
                    }
                    Step::Edit(f) => b.edit(f),
                };
                if let Some(it) = items.get_mut(i) {
                    it.push(Item(ev));
                }
            }
        }
        labels.patterns.push(PlantedPattern {
            id: w.id.into(),
            kind: PatternKind::Procedure,
            key_terms: w.key_terms.iter().map(|s| s.to_string()).collect(),
            sessions: cs.iter().map(|i| sid(*i)).collect(),
            memory_ids: Vec::new(),
        });
    }
    // Recurring mistakes.
    for m in bank.mistakes {
        let cs = carriers(&mut rng, n, spec.pattern_share);
        for &i in &cs {
            let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
            let mut fail = b.rng.pick_str(m.fails).to_string();
            if b.rng.chance(0.3) {
                let key = format!("sk-proj-{}", b.rng.alnum(24));
                fail = format!("OPENAI_API_KEY={key} {fail}");
                labels.secrets.push(key);
            }
            let err = b.rng.pick_str(m.errors);
            // Fix variants correspond to failing variants when the banks align.
            let fix = if m.fixes.len() == m.fails.len() {
                m.fails.iter().position(|f| fail.ends_with(f)).and_then(|i| m.fixes.get(i)).copied().unwrap_or("")
            } else {
                b.rng.pick_str(m.fixes)
            };
            let mut ev = b.shell(&fail, err, true);
            ev.extend(Builder::text(Role::Assistant, "That failed; let me try another way."));
            if b.rng.chance(0.5) {
                let f = b.rng.pick_str(bank.files);
                ev.extend(b.read(f));
            }
            let o = b.ok_output(fix);
            ev.extend(b.shell(fix, &o, false));
            if let Some(it) = items.get_mut(i) {
                it.push(Item(ev));
            }
        }
        labels.patterns.push(PlantedPattern {
            id: m.id.into(),
            kind: PatternKind::Mistake,
            key_terms: m.key_terms.iter().map(|s| s.to_string()).collect(),
            sessions: cs.iter().map(|i| sid(*i)).collect(),
            memory_ids: Vec::new(),
        });
    }
    // Preferences, phrased differently each time.
    for p in bank.preferences {
        let cs = carriers(&mut rng, n, spec.pattern_share);
        for &i in &cs {
            let t = rng.pick_str(p.phrasings);
            let mut msg = t.to_string();
            if rng.chance(0.3) {
                msg = format!("{} {msg}", rng.pick_str(bank.chat));
            }
            if let Some(it) = items.get_mut(i) {
                it.push(Item(Builder::text(Role::User, &msg)));
            }
        }
        labels.patterns.push(PlantedPattern {
            id: p.id.into(),
            kind: PatternKind::Preference,
            key_terms: p.key_terms.iter().map(|s| s.to_string()).collect(),
            sessions: cs.iter().map(|i| sid(*i)).collect(),
            memory_ids: Vec::new(),
        });
    }
    // Noise: one-off mistakes (1 session: a mistake in 2 independent sessions
    // already recurs), one-off preferences (1–2 sessions), poisoning, secrets in chat.
    for (fail, err, fix, term) in bank.one_off_mistakes.iter() {
        let cs = rng.sample(n, 1);
        for &i in &cs {
            let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
            let mut ev = b.shell(fail, err, true);
            let o = b.ok_output(fix);
            ev.extend(b.shell(fix, &o, false));
            if let Some(it) = items.get_mut(i) {
                it.push(Item(ev));
            }
        }
        labels.noise.push(PlantedNoise {
            kind: NoiseKind::OneOffMistake,
            key_terms: vec![(*term).into()],
            sessions: cs.iter().map(|i| sid(*i)).collect(),
        });
    }
    for (k, (text, term)) in bank.one_off_preferences.iter().enumerate() {
        let cs = rng.sample(n, 1 + k % 2);
        for &i in &cs {
            if let Some(it) = items.get_mut(i) {
                it.push(Item(Builder::text(Role::User, text)));
            }
        }
        labels.noise.push(PlantedNoise {
            kind: NoiseKind::OneOffPreference,
            key_terms: vec![(*term).into()],
            sessions: cs.iter().map(|i| sid(*i)).collect(),
        });
    }
    if n > 0 {
        let i = rng.below(n);
        for k in 0..10 {
            let t = bank.poison.get(k % bank.poison.len()).copied().unwrap_or("");
            if let Some(it) = items.get_mut(i) {
                it.push(Item(Builder::text(Role::User, t)));
            }
        }
        labels.noise.push(PlantedNoise {
            kind: NoiseKind::Poisoning,
            key_terms: bank.poison_terms.iter().map(|t| t.to_string()).collect(),
            sessions: vec![sid(i)],
        });
    }
    for i in rng.sample(n, n / 10) {
        let tok = format!("ghp_{}", rng.alnum(36));
        labels.secrets.push(tok.clone());
        let msg = format!("Use this token to push if you need it: {tok}");
        let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
        let curl = format!("curl -H \"Authorization: Bearer {tok}\" https://api.github.com/user");
        let o = b.ok_output("curl");
        let mut ev = Builder::text(Role::User, &msg);
        ev.extend(b.shell(&curl, &o, false));
        if let Some(it) = items.get_mut(i) {
            it.push(Item(ev));
        }
    }
    // Code failures fixed by a retry of the same command (not mistakes).
    for i in rng.sample(n, n / 4) {
        let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
        let (cmd, err, file) = bank.retry;
        let mut ev = b.shell(cmd, err, true);
        ev.extend(b.edit(file));
        let o = b.ok_output(cmd);
        ev.extend(b.shell(cmd, &o, false));
        if let Some(it) = items.get_mut(i) {
            it.push(Item(ev));
        }
    }
    // Fill with noise to the target size, interleaved at random positions
    // (the first item, the opening request, stays first).
    for (i, it) in items.iter_mut().enumerate() {
        let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
        let mut count: usize = it.iter().map(|x| x.0.len()).sum();
        while count + 1 < spec.events_per_session {
            let ev = b.noise();
            count += ev.len();
            let pos = 1 + b.rng.below(it.len());
            it.insert(pos.min(it.len()), Item(ev));
        }
    }
    // Failed sessions end with an unresolved failure.
    let candidates: Vec<usize> = (0..n).filter(|i| !workflow_sessions.contains(i)).collect();
    let k = ((spec.failed_share * n as f64).round() as usize).min(candidates.len());
    let failed: Vec<usize> =
        rng.sample(candidates.len(), k).into_iter().filter_map(|j| candidates.get(j).copied()).collect();
    for &i in &failed {
        let mut b = mk(&mut rng, &builders_shell, &counter, i, bank);
        let ev = b.shell(bank.failed.0, bank.failed.1, true);
        if let Some(it) = items.get_mut(i) {
            it.push(Item(ev));
        }
    }
    labels.noise.push(PlantedNoise {
        kind: NoiseKind::FailedSession,
        key_terms: vec![bank.failed.0.into()],
        sessions: failed.iter().map(|i| sid(*i)).collect(),
    });

    // Outcomes and the failing workflow, from their own generator so the
    // corpus is otherwise the same with or without them.
    let mut outcomes = BTreeMap::new();
    if spec.outcomes {
        let mut orng = Rng::new(spec.seed ^ 0x6F75_7463_6F6D_6573);
        let pool: Vec<usize> = (0..n).filter(|i| !workflow_sessions.contains(i) && !failed.contains(i)).collect();
        let k = ((spec.pattern_share * 1.4 * n as f64).round() as usize).max(6).min(pool.len());
        let cs: Vec<usize> = orng.sample(pool.len(), k).into_iter().filter_map(|j| pool.get(j).copied()).collect();
        let w = bank.failing_workflow;
        for &i in &cs {
            for step in w.steps {
                let mut b = mk(&mut orng, &builders_shell, &counter, i, bank);
                let ev = match step {
                    Step::Shell(vs) => {
                        let c = b.rng.pick_str(vs);
                        let o = b.ok_output(c);
                        b.shell(c, &o, false)
                    }
                    Step::Edit(f) => b.edit(f),
                };
                if let Some(it) = items.get_mut(i) {
                    it.push(Item(ev));
                }
            }
        }
        labels.patterns.push(PlantedPattern {
            id: w.id.into(),
            kind: PatternKind::Caution,
            key_terms: w.key_terms.iter().map(|s| s.to_string()).collect(),
            sessions: cs.iter().map(|i| sid(*i)).collect(),
            memory_ids: Vec::new(),
        });
        for i in 0..n {
            let score = if failed.contains(&i) || cs.contains(&i) {
                0.05 + 0.05 * orng.below(4) as f64
            } else if workflow_sessions.contains(&i) {
                0.8 + 0.05 * orng.below(5) as f64
            } else {
                0.7 + 0.05 * orng.below(7) as f64
            };
            outcomes.insert(sid(i), score);
        }
    }

    // Assemble sessions.
    let mut sessions = Vec::with_capacity(n);
    for (i, it) in items.into_iter().enumerate() {
        let (format, _, _) = flavors.get(i % 4).copied().unwrap_or(("nocturne", "", ""));
        let u = rng.below(users.len());
        let user = users.get(u).cloned();
        let team = format!("team{}", u % teams);
        let start = SESSIONS_START + (i as i64 * SESSIONS_SPAN) / n.max(1) as i64;
        let mut events: Vec<NewEvent> = it.into_iter().flat_map(|x| x.0).collect();
        for (k, e) in events.iter_mut().enumerate() {
            e.timestamp = Some(rfc3339(start + 7 * k as i64));
            e.raw = formats::nocturne_line(e);
        }
        sessions.push(NewSession {
            id: sid(i),
            format: format.to_string(),
            source: None,
            user,
            agent: Some("coder".into()),
            team: Some(team),
            title: None,
            parent: None,
            subagent: None,
            counterpart: None,
            outcome: None,
            events,
        });
    }
    let memories = match spec.style {
        Style::Classic => plant_memories(&mut rng, spec, &mut labels),
        Style::Monorepo => plant_monorepo_memories(&mut rng, spec, &mut labels),
    };
    Corpus { sessions, memories, labels, now: NOW.to_string(), outcomes }
}

fn plant_memories(rng: &mut Rng, spec: &CorpusSpec, labels: &mut Labels) -> Vec<Memory> {
    let team = Scope { level: ScopeLevel::Team, name: Some("team0".into()) };
    let mut out = Vec::new();
    let add = |out: &mut Vec<Memory>, kind: MemoryKind, text: &str, created: &str| -> String {
        let salt = format!("corpus-{}", spec.seed);
        match memory(kind, text, created, &salt, team.clone()) {
            Some(m) => {
                let id = m.id.clone();
                out.push(m);
                id
            }
            None => String::new(),
        }
    };
    let old = "2025-10-01T09:00:00Z";
    let ancient = "2025-06-01T09:00:00Z";
    let recent = "2026-02-20T09:00:00Z";
    // Already known: the npm mistake → expect a promote, not a new memory.
    let id = add(
        &mut out,
        MemoryKind::mistake(),
        "`npm test` has no test script here; run `npm run test:unit` instead.",
        old,
    );
    if let Some(p) = labels.patterns.iter_mut().find(|p| p.id == "npm-test-script") {
        p.memory_ids = vec![id];
    }
    // Outdated advice.
    for (pid, text, terms) in [
        ("outdated-compose", "Start the local stack with `docker-compose up -d`.", "docker-compose up"),
        ("outdated-python", "Apply database migrations with python manage.py migrate.", "python manage.py"),
    ] {
        let id = add(&mut out, MemoryKind::procedure(), text, old);
        labels.patterns.push(PlantedPattern {
            id: pid.into(),
            kind: PatternKind::Outdated,
            key_terms: vec![terms.into()],
            sessions: Vec::new(),
            memory_ids: vec![id],
        });
    }
    // Useful: followed by every rust-release session.
    let id = add(&mut out, MemoryKind::procedure(), "Run `cargo fmt` before every commit.", old);
    labels.patterns.push(PlantedPattern {
        id: "useful-cargo-fmt".into(),
        kind: PatternKind::Useful,
        key_terms: vec!["cargo fmt".into()],
        sessions: Vec::new(),
        memory_ids: vec![id],
    });
    // Duplicates (paraphrase pairs).
    for (pid, kind, a, b) in [
        (
            "dup-migrate",
            MemoryKind::fact(),
            "Run `make migrate` before starting the API server.",
            "Before you start the API server, apply the migrations with `make migrate`.",
        ),
        (
            "dup-staging",
            MemoryKind::fact(),
            "The staging database is read-only on weekends.",
            "On weekends the staging DB is read-only.",
        ),
        (
            "dup-snake",
            MemoryKind::preference(),
            "Use snake_case for all JSON field names.",
            "JSON field names must be snake_case.",
        ),
        (
            "dup-terraform",
            MemoryKind::mistake(),
            "Never run `terraform apply` in production without `-var-file=prod.tfvars`.",
            "In production, terraform apply needs -var-file=prod.tfvars or it breaks.",
        ),
    ] {
        let ia = add(&mut out, kind.clone(), a, old);
        let ib = add(&mut out, kind, b, recent);
        labels.patterns.push(PlantedPattern {
            id: pid.into(),
            kind: PatternKind::Duplicate,
            key_terms: Vec::new(),
            sessions: Vec::new(),
            memory_ids: vec![ia, ib],
        });
    }
    // Stale: old and never touched.
    for (pid, text) in [
        ("stale-legacy", "Use the `legacy-deploy.sh` script for hotfixes on the old VM."),
        ("stale-jenkins", "The Jenkins nightly job needs the `--no-cache` flag."),
        ("stale-billing", "Ask Priya before changing the billing cron schedule."),
    ] {
        let id = add(&mut out, MemoryKind::fact(), text, ancient);
        labels.patterns.push(PlantedPattern {
            id: pid.into(),
            kind: PatternKind::Stale,
            key_terms: Vec::new(),
            sessions: Vec::new(),
            memory_ids: vec![id],
        });
    }
    out.extend(filler_memories(rng, spec.extra_memories, spec.seed));
    out
}

fn plant_monorepo_memories(rng: &mut Rng, spec: &CorpusSpec, labels: &mut Labels) -> Vec<Memory> {
    let team = Scope { level: ScopeLevel::Team, name: Some("team1".into()) };
    let salt = format!("monorepo-{}", spec.seed);
    let mut out = Vec::new();
    let mut add = |kind: &str, text: &str, created: &str| -> String {
        let kind = MemoryKind::new(kind).unwrap_or_else(|_| MemoryKind::fact());
        match memory(kind, text, created, &salt, team.clone()) {
            Some(m) => {
                let id = m.id.clone();
                out.push(m);
                id
            }
            None => String::new(),
        }
    };
    let dates = ["2025-09-12T08:30:00Z", "2025-12-02T14:10:00Z", "2026-02-18T17:45:00Z"];
    for (pid, kind, texts) in bank2::DUPLICATES {
        let ids: Vec<String> =
            texts.iter().enumerate().map(|(i, t)| add(kind, t, dates.get(i).copied().unwrap_or(dates[0]))).collect();
        labels.patterns.push(PlantedPattern {
            id: (*pid).into(),
            kind: PatternKind::Duplicate,
            key_terms: Vec::new(),
            sessions: Vec::new(),
            memory_ids: ids,
        });
    }
    for (kind, text) in bank2::NEAR_MISSES {
        let id = add(kind, text, "2026-01-20T09:00:00Z");
        labels.distinct.push(id);
    }
    let id = add("procedure", bank2::OUTDATED, "2025-10-01T09:00:00Z");
    labels.patterns.push(PlantedPattern {
        id: "outdated-yarn".into(),
        kind: PatternKind::Outdated,
        key_terms: vec!["yarn".into()],
        sessions: Vec::new(),
        memory_ids: vec![id],
    });
    out.extend(filler_memories(rng, spec.extra_memories, spec.seed));
    out
}

const FILLER_A: &[&str] = &[
    "billing",
    "search",
    "invoices",
    "profiles",
    "reports",
    "uploads",
    "webhooks",
    "notifications",
    "sessions",
    "exports",
    "ledger",
    "catalog",
    "checkout",
    "shipping",
    "analytics",
    "audit",
    "payroll",
    "inventory",
];
const FILLER_B: &[&str] = &[
    "owns the",
    "caches the",
    "rate-limits the",
    "validates the",
    "signs the",
    "archives the",
    "streams the",
    "batches the",
    "retries the",
    "encrypts the",
];
const FILLER_C: &[&str] =
    &["nightly", "hourly", "regional", "internal", "partner", "legacy", "public", "admin", "mobile", "batch"];

/// Unrelated memories (recent, so not stale), each with a unique code word.
pub fn filler_memories(rng: &mut Rng, count: usize, seed: u64) -> Vec<Memory> {
    let team = Scope { level: ScopeLevel::Team, name: Some("team1".into()) };
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let code = format!("{}{}", rng.alnum(3).to_lowercase(), i);
        let text = format!(
            "Service {code} {} {} {} endpoint; page the {} on-call.",
            rng.pick_str(FILLER_B),
            rng.pick_str(FILLER_C),
            rng.pick_str(FILLER_A),
            rng.pick_str(FILLER_A)
        );
        if let Some(m) =
            memory(MemoryKind::fact(), &text, "2026-02-25T10:00:00Z", &format!("filler-{seed}"), team.clone())
        {
            out.push(m);
        }
    }
    out
}

/// A realistic mixed corpus for the ingest benchmark (all patterns and noise,
/// 8 users over 2 teams, 20 filler memories).
pub fn bench_corpus(seed: u64, sessions: usize, events_per_session: usize) -> Corpus {
    generate(&CorpusSpec { seed, sessions, events_per_session, ..CorpusSpec::default() })
}

/// Writes `labels.json` and `memories.json` only (sessions: see [`write_files`]).
pub(crate) fn write_meta(corpus: &Corpus, dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let labels = dir.join("labels.json");
    let memories = dir.join("memories.json");
    std::fs::write(&labels, serde_json::to_string_pretty(&corpus.labels).map_err(std::io::Error::other)?)?;
    std::fs::write(&memories, serde_json::to_string_pretty(&corpus.memories).map_err(std::io::Error::other)?)?;
    Ok(vec![labels, memories])
}
