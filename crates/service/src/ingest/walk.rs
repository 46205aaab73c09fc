//! Which files an ingest reads: command-line paths expanded (folders
//! recursively), only regular files, sub-agent sidecars consumed, and what
//! the file system tells the importer about each file ([`Hints`]).

use nocturne_ingest::Hints;
use std::fs::FileType;
use std::io::{BufRead, Read};
use std::path::{Path, PathBuf};

use crate::error::io_reason;

pub use nocturne_ingest::{classify_path as classify, PathKind};

/// A path that is not read, and why (a missing path, a FIFO, an unreadable folder).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unreadable {
    pub path: PathBuf,
    pub reason: String,
}

/// The files to read, sorted and without duplicates, and the paths that
/// cannot be read. One bad path never stops the others.
pub(crate) fn collect(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<Unreadable>) {
    let mut files = Vec::new();
    let mut bad = Vec::new();
    for p in paths {
        match std::fs::metadata(p) {
            Err(e) => bad.push(Unreadable { path: p.clone(), reason: io_reason(&e) }),
            Ok(m) if m.is_dir() => walk(p, &mut files, &mut bad),
            Ok(m) if m.is_file() => {
                let name = p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                // A sidecar named on the command line (a shell glob) is read with its transcript.
                if classify(&name) != PathKind::SubagentMeta {
                    files.push(p.clone());
                }
            }
            Ok(m) => bad.push(Unreadable { path: p.clone(), reason: not_regular(m.file_type()) }),
        }
    }
    files.sort();
    files.dedup();
    bad.sort_by(|a, b| a.path.cmp(&b.path));
    bad.dedup();
    (files, bad)
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>, bad: &mut Vec<Unreadable>) {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) => return bad.push(Unreadable { path: dir.to_path_buf(), reason: io_reason(&e) }),
    };
    for entry in rd {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                bad.push(Unreadable { path: dir.to_path_buf(), reason: io_reason(&e) });
                continue;
            }
        };
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Ok(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            if !name.starts_with('.') {
                walk(&path, files, bad);
            }
            continue;
        }
        if classify(&name) != PathKind::Transcript {
            continue;
        }
        // Follow a symlink to see what it is; folders behind links are not walked (no loops).
        match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => files.push(path),
            Ok(m) if m.is_dir() => {}
            Ok(m) => bad.push(Unreadable { path, reason: not_regular(m.file_type()) }),
            Err(e) => bad.push(Unreadable { path, reason: io_reason(&e) }),
        }
    }
}

fn not_regular(ft: FileType) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let what = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else if ft.is_char_device() || ft.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        format!("not a regular file ({what}); skipped")
    }
    #[cfg(not(unix))]
    {
        let _ = ft;
        "not a regular file; skipped".to_string()
    }
}

/// Sidecars and parent ids are small; never read more than this of them.
const SIDECAR_LIMIT: u64 = 1 << 20;

/// What the file system says about `path` for its importer: the bytes of
/// `agent-<id>.meta.json` beside an `agent-<id>.jsonl`, and for
/// `<X>/subagents/agent-*.jsonl` the session id of the main transcript
/// `<X>.jsonl` beside the folder `<X>`, when it exists.
pub(crate) fn hints(path: &Path) -> Hints {
    let mut h = Hints::default();
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return h };
    let Some(stem) = name.strip_suffix(".jsonl") else { return h };
    if !stem.starts_with("agent-") {
        return h;
    }
    h.meta = read_small(&path.with_file_name(format!("{stem}.meta.json")));
    let folder = path.parent();
    if folder.and_then(Path::file_name).is_some_and(|n| n == "subagents") {
        if let Some(x) = folder.and_then(Path::parent) {
            if let Some(xname) = x.file_name() {
                let mut main = xname.to_os_string();
                main.push(".jsonl");
                h.parent = session_id_of(&x.with_file_name(main));
            }
        }
    }
    h
}

fn read_small(path: &Path) -> Option<Vec<u8>> {
    let f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let mut buf = Vec::new();
    f.take(SIDECAR_LIMIT).read_to_end(&mut buf).ok()?;
    Some(buf)
}

/// The first `sessionId` of a Claude Code transcript, reading no more of it
/// than needed (at most [`SIDECAR_LIMIT`] bytes).
pub(crate) fn session_id_of(path: &Path) -> Option<String> {
    let f = std::fs::File::open(path).ok()?;
    if !f.metadata().ok()?.is_file() {
        return None;
    }
    let reader = std::io::BufReader::new(f.take(SIDECAR_LIMIT));
    for line in reader.split(b'\n') {
        let line = line.ok()?;
        if !line.windows(11).any(|w| w == b"\"sessionId\"") {
            continue;
        }
        if let Ok(serde_json::Value::Object(o)) = serde_json::from_slice::<serde_json::Value>(&line) {
            if let Some(serde_json::Value::String(id)) = o.get("sessionId") {
                return Some(id.clone());
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_classified() {
        assert_eq!(classify("7acd37a8.jsonl"), PathKind::Transcript);
        assert_eq!(classify("chat.json"), PathKind::Transcript);
        assert_eq!(classify("agent-a36efb2a1231c41e2.meta.json"), PathKind::SubagentMeta);
        assert_eq!(classify("notes.md"), PathKind::Other);
        assert_eq!(classify(".hidden.jsonl"), PathKind::Other);
        assert_eq!(classify(".aider.chat.history.md"), PathKind::Transcript);
        assert_eq!(classify("run.traj"), PathKind::Transcript);
        assert_eq!(classify("other.meta.json"), PathKind::Other);
    }

    #[test]
    fn hints_come_from_the_sidecar_and_the_main_transcript_beside_the_folder() {
        let d = tempfile::tempdir().unwrap();
        let sub = d.path().join("s1/subagents");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(
            d.path().join("s1.jsonl"),
            "{\"type\":\"summary\"}\n{\"sessionId\":\"real-id\",\"uuid\":\"u\"}\n",
        )
        .unwrap();
        std::fs::write(sub.join("agent-x.jsonl"), "{}\n").unwrap();
        std::fs::write(sub.join("agent-x.meta.json"), "{\"agentType\":\"Explore\"}").unwrap();
        let h = hints(&sub.join("agent-x.jsonl"));
        assert_eq!(h.parent.as_deref(), Some("real-id"));
        assert_eq!(h.meta.as_deref(), Some(&b"{\"agentType\":\"Explore\"}"[..]));
        // Old layout: a sidecar may sit beside it; no folder, no parent hint.
        std::fs::write(d.path().join("agent-y.jsonl"), "{}\n").unwrap();
        assert_eq!(hints(&d.path().join("agent-y.jsonl")), Hints::default());
        // The main transcript is missing: no parent hint.
        std::fs::remove_file(d.path().join("s1.jsonl")).unwrap();
        assert_eq!(hints(&sub.join("agent-x.jsonl")).parent, None);
        assert_eq!(hints(&d.path().join("s1.jsonl")), Hints::default(), "a main transcript has no hints");
    }

    #[test]
    fn missing_paths_and_sidecars_are_sorted_out() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("b.jsonl"), "x").unwrap();
        std::fs::write(d.path().join("agent-a.meta.json"), "{}").unwrap();
        std::fs::write(d.path().join("readme.md"), "x").unwrap();
        std::fs::create_dir_all(d.path().join(".git")).unwrap();
        std::fs::write(d.path().join(".git/x.json"), "x").unwrap();
        let missing = d.path().join("nope.jsonl");
        let (files, bad) = collect(&[d.path().to_path_buf(), missing.clone(), d.path().join("agent-a.meta.json")]);
        assert_eq!(files, [d.path().join("b.jsonl")]);
        assert_eq!(bad, [Unreadable { path: missing, reason: "No such file or directory".into() }]);
    }
}
