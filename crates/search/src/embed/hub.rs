//! Opt-in download of a model2vec model from the Hugging Face model hub
//! (feature `hub`). Nothing here runs unless [`Model2VecEmbedder::from_hub`]
//! or [`download_model2vec`] is called.
//!
//! Files are fetched from `{endpoint}/{repo_id}/resolve/{revision}/{file}`
//! into `{cache_dir}/{repo_id with '/' → '--'}/{revision}/`, each written to
//! a temporary file in that folder and renamed into place once complete, so
//! an interrupted download never leaves a partial model behind. Files
//! already in the cache are not fetched again (a branch name such as `main`
//! is therefore frozen at its first download: pin a commit hash, or delete
//! the folder to refresh).

use super::Model2VecEmbedder;
use crate::SearchError;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The public hub, used when neither `endpoint` nor `HF_ENDPOINT` is given.
pub const DEFAULT_HF_ENDPOINT: &str = "https://huggingface.co";

/// Files a model2vec model folder needs.
pub const MODEL2VEC_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

impl Model2VecEmbedder {
    /// Download (unless cached) and load a model2vec model from the Hugging
    /// Face hub, e.g. `from_hub("minishlab/potion-base-8M", "main", cache, None)`.
    ///
    /// The endpoint is `endpoint`, else the environment variable
    /// `HF_ENDPOINT`, else `https://huggingface.co`; a token in `HF_TOKEN` is
    /// sent as `Authorization: Bearer` (gated or private repos). The id is
    /// `model2vec:<repo name>` (e.g. `model2vec:potion-base-8M`), the same
    /// as [`Model2VecEmbedder::from_dir`] gives for a folder of that name.
    /// `https` endpoints need the TLS support that feature `hub` enables
    /// (`http-tls`).
    pub fn from_hub(
        repo_id: &str,
        revision: &str,
        cache_dir: &Path,
        endpoint: Option<&str>,
    ) -> Result<Self, SearchError> {
        let token = std::env::var("HF_TOKEN").ok();
        let dir = download_model2vec(repo_id, revision, cache_dir, endpoint, token.as_deref())?;
        let name = repo_id.rsplit('/').next().unwrap_or(repo_id);
        Self::from_dir_named(&dir, name)
    }
}

/// Fetch the files of a model2vec model (`config.json`, `tokenizer.json`,
/// `model.safetensors`) from the hub into the cache, skipping files already
/// there; returns the model folder. `endpoint` as in
/// [`Model2VecEmbedder::from_hub`]; `token` (if non-empty) is sent as a bearer
/// token, and dropped when a redirect leaves the endpoint's host.
pub fn download_model2vec(
    repo_id: &str,
    revision: &str,
    cache_dir: &Path,
    endpoint: Option<&str>,
    token: Option<&str>,
) -> Result<PathBuf, SearchError> {
    check_repo_id(repo_id)?;
    check_revision(revision)?;
    let endpoint = match endpoint {
        Some(e) => e.to_string(),
        None => std::env::var("HF_ENDPOINT")
            .ok()
            .filter(|e| !e.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HF_ENDPOINT.to_string()),
    };
    let endpoint = endpoint.trim().trim_end_matches('/');
    if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
        return Err(setup(format!("hub endpoint {endpoint:?} must start with http:// or https://")));
    }
    let dir = cache_dir.join(repo_id.replace('/', "--")).join(revision.replace('/', "--"));
    let token = token.map(str::trim).filter(|t| !t.is_empty());
    let mut agent = None;
    for file in MODEL2VEC_FILES {
        let dest = dir.join(file);
        if dest.is_file() {
            continue;
        }
        fs::create_dir_all(&dir).map_err(|e| setup(format!("{}: {e}", dir.display())))?;
        let url = format!("{endpoint}/{repo_id}/resolve/{}/{file}", revision.replace('/', "%2F"));
        let agent = agent.get_or_insert_with(new_agent);
        fetch(agent, &url, token, &dest)?;
    }
    Ok(dir)
}

fn setup(msg: String) -> SearchError {
    SearchError::EmbedderSetup(msg)
}

fn new_agent() -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(60)))
        // A stalled transfer fails; a slow but moving one does not.
        .timeout_per_read(Some(Duration::from_secs(60)))
        // Hub redirects to a CDN (another host) must not carry the token.
        .redirect_auth_headers(ureq::config::RedirectAuthHeaders::SameHost)
        .user_agent(concat!("nocturne-search/", env!("CARGO_PKG_VERSION")))
        .build();
    ureq::Agent::new_with_config(config)
}

/// `owner/name` (or `name`): ASCII letters, digits, `-`, `_`, `.`; no `..`.
fn check_repo_id(repo_id: &str) -> Result<(), SearchError> {
    let parts: Vec<&str> = repo_id.split('/').collect();
    let ok = (1..=2).contains(&parts.len()) && parts.iter().all(|p| safe_segment(p));
    if ok {
        Ok(())
    } else {
        Err(setup(format!("invalid hub repo id {repo_id:?} (expected e.g. \"minishlab/potion-base-8M\")")))
    }
}

/// A branch, tag or commit (`main`, `v1.0`, `refs/pr/1`, a hash).
fn check_revision(revision: &str) -> Result<(), SearchError> {
    if revision.split('/').all(safe_segment) {
        Ok(())
    } else {
        Err(setup(format!("invalid hub revision {revision:?}")))
    }
}

fn safe_segment(s: &str) -> bool {
    !s.is_empty()
        && s != "."
        && s != ".."
        && !s.contains("--")
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// GET `url` into `dest` via a temporary file in the same folder.
fn fetch(agent: &ureq::Agent, url: &str, token: Option<&str>, dest: &Path) -> Result<(), SearchError> {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("Authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.call().map_err(|e| setup(format!("downloading {url}: {e}")))?;
    let status = resp.status();
    if !status.is_success() {
        let body = resp.body_mut().with_config().limit(4096).read_to_string().unwrap_or_default();
        let snippet: String = body.chars().take(200).collect();
        let hint = match status.as_u16() {
            401 | 403 => " (gated or private repo? set HF_TOKEN)",
            404 => " (check the repo id, revision and file name)",
            _ => "",
        };
        return Err(setup(format!("downloading {url}: HTTP {status}{hint}: {}", snippet.trim())));
    }
    let expected = resp.body().content_length();
    let tmp = temp_path(dest);
    let written = (|| -> io::Result<u64> {
        let mut out = File::options().write(true).create_new(true).open(&tmp)?;
        let n = io::copy(&mut resp.body_mut().as_reader(), &mut out)?;
        out.flush()?;
        out.sync_all()?;
        Ok(n)
    })();
    let result = match (written, expected) {
        (Err(e), _) => Err(setup(format!("downloading {url}: {e}"))),
        (Ok(n), Some(len)) if n != len => Err(setup(format!("downloading {url}: got {n} of {len} bytes"))),
        (Ok(_), _) => match fs::rename(&tmp, dest) {
            Ok(()) => Ok(()),
            // A concurrent download of the same file got there first.
            Err(_) if dest.is_file() => Ok(()),
            Err(e) => Err(setup(format!("{}: {e}", dest.display()))),
        },
    };
    if result.is_err() || tmp.exists() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// `.{file}.{pid}-{n}.part` next to `dest` (same file system, so the rename is atomic).
fn temp_path(dest: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = dest.file_name().and_then(|s| s.to_str()).unwrap_or("download");
    dest.with_file_name(format!(".{name}.{}-{n}.part", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_repo_ids_and_revisions() {
        assert!(check_repo_id("minishlab/potion-base-8M").is_ok());
        assert!(check_repo_id("gpt2").is_ok());
        for bad in ["", "/x", "a/", "a/b/c", "../x", "a/..", "a b/c", "a\\b", "a--b/c"] {
            assert!(check_repo_id(bad).is_err(), "{bad}");
        }
        assert!(check_revision("main").is_ok());
        assert!(check_revision("refs/pr/1").is_ok());
        assert!(check_revision("0123abcd").is_ok());
        for bad in ["", "..", "a/../b", "x?y"] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bad_endpoint_is_refused_before_any_io() {
        let err = download_model2vec("a/b", "main", Path::new("/nonexistent"), Some("ftp://x"), None);
        assert!(matches!(err, Err(SearchError::EmbedderSetup(m)) if m.contains("ftp://x")));
    }
}
