//! Recognizing failed tool calls from their result text, for formats that
//! carry no error flag (OpenAI `role: "tool"` messages) and as a second
//! opinion where they do.

/// True when a tool result's text reads as a failure: shell "command not
/// found", a non-zero exit code, `ERROR`/`Error:` prefixes, and the error
/// lines of npm, cargo, rustc, python, node, go and make.
pub fn looks_like_failure(text: &str) -> bool {
    let head: String = text.chars().take(4000).collect();
    for line in head.lines().take(80) {
        let l = line.trim_start();
        if line_is_failure(l) {
            return true;
        }
    }
    false
}

fn line_is_failure(l: &str) -> bool {
    let lower = l.to_ascii_lowercase();
    if lower.contains("command not found")
        || lower.contains(": not found") && lower.starts_with("sh:")
        || lower.starts_with("no such file or directory")
        || lower.contains("permission denied")
    {
        return true;
    }
    if let Some(code) = exit_code(&lower) {
        return code != 0;
    }
    l.starts_with("ERROR")
        || l.starts_with("Error:")
        || l.starts_with("error:")
        || l.starts_with("error[E")
        || l.starts_with("fatal:")
        || l.starts_with("FAILED")
        || l.starts_with("npm ERR!")
        || l.starts_with("npm error")
        || l.starts_with("Traceback (most recent call last)")
        || l.starts_with("ModuleNotFoundError:")
        || l.starts_with("SyntaxError:")
        || l.starts_with("TypeError:")
        || l.starts_with("ImportError:")
        || l.starts_with("Exception:")
        || l.starts_with("panic:")
        || l.starts_with("make: ***")
        || lower.starts_with("test result: failed")
        || (l.starts_with("thread '") && l.contains("panicked"))
}

/// Parses "exit code N", "exit status N", "exited with code N",
/// "Exit code: N", "returned non-zero exit status N".
fn exit_code(lower: &str) -> Option<i64> {
    for key in ["exit code", "exit status", "exited with code", "exit_code", "non-zero exit status"] {
        if let Some(pos) = lower.find(key) {
            let rest = &lower[pos + key.len()..];
            let rest = rest.trim_start_matches([':', ' ', '=', '\t']);
            let digits: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '-').collect();
            if let Ok(n) = digits.parse::<i64>() {
                return Some(n);
            }
            if key == "non-zero exit status" {
                return Some(1);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::looks_like_failure as f;

    #[test]
    fn failures_from_common_tools_are_recognized() {
        assert!(f("bash: pnpm: command not found"));
        assert!(f("npm ERR! Missing script: \"test\""));
        assert!(f("npm error Missing script: \"lint\""));
        assert!(f("error[E0425]: cannot find value `x`"));
        assert!(f("Compiling foo\nerror: could not compile `foo`"));
        assert!(f("Traceback (most recent call last):\n  File \"x.py\""));
        assert!(f("Process exited with code 2"));
        assert!(f("Exit code: 1"));
        assert!(f("ERROR: relation does not exist"));
        assert!(f("Error: ENOENT"));
    }

    #[test]
    fn successful_output_is_not_a_failure() {
        assert!(!f("Exit code: 0\nall good"));
        assert!(!f("test result: ok. 12 passed; 0 failed"));
        assert!(!f("Found 0 errors."));
        assert!(!f("src/error.rs"));
        assert!(!f(""));
    }
}
