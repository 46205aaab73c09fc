//! Text utilities: tokenizing, stemming, stop words, shell-command
//! normalization (compound lines split into their commands, heredocs
//! skipped), RFC 3339 parsing, and failure text: ANSI stripping, the
//! telling lines of a failed result ([`line_rank`]), the advice in it
//! ([`hint_rank`]), and error signatures ([`error_signature`]: the error
//! with every session-specific value — numbers, ids, hashes, paths, file
//! names, quoted values, branch names, amounts, dates, e-mails, URLs,
//! redaction markers, secrets — as a placeholder). Pure functions.

use std::collections::BTreeSet;

/// Words that carry no topic beyond [`nocturne_core::text::STOP_WORDS`]: more
/// function words plus the directive markers themselves ("always", "never", "prefer", "use"...), so that two
/// paraphrases of one rule compare by what the rule is about.
const STOP: &[&str] = &[
    "also",
    "any_",
    "before_",
    "dont",
    "let",
    "lets",
    "ought",
    "s",
    "t",
    "d",
    "m",
    "always",
    "never",
    "prefer",
    "preferred",
    "please",
    "use",
    "using",
    "used",
    "make",
    "sure",
    "instead",
    "rather",
    "avoid",
    "must",
    "ok",
    "okay",
    "thank",
    "thanks",
    "repo",
    "repository",
    "project",
    "codebase",
    "team",
    "everyone",
    "anyone",
    "one",
    "thing",
    "things",
    "stuff",
    "via",
    "per",
    "like",
    "want",
    "need",
    "remember",
    "going",
    "forward",
    "stop",
    "start",
    "keep",
    "btw",
    "also",
    "oh",
    "hey",
    "hi",
    "yes",
    "yeah",
    "actually",
    "really",
    "get",
    "got",
    "go",
    "via",
    "ever",
    "every",
    "whenever",
    "doesn",
    "isn",
    "aren",
    "won",
    "didn",
    "shouldn",
    "can't",
    "cannot",
    "able",
    "note",
    "fine",
];

pub fn is_stop(w: &str) -> bool {
    nocturne_core::text::is_stop_word(w) || STOP.contains(&w)
}

/// Lowercased alphanumeric runs (other characters separate words).
pub fn raw_words(s: &str) -> Vec<String> {
    s.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// A crude suffix stemmer: enough to make "installing", "installs" and
/// "installed" one token.
pub fn stem(w: &str) -> String {
    let n = w.chars().count();
    if n <= 3 || w.chars().any(|c| c.is_ascii_digit()) {
        return w.to_string();
    }
    for (suf, rep, min) in [("ies", "y", 5), ("ing", "", 6), ("ed", "", 5), ("es", "", 6), ("ly", "", 6), ("s", "", 4)]
    {
        if let Some(base) = w.strip_suffix(suf) {
            if n >= min && !(suf == "s" && (base.ends_with('s') || base.ends_with('u') || base.ends_with('i'))) {
                return format!("{base}{rep}");
            }
        }
    }
    w.to_string()
}

/// Content tokens: words, stemmed, without stop words or one-letter tokens.
pub fn content_tokens(s: &str) -> Vec<String> {
    let mut out: Vec<String> = raw_words(s)
        .into_iter()
        .filter(|w| w.chars().count() >= 2 && !is_stop(w))
        .map(|w| stem(&w))
        .filter(|w| !is_stop(w))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
pub fn prefix(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while end > 0 && !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// Keeps at most `max` characters, adding an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut t: String = s.chars().take(max).collect();
    t.push('…');
    t
}

/// A normalized shell command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// The command segment that matters, cleaned of env assignments,
    /// redirections and pipes (`cd x && FOO=1 npm test 2>&1 | tail` → `npm test`).
    pub main: String,
    /// Verb and subcommand(s): `npm run test:unit`, `cargo test`, `git push`.
    pub key: String,
    /// The verb alone (basename, e.g. `npm`).
    pub verb: String,
    /// Flag names in order of appearance (`--manifest-path`, `-u`).
    pub flags: Vec<String>,
    /// Sub-tokens of the key for similarity (`docker-compose` → docker, compose).
    pub tokens: BTreeSet<String>,
    /// The command's verbatim text in the line it came from (one segment of
    /// a compound line), for evidence quotes.
    pub raw: String,
    /// Its words, cleaned like `main` (quotes removed).
    pub words: Vec<String>,
    /// Its output goes into a pipe / it reads one (see [`Segment`]).
    pub piped: bool,
    pub after_pipe: bool,
}

impl Cmd {
    /// True for commands that only prepare the shell (`cd`, `export`, `source`...).
    pub fn is_trivial(&self) -> bool {
        TRIVIAL_VERBS.contains(&self.verb.as_str())
    }
}

const TRIVIAL_VERBS: &[&str] =
    &["cd", "export", "source", ".", "set", "pushd", "popd", "unset", "alias", "true", "sleep", "echo", "clear"];
const PREFIX_VERBS: &[&str] = &["sudo", "time", "env", "exec", "command", "nohup", "npx", "bunx", "pnpx"];
const DISPATCH: &[&str] = &["run", "exec", "x", "dlx", "compose", "run-script", "workspace", "tool"];
const INTERPRETERS: &[&str] =
    &["python", "python3", "python2", "node", "bash", "sh", "zsh", "ruby", "perl", "deno", "bun", "ts-node", "php"];

fn shell_words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut has = false;
    for c in s.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => cur.push(c),
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                has = true;
            }
            None if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                has = false;
            }
            None => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// One command of a compound shell line (see [`split_commands`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment<'a> {
    /// The command's verbatim text in the line (trimmed); heredoc bodies,
    /// comments and subshell parentheses are not part of it.
    pub text: &'a str,
    /// Its output goes into a pipe (`a | b`: `a`).
    pub piped: bool,
    /// It reads a pipe (`a | b`: `b`).
    pub after_pipe: bool,
}

/// Splits a shell line into its commands: on `&&`, `||`, `;`, `&`, `|`,
/// newlines (not escaped ones) and subshell parentheses, never inside
/// quotes, backticks or `$(...)`. Heredoc bodies (`<<EOF` … `EOF`, also
/// `<<-` and quoted delimiters) and `#` comments are skipped, so a commit
/// message written through a heredoc is never taken for commands.
/// Redirections (`2>&1`, `&>`) are not separators.
pub fn split_commands(line: &str) -> Vec<Segment<'_>> {
    let b = line.as_bytes();
    let at = |i: usize| b.get(i).copied();
    let mut out: Vec<Segment<'_>> = Vec::new();
    fn push<'a>(out: &mut Vec<Segment<'a>>, line: &'a str, from: usize, to: usize, piped: bool, after_pipe: bool) {
        if let Some(t) = line.get(from..to.min(line.len())) {
            let t = t.trim();
            if !t.is_empty() {
                out.push(Segment { text: t, piped, after_pipe });
            }
        }
    }
    let (mut i, mut start) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut depth = 0usize;
    let mut heredocs: Vec<(String, bool)> = Vec::new();
    let mut after_pipe = false;
    while let Some(c) = at(i) {
        if let Some(q) = quote {
            if c == b'\\' && q == b'"' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
            i += 1;
            continue;
        }
        let word_start = i == 0 || at(i - 1).is_some_and(|p| p.is_ascii_whitespace() || b";&|()".contains(&p));
        match c {
            b'\\' => {
                i += 2;
                continue;
            }
            b'\'' | b'"' | b'`' => quote = Some(c),
            b'$' if at(i + 1) == Some(b'(') => {
                depth += 1;
                i += 2;
                continue;
            }
            b'(' if depth > 0 => depth += 1,
            b')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            b'#' if word_start => {
                // A comment runs to the end of the line.
                push(&mut out, line, start, i, false, after_pipe);
                while at(i).is_some_and(|x| x != b'\n') {
                    i += 1;
                }
                start = i;
                continue;
            }
            b'<' if at(i + 1) == Some(b'<') && at(i + 2) != Some(b'<') => {
                let mut j = i + 2;
                let strip = at(j) == Some(b'-');
                if strip {
                    j += 1;
                }
                while at(j).is_some_and(|x| x == b' ' || x == b'\t') {
                    j += 1;
                }
                let mut delim = String::new();
                while let Some(x) = at(j) {
                    if x.is_ascii_whitespace() || b";&|<>()".contains(&x) {
                        break;
                    }
                    if x != b'\'' && x != b'"' && x != b'\\' {
                        delim.push(char::from(x));
                    }
                    j += 1;
                }
                if !delim.is_empty() {
                    heredocs.push((delim, strip));
                }
                i = j;
                continue;
            }
            b'\n' => {
                push(&mut out, line, start, i, false, after_pipe);
                after_pipe = false;
                i += 1;
                // Heredoc bodies follow the line that opened them.
                for (delim, strip) in std::mem::take(&mut heredocs) {
                    while i < b.len() {
                        let end = line.get(i..).and_then(|r| r.find('\n')).map_or(b.len(), |p| i + p);
                        let l = line.get(i..end).unwrap_or("");
                        let l = if strip { l.trim_start_matches('\t') } else { l };
                        i = (end + 1).min(b.len());
                        if l.trim_end() == delim {
                            break;
                        }
                    }
                }
                start = i;
                continue;
            }
            b';' => {
                push(&mut out, line, start, i, false, after_pipe);
                after_pipe = false;
                start = i + 1;
            }
            b'&' if at(i + 1) == Some(b'&') => {
                push(&mut out, line, start, i, false, after_pipe);
                after_pipe = false;
                i += 2;
                start = i;
                continue;
            }
            b'&' if i > 0 && at(i - 1) == Some(b'>') || at(i + 1) == Some(b'>') => {}
            b'&' => {
                push(&mut out, line, start, i, false, after_pipe);
                after_pipe = false;
                start = i + 1;
            }
            b'|' if at(i + 1) == Some(b'|') => {
                push(&mut out, line, start, i, false, after_pipe);
                after_pipe = false;
                i += 2;
                start = i;
                continue;
            }
            b'|' => {
                push(&mut out, line, start, i, true, after_pipe);
                after_pipe = true;
                // `|&` pipes stderr too.
                i += if at(i + 1) == Some(b'&') { 2 } else { 1 };
                start = i;
                continue;
            }
            b'(' | b')' => {
                push(&mut out, line, start, i, false, after_pipe);
                if c == b'(' {
                    after_pipe = false;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    push(&mut out, line, start, b.len(), false, after_pipe);
    out
}

fn basename(p: &str) -> &str {
    p.rsplit(['/', '\\']).next().unwrap_or(p)
}

fn is_env_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((k, _)) => {
            !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !k.starts_with('-')
        }
        None => false,
    }
}

fn looks_like_path(w: &str) -> bool {
    w.contains('/')
        || w.starts_with('.')
        || w.starts_with('~')
        || w.rsplit_once('.').is_some_and(|(a, ext)| {
            !a.is_empty() && (1..=5).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric())
        })
}

fn is_word(w: &str) -> bool {
    w.len() <= 40
        && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && w.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':' | '@'))
}

/// Words of one segment with env assignments, prefixes and redirections removed.
fn clean_words(seg: &str) -> Vec<String> {
    let words = shell_words(seg);
    let mut out = Vec::new();
    let mut skip_next = false;
    let mut started = false;
    for w in words {
        if skip_next {
            skip_next = false;
            continue;
        }
        if matches!(w.as_str(), ">" | ">>" | "<" | "2>" | "2>>" | "&>" | "1>") {
            skip_next = true;
            continue;
        }
        if w.starts_with('>') || w.starts_with("2>") || w.starts_with("1>") || w.starts_with("&>") || w.starts_with('<')
        {
            continue;
        }
        if !started {
            if is_env_assignment(&w) {
                continue;
            }
            let b = basename(&w);
            if PREFIX_VERBS.contains(&b) {
                continue;
            }
            if w.starts_with('-') {
                // flags of a prefix verb (`npx -y`)
                continue;
            }
            started = true;
        }
        out.push(w);
    }
    out
}

/// Normalizes a shell command line (see [`Cmd`]): of its commands (see
/// [`split_commands`]) the last one that does not read a pipe and is not a
/// shell preparation (`cd`, `export`...). `None` for empty input.
pub fn parse_command(line: &str) -> Option<Cmd> {
    let segs: Vec<Segment<'_>> = split_commands(line).into_iter().filter(|s| !s.after_pipe).collect();
    let mut chosen: Option<&Segment<'_>> = None;
    let mut last_any: Option<&Segment<'_>> = None;
    for s in &segs {
        let w = clean_words(s.text);
        let Some(first) = w.first() else { continue };
        let verb = basename(first).to_string();
        last_any = Some(s);
        if !TRIVIAL_VERBS.contains(&verb.as_str()) {
            chosen = Some(s);
        }
    }
    parse_segment(chosen.or(last_any)?)
}

/// Every command of a compound line, parsed (see [`split_commands`]).
pub fn parse_commands(line: &str) -> Vec<Cmd> {
    split_commands(line).iter().filter_map(parse_segment).collect()
}

/// Parses one command of a line.
pub fn parse_segment(seg: &Segment<'_>) -> Option<Cmd> {
    let words = clean_words(seg.text);
    let first = words.first()?;
    let verb = basename(first).to_lowercase();
    let mut key = vec![verb.clone()];
    let mut flags = Vec::new();
    let mut collecting = true;
    let mut limit = 1;
    let interp = INTERPRETERS.contains(&verb.as_str());
    // `cd x`, `export X=1`: the arguments are places and values, not subcommands.
    if TRIVIAL_VERBS.contains(&verb.as_str()) {
        collecting = false;
    }
    let mut iter = words.iter().skip(1).peekable();
    while let Some(w) = iter.next() {
        if w.starts_with('-') && w.len() > 1 {
            let name = w.split('=').next().unwrap_or(w).to_string();
            if interp && name == "-m" && key.len() == 1 {
                if let Some(m) = iter.next() {
                    key.push("-m".into());
                    key.push(m.clone());
                    collecting = false;
                    continue;
                }
            }
            if !flags.contains(&name) {
                flags.push(name);
            }
            collecting = false;
            continue;
        }
        if !collecting {
            continue;
        }
        if looks_like_path(w) {
            if interp && key.len() == 1 {
                key.push(basename(w).to_string());
            }
            collecting = false;
            continue;
        }
        if is_word(w) && key.len() <= limit {
            if key.len() == 1 && DISPATCH.contains(&w.as_str()) {
                limit = 2;
            }
            key.push(w.clone());
            if key.len() > limit {
                collecting = false;
            }
        } else {
            collecting = false;
        }
    }
    let main = words
        .iter()
        .map(|w| if w.contains(char::is_whitespace) || w.is_empty() { format!("\"{w}\"") } else { w.clone() })
        .collect::<Vec<_>>()
        .join(" ");
    let key = key.join(" ");
    let mut tokens = BTreeSet::new();
    for part in key.split(|c: char| !c.is_alphanumeric()) {
        if part.len() >= 2 {
            tokens.insert(part.to_lowercase());
            let t = part.trim_end_matches(|c: char| c.is_ascii_digit());
            if t.len() >= 2 {
                tokens.insert(t.to_lowercase());
            }
        }
    }
    Some(Cmd {
        main,
        key,
        verb,
        flags,
        tokens,
        raw: seg.text.to_string(),
        words,
        piped: seg.piped,
        after_pipe: seg.after_pipe,
    })
}

/// Generic sub-tokens that do not by themselves make two commands related.
const GENERIC: &[&str] = &["run", "test", "exec", "build", "install", "start", "up", "py", "js", "sh", "m"];

/// True when `b` is a plausible variant of `a`: same verb family or a shared
/// specific token (`pytest` / `python -m pytest`, `docker-compose up` /
/// `docker compose up`).
pub fn similar_commands(a: &Cmd, b: &Cmd) -> bool {
    let fam = |v: &str| v.trim_end_matches(|c: char| c.is_ascii_digit()).split('-').next().unwrap_or(v).to_string();
    let (fa, fb) = (fam(&a.verb), fam(&b.verb));
    // Same family, or one verb extends the other (`gradle`/`gradlew`, `mvn`/`mvnw`).
    if fa == fb || (fa.len().min(fb.len()) >= 3 && (fa.starts_with(&fb) || fb.starts_with(&fa))) {
        return true;
    }
    a.tokens.intersection(&b.tokens).any(|t| t.len() >= 3 && !GENERIC.contains(&t.as_str()))
}

/// True when a failure's output names the other command (`jest: not
/// found` → `npx jest`; `did you mean: npm run test:unit`).
pub fn error_names(error: Option<&str>, b: &Cmd) -> bool {
    let Some(e) = error else { return false };
    if b.key.contains(' ') && e.contains(&b.key.to_lowercase()) {
        return true;
    }
    let words: BTreeSet<&str> = e.split(|c: char| !(c.is_alphanumeric() || c == '-' || c == '_')).collect();
    b.tokens.iter().any(|t| t.len() >= 3 && !GENERIC.contains(&t.as_str()) && words.contains(t.as_str()))
}

// ------------------------------------------------------------------ failure text

/// Removes terminal escape sequences (ANSI colours, cursor moves, OSC
/// titles) that hooks and test runners print.
pub fn strip_ansi(s: &str) -> String {
    if !s.contains('\u{1b}') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\u{1b}' {
            out.push(c);
            continue;
        }
        match it.peek() {
            Some('[') => {
                it.next();
                // CSI: parameters, then one final byte in @..~.
                for x in it.by_ref() {
                    if ('@'..='~').contains(&x) {
                        break;
                    }
                }
            }
            Some(']') => {
                it.next();
                // OSC: up to BEL or ESC \.
                while let Some(x) = it.next() {
                    if x == '\u{7}' {
                        break;
                    }
                    if x == '\u{1b}' {
                        it.next();
                        break;
                    }
                }
            }
            Some(_) => {
                it.next();
            }
            None => {}
        }
    }
    out
}

/// Harness wrappers around an error (`<tool_use_error>…</tool_use_error>`).
const ERROR_TAGS: &[&str] = &["<tool_use_error>", "</tool_use_error>", "<error>", "</error>"];

/// The line without error tags, markdown/quote markers, a `file:line:col:`
/// location, or a shell's own prefix (`bash: line 1: `, `zsh:1: `,
/// `(eval):cd:1: ` → `cd: `).
pub fn clean_error_line(line: &str) -> String {
    let mut l = strip_ansi(line);
    for t in ERROR_TAGS {
        l = l.replace(t, " ");
    }
    let mut l = l.trim().trim_start_matches(['#', '>', '*', '|']).trim().to_string();
    if let Some(r) = l.strip_prefix("- ") {
        l = r.trim().to_string();
    }
    // Shell prefixes.
    loop {
        let before = l.clone();
        for sh in ["/usr/bin/bash:", "/bin/bash:", "/bin/sh:", "/usr/bin/env:", "bash:", "sh:", "zsh:", "dash:", "ksh:"]
        {
            if let Some(r) = l.strip_prefix(sh) {
                let r = r.trim_start();
                let r = r.strip_prefix("line ").unwrap_or(r);
                let digits = r.chars().take_while(char::is_ascii_digit).count();
                let r = if digits > 0 { r.get(digits..).unwrap_or("").trim_start_matches(':').trim_start() } else { r };
                l = r.to_string();
                break;
            }
        }
        if let Some(r) = l.strip_prefix("(eval):") {
            let mut parts = r.splitn(3, ':');
            let a = parts.next().unwrap_or("");
            let b = parts.next().unwrap_or("");
            let rest = parts.next().unwrap_or("");
            l = if a.chars().all(|c| c.is_ascii_digit()) {
                format!("{b}:{rest}").trim_start_matches(':').trim().to_string()
            } else if b.chars().all(|c| c.is_ascii_digit()) && !b.is_empty() {
                format!("{a}:{rest}")
            } else {
                r.to_string()
            };
        }
        // `path:12:3: message` and `path:12: message`.
        if let Some((loc, rest)) = l.split_once(": ") {
            let mut parts = loc.split(':');
            let first = parts.next().unwrap_or("");
            let nums: Vec<&str> = parts.collect();
            if !first.is_empty()
                && !first.contains(char::is_whitespace)
                && !nums.is_empty()
                && nums.len() <= 2
                && nums.iter().all(|n| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit()))
            {
                l = rest.trim().to_string();
            }
        }
        if l == before {
            break;
        }
    }
    let l = pointer_message(&l).unwrap_or(l.as_str());
    l.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The message of a caret pointer line (`^^^ Expected X` → `Expected X`);
/// `^C` and a bare `^^^^` are none.
fn pointer_message(line: &str) -> Option<&str> {
    let l = line.trim().trim_start_matches(['#', '>', '*', '|']).trim_start();
    let rest = l.strip_prefix('^')?.trim_start_matches('^');
    let msg = rest.strip_prefix(' ')?.trim();
    (msg.chars().filter(|c| c.is_alphanumeric()).count() >= 3).then_some(msg)
}

fn is_error_code(t: &str) -> bool {
    let letters = t.chars().take_while(char::is_ascii_uppercase).count();
    let digits = t.chars().skip(letters).take_while(char::is_ascii_digit).count();
    (1..=4).contains(&letters) && (2..=5).contains(&digits) && letters + digits == t.chars().count()
}

fn has_exception_name(l: &str) -> bool {
    l.split(|c: char| c.is_whitespace() || c == '(' || c == '[')
        .map(|w| w.trim_start_matches(|c: char| !c.is_alphanumeric()))
        .any(|w| {
            let Some(name) = w.strip_suffix(':') else { return false };
            let last = name.rsplit('.').next().unwrap_or(name);
            last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
                && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && ["Error", "Exception", "NoExactMatch", "Failure", "Fault", "Denied", "Refused", "NotFound"]
                    .iter()
                    .any(|s| last.ends_with(s))
        })
}

const FAILURE_PHRASES: &[&str] = &[
    "command not found",
    "no such file",
    "not found",
    "permission denied",
    "cannot ",
    "can't ",
    "could not",
    "couldn't",
    "failed",
    "failure",
    "refused",
    "denied",
    "invalid",
    "not allowed",
    "does not exist",
    "doesn't exist",
    "does not match",
    "requires approval",
    "not permitted",
    "missing",
    "unknown ",
    "unable to",
    "no matches",
    "mismatch",
    "conflict",
    "rejected",
    "not running",
    "not available",
    "unavailable",
    "has not been",
    "is not ",
    "are not ",
    "must be",
    "should be",
    "unexpected",
    "illegal",
    "blocked",
    "not supported",
    "unsupported",
    "exceeded",
    "exceeds",
    "too long",
    "too many",
    "is required",
    "no module named",
    "undefined",
    "unrecognized",
    "did not",
    "no rule",
    "error",
    "fatal",
];

/// How telling a line of a failed tool result is: 0 boilerplate (exit
/// status, runner banners, traceback frames, token counts), 1 anything
/// else, 2 a warning, 3 a failure phrase (`not found`, `denied`,
/// `failed`...), 4 an error prefix (`error:`, `fatal:`, `npm ERR!`) or a
/// lint code (`F821 undefined name`), 5 a named exception
/// (`ModuleNotFoundError: …`, `SearchReplaceNoExactMatch: …`).
pub fn line_rank(line: &str) -> u8 {
    let l = clean_error_line(line);
    let lower = l.to_lowercase();
    if l.chars().filter(|c| c.is_alphanumeric()).count() < 3 {
        return 0;
    }
    let boiler = [
        "exit code",
        "exit status",
        "process exited with code",
        "process running with session",
        "chunk id:",
        "wall time:",
        "original token count",
        "output:",
        "tokens:",
        "cost:",
        "traceback (most recent call last)",
        "file \"",
        "platform ",
        "cachedir:",
        "rootdir:",
        "configfile:",
        "plugins:",
        "collected ",
        "collecting ",
        "hook id:",
        "you can use /undo",
        "applied edit to",
        "committing ",
        "commit ",
        "running: ",
        "see relevant line",
        "https://",
        "http://",
        "to see a list of",
        "for more information",
        "note: ",
        "hint: ",
        "help: ",
        "use --no-stream",
    ];
    let first_word = lower.split_whitespace().next().unwrap_or("");
    let only_exit = (lower.starts_with("exit code") || lower.starts_with("exit status")) && lower.len() < 24;
    if only_exit
        || boiler.iter().any(|b| lower.starts_with(b))
        || (lower.starts_with('=') || lower.starts_with('-') || lower.starts_with('_'))
            && lower.ends_with(['=', '-', '_'])
        || lower.contains("test session starts")
    {
        return 0;
    }
    if has_exception_name(&l) && !first_word.ends_with("warning:") {
        return 5;
    }
    if first_word.contains("warning") || first_word == "warn" {
        return 2;
    }
    let word0 = l.split_whitespace().next().unwrap_or("");
    if is_error_code(word0.trim_end_matches(':'))
        || ["error:", "error[", "fatal:", "npm err!", "npm error", "e: ", "panic:", "err:", "[error]", "error "]
            .iter()
            .any(|p| lower.starts_with(p))
    {
        return 4;
    }
    // A caret pointer with its message (`^^^ Expected X`): a parser's
    // diagnostic at the place it points to.
    if pointer_message(line).is_some() {
        return 4;
    }
    if FAILURE_PHRASES.iter().any(|p| lower.contains(p)) || states_absence(&lower) {
        return 3;
    }
    1
}

/// "no filename provided …", "no input file specified": a required thing
/// that is absent.
fn states_absence(lower: &str) -> bool {
    let mut w = lower.split_whitespace();
    w.next() == Some("no")
        && w.take(3).any(|x| {
            ["provided", "specified", "given", "supplied", "defined", "set"].contains(&x.trim_end_matches([',', '.']))
        })
}

/// Whether a line names something specific: a quoted or backticked value, a
/// number, a path or file name, a code identifier (`snake_case`,
/// `CamelCase`, `a.b`), a `--flag`, or a leading `name:` other than a
/// severity (`pytest: command not found`). A line that only restates that
/// something failed ("The build did not succeed.") names nothing.
pub fn names_specific(line: &str) -> bool {
    let l = clean_error_line(line);
    if l.contains(['`', '\'', '"']) {
        return true;
    }
    let mut words = l.split_whitespace();
    if let Some(first) = words.clone().next() {
        if let Some(name) = first.strip_suffix(':') {
            let n = name.to_lowercase();
            if !["error", "fatal", "warning", "err", "panic", "note", "hint", "e"].contains(&n.as_str()) {
                return true;
            }
        }
    }
    words.any(|w| {
        let w = w.trim_matches(|c: char| !c.is_alphanumeric() && c != '-' && c != '_' && c != '/');
        let inner = w.trim_end_matches(|c: char| !c.is_alphanumeric());
        w.chars().any(|c| c.is_ascii_digit())
            || w.starts_with("--")
            || w.contains('_')
            || w.contains('/')
            || inner.contains('.')
            || w.chars().zip(w.chars().skip(1)).any(|(a, b)| a.is_lowercase() && b.is_uppercase())
    })
}

/// How much a line of a failed result reads as advice on the fix: 3 a
/// "did you mean", 2 an instruction (`hint:`, `try …`, `use …`, `run …`,
/// `please …`, `to fix …`, `you need to …`), 1 a rule (`… must …`,
/// `… should …`), 0 none.
pub fn hint_rank(line: &str) -> u8 {
    let l = clean_error_line(line).to_lowercase();
    if l.chars().filter(|c| c.is_alphabetic()).count() < 8 {
        return 0;
    }
    if l.contains("did you mean") {
        return 3;
    }
    let starts = [
        "hint:",
        "help:",
        "tip:",
        "try ",
        "to fix",
        "to resolve",
        "use ",
        "run ",
        "please ",
        "consider ",
        "you can ",
        "you may ",
        "you might ",
        "you need to",
        "you must",
        "make sure",
        "to push ",
        "perhaps ",
        "maybe ",
    ];
    if starts.iter().any(|p| l.starts_with(p)) {
        return 2;
    }
    if l.contains(" must ") || l.contains(" should ") {
        return 1;
    }
    0
}

/// The non-boilerplate lines of a tool result (verbatim, trimmed) with
/// their [`line_rank`], in order; at most 300 lines are read.
pub fn ranked_lines(text: &str) -> Vec<(&str, u8)> {
    text.lines()
        .take(300)
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|l| (l, line_rank(l)))
        .filter(|(_, r)| *r > 0)
        .collect()
}

/// Common file extensions: `name.ext` with one of these is a file name.
const FILE_EXTS: &[&str] = &[
    "py",
    "pyi",
    "js",
    "mjs",
    "cjs",
    "ts",
    "tsx",
    "jsx",
    "rs",
    "go",
    "java",
    "kt",
    "rb",
    "php",
    "c",
    "h",
    "cc",
    "cpp",
    "hpp",
    "cs",
    "swift",
    "dart",
    "ex",
    "exs",
    "erl",
    "lua",
    "pl",
    "r",
    "scala",
    "sh",
    "bash",
    "zsh",
    "ps1",
    "json",
    "jsonl",
    "yaml",
    "yml",
    "toml",
    "ini",
    "cfg",
    "conf",
    "env",
    "xml",
    "html",
    "htm",
    "css",
    "scss",
    "sass",
    "less",
    "vue",
    "svelte",
    "md",
    "mdx",
    "rst",
    "txt",
    "csv",
    "tsv",
    "log",
    "sql",
    "db",
    "sqlite",
    "lock",
    "proto",
    "tf",
    "gradle",
    "ipynb",
    "svg",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "pdf",
    "zip",
    "tar",
    "gz",
    "tgz",
    "whl",
    "jar",
    "so",
    "dll",
    "exe",
    "mod",
    "sum",
    "wasm",
    "traj",
    "pem",
    "key",
    "crt",
    "patch",
    "diff",
    "bak",
    "tmp",
    "dockerfile",
];

fn is_email(t: &str) -> bool {
    let Some((a, b)) = t.split_once('@') else { return false };
    !a.is_empty() && b.contains('.') && !b.starts_with('.') && !b.ends_with('.') && !b.contains('@')
}

fn is_uuid(t: &str) -> bool {
    let parts: Vec<&str> = t.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8usize, 4, 4, 4, 12])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_date(t: &str) -> bool {
    let b = t.as_bytes();
    let d = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    (b.len() >= 10 && (0..4).all(d) && b.get(4) == Some(&b'-') && d(5) && d(6) && b.get(7) == Some(&b'-') && d(8))
        || (b.len() == 10 && d(0) && d(1) && b.get(2) == Some(&b'/') && d(3) && d(4) && b.get(5) == Some(&b'/'))
}

fn is_time(t: &str) -> bool {
    let parts: Vec<&str> = t.split(':').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| (1..=2).contains(&p.len()) || p.split('.').next().is_some_and(|x| x.len() == 2))
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_digit() || c == '.'))
        && parts.first().is_some_and(|p| !p.is_empty())
}

fn is_amount(t: &str) -> bool {
    let body = t.trim_start_matches(['$', '€', '£', '¥']);
    let currency = body.len() != t.len();
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let ok = digits > 0 && body.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.');
    ok && (currency
        || (body.contains(',')
            && body.split(',').skip(1).all(|g| {
                g.len() == 3
                    || g.starts_with(|c: char| c.is_ascii_digit()) && g.split('.').next().is_some_and(|x| x.len() == 3)
            })))
}

fn is_hash(t: &str) -> bool {
    let t = t.strip_prefix("0x").unwrap_or(t);
    t.len() >= 6
        && t.chars().all(|c| c.is_ascii_hexdigit())
        && t.chars().any(|c| c.is_ascii_digit())
        && t.chars().any(|c| c.is_ascii_alphabetic())
}

fn is_path(t: &str) -> bool {
    if t.starts_with('/') && t.len() > 1 || t.starts_with("~/") || t.starts_with("./") || t.starts_with("../") {
        return true;
    }
    if t.len() > 2 && t.as_bytes().get(1) == Some(&b':') && t.as_bytes().get(2) == Some(&b'\\') {
        return true;
    }
    if t.contains('\\') && t.split('\\').filter(|p| !p.is_empty()).count() >= 2 {
        return true;
    }
    let parts: Vec<&str> = t.split('/').filter(|p| !p.is_empty()).collect();
    parts.len() >= 3
        || (parts.len() == 2
            && t.contains('/')
            && parts.iter().all(|p| p.len() >= 2)
            && (t.contains('.') || t.contains('_') || t.contains('-') || t.ends_with('/')))
}

fn is_file(t: &str) -> bool {
    let Some((name, ext)) = t.rsplit_once('.') else { return false };
    name.chars().count() >= 2
        && name.chars().any(|c| c.is_alphabetic())
        && name.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '@' | '+'))
        && FILE_EXTS.contains(&ext.to_ascii_lowercase().as_str())
}

fn is_id(t: &str) -> bool {
    let t = t.strip_prefix('#').unwrap_or(t);
    let digits = t.chars().filter(char::is_ascii_digit).count();
    let letters = t.chars().filter(|c| c.is_alphabetic()).count();
    t.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
        && !is_error_code(t)
        && ((letters > 0 && digits >= 4) || (digits >= 3 && letters > 0 && t.contains(['_', '-'])))
}

/// The placeholder for a value that is specific to one session or run, or
/// `None` when the token is an ordinary word. `<url>`, `<email>`, `<value>`
/// (a redaction marker), `<id>` (UUIDs, `user_1234`, `#W1234567`),
/// `<date>`, `<time>`, `<amount>`, `<n>`, `<hash>`, `<path>`, `<file>`.
/// Error codes (`F821`, `E0425`, `TS2304`) are words, not values.
pub fn placeholder(tok: &str) -> Option<&'static str> {
    let t = tok;
    if t.is_empty() {
        return None;
    }
    if t.contains("REDACTED") {
        return Some(if t.contains("EMAIL") { "<email>" } else { "<value>" });
    }
    if t.contains("://") {
        return Some("<url>");
    }
    if is_email(t) {
        return Some("<email>");
    }
    if is_uuid(t) {
        return Some("<id>");
    }
    if is_date(t) {
        return Some("<date>");
    }
    if is_time(t) {
        return Some("<time>");
    }
    if is_amount(t) {
        return Some("<amount>");
    }
    if t.chars().all(|c| c.is_ascii_digit() || c == '.' || c == ',' || c == '-' || c == '+')
        && t.chars().any(|c| c.is_ascii_digit())
    {
        return Some("<n>");
    }
    if is_error_code(t) {
        return None;
    }
    if is_hash(t) {
        return Some("<hash>");
    }
    if is_path(t) {
        return Some("<path>");
    }
    if is_file(t) {
        return Some("<file>");
    }
    if is_id(t) {
        return Some("<id>");
    }
    None
}

/// A syntax marker of a format (`>>>>>>> REPLACE`, `=======`, `<<<<<<<
/// SEARCH`, `---`): a run of at least three of the same punctuation
/// character, with at most capital words beside it. Quoted in an error, it
/// is the format's own text, not a value.
pub fn is_marker(s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    let run = chars.windows(3).any(|w| w.iter().all(|c| c.is_ascii_punctuation() && Some(c) == w.first()));
    run && chars.iter().all(|c| c.is_ascii_punctuation() || c.is_ascii_uppercase() || *c == ' ')
}

/// A failure's error line reduced to what recurs: every session-specific
/// value a placeholder (see [`error_signature`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorSig {
    /// Grouping key: lowercase, whitespace collapsed, every value a
    /// placeholder, numbers included.
    pub key: String,
    /// For memory text: original case, values as placeholders; small
    /// numbers (≤ 3 digits: exit and status codes, counts) kept.
    pub display: String,
    /// Like `display`, but quoted plain words and bare file names kept
    /// (`Missing script: "test"`, `tsconfig.json`): used when the same
    /// words recur in several sessions.
    pub display_words: String,
    /// The values replaced, with their placeholders (to write a fix
    /// command with the same placeholders).
    pub subs: Vec<(String, &'static str)>,
}

const OPEN_QUOTES: &[char] = &['\'', '"', '`', '“', '‘'];

fn closing(q: char) -> char {
    match q {
        '“' => '”',
        '‘' => '’',
        c => c,
    }
}

/// Splits a token into leading punctuation, core and trailing punctuation.
fn peel(tok: &str) -> (&str, &str, &str) {
    let lead = tok.len() - tok.trim_start_matches(['(', '[', '{', '<', '"', '\'', '`', '“', '‘']).len();
    let rest = tok.get(lead..).unwrap_or("");
    let core = rest.trim_end_matches([')', ']', '}', '>', '"', '\'', '`', '”', '’', ',', '.', ';', ':', '!', '?']);
    let (a, b) = (tok.get(..lead).unwrap_or(""), tok.get(lead + core.len()..).unwrap_or(""));
    (a, core, b)
}

const BRANCH_WORDS: &[&str] = &["branch", "branches", "upstream", "checkout", "tracking"];
const NOT_BRANCH: &[&str] = &[
    "the", "a", "an", "is", "has", "to", "of", "and", "or", "name", "named", "with", "from", "for", "<str>", "on",
    "branch", "branches", "is", "was", "not",
];

/// Reduces an error line to its signature: the line cleaned (see
/// [`clean_error_line`]), then quoted strings → `<str>` (`<branch>` after
/// "branch"), and every token a [`placeholder`] names replaced (a word
/// after "branch", and `origin/x`, → `<branch>`). Two failures with the
/// same key are the same error met with different values.
pub fn error_signature(line: &str) -> ErrorSig {
    let mut cleaned = clean_error_line(line);
    // `[REDACTED_EMAIL]` → `REDACTED_EMAIL`, one token for `placeholder`.
    while let Some(a) = cleaned.find("[REDACTED") {
        let Some(b) = cleaned.get(a..).and_then(|r| r.find(']')).map(|p| a + p) else { break };
        let inner = cleaned.get(a + 1..b).unwrap_or("REDACTED").to_string();
        cleaned.replace_range(a..=b, &inner);
    }
    let mut subs: Vec<(String, &'static str)> = Vec::new();
    // Pass 1: quoted spans.
    let chars: Vec<char> = cleaned.chars().collect();
    let mut pieces: Vec<(String, Option<&'static str>)> = Vec::new(); // (text, placeholder for quoted)
    let mut cur = String::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let prev = i.checked_sub(1).and_then(|p| chars.get(p)).copied();
        let opens = OPEN_QUOTES.contains(&c) && prev.is_none_or(|p| !p.is_alphanumeric());
        if opens {
            let close = closing(c);
            let end = (i + 1..chars.len()).find(|&j| {
                chars.get(j) == Some(&close)
                    && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
                    && (close != '\'' || chars.get(j - 1).is_none_or(|p| *p != '\\'))
            });
            if let Some(end) = end {
                let inner: String = chars.get(i + 1..end).map(|s| s.iter().collect()).unwrap_or_default();
                let before_word = cur
                    .split_whitespace()
                    .last()
                    .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()).to_lowercase());
                let ph = if before_word.as_deref().is_some_and(|w| BRANCH_WORDS.contains(&w)) {
                    "<branch>"
                } else {
                    "<str>"
                };
                pieces.push((std::mem::take(&mut cur), None));
                let quoted: String = chars.get(i..=end).map(|s| s.iter().collect()).unwrap_or_default();
                subs.push((inner.clone(), ph));
                pieces.push((quoted, Some(ph)));
                i = end + 1;
                continue;
            }
        }
        cur.push(c);
        i += 1;
    }
    pieces.push((cur, None));
    let mut display = String::new();
    let mut display_words = String::new();
    let mut key = String::new();
    let mut prev_word = String::new();
    for (text, ph) in pieces {
        if let Some(ph) = ph {
            let inner = text.chars().skip(1).take(text.chars().count().saturating_sub(2)).collect::<String>();
            let plain = ph == "<str>"
                && inner.chars().count() <= 24
                && !inner.is_empty()
                && (inner.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | ':' | '.'))
                    || is_marker(&inner))
                && !inner.chars().any(|c| c.is_ascii_digit())
                && placeholder(&inner).is_none();
            display.push_str(ph);
            display_words.push_str(if plain { &text } else { ph });
            key.push_str(ph);
            prev_word = ph.to_string();
            continue;
        }
        let mut first = true;
        for (k, tok) in text.split(' ').enumerate() {
            if k > 0 {
                display.push(' ');
                display_words.push(' ');
                key.push(' ');
            }
            let _ = first;
            first = false;
            if tok.is_empty() {
                continue;
            }
            let (lead, core, trail) = peel(tok);
            let lw = prev_word.to_lowercase();
            let branchy = BRANCH_WORDS.contains(&lw.as_str())
                && !core.is_empty()
                && !NOT_BRANCH.contains(&core.to_lowercase().as_str())
                && core.chars().all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '/' | '.'));
            let secret = nocturne_core::secrets::contains_secret(tok) || nocturne_core::secrets::contains_secret(core);
            // `F821`, `E0425` are error codes where a linter or compiler puts
            // them (first, or in brackets); elsewhere (`flight HAT170`) ids.
            let after_kind = ["error", "warning", "err", "warn", "note", "fatal"].contains(&lw.as_str());
            let code_elsewhere = is_error_code(core) && !(key.trim().is_empty() || lead.contains('[') || after_kind);
            let ph = if secret {
                Some("<secret>")
            } else if branchy || core.starts_with("origin/") || core.starts_with("refs/heads/") {
                Some("<branch>")
            } else if code_elsewhere {
                Some("<id>")
            } else {
                placeholder(core)
            };
            match ph {
                Some(p) => {
                    subs.push((core.to_string(), p));
                    // Small numbers (exit and status codes, counts) are kept, not positions.
                    let position = ["line", "lines", "column", "col", "offset", "position", "char", "row"]
                        .contains(&prev_word.to_lowercase().as_str());
                    let small = p == "<n>" && core.chars().all(|c| c.is_ascii_digit()) && core.len() <= 3 && !position;
                    let shown = if small { core } else { p };
                    display.push_str(lead);
                    display.push_str(shown);
                    display.push_str(trail);
                    // A bare file name (`tsconfig.json`) may recur: kept in the words variant.
                    display_words.push_str(lead);
                    display_words.push_str(if p == "<file>" { core } else { shown });
                    display_words.push_str(trail);
                    key.push_str(lead);
                    key.push_str(p);
                    key.push_str(trail);
                }
                None => {
                    display.push_str(tok);
                    display_words.push_str(tok);
                    key.push_str(&tok.to_lowercase());
                }
            }
            if !core.is_empty() {
                prev_word = core.to_string();
            }
        }
    }
    let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let key = canonical_not_found(&squash(&key));
    let key = key.trim_end_matches(['.', ':', ';', ',', ' ']).to_string();
    let key: String = key.chars().take(160).collect();
    ErrorSig {
        key,
        display: shorten(&squash(&display), 100),
        display_words: shorten(&squash(&display_words), 100),
        subs,
    }
}

/// One form for a shell's "command not found" (`X: command not found`,
/// zsh's `command not found: X`, sh's `X: not found`).
fn canonical_not_found(key: &str) -> String {
    if let Some(x) = key.strip_prefix("command not found: ") {
        if !x.contains(' ') {
            return format!("{x}: command not found");
        }
    }
    if let Some(x) = key.strip_suffix(": not found") {
        if !x.contains(' ') {
            return format!("{x}: command not found");
        }
    }
    key.to_string()
}

/// At most `max` characters: whole sentences when the first one fits,
/// else cut at a word boundary with an ellipsis.
pub fn shorten(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut best = None;
    for (i, c) in s.char_indices() {
        if s.get(..i).is_some_and(|p| p.chars().count() > max) {
            break;
        }
        if matches!(c, '.' | '!' | '?' | ';') && s.get(i + 1..).is_some_and(|r| r.starts_with(' ')) && i >= 20 {
            best = Some(i + 1);
        }
    }
    if let Some(end) = best {
        return s.get(..end).unwrap_or(s).to_string();
    }
    let mut out = String::new();
    for w in s.split(' ') {
        if out.chars().count() + w.chars().count() + 1 > max {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    out.push('…');
    out
}

/// A verbatim excerpt of `line` for an evidence quote: at most `max`
/// characters, escape sequences avoided (the longest run without one), no
/// ellipsis added (a quote must be the event's own text).
pub fn excerpt(line: &str, max: usize) -> String {
    let line = line.trim();
    let part =
        if line.contains('\u{1b}') { line.split('\u{1b}').max_by_key(|p| p.len()).unwrap_or(line) } else { line };
    let part = part.trim();
    if part.chars().count() <= max {
        return part.to_string();
    }
    let cut: String = part.chars().take(max).collect();
    match cut.rfind(' ') {
        Some(p) if p > max / 2 => cut.get(..p).unwrap_or(&cut).trim_end().to_string(),
        _ => cut,
    }
}

/// The shape of a tool argument value: `<email>`, `<id>`, `#W<n>`,
/// `<n>`, `<str>`, `[<n>…]`, `{…}`: what a failing call passed, without
/// the value.
pub fn value_shape(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(_) => "<n>".into(),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() {
                return "\"\"".into();
            }
            if t.contains(char::is_whitespace) {
                return "<text>".into();
            }
            // Keep a literal prefix before the digits (`#W1234567` → `#W<n>`).
            let lead: String = t.chars().take_while(|c| !c.is_ascii_digit()).collect();
            let rest = t.get(lead.len()..).unwrap_or("");
            if !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) && lead.chars().count() <= 3 {
                return format!("{lead}<n>");
            }
            placeholder(t).map_or_else(|| "<str>".to_string(), str::to_string)
        }
        Value::Array(a) => match a.first() {
            Some(x) => format!("[{}…]", value_shape(x)),
            None => "[]".into(),
        },
        Value::Object(_) => "{…}".into(),
    }
}

/// Seconds since the Unix epoch for an RFC 3339 timestamp
/// (`2026-01-02T03:04:05Z`, fractional seconds and offsets accepted; a bare
/// date is midnight UTC). `None` when it does not parse.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let s = s.trim();
    let num = |a: usize, b: usize| -> Option<i64> { s.get(a..b)?.parse::<i64>().ok() };
    let y = num(0, 4)?;
    let mo = num(5, 7)?;
    let d = num(8, 10)?;
    if s.get(4..5)? != "-" || s.get(7..8)? != "-" || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    if s.len() == 10 {
        return Some(days * 86_400);
    }
    let sep = s.get(10..11)?;
    if sep != "T" && sep != "t" && sep != " " {
        return None;
    }
    let h = num(11, 13)?;
    let mi = num(14, 16)?;
    let se = num(17, 19)?;
    let mut rest = s.get(19..)?;
    if let Some(r) = rest.strip_prefix('.') {
        let n = r.find(|c: char| !c.is_ascii_digit()).unwrap_or(r.len());
        rest = r.get(n..)?;
    }
    let offset = if rest.is_empty() || rest == "Z" || rest == "z" {
        0
    } else {
        let sign = match rest.get(0..1)? {
            "+" => 1,
            "-" => -1,
            _ => return None,
        };
        let oh: i64 = rest.get(1..3)?.parse().ok()?;
        let om: i64 = rest.get(4..6)?.parse().ok()?;
        sign * (oh * 3600 + om * 60)
    };
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_normalize_to_verb_and_subcommand() {
        let k = |s: &str| parse_command(s).unwrap().key;
        assert_eq!(k("cd /repo/web && OPENAI_KEY=x npm test 2>&1 | tail -20"), "npm test");
        assert_eq!(k("npm run test:unit -- --watch=false"), "npm run test:unit");
        assert_eq!(k("git commit -m \"fix: thing\""), "git commit");
        assert_eq!(k("git push -u origin feature/x"), "git push");
        assert_eq!(k("python -m pytest tests/ -q"), "python -m pytest");
        assert_eq!(k("python3 manage.py migrate"), "python3 manage.py");
        assert_eq!(k("docker compose up -d"), "docker compose up");
        assert_eq!(k("npx prisma migrate dev"), "prisma migrate");
        assert_eq!(k("sudo make install"), "make install");
        assert_eq!(k("./node_modules/.bin/jest --ci"), "jest");
        assert_eq!(parse_command("cargo test --manifest-path a/Cargo.toml").unwrap().flags, vec!["--manifest-path"]);
        assert!(parse_command("   ").is_none());
    }

    #[test]
    fn variants_are_similar_and_unrelated_commands_are_not() {
        let c = |s: &str| parse_command(s).unwrap();
        assert!(similar_commands(&c("npm test"), &c("npm run test:unit")));
        assert!(similar_commands(&c("pytest -q"), &c("python -m pytest -q")));
        assert!(similar_commands(&c("docker-compose up"), &c("docker compose up -d")));
        assert!(!similar_commands(&c("cargo test"), &c("git commit -m x")));
        assert!(similar_commands(&c("gradle test"), &c("./gradlew test")));
        assert!(error_names(Some("sh: 1: jest: not found"), &c("npx jest --ci")));
        assert!(!error_names(Some("sh: 1: jest: not found"), &c("git status")));
    }

    #[test]
    fn timestamps_parse() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:00Z"), Some(86_400));
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(parse_rfc3339("2026-03-01T00:00:00.123Z"), parse_rfc3339("2026-03-01"));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    #[test]
    fn tokens_drop_stop_words_and_stem() {
        assert_eq!(content_tokens("Always use pnpm for installing packages"), vec!["install", "packag", "pnpm"]);
    }

    #[test]
    fn compound_lines_split_into_their_commands() {
        let t = |s: &str| split_commands(s).iter().map(|x| x.text.to_string()).collect::<Vec<_>>();
        assert_eq!(t("cd web && npm test 2>&1 | tail -20"), vec!["cd web", "npm test 2>&1", "tail -20"]);
        assert_eq!(t("a || b; c & d"), vec!["a", "b", "c", "d"]);
        assert_eq!(t("(source .venv/bin/activate && pytest -x)"), vec!["source .venv/bin/activate", "pytest -x"]);
        assert_eq!(t("echo \"a && b; c\" && ls"), vec!["echo \"a && b; c\"", "ls"]);
        assert_eq!(
            t("x=$(git rev-parse HEAD && echo) && git push"),
            vec!["x=$(git rev-parse HEAD && echo)", "git push"]
        );
        assert_eq!(t("npm test &> out.log; ls # a comment && rm -rf /"), vec!["npm test &> out.log", "ls"]);
        // A commit message written through a heredoc is not commands.
        let commit = "git add -A && git commit -m \"$(cat <<'EOF'\nFix: rm -rf all; push\n\nCo-Authored-By: x\nEOF\n)\" && git push";
        assert_eq!(t(commit).last().map(String::as_str), Some("git push"));
        assert_eq!(t(commit).len(), 3, "{:?}", t(commit));
        let heredoc = "cat > notes.md <<EOF\nnpm publish\nrm -rf /\nEOF\nls -la";
        assert_eq!(t(heredoc), vec!["cat > notes.md <<EOF", "ls -la"]);
        let tabs = "cat <<-END\n\tnpm publish\n\tEND\nmake";
        assert_eq!(t(tabs), vec!["cat <<-END", "make"]);
        let segs = split_commands("ps -ef | rg chrome");
        assert!(segs[0].piped && !segs[0].after_pipe && segs[1].after_pipe);
        // Every segment is verbatim text of the line.
        for line in [commit, heredoc, "a && b | c"] {
            assert!(split_commands(line).iter().all(|s| line.contains(s.text)));
        }
    }

    #[test]
    fn every_command_of_a_line_is_parsed() {
        let keys: Vec<String> =
            parse_commands("cd /srv && FOO=1 uv run pytest -m unit | tail -5").into_iter().map(|c| c.key).collect();
        assert_eq!(keys, vec!["cd", "uv run pytest", "tail"]);
        let c = parse_command("cd x && git push --set-upstream origin main").unwrap();
        assert_eq!(c.raw, "git push --set-upstream origin main");
        assert!(!c.is_trivial());
    }

    #[test]
    fn ansi_codes_are_stripped() {
        assert_eq!(
            strip_ansi("\u{1b}[1mPostToolUse:Edit\u{1b}[22m [uv run ruff format] ok"),
            "PostToolUse:Edit [uv run ruff format] ok"
        );
        assert_eq!(strip_ansi("\u{1b}]0;title\u{7}plain"), "plain");
    }

    /// Real error lines (Claude Code, Codex, τ²-bench, aider, SWE-agent) and
    /// their signatures.
    #[test]
    fn error_signatures_replace_values_with_placeholders() {
        let k = |s: &str| error_signature(s).key;
        let table = [
            ("Error: User not found", "error: user not found"),
            ("Error: New item 5248424711 not found or available", "error: new item <n> not found or available"),
            ("<tool_use_error>String to replace not found in file.", "string to replace not found in file"),
            (
                "<tool_use_error>File has not been read yet. Read it first before writing to it.</tool_use_error>",
                "file has not been read yet. read it first before writing to it",
            ),
            (
                "Found 2 matches of the string to replace, but replace_all is false.",
                "found <n> matches of the string to replace, but replace_all is false",
            ),
            ("/bin/bash: line 1: pytest: command not found", "pytest: command not found"),
            ("zsh:1: operation not permitted: ps", "operation not permitted: ps"),
            ("(eval):cd:1: no such file or directory: test", "cd: no such file or directory: test"),
            ("tests/basic/test_repomap.py:332:20: F821 undefined name 'GitRepo'", "f821 undefined name <str>"),
            (
                "aider/analytics.py:12:1: E402 module level import not at top of file",
                "e402 module level import not at top of file",
            ),
            (
                "## SearchReplaceNoExactMatch: This SEARCH block failed to exactly match lines in aider/main.py",
                "searchreplacenoexactmatch: this search block failed to exactly match lines in <path>",
            ),
            ("Request failed with status code 404", "request failed with status code <n>"),
            (
                "fatal: The current branch spotter-a0y has no upstream branch.",
                "fatal: the current branch <branch> has no upstream branch",
            ),
            (
                "error: failed to push some refs to 'git@github.com:acme/app.git'",
                "error: failed to push some refs to <str>",
            ),
            (
                "Shell dce0af is not running, so cannot be killed (status: killed)",
                "shell <hash> is not running, so cannot be killed (status: killed)",
            ),
            (
                "Error: Payment amount does not add up: $1,160.00 vs $1150",
                "error: payment amount does not add up: <amount> vs <amount>",
            ),
            ("Error: user jane.doe@example.com not found", "error: user <email> not found"),
            ("Reservation ABC123 failed on 2024-05-01 at 10:30", "reservation <id> failed on <date> at <time>"),
            ("Author: [REDACTED_EMAIL] rejected", "author: <email> rejected"),
            ("\u{1b}[31merror\u{1b}[0m: could not compile `app`", "error: could not compile <str>"),
            ("Error: No such tool available: AskUserQuestion", "error: no such tool available: askuserquestion"),
            (
                "Error: Flight HAT170 not available on date 2024-05-15",
                "error: flight <id> not available on date <date>",
            ),
            (
                "error[E0425]: cannot find value `x` in this scope",
                "error[e0425]: cannot find value <str> in this scope",
            ),
            ("error TS5057: Cannot find a tsconfig.json file", "error ts5057: cannot find a <file> file"),
            (
                "Error: Payment amount does not add up, total price is 1256, but paid 1200",
                "error: payment amount does not add up, total price is <n>, but paid <n>",
            ),
            ("ModuleNotFoundError: No module named 'app'", "modulenotfounderror: no module named <str>"),
        ];
        for (line, want) in table {
            assert_eq!(k(line), want, "{line}");
        }
        // Same error, different values: one signature.
        let same = [
            ("Error: New item 3778566150 not found or available", "Error: New item 1434748144 not found or available"),
            ("F821 undefined name 'SwitchCoder'", "aider/main.py:10:5: F821 undefined name 'sys'"),
            ("Request failed with status code 403", "Request failed with status code 504"),
            (
                "fatal: The current branch feature/login has no upstream branch.",
                "fatal: The current branch fix/typo has no upstream branch.",
            ),
            (
                "ls: cannot access '/Users/ann/x/*.jsonl': No such file",
                "ls: cannot access '/home/bob/y.jsonl': No such file",
            ),
            ("bash: docker-compose: command not found", "zsh: command not found: docker-compose"),
            ("/bin/sh: 1: python: not found", "bash: python: command not found"),
        ];
        for (a, b) in same {
            assert_eq!(k(a), k(b), "{a} / {b}");
        }
        // Different errors stay apart.
        let apart = [
            ("Error: User not found", "Error: Order not found"),
            ("F821 undefined name 'x'", "F841 local variable 'x' is assigned to but never used"),
            ("String to replace not found in file.", "File has not been read yet. Read it first before writing to it."),
            ("python: command not found", "pytest: command not found"),
            ("Error: user not found", "Error: order not found"),
        ];
        for (a, b) in apart {
            assert_ne!(k(a), k(b), "{a} / {b}");
        }
    }

    #[test]
    fn displays_keep_small_numbers_and_hide_values() {
        let s = error_signature("Found 2 matches of the string to replace, but replace_all is false. To replace all occurrences, set replace_all to true. To replace only one occurrence, please provide more context.");
        assert_eq!(s.display, "Found 2 matches of the string to replace, but replace_all is false.");
        let s = error_signature("npm ERR! Missing script: \"test\"");
        assert_eq!(s.display, "npm ERR! Missing script: <str>");
        assert_eq!(s.display_words, "npm ERR! Missing script: \"test\"");
        let s = error_signature("fatal: The current branch spotter-a0y has no upstream branch.");
        assert!(s.subs.contains(&("spotter-a0y".to_string(), "<branch>")), "{:?}", s.subs);
        assert!(!s.display.contains("spotter"));
        // A format's marker quoted in the error is kept where words are.
        let s = error_signature("^^^ Expected `>>>>>>> REPLACE` not `=======");
        assert_eq!(s.display_words, "Expected `>>>>>>> REPLACE` not `=======");
        assert_eq!(s.display, "Expected <str> not `=======");
        assert!(is_marker("<<<<<<< SEARCH") && is_marker("=======") && !is_marker("src/x.rs") && !is_marker("a--b"));
        let s = error_signature("F811 redefinition of unused 'x' from line 17");
        assert_eq!(s.display, "F811 redefinition of unused <str> from line <n>");
    }

    #[test]
    fn specific_lines_are_told_from_restatements() {
        assert!(!names_specific("The LLM did not conform to the edit format."));
        assert!(!names_specific("Error: the build failed."));
        assert!(!names_specific("fatal: not a git repository"));
        assert!(names_specific("^^^ Expected `>>>>>>> REPLACE` not `======="));
        assert!(names_specific("pytest: command not found"));
        assert!(names_specific("error: could not compile foo_bar"));
        assert!(names_specific("Cannot find module ./util"));
        assert!(names_specific("F821 undefined name x"));
    }

    #[test]
    fn tool_output_lines_are_ranked() {
        assert_eq!(line_rank("Exit code 1"), 0);
        assert_eq!(line_rank("Process exited with code 2"), 0);
        assert_eq!(line_rank("Traceback (most recent call last):"), 0);
        assert_eq!(line_rank("ImportError: cannot import name 'x' from 'y'"), 5);
        assert_eq!(line_rank("## SearchReplaceNoExactMatch: This SEARCH block failed"), 5);
        assert_eq!(line_rank("x.py:3:1: F401 'os' imported but unused"), 4);
        assert_eq!(line_rank("fatal: not a git repository"), 4);
        assert_eq!(line_rank("pytest: command not found"), 3);
        assert_eq!(line_rank("<string>:26: SyntaxWarning: invalid escape sequence '\\!'"), 2);
        assert_eq!(line_rank("please add transformer.js too first"), 1);
        assert_eq!(line_rank("^^^ Expected `>>>>>>> REPLACE` not `======="), 4);
        assert_eq!(line_rank("^C again to exit"), 1);
        assert_eq!(clean_error_line("> ^^^ Expected `>>>>>>> REPLACE`"), "Expected `>>>>>>> REPLACE`");
        assert_eq!(line_rank("No filename provided before ``` in file listing"), 3);
        let lines = ranked_lines("Exit code 127\n/bin/bash: line 1: pytest: command not found\n");
        assert_eq!(lines, vec![("/bin/bash: line 1: pytest: command not found", 3)]);
    }

    #[test]
    fn placeholders_name_values_not_words() {
        for (t, p) in [
            ("aarav.santos8321@example.com", Some("<email>")),
            ("#W9672333", Some("<id>")),
            ("credit_card_7239357", Some("<id>")),
            ("0f8af81", Some("<hash>")),
            ("/Users/dain/workspace/x.py", Some("<path>")),
            ("src/agents/registry.ts", Some("<path>")),
            ("registry.ts", Some("<file>")),
            ("https://example.com/a", Some("<url>")),
            ("$113.71", Some("<amount>")),
            ("1,150", Some("<amount>")),
            ("2025-06-15T00:46:15+01:00", Some("<date>")),
            ("[REDACTED]", Some("<value>")),
            ("F821", None),
            ("python3", None),
            ("os.path", None),
            ("and/or", None),
            ("utf-8", None),
        ] {
            assert_eq!(placeholder(t), p, "{t}");
        }
        assert_eq!(value_shape(&serde_json::json!("#W9502127")), "#W<n>");
        assert_eq!(value_shape(&serde_json::json!("9502127")), "<n>");
        assert_eq!(value_shape(&serde_json::json!(["1684786391"])), "[<n>…]");
        assert_eq!(value_shape(&serde_json::json!("a@b.io")), "<email>");
    }

    #[test]
    fn excerpts_are_verbatim() {
        let l = "Found 2 matches of the string to replace, but replace_all is false.";
        assert_eq!(excerpt(l, 30), "Found 2 matches of the string");
        assert!(l.contains(&excerpt(l, 30)));
        assert_eq!(excerpt("\u{1b}[1mStop hook\u{1b}[22m failed: pyright errors", 80), "[22m failed: pyright errors");
    }
}
