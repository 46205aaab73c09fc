//! Secret redaction: API keys, tokens, passwords and private keys never
//! reach memory text, reports or exports. Everything a dream quotes goes
//! through [`redact`]; memory writes refuse text for which
//! [`contains_secret`] is true.
//!
//! A hand-written single-pass scanner (no regex engine): the text is split
//! into words of `[A-Za-z0-9_.-]`, and each word is checked against
//!
//! - **known token shapes** by prefix (`ghp_`, `github_pat_`, `glpat-`,
//!   `xoxb-`, `sk-`, `sk-ant-`, `sk_live_`, `AKIA…`, `AIza…`, `npm_`,
//!   `hf_`, `noc_`…, see [`PREFIXES`]), JWTs (`eyJ….eyJ….…`);
//! - **assignments** whose key names a secret: `KEY=value`, `key: value`,
//!   `"key": "value"`, `key => 'value'`, `key := "value"` in any position
//!   (env, shell, JSON, YAML, INI, TOML, code, URL query), where the key
//!   ends in `password`, `passwd`, `passphrase`, `_pwd`, `_pass`, `secret`,
//!   `token`, `api_key`, `access_key`, `secret_key`, `private_key`, `auth`,
//!   `authorization`, `credentials` or (for random-looking values only)
//!   `_key`;
//! - **flags**: `--password x`, `--password=x`, `--token x`,
//!   `--api-key=x`…, `mysql -pSECRET`, `sshpass -p x`;
//! - **`Bearer x`** and **`Authorization: Basic x`**;
//!
//! plus three searches over the whole text: credentials in URLs
//! (`postgres://user:pass@host`), PEM private key blocks, and bare
//! 40-character AWS secret access keys.
//!
//! What is *not* a secret matters as much: values that are code
//! (`password=password`, `token: string`, `apiKey: env.API_KEY`,
//! `password=os.getenv("X")`), references (`$DB_PASS`, `${{ secrets.X }}`,
//! `<token>`), placeholders (`xxx`, `***`, `your-api-key`), prose
//! (`password: reset it`), hashes and UUIDs are left alone. The table-driven
//! tests below list both sides.

use std::borrow::Cow;

/// What replaces a secret.
pub const REDACTED: &str = "[REDACTED]";

/// Which rule found a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SecretKind {
    /// A `-----BEGIN … PRIVATE KEY-----` block.
    PrivateKey,
    /// A provider token recognized by its prefix (GitHub, Slack, OpenAI…).
    ProviderToken,
    /// A JSON Web Token.
    Jwt,
    /// The password of `scheme://user:password@host`.
    UrlPassword,
    /// The value of `Bearer …` or `Authorization: Basic …`.
    AuthHeader,
    /// The value of an assignment whose key names a secret.
    Assignment,
    /// The value of a `--password`/`--token`-like flag, or `mysql -pX`.
    Flag,
    /// A bare 40-character AWS secret access key.
    AwsSecret,
}

impl SecretKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SecretKind::PrivateKey => "private_key",
            SecretKind::ProviderToken => "provider_token",
            SecretKind::Jwt => "jwt",
            SecretKind::UrlPassword => "url_password",
            SecretKind::AuthHeader => "auth_header",
            SecretKind::Assignment => "assignment",
            SecretKind::Flag => "flag",
            SecretKind::AwsSecret => "aws_secret",
        }
    }
}

/// One secret: the byte range of `text` that [`redact`] replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Finding {
    pub start: usize,
    pub end: usize,
    pub kind: SecretKind,
}

/// A provider token prefix: the prefix, the least number of characters
/// after it, and whether `.` belongs to the token.
pub struct Prefix {
    pub prefix: &'static str,
    pub min_body: usize,
    pub dots: bool,
}

const fn p(prefix: &'static str, min_body: usize) -> Prefix {
    Prefix { prefix, min_body, dots: false }
}

/// Token shapes recognized by their prefix. The body must also mix letters
/// and digits or cases (so `sk-learn-is-a-library` is left alone).
pub const PREFIXES: &[Prefix] = &[
    // Anthropic, OpenAI (legacy, project, service account).
    p("sk-ant-", 20),
    p("sk-proj-", 20),
    p("sk-svcacct-", 20),
    p("sk-", 20),
    // Stripe secret and restricted keys, webhook secrets.
    p("sk_live_", 16),
    p("sk_test_", 16),
    p("rk_live_", 16),
    p("rk_test_", 16),
    p("whsec_", 20),
    // GitHub.
    p("ghp_", 30),
    p("gho_", 30),
    p("ghu_", 30),
    p("ghs_", 30),
    p("ghr_", 30),
    p("github_pat_", 30),
    // GitLab.
    p("glpat-", 20),
    p("gldt-", 20),
    p("glrt-", 20),
    p("glptt-", 20),
    // Slack.
    p("xoxb-", 10),
    p("xoxp-", 10),
    p("xoxa-", 10),
    p("xoxr-", 10),
    p("xoxs-", 10),
    p("xoxe-", 10),
    p("xapp-", 10),
    // Google: API keys, OAuth client secrets and access tokens.
    p("AIza", 30),
    p("GOCSPX-", 20),
    Prefix { prefix: "ya29.", min_body: 30, dots: true },
    // npm, PyPI, Hugging Face, DigitalOcean, Shopify, Groq, Replicate, Perplexity, xAI, Databricks.
    p("npm_", 30),
    p("pypi-", 50),
    p("hf_", 30),
    p("dop_v1_", 40),
    p("doo_v1_", 40),
    p("shpat_", 30),
    p("shpss_", 30),
    p("gsk_", 30),
    p("r8_", 30),
    p("pplx-", 30),
    p("xai-", 30),
    p("dapi", 30),
    // SendGrid (`SG.<22>.<43>`).
    Prefix { prefix: "SG.", min_body: 40, dots: true },
    // Nocturne's own tokens.
    p("noc_", 32),
];

/// AWS access key id prefixes: the prefix and exactly 16 of `[A-Z0-9]`.
const AWS_KEY_IDS: &[&str] =
    &["AKIA", "ASIA", "ABIA", "ACCA", "AGPA", "AIDA", "AIPA", "ANPA", "ANVA", "APKA", "AROA", "ASCA"];

/// True when `text` contains something [`redact`] would hide.
pub fn contains_secret(text: &str) -> bool {
    !find(text).is_empty()
}

/// Returns `text` with secrets replaced by `[REDACTED]`.
pub fn redact(text: &str) -> String {
    redact_cow(text).into_owned()
}

/// Like [`redact`], borrowing `text` when there is nothing to hide.
pub fn redact_cow(text: &str) -> Cow<'_, str> {
    let found = find(text);
    if found.is_empty() {
        return Cow::Borrowed(text);
    }
    let mut out = replace(text, &found);
    // Removing a secret can expose a neighbour that its boundary hid
    // (`ghp_…/` + 40 base64 characters); a few more passes settle it.
    for _ in 0..3 {
        let again = find(&out);
        if again.is_empty() {
            break;
        }
        out = replace(&out, &again);
    }
    Cow::Owned(out)
}

fn replace(text: &str, found: &[Finding]) -> String {
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for f in found {
        out.push_str(text.get(at..f.start).unwrap_or(""));
        out.push_str(REDACTED);
        at = f.end;
    }
    out.push_str(text.get(at..).unwrap_or(""));
    out
}

/// Every secret in `text`, in order, not overlapping. Every range starts
/// and ends on an ASCII byte (or the end of the text), so it is always a
/// `str` boundary, and never inside a JSON escape sequence.
pub fn find(text: &str) -> Vec<Finding> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    scan_words(b, &mut out);
    if text.contains("://") {
        scan_urls(text, &mut out);
    }
    if text.contains("-----BEGIN ") {
        scan_pem(text, &mut out);
    }
    if out.len() > 1 {
        out.sort_by_key(|f| (f.start, std::cmp::Reverse(f.end)));
        let mut merged: Vec<Finding> = Vec::with_capacity(out.len());
        for f in out {
            match merged.last_mut() {
                Some(last) if f.start <= last.end => last.end = last.end.max(f.end),
                _ => merged.push(f),
            }
        }
        return merged;
    }
    out
}

// --- bytes ---

fn at(b: &[u8], i: usize) -> u8 {
    b.get(i).copied().unwrap_or(0)
}

fn sub(b: &[u8], from: usize, to: usize) -> &[u8] {
    b.get(from..to.min(b.len())).unwrap_or(&[])
}

/// Byte classes: bit 1 `[A-Za-z0-9_.-]`, bit 2 `[A-Za-z0-9+/]`.
const CLASS: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut c = 0;
    while c < 256 {
        let b = c as u8;
        let alnum = b.is_ascii_alphanumeric();
        if alnum || b == b'_' || b == b'-' || b == b'.' {
            t[c] |= 1;
        }
        if alnum || b == b'+' || b == b'/' {
            t[c] |= 2;
        }
        c += 1;
    }
    t
};

/// `[A-Za-z0-9_.-]`: the characters of keys and most tokens.
fn is_word(c: u8) -> bool {
    CLASS.get(usize::from(c)).is_some_and(|t| t & 1 != 0)
}

/// `[A-Za-z0-9+/]`: standard base64 (AWS secret keys).
fn is_b64(c: u8) -> bool {
    CLASS.get(usize::from(c)).is_some_and(|t| t & 2 != 0)
}

fn starts_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && sub(hay, 0, needle.len()).eq_ignore_ascii_case(needle)
}

fn ends_with_ci(hay: &[u8], needle: &[u8]) -> bool {
    hay.len() >= needle.len() && sub(hay, hay.len() - needle.len(), hay.len()).eq_ignore_ascii_case(needle)
}

fn contains_ci(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle))
}

/// Shannon entropy in bits per byte.
fn entropy(v: &[u8]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &c in v {
        if let Some(n) = counts.get_mut(usize::from(c)) {
            *n += 1;
        }
    }
    let len = v.len() as f64;
    counts.iter().filter(|&&n| n > 0).map(|&n| f64::from(n) / len).map(|p| -p * p.log2()).sum()
}

struct Classes {
    upper: usize,
    lower: usize,
    digit: usize,
    other: usize,
}

fn classes(v: &[u8]) -> Classes {
    let mut c = Classes { upper: 0, lower: 0, digit: 0, other: 0 };
    for &x in v {
        if x.is_ascii_uppercase() {
            c.upper += 1;
        } else if x.is_ascii_lowercase() {
            c.lower += 1;
        } else if x.is_ascii_digit() {
            c.digit += 1;
        } else {
            c.other += 1;
        }
    }
    c
}

// --- words ---

fn scan_words(b: &[u8], out: &mut Vec<Finding>) {
    let n = b.len();
    let mut i = 0;
    while i < n {
        // Skip to the next word, then to its end.
        match b.get(i..).and_then(|r| r.iter().position(|&c| is_word(c))) {
            Some(p) => i += p,
            None => break,
        }
        let start = i;
        i += b.get(i..).map_or(0, |r| r.iter().position(|&c| !is_word(c)).unwrap_or(r.len()));
        let prev = if start == 0 { 0 } else { at(b, start - 1) };
        // A 40-character base64 run starts here only if the word is that
        // long or goes on past a `/` or `+`.
        if (i - start >= 40 || matches!(at(b, i), b'/' | b'+')) && at(b, start).is_ascii_alphanumeric() && !is_b64(prev)
        {
            aws_secret(b, start, out);
        }
        word(b, start, i, out);
    }
}

/// Checks the word `b[start..end]` (maximal over [`is_word`]).
fn word(b: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    let w = sub(b, start, end);
    if let Some(e) = provider_token(b, start, end) {
        out.push(Finding { start, end: e, kind: SecretKind::ProviderToken });
        return;
    }
    if let Some(e) = jwt(w) {
        out.push(Finding { start, end: start + e, kind: SecretKind::Jwt });
        return;
    }
    if w.eq_ignore_ascii_case(b"bearer") || w.eq_ignore_ascii_case(b"basic") {
        auth_scheme(b, start, end, out);
        return;
    }
    if w.len() > 2 && at(w, 0) == b'-' && at(w, 1) == b'p' && at(w, 2) != b'-' {
        mysql_password(b, start, end, out);
    }
    if w == b"-p" {
        sshpass(b, start, end, out);
        return;
    }
    let dashes = w.iter().take_while(|&&c| c == b'-').count();
    let key = sub(w, dashes, w.len());
    if let Some(class) = key_class(key) {
        if dashes > 0 {
            flag(b, end, class, out);
        } else {
            assignment(b, start, end, class, out);
        }
    }
}

/// `ghp_…`, `sk-…`, `AKIA…`: the end of the token.
fn provider_token(b: &[u8], start: usize, end: usize) -> Option<usize> {
    let w = sub(b, start, end);
    let first = at(w, 0);
    if !starts_a_token(first, at(w, 1)) {
        return None;
    }
    if first == b'A' && w.len() >= 20 {
        if let Some(e) = aws_key_id(w) {
            return Some(start + e);
        }
    }
    for pf in PREFIXES {
        let pre = pf.prefix.as_bytes();
        if at(pre, 0) != first || !w.starts_with(pre) {
            continue;
        }
        let body_start = pre.len();
        let mut e = body_start;
        while e < w.len() {
            let c = at(w, e);
            if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || (pf.dots && c == b'.') {
                e += 1;
            } else {
                break;
            }
        }
        // A token does not end on `-`, `_` or `.` (`sk-…-` of a longer word is not one).
        while e > body_start && matches!(at(w, e - 1), b'-' | b'_' | b'.') {
            e -= 1;
        }
        let body = sub(w, body_start, e);
        let c = classes(body);
        let mixed = (c.digit > 0 && c.upper + c.lower > 0) || (c.upper > 0 && c.lower > 0);
        if body.len() >= pf.min_body && mixed && !is_identifier_words(body) {
            return Some(start + e);
        }
        // A longer prefix may match (`sk-ant-` before `sk-`); the table lists those first.
        return None;
    }
    None
}

/// The first two bytes of every prefix, as a bit set (most words start
/// with none of them, and skip the prefix table).
const PAIRS: [u64; 1024] = {
    let mut set = [0u64; 1024];
    let mut i = 0;
    while i < PREFIXES.len() {
        let b = PREFIXES[i].prefix.as_bytes();
        let pair = (b[0] as usize) << 8 | b[1] as usize;
        set[pair / 64] |= 1 << (pair % 64);
        i += 1;
    }
    let mut j = 0;
    while j < AWS_KEY_IDS.len() {
        let b = AWS_KEY_IDS[j].as_bytes();
        let pair = (b[0] as usize) << 8 | b[1] as usize;
        set[pair / 64] |= 1 << (pair % 64);
        j += 1;
    }
    set
};

fn starts_a_token(b0: u8, b1: u8) -> bool {
    let pair = usize::from(b0) << 8 | usize::from(b1);
    PAIRS.get(pair / 64).is_some_and(|w| w & (1 << (pair % 64)) != 0)
}

/// `snake_case_words-or-kebab-case` made only of lowercase letters: a name, not a token.
fn is_identifier_words(v: &[u8]) -> bool {
    v.iter().all(|c| c.is_ascii_lowercase() || matches!(c, b'_' | b'-'))
}

/// `AKIA` + exactly 16 of `[A-Z0-9]`.
fn aws_key_id(w: &[u8]) -> Option<usize> {
    if !AWS_KEY_IDS.iter().any(|p| w.starts_with(p.as_bytes())) {
        return None;
    }
    let body = sub(w, 4, 20);
    let ok = body.len() == 16 && body.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let next = at(w, 20);
    (ok && !(next.is_ascii_alphanumeric() || next == b'_')).then_some(20)
}

/// `eyJ….eyJ….sig`: the end of the token within the word.
fn jwt(w: &[u8]) -> Option<usize> {
    if !w.starts_with(b"eyJ") {
        return None;
    }
    let mut parts = [0usize; 3];
    let mut part = 0;
    let mut i = 0;
    while i < w.len() {
        let c = at(w, i);
        if c == b'.' {
            part += 1;
            if part > 2 {
                break;
            }
        } else if c.is_ascii_alphanumeric() || c == b'_' || c == b'-' {
            if let Some(n) = parts.get_mut(part) {
                *n += 1;
            }
        } else {
            break;
        }
        i += 1;
    }
    let [h, p, _] = parts;
    (part >= 2 && h >= 10 && p >= 10).then_some(i)
}

/// `Bearer TOKEN`; `Basic CREDENTIALS` after `Authorization` on the same line.
fn auth_scheme(b: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    let basic = at(b, start) | 0x20 == b'b' && sub(b, start, end).eq_ignore_ascii_case(b"basic");
    if basic {
        let line_start = sub(b, 0, start).iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
        if !contains_ci(sub(b, line_start.max(start.saturating_sub(200)), start), b"authorization") {
            return;
        }
    }
    let mut i = end;
    let mut spaces = 0;
    while at(b, i) == b' ' || at(b, i) == b'\t' {
        i += 1;
        spaces += 1;
    }
    if spaces == 0 {
        return;
    }
    let vs = i;
    while i < b.len() {
        let c = at(b, i);
        if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~' | b'+' | b'/' | b'=') {
            i += 1;
        } else {
            break;
        }
    }
    let v = sub(b, vs, i);
    if v.len() < 8 || is_placeholder(v) || at(b, i) == b'(' {
        return;
    }
    let c = classes(v);
    let tokenish = if basic {
        c.upper + c.lower > 0 && (c.digit > 0 || (c.upper > 0 && c.lower > 0))
    } else {
        c.upper + c.lower > 0 && (c.digit > 0 || v.len() >= 20)
    };
    if tokenish && !is_code_path(v) {
        out.push(Finding { start: vs, end: i, kind: SecretKind::AuthHeader });
    }
}

/// `mysql … -pSECRET` (the attached form; `-p SECRET` would prompt).
fn mysql_password(b: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    if start > 0 && !matches!(at(b, start - 1), b' ' | b'\t' | b'"' | b'\'') {
        return;
    }
    let line_start = sub(b, 0, start).iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
    let before = sub(b, line_start.max(start.saturating_sub(300)), start);
    if !(contains_ci(before, b"mysql") || contains_ci(before, b"mariadb")) {
        return;
    }
    // The value runs to the next whitespace or closing quote: passwords have symbols.
    let mut e = end;
    while e < b.len() && !matches!(at(b, e), b' ' | b'\t' | b'\n' | b'\r' | b'"' | b'\'' | b'`' | b'\\') {
        e += 1;
    }
    let v = sub(b, start + 2, e);
    // Even `-pSECRET`: a word, but given to mysql it is the password.
    if !v.is_empty() && !is_reference(v) && !contains_ci(v, b"redacted") {
        out.push(Finding { start: start + 2, end: e, kind: SecretKind::Flag });
    }
}

/// `sshpass -p SECRET`, `docker login -p SECRET`.
fn sshpass(b: &[u8], start: usize, end: usize, out: &mut Vec<Finding>) {
    let line_start = sub(b, 0, start).iter().rposition(|&c| c == b'\n').map_or(0, |p| p + 1);
    let before = sub(b, line_start.max(start.saturating_sub(300)), start);
    if !(contains_ci(before, b"sshpass") || contains_ci(before, b"docker login")) {
        return;
    }
    flag(b, end, KeyClass::Password, out);
}

// --- keys ---

/// What a key's name says about its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyClass {
    /// A password: any value that is not code, a reference or a placeholder.
    Password,
    /// A token, secret or API key: the value must look like one (letters
    /// and digits, or mixed case).
    Secret,
    /// Any other `_key`: only random-looking values.
    Key,
}

/// The class of a key, from its last component.
fn key_class(key: &[u8]) -> Option<KeyClass> {
    if key.len() < 3 {
        return None;
    }
    // Quick reject: every class ends in one of these letters.
    let last = at(key, key.len() - 1) | 0x20;
    if !matches!(last, b'd' | b'e' | b's' | b't' | b'n' | b'y' | b'h') {
        return None;
    }
    // `a.b.password`, `options.token`: the last dotted part is the key.
    let key = match key.iter().rposition(|&c| c == b'.') {
        Some(p) => sub(key, p + 1, key.len()),
        None => key,
    };
    let n = key.len();
    // A boundary before the suffix: start, a separator, or camelCase (`dbPass`).
    let boundary = |suffix: usize| -> bool {
        if suffix >= n {
            return suffix == n;
        }
        let at_s = n - suffix;
        at_s == 0
            || matches!(at(key, at_s - 1), b'_' | b'-')
            || (at(key, at_s).is_ascii_uppercase() && at(key, at_s - 1).is_ascii_lowercase())
    };
    let ends = |s: &[u8]| ends_with_ci(key, s);
    if ends(b"password") || ends(b"passwd") || ends(b"passphrase") {
        return Some(KeyClass::Password);
    }
    if (ends(b"pwd") && boundary(3) && n > 3) || (ends(b"pass") && boundary(4)) {
        return Some(KeyClass::Password);
    }
    if ends(b"secret") || ends(b"token") || ends(b"credentials") || ends(b"authorization") {
        return Some(KeyClass::Secret);
    }
    if ends(b"auth") && boundary(4) {
        return Some(KeyClass::Secret);
    }
    if ends(b"key") && n > 3 {
        // `api_key`, `apiKey`, `api-key`, `x-api-key`, `AWS_SECRET_ACCESS_KEY`, `private_key`...
        let stem = sub(key, 0, n - 3);
        let stem = stem.strip_suffix(b"_").or_else(|| stem.strip_suffix(b"-")).unwrap_or(stem);
        for s in [&b"api"[..], b"access", b"secret", b"private", b"master", b"signing", b"encryption", b"client"] {
            if ends_with_ci(stem, s) {
                return Some(KeyClass::Secret);
            }
        }
        if boundary(3) {
            return Some(KeyClass::Key);
        }
    }
    None
}

/// Where a value starts and ends, and how it was written.
struct Value {
    start: usize,
    end: usize,
    quoted: bool,
    /// The byte after the value (after the closing quote, if quoted).
    after: usize,
}

/// `key = value`, `"key": "value"`, `key => 'v'`, `key: v`…
fn assignment(b: &[u8], key_start: usize, key_end: usize, class: KeyClass, out: &mut Vec<Finding>) {
    let mut i = key_end;
    // The key's closing quote (`"password":`, `\"password\":`, `['password'] =`).
    if at(b, i) == b'\\' && matches!(at(b, i + 1), b'"' | b'\'') {
        i += 2;
    } else if matches!(at(b, i), b'"' | b'\'' | b'`') {
        i += 1;
    }
    if at(b, i) == b']' {
        i += 1;
    }
    while matches!(at(b, i), b' ' | b'\t') {
        i += 1;
    }
    let sep = at(b, i);
    match sep {
        b'=' => {
            // `==`, `=~` compare; `=>` assigns (Ruby, PHP).
            if matches!(at(b, i + 1), b'=' | b'~') {
                return;
            }
            i += if at(b, i + 1) == b'>' { 2 } else { 1 };
        }
        b':' => {
            // `::` is a path; `:=` assigns.
            if at(b, i + 1) == b':' {
                return;
            }
            i += if at(b, i + 1) == b'=' { 2 } else { 1 };
        }
        _ => return,
    }
    // A `:` separator must not be part of a URL or a time (`token:8080`, `http://`).
    if sep == b':' && at(b, i) == b'/' {
        return;
    }
    while matches!(at(b, i), b' ' | b'\t') {
        i += 1;
    }
    let Some(v) = value_at(b, i) else { return };
    let key = sub(b, key_start, key_end);
    // `pass` is also a verb: as a key it is quoted, starts its line or takes `=`
    // (`they all pass: ...` is prose).
    if key.eq_ignore_ascii_case(b"pass") {
        if sep == b':' && !key_position(b, key_start) {
            return;
        }
        // `pass: "duplicates"`, `"pass":"recurring_mistakes"`: a field naming a pass or step.
        if is_identifier_words(sub(b, v.start, v.end)) {
            return;
        }
    }
    if value_is_secret(b, &v, class, key, sep) {
        out.push(Finding { start: v.start, end: v.end, kind: SecretKind::Assignment });
    }
}

/// `--password x`, `--password=x`, `--token "x"`.
fn flag(b: &[u8], key_end: usize, class: KeyClass, out: &mut Vec<Finding>) {
    let mut i = key_end;
    match at(b, i) {
        b'=' => i += 1,
        b' ' | b'\t' => {
            while matches!(at(b, i), b' ' | b'\t') {
                i += 1;
            }
        }
        _ => return,
    }
    if at(b, i) == b'-' {
        return;
    }
    let Some(v) = value_at(b, i) else { return };
    let text = sub(b, v.start, v.end);
    let secret = match class {
        KeyClass::Password => !is_placeholder(text) && !is_reference(text) && !is_code(text, v.quoted),
        KeyClass::Secret => token_like(text, v.quoted),
        KeyClass::Key => random_like(text),
    };
    if secret {
        out.push(Finding { start: v.start, end: v.end, kind: SecretKind::Flag });
    }
}

/// The value starting at `i`: quoted (`"…"`, `'…'`, `` `…` ``, `\"…\"`) up
/// to its closing quote on the same line, else up to whitespace or a
/// delimiter.
fn value_at(b: &[u8], i: usize) -> Option<Value> {
    let c = at(b, i);
    let (quote, escaped, open) = match c {
        b'"' | b'\'' | b'`' => (c, false, 1),
        b'\\' if matches!(at(b, i + 1), b'"' | b'\'') => (at(b, i + 1), true, 2),
        _ => (0, false, 0),
    };
    if quote != 0 {
        let vs = i + open;
        let mut j = vs;
        while j < b.len() && j - vs < 2048 {
            let x = at(b, j);
            if x == b'\n' || x == b'\r' {
                break;
            }
            if escaped {
                if x == b'\\' && at(b, j + 1) == quote {
                    return Some(Value { start: vs, end: j, quoted: true, after: j + 2 });
                }
                if x == b'\\' {
                    j += 2;
                    continue;
                }
            } else if x == b'\\' {
                j += 2;
                continue;
            } else if x == quote {
                return Some(Value { start: vs, end: j, quoted: true, after: j + 1 });
            }
            j += 1;
        }
        return None;
    }
    let mut j = i;
    while j < b.len() {
        let x = at(b, j);
        if x.is_ascii_whitespace() || matches!(x, b'"' | b'\'' | b'`' | b',' | b';' | b')' | b'}' | b']' | b'&' | b'\\')
        {
            break;
        }
        if x == b'<' || x == b'>' {
            break;
        }
        j += 1;
    }
    (j > i).then_some(Value { start: i, end: j, quoted: false, after: j })
}

/// The key at `start` is quoted, or first on its line (after indentation,
/// `- ` or `export `).
fn key_position(b: &[u8], start: usize) -> bool {
    let before = sub(b, 0, start);
    if matches!(before.last(), Some(b'"' | b'\'' | b'`')) {
        return true;
    }
    let line = before.iter().rposition(|&c| c == b'\n').map_or(before, |p| sub(before, p + 1, before.len()));
    let rest = line.iter().skip_while(|c| matches!(c, b' ' | b'\t' | b'-' | b'#')).copied().collect::<Vec<u8>>();
    rest.is_empty() || rest == b"export "
}

fn value_is_secret(b: &[u8], v: &Value, class: KeyClass, key: &[u8], sep: u8) -> bool {
    let text = sub(b, v.start, v.end);
    if text.is_empty() || is_placeholder(text) || is_reference(text) {
        return false;
    }
    // `they pass:"}],` in JSON: a value has letters or digits, and does not
    // start with the end of a structure.
    if !text.iter().any(u8::is_ascii_alphanumeric) || matches!(at(text, 0), b'}' | b']' | b',' | b':' | b';') {
        return false;
    }
    // `token: z.string()`, `password: str`, `key?: string`.
    if !v.quoted && is_code(text, false) {
        return false;
    }
    match class {
        KeyClass::Password => {
            if text.len() > 256 {
                return false;
            }
            // `pass: 3` in a test summary, `pass=1 fail=0`.
            if ends_with_ci(key, b"pass") && text.iter().all(u8::is_ascii_digit) {
                return false;
            }
            if v.quoted {
                !is_prose(text) && !is_code(text, true)
            } else {
                let prose = sep == b':' && prose_follows(b, v);
                !(is_code_word(b, v, key) || looks_like_path(text) || prose)
            }
        }
        KeyClass::Secret | KeyClass::Key if !v.quoted && is_identifier(text) => false,
        KeyClass::Secret => token_like(text, v.quoted),
        KeyClass::Key => random_like(text),
    }
}

/// `[A-Za-z_]+`: a name in code (`apiKeyValue`, `DEFAULT_TOKEN`).
fn is_identifier(v: &[u8]) -> bool {
    !v.is_empty() && v.iter().all(|c| c.is_ascii_alphabetic() || *c == b'_')
}

/// `./run`, `src/cart.test.ts`, `/etc/app.conf`: a file path.
fn looks_like_path(v: &[u8]) -> bool {
    if v.starts_with(b"./") || v.starts_with(b"../") || v.starts_with(b"~/") || (at(v, 0) == b'/' && v.len() > 1) {
        return true;
    }
    let last = v.rsplit(|&c| c == b'/').next().unwrap_or(v);
    v.contains(&b'/')
        && last.iter().rposition(|&c| c == b'.').is_some_and(|d| {
            let ext = sub(last, d + 1, last.len());
            (1..=5).contains(&ext.len()) && ext.iter().all(u8::is_ascii_alphanumeric)
        })
}

/// `$VAR`, `${VAR}`, `{{ secrets.X }}`, `%(pw)s`, `<password>`, `process.env.X`.
fn is_reference(v: &[u8]) -> bool {
    matches!(at(v, 0), b'$' | b'<' | b'%' | b'{' | b'@' | b'#' | b'&' | b'*' | b'[' | b'(' | b'!' | b'?' | b'|')
        || starts_with_ci(v, b"process.env")
        || starts_with_ci(v, b"os.environ")
        || starts_with_ci(v, b"env.")
        || starts_with_ci(v, b"env(")
        || starts_with_ci(v, b"secrets.")
}

/// Masks, empty or example values: `xxx`, `***`, `…`, `your-api-key`,
/// `null`, `[REDACTED]`.
fn is_placeholder(v: &[u8]) -> bool {
    if v.is_empty() || v.starts_with(REDACTED.as_bytes()) || contains_ci(v, b"redacted") {
        return true;
    }
    if v.len() >= 3 && v.iter().all(|c| matches!(c, b'x' | b'X' | b'*' | b'.' | b'#' | b'-' | b'_' | b'0' | b'?')) {
        return true;
    }
    if v.starts_with("…".as_bytes()) || v.ends_with(b"...") || v.ends_with("…".as_bytes()) {
        return true;
    }
    // A Nocturne token *id* (`token:tok-1a2b3c4d`, the author of a revision) is public.
    if v.len() == 12 && v.starts_with(b"tok-") && sub(v, 4, 12).iter().all(u8::is_ascii_hexdigit) {
        return true;
    }
    if starts_with_ci(v, b"your")
        || starts_with_ci(v, b"<your")
        || ends_with_ci(v, b"_here")
        || ends_with_ci(v, b"-here")
    {
        return true;
    }
    const WORDS: &[&[u8]] = &[
        b"none",
        b"null",
        b"nil",
        b"undefined",
        b"true",
        b"false",
        b"yes",
        b"no",
        b"on",
        b"off",
        b"required",
        b"optional",
        b"empty",
        b"string",
        b"str",
        b"number",
        b"int",
        b"integer",
        b"bool",
        b"boolean",
        b"any",
        b"unknown",
        b"object",
        b"bytes",
        b"text",
        b"char",
        b"varchar",
        b"secret",
        b"secrets",
        b"password",
        b"passwd",
        b"pass",
        b"pwd",
        b"token",
        b"key",
        b"apikey",
        b"api_key",
        b"hidden",
        b"masked",
        b"omitted",
        b"not-required",
        b"not_required",
        b"placeholder",
        b"example",
        b"default",
        b"dummy",
        b"test",
        b"stdin",
        b"prompt",
        b"env",
        b"file",
    ];
    WORDS.iter().any(|w| v.eq_ignore_ascii_case(w))
}

/// Type names and code that are not values: `string`, `str`,
/// `Option<String>`, `z.string()`, `self.password`, `getpass()`.
fn is_code(v: &[u8], quoted: bool) -> bool {
    if quoted {
        // A quoted template or format string.
        return v.windows(2).any(|w| w == b"${" || w == b"{{" || w == b"#{") || (at(v, 0) == b'{' && v.ends_with(b"}"));
    }
    if v.iter().any(|c| matches!(c, b'(' | b'[' | b'{' | b'<')) {
        return true;
    }
    if v.ends_with(b"?") || at(v, 0) == b'?' || at(v, 0) == b':' || at(v, 0) == b'=' {
        return true;
    }
    is_code_path(v)
}

/// `a.b.c` where every part is an identifier without digits: a property
/// path, not a secret (`self.password`, `config.apiKey`, `args.token`).
fn is_code_path(v: &[u8]) -> bool {
    let mut parts = 0;
    for part in v.split(|&c| c == b'.') {
        let ident = !part.is_empty()
            && (at(part, 0).is_ascii_alphabetic() || at(part, 0) == b'_')
            && part.iter().all(|c| c.is_ascii_alphabetic() || *c == b'_');
        if !ident {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

/// An unquoted password value that reads as code: an identifier that
/// repeats a secret word or the key (`password=new_password`,
/// `password=pwd`), is camelCase or snake_case without digits
/// (`password=userPassword`), or a letters-only identifier followed by
/// `,`, `)` or `}` (`{ password: value }`).
fn is_code_word(b: &[u8], v: &Value, key: &[u8]) -> bool {
    let text = sub(b, v.start, v.end);
    let ident = (at(text, 0).is_ascii_alphabetic() || at(text, 0) == b'_')
        && text.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if !ident {
        return false;
    }
    if text.eq_ignore_ascii_case(key) || key.rsplit(|&c| c == b'.').next().is_some_and(|k| text.eq_ignore_ascii_case(k))
    {
        return true;
    }
    let c = classes(text);
    let camel = text.windows(2).any(|w| at(w, 0).is_ascii_lowercase() && at(w, 1).is_ascii_uppercase());
    let named = camel || text.contains(&b'_');
    if named && c.digit == 0 {
        return true;
    }
    if named
        && [&b"pass"[..], b"pwd", b"secret", b"token", b"key", b"cred", b"auth"].iter().any(|w| contains_ci(text, w))
    {
        return true;
    }
    if c.digit == 0 {
        let mut j = v.after;
        while matches!(at(b, j), b' ' | b'\t') {
            j += 1;
        }
        if matches!(at(b, j), b',' | b')' | b'}' | b';' | b'|' | b'?' | b'+' | b'&') {
            return true;
        }
    }
    false
}

/// `password: reset it from the settings page`, `Second pass: Match the
/// output`: a letters-only word after `:` with more on its line is prose
/// (a YAML or header value ends the line).
fn prose_follows(b: &[u8], v: &Value) -> bool {
    let text = sub(b, v.start, v.end);
    if !text.iter().all(u8::is_ascii_alphabetic) {
        return false;
    }
    let mut j = v.after;
    if at(b, j) != b' ' {
        return false;
    }
    while at(b, j) == b' ' || at(b, j) == b'\t' {
        j += 1;
    }
    !matches!(at(b, j), 0 | b'\n' | b'\r' | b'#')
}

/// Quoted natural language: `"Forgot password?"`, `"Enter your token"`.
fn is_prose(v: &[u8]) -> bool {
    if v.iter().any(u8::is_ascii_digit) {
        return false;
    }
    let words = v.split(|c| c.is_ascii_whitespace()).filter(|w| !w.is_empty()).count();
    words >= 2 && v.iter().filter(|c| c.is_ascii_alphabetic()).count() * 10 >= v.len() * 7
}

/// A token or API key: at least 8 characters without spaces, mixing
/// letters and digits or (12 or more) both cases; not an identifier
/// (`ProxyHandled` is code when unquoted).
fn token_like(v: &[u8], quoted: bool) -> bool {
    if v.len() < 8 || v.len() > 4096 || v.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    if is_placeholder(v) || is_reference(v) || is_code(v, quoted) {
        return false;
    }
    let c = classes(v);
    let letters = c.upper + c.lower;
    if letters == 0 {
        return false;
    }
    if c.digit > 0 {
        // A version or a date is not a token (`v1.2.3-beta`, `2024-01-02T10:00`).
        return !(c.digit * 2 >= v.len() && v.iter().all(|x| x.is_ascii_digit() || b".-:_Tv".contains(x)));
    }
    v.len() >= 12 && c.upper > 0 && c.lower > 0 && c.other == 0 && !camel_words(v)
}

/// `ProxyHandled`, `NotRequired`: a few capitalized words.
fn camel_words(v: &[u8]) -> bool {
    let uppers = v.iter().filter(|c| c.is_ascii_uppercase()).count();
    at(v, 0).is_ascii_uppercase() && uppers <= 3 && v.len() >= uppers * 4
}

/// Random-looking: 20+ characters, letters and digits, high entropy.
fn random_like(v: &[u8]) -> bool {
    if v.len() < 20 || v.len() > 4096 || v.iter().any(u8::is_ascii_whitespace) {
        return false;
    }
    if is_placeholder(v) || is_reference(v) || is_code(v, true) || is_code_path(v) {
        return false;
    }
    let c = classes(v);
    c.digit > 0 && c.upper + c.lower > 0 && entropy(v) >= 3.7 && !v.contains(&b'/')
}

// --- whole-text searches ---

/// A bare 40-character AWS secret access key: exactly 40 of `[A-Za-z0-9+/]`,
/// all three classes, not hex, many class changes (random, not words).
fn aws_secret(b: &[u8], start: usize, out: &mut Vec<Finding>) {
    let mut e = start;
    while e < b.len() && is_b64(at(b, e)) && e - start <= 40 {
        e += 1;
    }
    if e - start != 40 {
        return;
    }
    let next = at(b, e);
    let after = at(b, e + 1);
    let ok_next = !(is_b64(next) || matches!(next, b'=' | b'_' | b'-' | b'%'))
        && !(next == b'.' && (after.is_ascii_alphanumeric() || after == b'_'));
    if !ok_next {
        return;
    }
    let v = sub(b, start, e);
    let c = classes(v);
    if c.upper == 0 || c.lower == 0 || c.digit == 0 {
        return;
    }
    if v.iter().all(u8::is_ascii_hexdigit) || v.starts_with(b"/") || v.windows(2).any(|w| w == b"//") {
        return;
    }
    let class_of = |x: u8| {
        if x.is_ascii_uppercase() {
            0
        } else if x.is_ascii_lowercase() {
            1
        } else if x.is_ascii_digit() {
            2
        } else {
            3
        }
    };
    let changes = v.windows(2).filter(|w| class_of(at(w, 0)) != class_of(at(w, 1))).count();
    // A path (`src/main/java/com/Example2/...`) has long lowercase runs.
    let slashes = v.iter().filter(|&&x| x == b'/').count();
    if changes >= 12 && slashes <= 3 && entropy(v) >= 4.0 {
        out.push(Finding { start, end: e, kind: SecretKind::AwsSecret });
    }
}

/// `scheme://user:password@host`.
fn scan_urls(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    for (p, _) in text.match_indices("://") {
        let scheme_len =
            sub(b, 0, p).iter().rev().take_while(|c| c.is_ascii_alphanumeric() || b"+.-".contains(c)).count();
        if scheme_len < 2 {
            continue;
        }
        let s = p + 3;
        let mut e = s;
        let mut colon = None;
        let mut at_sign = None;
        while e < b.len() && e - s < 512 {
            let c = at(b, e);
            if c.is_ascii_whitespace() || matches!(c, b'/' | b'?' | b'#' | b'"' | b'\'' | b'<' | b'>' | b'\\' | b'`') {
                break;
            }
            if c == b':' && colon.is_none() {
                colon = Some(e);
            }
            if c == b'@' {
                at_sign = Some(e);
            }
            e += 1;
        }
        let (Some(c), Some(a)) = (colon, at_sign) else { continue };
        if c + 1 >= a {
            continue;
        }
        let pw = sub(b, c + 1, a);
        if is_placeholder(pw) || is_reference(pw) {
            continue;
        }
        out.push(Finding { start: c + 1, end: a, kind: SecretKind::UrlPassword });
    }
}

/// `-----BEGIN … PRIVATE KEY-----` to the matching `-----END …-----` (or
/// the end of the text), with real or escaped (`\n`) newlines.
fn scan_pem(text: &str, out: &mut Vec<Finding>) {
    let b = text.as_bytes();
    let mut from = 0;
    while let Some(rel) = text.get(from..).and_then(|t| t.find("-----BEGIN ")) {
        let start = from + rel;
        let head_end = text.get(start + 11..).and_then(|t| t.find("-----")).map(|p| start + 11 + p);
        let Some(head_end) = head_end.filter(|&h| h - start < 80) else {
            from = start + 11;
            continue;
        };
        // A real header (`RSA PRIVATE KEY`, `OPENSSH PRIVATE KEY`…) is followed by its
        // body on the next line; a mention in prose (`-----BEGIN … PRIVATE KEY-----`) is not.
        let label = sub(b, start + 11, head_end);
        let after = sub(b, head_end + 5, head_end + 7);
        let real = label.iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b' ')
            && (at(after, 0) == b'\n' || after == b"\r\n" || after == b"\\n");
        if !real || !contains_ci(label, b"PRIVATE KEY") {
            from = head_end;
            continue;
        }
        let end = match text.get(head_end + 5..).and_then(|t| t.find("-----END ")) {
            Some(p) => {
                let e = head_end + 5 + p + 9;
                text.get(e..).and_then(|t| t.find("-----")).map_or(text.len(), |q| e + q + 5)
            }
            None => text.len(),
        };
        out.push(Finding { start, end, kind: SecretKind::PrivateKey });
        from = end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each case: the text, and the secrets that must not survive.
    const POSITIVE: &[(&str, &[&str])] = &[
        // AWS: key ids, the credentials file, env, a bare secret.
        ("AKIAIOSFODNN7EXAMPLE is the key", &["AKIAIOSFODNN7EXAMPLE"]),
        ("aws_access_key_id = AKIAIOSFODNN7EXAMPLE", &["AKIAIOSFODNN7EXAMPLE"]),
        (
            "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            &["AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
        ),
        ("export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", &["wJalrXUtnFEMI"]),
        ("the secret is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY, keep it", &["wJalrXUtnFEMI"]),
        ("AWS_SESSION_TOKEN=FwoGZXIvYXdzEJr//////////wEaDH7x1example9Kz", &["FwoGZXIvYXdzEJr"]),
        // Provider tokens.
        ("use ghp_0123456789abcdefghijklmnopqrstuvwxyz for the push", &["ghp_0123456789"]),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789ABCD", &["github_pat_11ABC"]),
        ("GITLAB_TOKEN=glpat-xY7z9AbCdEfGhIjKlMnO", &["glpat-xY7z9"]),
        ("slack: xoxb-2048-1024-ABCDEFghijklmnop", &["xoxb-2048"]),
        ("export OPENAI_API_KEY=sk-proj-abcdefghijklmnop1234ABCDEFGH", &["sk-proj-abcdef"]),
        ("ANTHROPIC_API_KEY=sk-ant-api03-AbCdEf0123456789_ghIJklmnOPQRstuv-wxYZ", &["sk-ant-api03"]),
        ("stripe.api_key = \"sk_live_51H8abcDEFghiJKLmno\"", &["sk_live_51H8"]),
        ("key=AIzaSyA1b2C3d4E5f6G7h8I9j0KlMnOpQrStUvW", &["AIzaSyA1b2"]),
        ("NPM_TOKEN=npm_aBcDeF0123456789aBcDeF0123456789abcd", &["npm_aBcDeF"]),
        ("HF_TOKEN=hf_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", &["hf_AbCdEf"]),
        ("open http://127.0.0.1:7777/?token=noc_0123456789abcdef0123456789abcdef0123456789abcdef", &["noc_0123"]),
        // JWTs, Authorization headers.
        (
            "token eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
            &["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "dozjgNryP4J3"],
        ),
        ("curl -H 'Authorization: Bearer abcdef123456789'", &["abcdef123456789"]),
        ("Authorization: Basic YWxhZGRpbjpvcGVuc2VzYW1l", &["YWxhZGRpbjpvcGVuc2VzYW1l"]),
        ("headers = {\"Authorization\": \"Bearer 9f8e7d6c5b4a39281706\"}", &["9f8e7d6c5b4a39281706"]),
        ("x-api-key: 4f3c2b1a0f9e8d7c6b5a", &["4f3c2b1a0f9e8d7c6b5a"]),
        // Passwords: env, shell, INI, YAML, TOML, JSON, code, flags, URLs.
        ("password: hunter2222", &["hunter2222"]),
        ("password = x", &["= x"]),
        ("password = hunter2", &["hunter2"]),
        ("db_password=s3cr3t!", &["s3cr3t!"]),
        ("PGPASSWORD=s3cretpw psql -h db -U app", &["s3cretpw"]),
        ("DB_PASS=correcthorse ./run", &["correcthorse"]),
        ("SMTP_PASS='mail pass 2'", &["mail pass 2"]),
        ("MYSQL_PWD=toor mysql -u root", &["toor"]),
        ("MYSQL_ROOT_PASSWORD: example123", &["example123"]),
        ("{\"password\": \"hunter2\", \"user\": \"bob\"}", &["hunter2"]),
        ("{\"user\": \"bob\", \"password\": \"hunter2\"}", &["hunter2"]),
        ("{\\\"password\\\":\\\"hunter2\\\"}", &["hunter2"]),
        ("  password: \"p@ss w0rd\"", &["p@ss w0rd"]),
        ("[database]\npassword = \"tomlsecret\"\n", &["tomlsecret"]),
        ("conn = connect(host='db', password='s3cr3t')", &["s3cr3t"]),
        ("$config['db_password'] = 'phpsecret';", &["phpsecret"]),
        ("'password' => 'rubysecret',", &["rubysecret"]),
        ("pw := \"x\"; password := \"gosecret\"", &["gosecret"]),
        ("https://api.example.com/v1?user=bob&password=hunter2&x=1", &["hunter2"]),
        ("mysql -u root -pSECRET mydb", &["SECRET"]),
        ("mysqldump --user=root -pS3cr3t! db > dump.sql", &["S3cr3t!"]),
        ("psql --password hunter2 -h db", &["hunter2"]),
        ("tool --password=hunter2", &["hunter2"]),
        ("gh auth login --token ghx0123456789abcdef0123", &["ghx0123456789abcdef0123"]),
        ("deploy --api-key 9a8b7c6d5e4f3a2b1c0d", &["9a8b7c6d5e4f3a2b1c0d"]),
        ("sshpass -p hunter2 ssh host", &["hunter2"]),
        ("openssl enc -pass pass:opensslsecret -in f", &["opensslsecret"]),
        ("java -Dpassword=jvmsecret1 -jar app.jar", &["jvmsecret1"]),
        ("smtp:\n  user: bob\n  pass: m4ilsecret\n", &["m4ilsecret"]),
        ("postgres://app:s3cretpass@db:5432/app", &["s3cretpass"]),
        ("DATABASE_URL=mysql://root:rootpw@localhost/db", &["rootpw"]),
        ("redis://:redispass@cache:6379/0", &["redispass"]),
        ("git clone https://x-access-token:gho_abcdefghijklmnopqrstuvwxyz0123456789@github.com/o/r", &["gho_abc"]),
        // Secrets, tokens, keys in assignments.
        ("token=0a1b2c3d4e5f60718293a4b5c6d7e8f9", &["0a1b2c3d4e5f60718293a4b5c6d7e8f9"]),
        ("client_secret: \"d8f7e6c5b4a3\"", &["d8f7e6c5b4a3"]),
        ("SECRET_KEY = 'django-insecure-k3j4h5g6f7d8s9a0'", &["django-insecure"]),
        ("\"auth\": \"dXNlcjpwYXNzd29yZA==\"", &["dXNlcjpwYXNzd29yZA=="]),
        ("//registry.npmjs.org/:_authToken=0a1b2c3d-4e5f-6789-abcd-ef0123456789", &["0a1b2c3d-4e5f"]),
        ("const jwtSecret = \"Zx9yW8vU7tS6\";", &["Zx9yW8vU7tS6"]),
        ("ENCRYPTION_KEY=3f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c", &["3f9a8b7c6d5e4f3a2b1c"]),
        // PEM private keys, with real and escaped newlines.
        (
            "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----\nafter",
            &["MIIEpAIBAAKCAQEA", "abc\n"],
        ),
        ("{\"k\":\"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3BlbnNzaC1rZXk\\n-----END OPENSSH PRIVATE KEY-----\"}", &["b3BlbnNzaC1rZXk"]),
        ("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg (truncated)", &["MIIEvQIBADANBg"]),
    ];

    /// Ordinary words, code and identifiers: nothing is redacted.
    const NEGATIVE: &[&str] = &[
        "Run pnpm test before committing",
        "cargo build --release && ./target/release/app",
        "the token budget is 2000",
        "password reset flow",
        "Implement the password reset flow for the login page",
        "pass the test and then pass the linter",
        "--password-file /run/secrets/db",
        "docker login --password-stdin < token.txt",
        "max_tokens=4096, temperature=0.2",
        "token: 2000",
        "tokens: 1234",
        "input_tokens: 512",
        "see https://docs.rs/serde/latest/serde/",
        "src/components/UserProfileSettingsPanel.tsx",
        "commit 3f8a9c1b7d4e2f6a8b0c1d2e3f4a5b6c7d8e9f0a",
        "git checkout 9fceb02d0ae598e95dc970b74767f19372d61af8",
        "sha256:5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8",
        "id 123e4567-e89b-12d3-a456-426614174000",
        "uuid=550e8400e29b41d4a716446655440000",
        "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
        "password: string;",
        "password?: string",
        "password: str",
        "token: Option<String>,",
        "pub password: String,",
        "login(username=username, password=password)",
        "password = request.form['password']",
        "password=os.getenv(\"DB_PASSWORD\")",
        "password = self.password",
        "const { password } = req.body;",
        "user.password = hashedPassword;",
        "{ username: user, password: value }",
        "apiKey: env.OPENAI_API_KEY,",
        "apiKey: params.litellmApiKey || 'not-required',",
        "apiKey: 'proxy-handled',",
        "apiKey: 'ollama',",
        "CODEMIE_API_KEY: 'test-key'",
        "env.OPENAI_API_KEY = env.ANTHROPIC_API_KEY;",
        "CODEMIE_API_KEY = apiKeyValue;",
        "const apiKey = 'sk-ant-' + 'a'.repeat(95);",
        "password=$DB_PASSWORD",
        "password: ${{ secrets.DB_PASSWORD }}",
        "token: \"{{ vault_token }}\"",
        "password = \"<your password>\"",
        "api_key = \"your-api-key-here\"",
        "password: ********",
        "password=[REDACTED]",
        "token = \"[REDACTED]\"",
        "\"password\": \"Password\"",
        "\"forgot_password\": \"Forgot your password?\"",
        "Password: reset it from the settings page",
        "PWD=/home/ana/project",
        "OLDPWD=/tmp",
        "bypass: true",
        "compass = north",
        "PASS: src/cart.test.ts",
        "pass=12 fail=0",
        "cache_key = \"user_123_profile\"",
        "primary_key: id",
        "sort_key=created_at",
        "if password == \"\" { return }",
        "Bearer token required",
        "Use Bearer ${TOKEN} in the header",
        "basic usage: run the tool",
        "-H \"Authorization: Bearer $GITHUB_TOKEN\"",
        "sk-learn is a library",
        "risk-assessment-framework-documentation",
        "mkdir -p src/components && ssh -p 2222 host",
        "docker run -p 8080:80 nginx",
        "mysql -u root -p mydb",
        "http://localhost:3000/api/users",
        "postgres://user@localhost/db",
        "postgres://user:${DB_PASSWORD}@localhost/db",
        "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 user@host",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n-----END PUBLIC KEY-----",
        "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----",
        "version: v1.2.3-beta.4",
        "the secret: keep tests small",
        "credentials: 'include'",
        "Authorization header is missing",
        "auth: { user, pass }",
        "msg_01XFDUDYJgAACzvnptvVoYEL and toolu_01A09q90qw90lq917835lq9",
        "{\"text\":\"Now let's run the tests to see if they pass:\"}],\"stop_reason\":null}",
        "Second pass: Match `function_call_output` with results",
        "All tests pass: 12 passed, 0 failed",
        "Finding { pass: \"duplicates\", category: Category::Duplicate }",
        "{\"n\":1,\"pass\":\"recurring_mistakes\",\"op\":\"create\"}",
        "PEM blocks (`-----BEGIN … PRIVATE KEY-----`) and `-----BEGIN RSA PRIVATE KEY-----` headers are removed",
        "author token:tok-1a2b3c4d, suggested by token:tok-00ff00ff",
        "src/main/java/com/example/app/UserServiceImplTest1.java",
        "The quick brown fox jumps over the lazy dog 1234567890 times",
    ];

    /// The eight shapes of the hardening issue that went through a dream
    /// into memory, export, context and search.
    #[test]
    fn the_eight_shapes_the_old_redactor_missed_are_redacted() {
        for (text, secret) in [
            ("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ("the key is wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI"),
            ("password = hunter22", "hunter22"),
            ("psql --password hunter22", "hunter22"),
            ("mysql -u root -pSECRET app", "SECRET"),
            ("{\"password\": \"hunter22\", \"user\": \"ana\"}", "hunter22"),
            ("PGPASSWORD=hunter22 psql -h db", "hunter22"),
            ("DB_PASS=hunter22 ./migrate", "hunter22"),
        ] {
            let r = redact(text);
            assert!(!r.contains(secret), "{text} -> {r}");
            assert!(contains_secret(text), "{text}");
        }
    }

    #[test]
    fn every_common_credential_shape_is_redacted() {
        let mut failures = Vec::new();
        for (text, secrets) in POSITIVE {
            let r = redact(text);
            let leaked: Vec<&&str> = secrets.iter().filter(|s| r.contains(**s)).collect();
            if !r.contains(REDACTED) || !leaked.is_empty() {
                failures.push(format!("{text:?}\n   -> {r:?} (leaked {leaked:?})"));
            }
            assert!(contains_secret(text), "{text}");
        }
        assert!(failures.is_empty(), "{} of {} not redacted:\n{}", failures.len(), POSITIVE.len(), failures.join("\n"));
    }

    #[test]
    fn ordinary_words_code_hashes_and_ids_are_left_alone() {
        let mut failures = Vec::new();
        for text in NEGATIVE {
            let found = find(text);
            if !found.is_empty() {
                let what: Vec<String> =
                    found.iter().map(|f| format!("{:?} {:?}", f.kind, text.get(f.start..f.end))).collect();
                failures.push(format!("{text:?}: {}", what.join(", ")));
            }
        }
        assert!(failures.is_empty(), "{} of {} redacted:\n{}", failures.len(), NEGATIVE.len(), failures.join("\n"));
    }

    #[test]
    fn keys_stay_readable_and_only_the_value_goes() {
        assert_eq!(redact("password = hunter2"), "password = [REDACTED]");
        assert_eq!(redact("{\"password\": \"hunter2\"}"), "{\"password\": \"[REDACTED]\"}");
        assert_eq!(redact("postgres://app:s3cret@db/app"), "postgres://app:[REDACTED]@db/app");
        assert_eq!(redact("mysql -u root -pSECRET db"), "mysql -u root -p[REDACTED] db");
        assert_eq!(redact("Authorization: Bearer abcdef123456789"), "Authorization: Bearer [REDACTED]");
        let s = "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\nafter";
        assert_eq!(redact(s), "key:\n[REDACTED]\nafter");
    }

    #[test]
    fn redaction_inside_json_text_keeps_it_json() {
        let doc = serde_json::json!({"command": "PGPASSWORD=s3cret psql; echo '{\"password\": \"hunter2\"}'",
            "k": "-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----", "u": "redis://:pw12345@h"})
        .to_string();
        let r = redact(&doc);
        let v: serde_json::Value = serde_json::from_str(&r).unwrap_or_else(|e| panic!("{e}: {r}"));
        let s = v.to_string();
        assert!(!s.contains("s3cret") && !s.contains("hunter2") && !s.contains("MHc") && !s.contains("pw12345"), "{s}");
    }

    #[test]
    fn unicode_text_around_secrets_is_kept() {
        let s = "mot de passe — password: «hunter2» ✓ token=ghp_0123456789abcdefghijklmnopqrstuvwxyz 東京";
        let r = redact(s);
        assert!(r.contains("mot de passe —") && r.ends_with("東京"), "{r}");
        assert!(!r.contains("ghp_0123"), "{r}");
    }

    mod props {
        use super::super::*;
        use proptest::prelude::*;

        fn fragment() -> impl Strategy<Value = String> {
            prop_oneof![
                Just("password=".to_string()),
                Just("\"password\": \"".to_string()),
                Just("--token ".to_string()),
                Just("Bearer ".to_string()),
                Just("://u:".to_string()),
                Just("@h ".to_string()),
                Just("-----BEGIN RSA PRIVATE KEY-----\n".to_string()),
                Just("-----END RSA PRIVATE KEY-----".to_string()),
                Just("ghp_".to_string()),
                Just("AKIA".to_string()),
                Just("eyJhbGciOiJIUzI1NiJ9.".to_string()),
                Just(REDACTED.to_string()),
                "[A-Za-z0-9]{1,24}",
                "[ \n\t\"'=:,;{}()\\[\\]/\\\\-]{1,3}",
                "\\PC{1,4}",
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn redaction_is_idempotent_and_leaves_nothing_to_find(parts in proptest::collection::vec(fragment(), 0..16)) {
                let text: String = parts.concat();
                let once = redact(&text);
                prop_assert!(!contains_secret(&once), "{:?} -> {:?} still has {:?}", text, once, find(&once));
                prop_assert_eq!(redact(&once), once.clone());
                for f in find(&text) {
                    prop_assert!(f.start < f.end && text.is_char_boundary(f.start) && text.is_char_boundary(f.end));
                }
            }
        }
    }
}
