//! Where tests and benchmarks find the shared data that is not part of the
//! repository: `shared/` beside the checkout (see its README), holding the
//! real transcripts and the recorded provider fixtures.
//!
//! One rule for every test: the folder an environment variable names, else
//! the first `shared/<sub>` found walking up from the crate (a clone beside
//! `shared/`, or a worktree one level deeper). `None` when absent: the caller
//! skips with a notice, since the data is not shipped with the code.

use std::path::{Path, PathBuf};

/// Names the real-transcripts folder explicitly.
pub const REAL_TRANSCRIPTS_ENV: &str = "NOCTURNE_REAL_TRANSCRIPTS";
/// Names the `shared/` folder explicitly.
pub const SHARED_ENV: &str = "NOCTURNE_SHARED";

/// `sub` (e.g. `fixtures/providers`) under the shared folder: under
/// `$NOCTURNE_SHARED` when set, else under the first `shared/` found walking
/// up from `start`.
pub fn shared(start: &Path, sub: &str) -> Option<PathBuf> {
    if let Some(root) = std::env::var_os(SHARED_ENV).map(PathBuf::from) {
        let p = root.join(sub);
        return p.is_dir().then_some(p);
    }
    start.ancestors().map(|a| a.join("shared").join(sub)).find(|p| p.is_dir())
}

/// The real-transcripts folder: `$NOCTURNE_REAL_TRANSCRIPTS` when set (and a
/// folder), else `data/real-transcripts` of the shared folder.
pub fn real_transcripts(start: &Path) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(REAL_TRANSCRIPTS_ENV).map(PathBuf::from) {
        return p.is_dir().then_some(p);
    }
    shared(start, "data/real-transcripts")
}

/// [`real_transcripts`], printing a notice naming what is skipped when the
/// folder is absent.
pub fn real_transcripts_or_skip(start: &Path, what: &str) -> Option<PathBuf> {
    let found = real_transcripts(start);
    if found.is_none() {
        eprintln!(
            "skipped {what}: no shared/data/real-transcripts above {} (set {REAL_TRANSCRIPTS_ENV})",
            start.display()
        );
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_folder_is_none() {
        let here = Path::new("/nonexistent/nocturne/crates/x");
        if std::env::var_os(SHARED_ENV).is_none() {
            assert_eq!(shared(here, "data/real-transcripts"), None);
        }
    }
}
