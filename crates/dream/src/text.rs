//! Text utilities: tokenizing, stemming, stop words, shell-command
//! normalization and RFC 3339 parsing. Pure functions, no allocation tricks.

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

fn split_segments(s: &str) -> Vec<String> {
    // Split on && || ; and newlines; keep the part before a single pipe.
    let mut segs = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut piped = false;
    while let Some(&c) = chars.get(i) {
        let next = chars.get(i + 1).copied();
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if !piped {
                    cur.push(c);
                }
            }
            None => {
                if c == '"' || c == '\'' {
                    quote = Some(c);
                    if !piped {
                        cur.push(c);
                    }
                } else if (c == '&' && next == Some('&')) || (c == '|' && next == Some('|')) {
                    segs.push(std::mem::take(&mut cur));
                    piped = false;
                    i += 1;
                } else if c == ';' || c == '\n' {
                    segs.push(std::mem::take(&mut cur));
                    piped = false;
                } else if c == '|' {
                    piped = true;
                } else if !piped {
                    cur.push(c);
                }
            }
        }
        i += 1;
    }
    segs.push(cur);
    segs.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()
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

/// Normalizes a shell command line (see [`Cmd`]). `None` for empty input.
pub fn parse_command(line: &str) -> Option<Cmd> {
    let segs = split_segments(line);
    let mut chosen: Option<Vec<String>> = None;
    let mut last_any: Option<Vec<String>> = None;
    for s in &segs {
        let w = clean_words(s);
        let Some(first) = w.first() else { continue };
        let verb = basename(first).to_string();
        last_any = Some(w.clone());
        if !TRIVIAL_VERBS.contains(&verb.as_str()) {
            chosen = Some(w);
        }
    }
    let words = chosen.or(last_any)?;
    let first = words.first()?;
    let verb = basename(first).to_lowercase();
    let mut key = vec![verb.clone()];
    let mut flags = Vec::new();
    let mut collecting = true;
    let mut limit = 1;
    let interp = INTERPRETERS.contains(&verb.as_str());
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
    Some(Cmd { main, key, verb, flags, tokens })
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
}
