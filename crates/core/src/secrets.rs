//! Secret redaction: API keys, tokens, passwords and private keys never
//! reach memory text or reports. Everything a dream quotes goes through
//! [`redact`].

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

const PREFIXES: &[&str] = &[
    "sk-",
    "sk_live_",
    "sk_test_",
    "rk_live_",
    "pk_live_",
    "ghp_",
    "gho_",
    "ghu_",
    "ghs_",
    "ghr_",
    "github_pat_",
    "glpat-",
    "xoxb-",
    "xoxp-",
    "xoxa-",
    "xapp-",
    "AKIA",
    "ASIA",
    "AIza",
    "npm_",
    "hf_",
    "pypi-",
    "dop_v1_",
    "SG.",
];

const KEY_WORDS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "access_key",
    "secret_key",
    "private_key",
    "client_secret",
    "auth",
    "authorization",
    "bearer",
    "credentials",
];

/// True when `text` contains something [`redact`] would hide.
pub fn contains_secret(text: &str) -> bool {
    redact(text) != text
}

/// Returns `text` with secrets replaced by `[REDACTED]`.
pub fn redact(text: &str) -> String {
    let text = redact_private_keys(text);
    let mut out = String::with_capacity(text.len());
    let mut redact_next = false;
    let mut rest = text.as_str();
    while !rest.is_empty() {
        let ws = rest.find(|c: char| !c.is_whitespace()).unwrap_or(rest.len());
        out.push_str(&rest[..ws]);
        rest = &rest[ws..];
        if rest.is_empty() {
            break;
        }
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = &rest[..end];
        rest = &rest[end..];
        let bare = strip_quotes(word).to_ascii_lowercase();
        if redact_next && (bare == "bearer" || bare == "basic" || bare == "token") {
            out.push_str(word);
            continue;
        }
        if redact_next && looks_like_value(word) {
            let core = strip_quotes(word);
            out.push_str(&word.replacen(core, REDACTED, 1));
            redact_next = false;
            continue;
        }
        let (w, next) = redact_word(word);
        redact_next = next;
        out.push_str(&w);
    }
    out
}

fn strip_quotes(s: &str) -> &str {
    s.trim_matches(|c| c == '"' || c == '\'' || c == '`' || c == ',' || c == ';')
}

fn looks_like_value(word: &str) -> bool {
    let v = strip_quotes(word);
    v.len() >= 6 && !v.ends_with(':') && !v.starts_with('$') && !v.starts_with("<")
}

/// Redacts one whitespace-free word. The flag says the *next* word is a
/// secret value (`password: hunter22`, `Bearer abc...`).
fn redact_word(word: &str) -> (String, bool) {
    // key=value or key:value
    for sep in ['=', ':'] {
        if let Some((k, v)) = word.split_once(sep) {
            let key = strip_quotes(k).to_ascii_lowercase();
            if is_key_word(&key) {
                let v_clean = strip_quotes(v);
                if v_clean.is_empty() {
                    return (word.to_string(), true);
                }
                if looks_like_value(v) && !v_clean.starts_with("//") {
                    return (format!("{k}{sep}{REDACTED}"), false);
                }
            }
        }
    }
    let lower = strip_quotes(word).to_ascii_lowercase();
    if lower == "bearer" || (is_key_word(lower.trim_end_matches(':')) && word.ends_with(':')) {
        return (word.to_string(), true);
    }
    // credentials in URLs: scheme://user:pass@host
    if let Some(p) = word.find("://") {
        let after = &word[p + 3..];
        if let Some(at) = after.find('@') {
            let cred = &after[..at];
            if let Some((user, _)) = cred.split_once(':') {
                return (format!("{}://{user}:{REDACTED}{}", &word[..p], &after[at..]), false);
            }
        }
    }
    let core = strip_quotes(word);
    if is_token(core) {
        return (word.replace(core, REDACTED), false);
    }
    (word.to_string(), false)
}

fn is_key_word(key: &str) -> bool {
    let key = key.trim_start_matches("--").trim_start_matches('-');
    let key = key.rsplit(['.', '_', '-']).next().map_or(key, |last| if KEY_WORDS.contains(&last) { last } else { key });
    KEY_WORDS.iter().any(|k| key == *k || key.ends_with(&format!("_{k}")) || key.ends_with(&format!("-{k}")))
}

fn is_token(w: &str) -> bool {
    for p in PREFIXES {
        if let Some(rest) = w.strip_prefix(p) {
            let body: String = rest.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
            if body.len() >= 12 {
                return true;
            }
        }
    }
    // JWT
    if w.starts_with("eyJ") && w.matches('.').count() == 2 && w.len() > 30 {
        return true;
    }
    // long high-entropy strings of letters and digits (hex/base64 keys)
    let alnum = w.chars().filter(|c| c.is_ascii_alphanumeric()).count();
    if w.len() >= 32 && alnum * 10 >= w.len() * 9 && !w.contains('/') && !w.contains('.') {
        let digits = w.chars().filter(char::is_ascii_digit).count();
        let upper = w.chars().filter(char::is_ascii_uppercase).count();
        let lower = w.chars().filter(char::is_ascii_lowercase).count();
        let classes = [digits, upper, lower].iter().filter(|n| **n > 0).count();
        return classes >= 2 && digits >= 4;
    }
    false
}

fn redact_private_keys(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let header_end = rest[start..].find("-----\n").or_else(|| rest[start + 11..].find("-----").map(|p| p + 11));
        let is_key = rest[start..].lines().next().is_some_and(|l| l.contains("PRIVATE KEY"));
        if !is_key || header_end.is_none() {
            out.push_str(&rest[..start + 11]);
            rest = &rest[start + 11..];
            continue;
        }
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        match rest[start..].find("-----END ") {
            Some(e) => {
                let after = &rest[start + e + 9..];
                let close = after.find("-----").map_or(after.len(), |p| p + 5);
                rest = &after[close..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_token_shapes_are_redacted() {
        for s in [
            "export OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234",
            "use ghp_0123456789abcdefghijklmnopqrstuvwxyz for the push",
            "AKIAIOSFODNN7EXAMPLE is the key",
            "curl -H 'Authorization: Bearer abcdef123456789'",
            "password: hunter2222",
            "postgres://app:s3cretpass@db:5432/app",
            "token=0a1b2c3d4e5f60718293a4b5c6d7e8f9",
        ] {
            let r = redact(s);
            assert!(r.contains(REDACTED), "{s} -> {r}");
            assert!(!r.contains("hunter2222") && !r.contains("s3cretpass") && !r.contains("abcdef123456789"));
        }
    }

    #[test]
    fn private_key_blocks_are_removed_whole() {
        let s = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter";
        let r = redact(s);
        assert!(!r.contains("MIIEpAIBAAKCAQEA"), "{r}");
        assert!(r.contains("after"));
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for s in [
            "Run pnpm test before committing",
            "cargo build --release && ./target/release/app",
            "the token budget is 2000",
            "see https://docs.rs/serde/latest/serde/",
            "src/components/UserProfileSettingsPanel.tsx",
        ] {
            assert_eq!(redact(s), s);
        }
    }
}
