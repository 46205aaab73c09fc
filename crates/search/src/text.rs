//! Tokenisation shared by BM25 and the hashing embedder.
//!
//! Rules: lowercase; split on anything that is not alphanumeric (Unicode);
//! drop one-letter tokens (digits are kept); drop English stop-words; apply a
//! light suffix stemmer ([`light_stem`]).

/// Stop-words removed before indexing beyond [`nocturne_core::text::STOP_WORDS`]
/// (sorted, for binary search).
const STOP_WORDS: &[&str] = &["any", "before", "herself", "himself", "ourselves", "themselves", "yourselves"];

/// Whether `w` (lowercase) is a stop-word.
pub fn is_stop_word(w: &str) -> bool {
    nocturne_core::text::is_stop_word(w) || STOP_WORDS.binary_search(&w).is_ok()
}

/// Lowercased raw words of `text` (no stop-word removal, no stemming).
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            cur.extend(c.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur));
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Index terms of `text`: [`words`], minus one-letter non-digit tokens and
/// stop-words, each passed through [`light_stem`].
pub fn tokenize(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| {
            let mut cs = w.chars();
            let single = cs.next().is_some() && cs.next().is_none();
            (!single || w.chars().all(|c| c.is_numeric())) && !is_stop_word(w)
        })
        .map(|w| light_stem(&w))
        .collect()
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// A deliberately light English stemmer: plural `-s`/`-es`/`-ies`, `-ing`
/// and `-ed` (undoubling a final double consonant: `running` → `run`).
/// It never touches words of three characters or fewer, and only strips
/// `-ing`/`-ed` when at least three characters including a vowel remain.
/// Derivational suffixes (`-ment`, `-ation`, ...) are left alone; the
/// hashing embedder's character n-grams bridge those.
pub fn light_stem(w: &str) -> String {
    let n = w.chars().count();
    if n <= 3 || !w.is_ascii() {
        return w.to_string();
    }
    let mut s = w.to_string();
    if let Some(base) = s.strip_suffix("ies") {
        if n > 4 {
            s = format!("{base}y");
        }
    } else if s.ends_with("sses") {
        s.truncate(s.len() - 2);
    } else if s.ends_with('s') && !s.ends_with("ss") && !s.ends_with("us") && !s.ends_with("is") {
        s.truncate(s.len() - 1);
    }
    for suffix in ["ing", "ed"] {
        if let Some(base) = s.strip_suffix(suffix) {
            if base.len() >= 3 && base.chars().any(is_vowel) {
                let mut b = base.to_string();
                let mut rev = b.chars().rev();
                if let (Some(x), Some(y)) = (rev.next(), rev.next()) {
                    if x == y && !is_vowel(x) && !matches!(x, 'l' | 's' | 'z') {
                        b.pop();
                    }
                }
                s = b;
            }
            break;
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_sorted() {
        let mut v = STOP_WORDS.to_vec();
        v.sort_unstable();
        assert_eq!(v, STOP_WORDS);
    }

    #[test]
    fn stems() {
        assert_eq!(light_stem("deploying"), "deploy");
        assert_eq!(light_stem("deployed"), "deploy");
        assert_eq!(light_stem("deploys"), "deploy");
        assert_eq!(light_stem("deployment"), "deployment");
        assert_eq!(light_stem("running"), "run");
        assert_eq!(light_stem("libraries"), "library");
        assert_eq!(light_stem("classes"), "class");
        assert_eq!(light_stem("status"), "status");
        assert_eq!(light_stem("sing"), "sing");
        assert_eq!(light_stem("bus"), "bus");
    }

    #[test]
    fn tokenizes() {
        assert_eq!(tokenize("The Deploying of 3 services, I think!"), vec!["deploy", "3", "service", "think"]);
        assert_eq!(tokenize("Café crème"), vec!["café", "crème"]);
    }
}
