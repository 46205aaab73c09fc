//! Failures a result shows though its source did not flag them.
//!
//! A shell call can go wrong and still end with exit status 0: its output
//! went through a pipe (`… 2>&1 | tail -5` reports the status of `tail`),
//! or the interpreter only warned. Such a result is a failure of the
//! agent's own command when its output says so *about that command* — not
//! when it merely contains error words:
//!
//! - **inline code** ([`Inline`]: `python -c "…"`, `node -e '…'`, a script
//!   fed through a heredoc): a diagnostic located in that code — a Python
//!   `SyntaxWarning` (or an `invalid escape sequence` warning of any
//!   category) at `<string>:N`/`<stdin>:N`, a traceback whose innermost
//!   frame is `File "<string>"`, a `SyntaxError` there; node's `[eval]:N`
//!   errors, ruby's `-e:N:`, perl's `at -e line N`. A warning of a library
//!   the code imported (a `DeprecationWarning` in `site-packages`) and a
//!   traceback raised inside a library (a bug the agent reproduces) are
//!   not the agent's code going wrong;
//! - **the shell**: `X: command not found` (bash, sh, zsh, `(eval)` forms)
//!   for a program `X` the command line runs, and `X: …: No such file or
//!   directory` from a command `X` of the line about an operand the line
//!   names — unless `X` only probes for existence (`ls`, `test`, `stat`…)
//!   or the line expects the failure (`… || …`);
//! - **a hidden build or test failure**: error lines (an `error:` prefix, a
//!   compiler or lint code, a named exception, a test runner's failure
//!   summary) in the output of a build, test, lint or install tool whose
//!   output the line pipes on (the pipe hid its status). A search's or a
//!   file viewer's output (`grep -rn error`, `cat log`) is content, never
//!   an error; a failing test run stays a test failure (see
//!   [`crate::actions`]), not a mistake.
//!
//! File tools and service calls are judged by their flag alone: a file the
//! agent read that contains a traceback is the file's content.
//!
//! The **source diagnostics** of inline code (a syntax error or warning,
//! an invalid escape) are about the code as the interpreter received it,
//! whatever runner started it: they group under the interpreter and its
//! flag (`python -c`, see [`Inline::op`]). For an invalid escape sequence
//! `\C` the lesson is derived from the code: when the agent wrote `C` but
//! not `\C`, the shell (or the harness running it) rewrote the character
//! inside the quotes the code stands in — avoid it there, or pass the code
//! through a heredoc or a file ([`escape_lesson`]); when the agent wrote
//! `\C` itself, its string literal needs the backslash doubled or a raw
//! string.

use crate::text::{self, Cmd};

/// Code a command hands an interpreter on its command line or its stdin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inline {
    /// The interpreter family: `python`, `node`, `ruby`, `perl`.
    pub interpreter: String,
    /// How the code is given: `-c`, `-e`, `-p`, or `<<` (a heredoc).
    pub flag: String,
    /// The code as the agent wrote it (the call's input).
    pub code: String,
    /// The shell quote the code stands in (`"` or `'`), for a flag.
    pub quote: Option<char>,
}

impl Inline {
    /// The operation source diagnostics group under: `python -c`, `node -e`,
    /// `python <<` (a heredoc).
    pub fn op(&self) -> String {
        format!("{} {}", self.interpreter, self.flag)
    }

    /// The command as a lesson shows it: ``python -c "…"``.
    pub fn shown(&self) -> String {
        match self.quote {
            Some(q) => format!("{} {} {q}…{q}", self.interpreter, self.flag),
            None if self.flag == "<<" => format!("{} <<EOF", self.interpreter),
            None => self.op(),
        }
    }

    /// Where the interpreter reports a location in this code.
    fn markers(&self) -> &'static [&'static str] {
        match (self.interpreter.as_str(), self.flag.as_str()) {
            ("python", "<<") => &["<stdin>"],
            ("python", _) => &["<string>"],
            ("node", "<<") => &["[stdin]"],
            ("node", _) => &["[eval]"],
            _ => &["-e"],
        }
    }
}

/// The interpreter family of a command word (`python3.11` → `python`).
fn interpreter(word: &str) -> Option<&'static str> {
    let b = word.rsplit(['/', '\\']).next().unwrap_or(word);
    let rest = b.strip_prefix("python").map(|r| r.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.'));
    if rest == Some("") {
        return Some("python");
    }
    match b {
        "node" | "nodejs" => Some("node"),
        "ruby" => Some("ruby"),
        "perl" => Some("perl"),
        _ => None,
    }
}

/// The flags that take inline code, by interpreter.
fn code_flags(interp: &str) -> &'static [&'static str] {
    match interp {
        "python" => &["-c"],
        "node" => &["-e", "--eval", "-p", "--print"],
        _ => &["-e", "-E"],
    }
}

/// Words that start another command (`uv run python`, `timeout 30 node`).
const RUNNERS: &[&str] = &[
    "uv", "run", "poetry", "pipenv", "pdm", "rye", "hatch", "conda", "mamba", "pixi", "exec", "env", "sudo", "time",
    "nice", "nohup", "timeout", "xvfb-run", "docker", "compose", "bundle",
];

/// The heredoc body that follows `<<DELIM` in `line` (from `from` on).
fn heredoc_body(line: &str, from: usize) -> Option<String> {
    let rest = line.get(from..)?;
    let at = rest.find("<<")?;
    let after = rest.get(at + 2..)?.trim_start_matches('-').trim_start();
    let delim: String = after
        .chars()
        .take_while(|c| !c.is_whitespace() && !";&|<>()".contains(*c))
        .filter(|c| !matches!(c, '\'' | '"' | '\\'))
        .collect();
    if delim.is_empty() {
        return None;
    }
    let body_start = rest.get(at..)?.find('\n')? + at + 1;
    let body = rest.get(body_start..)?;
    let end = body.lines().position(|l| l.trim() == delim).unwrap_or(body.lines().count());
    Some(body.lines().take(end).collect::<Vec<_>>().join("\n"))
}

/// The inline code of a command of `line` (the call's whole command line,
/// `cmd` one of its commands), if it runs any.
pub fn inline_code(line: &str, cmd: &Cmd) -> Option<Inline> {
    let (pos, interp) = cmd.words.iter().enumerate().find_map(|(i, w)| Some((i, interpreter(w)?)))?;
    // The interpreter is the command, or what a runner starts (`uv run python`),
    // not a word another command reads (`grep python -c x`).
    let runner = |w: &String| {
        RUNNERS.contains(&w.as_str()) || w.starts_with('-') || w.chars().all(|c| c.is_ascii_digit() || c == '.')
    };
    if !cmd.words.iter().take(pos).all(runner) {
        return None;
    }
    let flags = code_flags(interp);
    for w in cmd.words.iter().skip(pos + 1) {
        if flags.contains(&w.as_str()) {
            let code = cmd.words.iter().skip_while(|x| *x != w).nth(1)?.clone();
            // The quote the code stands in: the first character after the flag.
            let quote = cmd
                .raw
                .find(&format!("{w} "))
                .and_then(|p| cmd.raw.get(p + w.len()..))
                .and_then(|r| r.trim_start().chars().next())
                .filter(|c| *c == '"' || *c == '\'');
            return Some(Inline { interpreter: interp.to_string(), flag: w.clone(), code, quote });
        }
        if !w.starts_with('-') {
            // A script file: not inline code.
            return None;
        }
    }
    // `python3 - <<'EOF'` or `python3 <<EOF`: the code is the heredoc body.
    let start = line.find(cmd.raw.as_str()).unwrap_or(0);
    let opens = cmd.raw.contains("<<") && !cmd.raw.contains("<<<");
    if !opens {
        return None;
    }
    let code = heredoc_body(line, start)?;
    Some(Inline { interpreter: interp.to_string(), flag: "<<".into(), code, quote: None })
}

/// A diagnostic about the code itself, not its run: a syntax error or
/// warning, an invalid escape sequence.
pub fn is_source_diagnostic(line: &str) -> bool {
    let l = line.to_ascii_lowercase();
    ["syntaxerror", "syntaxwarning", "indentationerror", "taberror", "invalid escape sequence", "syntax error at -e"]
        .iter()
        .any(|m| l.contains(m))
}

/// An exception line (`ImportError: cannot import name 'x'`, `KeyError`):
/// an identifier naming an error, then its message.
fn exception_line(line: &str) -> bool {
    let name = line.split(':').next().unwrap_or("");
    let last = name.rsplit('.').next().unwrap_or(name);
    !name.is_empty()
        && !name.contains(char::is_whitespace)
        && last.chars().next().is_some_and(|c| c.is_ascii_uppercase())
        && last.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && ["Error", "Exception", "Exit", "Interrupt", "Warning"].iter().any(|s| last.ends_with(s))
        && (line.len() == name.len() || line.get(name.len()..).is_some_and(|r| r.starts_with(": ")))
}

/// `<string>:38: SyntaxWarning: invalid escape sequence '\!'`: a warning
/// located in the inline code that is about its text.
fn inline_warning(line: &str, markers: &[&str]) -> bool {
    let Some(rest) = markers.iter().find_map(|m| line.strip_prefix(m)?.strip_prefix(':')) else { return false };
    let digits = rest.chars().take_while(char::is_ascii_digit).count();
    let Some(msg) = rest.get(digits..).and_then(|r| r.strip_prefix(": ")) else { return false };
    let category = msg.split(':').next().unwrap_or("");
    digits > 0
        && category.ends_with("Warning")
        && (category == "SyntaxWarning" || msg.contains("invalid escape sequence"))
}

/// The lines of `text` that report an error or a source warning located in
/// the inline code (see the module docs), verbatim and trimmed.
pub fn inline_diagnostics<'t>(text: &'t str, inline: &Inline) -> Vec<&'t str> {
    let markers = inline.markers();
    let mut out: Vec<&str> = Vec::new();
    // Python: the file of the innermost frame seen so far.
    let mut frame: Option<bool> = None;
    // Node: an `[eval]:N` header opens an error report about the code.
    let mut header = false;
    let lines: Vec<&str> = text.lines().take(400).collect();
    for (i, raw) in lines.iter().enumerate() {
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        match inline.interpreter.as_str() {
            "python" => {
                if inline_warning(l, markers) {
                    out.push(l);
                } else if let Some(f) = l.strip_prefix("File \"") {
                    let file = f.split('"').next().unwrap_or("");
                    frame = Some(markers.contains(&file));
                } else if l.starts_with("Traceback (most recent call last)") {
                    frame = None;
                } else if !raw.starts_with(char::is_whitespace) && exception_line(l) {
                    if frame == Some(true) {
                        out.push(l);
                    }
                    frame = None;
                }
            }
            "node" => {
                if markers.iter().any(|m| l.strip_prefix(m).and_then(|r| r.strip_prefix(':')).is_some()) {
                    header = true;
                } else if exception_line(l) {
                    // The top frame of its stack, when it has one.
                    let top = lines.iter().skip(i + 1).map(|x| x.trim()).find(|x| x.starts_with("at "));
                    if header || top.is_some_and(|t| markers.iter().any(|m| t.contains(m))) {
                        out.push(l);
                    }
                    header = false;
                }
            }
            _ => {
                let at_e =
                    l.starts_with("-e:") && l.get(3..).is_some_and(|r| r.starts_with(|c: char| c.is_ascii_digit()));
                if at_e || l.contains(" at -e line ") {
                    out.push(l);
                }
            }
        }
    }
    out.dedup();
    out
}

/// Commands that only look whether something exists: their "No such file"
/// is an answer.
const PROBES: &[&str] =
    &["ls", "test", "[", "stat", "find", "file", "which", "type", "realpath", "readlink", "du", "tree", "fd", "exa"];

const SHELLS: &[&str] =
    &["bash:", "sh:", "zsh:", "dash:", "ksh:", "/bin/bash:", "/bin/sh:", "/usr/bin/bash:", "/bin/zsh:", "(eval):"];

/// The program a shell reports missing (`bash: line 1: X: command not
/// found`, `zsh: command not found: X`, `sh: 1: X: not found`).
fn missing_program(clean: &str) -> Option<&str> {
    if let Some(x) = clean.strip_prefix("command not found: ") {
        return Some(x.trim());
    }
    let x = clean.strip_suffix(": command not found").or_else(|| clean.strip_suffix(": not found"))?;
    (!x.contains(char::is_whitespace)).then_some(x)
}

/// Lines of `text` in which the shell or a command of the line reports
/// that the command itself could not run (see the module docs).
pub fn shell_errors<'t>(text: &'t str, line: &str, cmds: &[Cmd]) -> Vec<&'t str> {
    if line.contains("||") {
        return Vec::new();
    }
    let runs = |name: &str| {
        cmds.iter()
            .any(|c| c.verb == name || c.words.first().is_some_and(|w| w == name || w.ends_with(&format!("/{name}"))))
    };
    let mut out = Vec::new();
    for l in text.lines().take(300).map(str::trim) {
        let lower = l.to_ascii_lowercase();
        let from_shell = SHELLS.iter().any(|s| lower.starts_with(s));
        let clean = text::clean_error_line(l);
        if lower.contains("not found") {
            let own = cmds.iter().any(|c| lower.starts_with(&format!("{}:", c.verb)));
            if missing_program(&clean).is_some_and(|p| (from_shell || own) && runs(p)) {
                out.push(l);
            }
            continue;
        }
        if !lower.contains("no such file or directory") {
            continue;
        }
        // `X: <operand>: No such file or directory`, `(eval):cd:1: no such file or directory: test`.
        let clean_lower = clean.to_ascii_lowercase();
        let Some(c) = cmds.iter().find(|c| {
            !c.verb.is_empty()
                && (lower.starts_with(&format!("{}:", c.verb)) || from_shell)
                && clean_lower.starts_with(&format!("{}:", c.verb))
        }) else {
            continue;
        };
        if PROBES.contains(&c.verb.as_str()) {
            continue;
        }
        let rest = clean.get(c.verb.len() + 1..).unwrap_or("");
        let named = rest
            .split(|ch: char| ch.is_whitespace() || matches!(ch, ':' | '\'' | '"' | '`' | '‘' | '’'))
            .filter(|w| {
                w.len() >= 2
                    && !matches!(
                        w.to_ascii_lowercase().as_str(),
                        "no" | "such" | "file" | "or" | "directory" | "can't" | "cannot" | "open" | "access" | "errno"
                    )
            })
            .any(|w| {
                let b = w.rsplit('/').next().unwrap_or(w);
                b.len() >= 2 && c.raw.contains(b)
            });
        if named {
            out.push(l);
        }
    }
    out
}

/// Tools whose output is the content of something (files, a search, a
/// page), never the tool's own error report.
const CONTENT: &[&str] = &[
    "grep", "egrep", "rg", "ag", "ack", "cat", "bat", "head", "tail", "sed", "awk", "less", "more", "jq", "nl", "cut",
    "strings", "xxd", "od", "curl", "wget", "echo", "printf", "diff", "git", "find", "ls", "tree", "wc", "sort",
];

/// The command of the line whose output the line pipes on (its exit status
/// hidden), when it is a build, test, lint or install tool.
pub fn hidden_runner(cmds: &[Cmd]) -> Option<&Cmd> {
    cmds.iter().find(|c| {
        c.piped
            && !c.is_trivial()
            && !CONTENT.contains(&c.verb.as_str())
            && crate::passes::conventions::role_of(&c.words).is_some()
    })
}

/// The escape sequence an `invalid escape sequence '\C'` diagnostic names.
pub fn escape_of(line: &str) -> Option<String> {
    let p = line.find("invalid escape sequence")?;
    let rest = line.get(p + "invalid escape sequence".len()..)?.trim_start();
    let q = rest.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'))?;
    let inner = rest.get(q.len_utf8()..)?;
    let end = inner.find(q)?;
    let seq = inner.get(..end)?;
    (seq.starts_with('\\') && (2..=4).contains(&seq.chars().count())).then(|| seq.to_string())
}

/// The signature of a source diagnostic of inline code: as
/// [`text::error_signature`], but an escape sequence it names is kept — it
/// is the mistake, not a value of one session.
pub fn source_signature(line: &str) -> text::ErrorSig {
    let mut sig = text::error_signature(line);
    if let Some(seq) = escape_of(line) {
        let quoted = format!("'{seq}'");
        sig.key = sig.key.replacen("<str>", &quoted, 1);
        sig.display = sig.display.replacen("<str>", &quoted, 1);
        sig.display_words = sig.display_words.replacen("<str>", &quoted, 1);
    }
    sig
}

/// The lesson of an invalid escape sequence in inline code, derived from
/// the code (see the module docs); `None` when the diagnostic names no
/// escape or the code does not tell who wrote it.
pub fn escape_lesson(tool: &str, inline: &Inline, line: &str) -> Option<String> {
    let seq = escape_of(line)?;
    let c = seq.strip_prefix('\\')?;
    let sig = text::clean_error_line(line);
    let shell = if !tool.is_empty() && tool.len() <= 12 && tool.chars().all(|c| c.is_ascii_alphabetic()) {
        tool.to_string()
    } else {
        "the shell".to_string()
    };
    let shown = inline.shown();
    if inline.code.contains(&seq) {
        // The agent wrote the backslash: its string literal is wrong.
        return Some(format!(
            "`{shown}` fails with '{sig}': the code writes `{seq}` in a string literal; double the backslash or use a raw string."
        ));
    }
    if !inline.code.contains(c) {
        return None;
    }
    let quotes = match inline.quote {
        Some('"') => "inside double quotes",
        Some(_) => "inside single quotes",
        None => "in the script",
    };
    Some(format!(
        "In {shell}, `{shown}` with `{c}` {quotes} gets `{seq}` ({sig}): avoid `{c}` in inline scripts, or use a heredoc or a file."
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmds(line: &str) -> Vec<Cmd> {
        text::parse_commands(line)
    }

    fn inline(line: &str) -> Option<Inline> {
        cmds(line).iter().find_map(|c| inline_code(line, c))
    }

    #[test]
    fn inline_code_is_found_behind_runners_and_in_heredocs() {
        let i = inline("uv run python -c \"print('hi!')\" 2>&1 | head -5").unwrap();
        assert_eq!((i.op(), i.code.as_str(), i.quote), ("python -c".to_string(), "print('hi!')", Some('"')));
        assert_eq!(i.shown(), "python -c \"…\"");
        let i = inline("python3 - <<'EOF'\nimport sys\nprint(sys.argv)\nEOF").unwrap();
        assert_eq!((i.op(), i.code.as_str()), ("python <<".to_string(), "import sys\nprint(sys.argv)"));
        assert_eq!(inline("node -e 'console.log(1)'").map(|i| i.op()), Some("node -e".into()));
        // A script file is no inline code.
        assert_eq!(inline("python scripts/check.py -c config.toml"), None);
        assert_eq!(inline("pytest -q"), None);
        assert_eq!(inline("grep python -c notes.txt"), None, "python is grep's pattern here");
    }

    #[test]
    fn a_source_warning_located_in_the_inline_code_is_found() {
        let i = inline("python -c \"print('done!')\"").unwrap();
        let out = "done\\!\n<string>:1: SyntaxWarning: invalid escape sequence '\\!'";
        assert_eq!(inline_diagnostics(out, &i), vec!["<string>:1: SyntaxWarning: invalid escape sequence '\\!'"]);
        // Python 3.6-3.11 called it a DeprecationWarning.
        let old = "<string>:3: DeprecationWarning: invalid escape sequence '\\d'";
        assert_eq!(inline_diagnostics(old, &i), vec![old]);
    }

    #[test]
    fn warnings_of_libraries_and_of_apis_are_not_the_codes_mistake() {
        let i = inline("python -c \"import pkg; pkg.run()\"").unwrap();
        let lib = "/home/u/.venv/lib/python3.12/site-packages/pkg/core.py:12: DeprecationWarning: invalid escape sequence '\\s'\n  PATTERN = '\\s+'\nok";
        assert!(inline_diagnostics(lib, &i).is_empty());
        let api = "<string>:1: DeprecationWarning: datetime.datetime.utcnow() is deprecated";
        assert!(inline_diagnostics(api, &i).is_empty());
        let node = "(node:36706) Warning: The 'NO_COLOR' env is ignored due to the 'FORCE_COLOR' env being set.";
        let n = inline("node -e 'run()'").unwrap();
        assert!(inline_diagnostics(node, &n).is_empty());
    }

    #[test]
    fn a_traceback_counts_when_its_innermost_frame_is_the_inline_code() {
        let i = inline("uv run python -c \"from app.parser import load\" | head").unwrap();
        let own = "Traceback (most recent call last):\n  File \"<string>\", line 3, in <module>\nImportError: cannot import name 'load' from 'app.parser' (/src/app/parser.py)";
        assert_eq!(
            inline_diagnostics(own, &i),
            vec!["ImportError: cannot import name 'load' from 'app.parser' (/src/app/parser.py)"]
        );
        // Raised inside a library the code called: a bug reproduced, not the code's mistake.
        let lib = "Traceback (most recent call last):\n  File \"<string>\", line 1, in <module>\n  File \"/src/app/parser.py\", line 40, in load\n    raise ValueError('bad header')\nValueError: bad header";
        assert!(inline_diagnostics(lib, &i).is_empty());
        let syntax = "  File \"<string>\", line 2\n    print(f'{x['a']}')\n              ^\nSyntaxError: f-string: unmatched '['";
        assert_eq!(inline_diagnostics(syntax, &i), vec!["SyntaxError: f-string: unmatched '['"]);
        let n = inline("node -e 'consol.log(1)'").unwrap();
        let ne = "[eval]:1\nconsol.log(1)\n^\n\nReferenceError: consol is not defined\n    at [eval]:1:1";
        assert_eq!(inline_diagnostics(ne, &n), vec!["ReferenceError: consol is not defined"]);
    }

    #[test]
    fn shell_errors_name_a_program_or_operand_of_the_line() {
        let line = "pytest -x 2>&1 | tail -3";
        assert_eq!(
            shell_errors("/bin/bash: line 1: pytest: command not found", line, &cmds(line)),
            vec!["/bin/bash: line 1: pytest: command not found"]
        );
        let line = "cd test && uv run python -c 'x'";
        assert_eq!(shell_errors("(eval):cd:1: no such file or directory: test", line, &cmds(line)).len(), 1);
        let line = "cat notes/todo.md | head";
        assert_eq!(shell_errors("cat: notes/todo.md: No such file or directory", line, &cmds(line)).len(), 1);
        // A file's content that quotes a shell error is content.
        let line = "grep -rn 'not found' docs | head";
        let out = "docs/faq.md:12: bash: pnpm: command not found\ndocs/faq.md:20: cat: x: No such file or directory";
        assert!(shell_errors(out, line, &cmds(line)).is_empty());
        let line = "cat docs/faq.md";
        assert!(shell_errors("bash: pnpm: command not found", line, &cmds(line)).is_empty(), "pnpm is not run here");
        // Probes and expected failures answer a question.
        let line = "ls build/out | head";
        assert!(shell_errors("ls: build/out: No such file or directory", line, &cmds(line)).is_empty());
        let line = "cat .env || echo 'no env'";
        assert!(shell_errors("cat: .env: No such file or directory\nno env", line, &cmds(line)).is_empty());
    }

    #[test]
    fn a_hidden_runner_is_a_build_or_test_tool_whose_output_is_piped() {
        assert_eq!(hidden_runner(&cmds("cargo build 2>&1 | tail -20")).map(|c| c.key.as_str()), Some("cargo build"));
        assert_eq!(hidden_runner(&cmds("uv run pytest -q | tail")).map(|c| c.verb.as_str()), Some("uv"));
        assert!(hidden_runner(&cmds("cargo build")).is_none(), "not piped: its status is the call's");
        assert!(hidden_runner(&cmds("grep -rn error src | head")).is_none());
        assert!(hidden_runner(&cmds("cat build.log | grep error")).is_none());
    }

    #[test]
    fn source_signatures_keep_the_escape_sequence() {
        let s = source_signature("<string>:38: SyntaxWarning: invalid escape sequence '\\!'");
        assert_eq!(s.key, "syntaxwarning: invalid escape sequence '\\!'");
        assert_eq!(s.display, "SyntaxWarning: invalid escape sequence '\\!'");
        let other = source_signature("<string>:17: SyntaxWarning: invalid escape sequence '\\!'");
        assert_eq!(s.key, other.key, "the line number is a value of one run");
        assert_ne!(s.key, source_signature("<string>:2: SyntaxWarning: invalid escape sequence '\\d'").key);
        assert_eq!(escape_of("SyntaxWarning: \"is\" with a literal"), None);
    }

    #[test]
    fn the_escape_lesson_says_who_wrote_the_backslash() {
        let line = "<string>:38: SyntaxWarning: invalid escape sequence '\\!'";
        let i = inline("python -c \"print('All passed!')\"").unwrap();
        assert_eq!(
            escape_lesson("Bash", &i, line).as_deref(),
            Some("In Bash, `python -c \"…\"` with `!` inside double quotes gets `\\!` (SyntaxWarning: invalid escape sequence '\\!'): avoid `!` in inline scripts, or use a heredoc or a file.")
        );
        let i = inline("python -c \"import re; print(re.findall('\\d+', 'a1'))\"").unwrap();
        let d = "<string>:1: SyntaxWarning: invalid escape sequence '\\d'";
        assert_eq!(
            escape_lesson("exec_command", &i, d).as_deref(),
            Some("`python -c \"…\"` fails with 'SyntaxWarning: invalid escape sequence '\\d'': the code writes `\\d` in a string literal; double the backslash or use a raw string.")
        );
        // Neither written nor rewritten: nothing to derive.
        let i = inline("python -c \"print(1)\"").unwrap();
        assert_eq!(escape_lesson("Bash", &i, line), None);
    }
}
