//! Integration tests: the real `nocturne` binary in a temporary folder.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::new_without_default)] // test helpers

mod dream;
mod export;
mod ingest;
mod memory;
mod outcomes;
mod search;
mod server;
mod sessions;

use assert_cmd::Command;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// A temporary folder with its own store.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Env {
    pub fn new() -> Self {
        Env { dir: tempfile::tempdir().unwrap() }
    }

    pub fn store(&self) -> PathBuf {
        self.dir.path().join("store.db")
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `nocturne --store STORE ARGS...`, with a fixed author.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::cargo_bin("nocturne").unwrap();
        c.arg("--store").arg(self.store()).args(args).env("NOCTURNE_AUTHOR", "tester").env_remove("NOCTURNE_STORE");
        c
    }

    /// Runs with `--json`, asserts success, parses stdout.
    pub fn json(&self, args: &[&str]) -> Value {
        let out = self.cmd(args).arg("--json").output().unwrap();
        assert!(
            out.status.success(),
            "nocturne {args:?} failed: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

pub fn ingest_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ingest/tests/fixtures")
}

pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
