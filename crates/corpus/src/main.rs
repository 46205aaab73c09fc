//! `nocturne-corpus --seed N --sessions N --events N --out DIR`: writes a
//! labelled synthetic corpus.

use anyhow::{bail, Context, Result};
use nocturne_corpus::{generate, write_files, CorpusSpec};
use std::path::PathBuf;

fn main() -> Result<()> {
    let mut spec = CorpusSpec::default();
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().with_context(|| format!("{a} needs a value"));
        match a.as_str() {
            "--seed" => spec.seed = val()?.parse().context("--seed")?,
            "--sessions" => spec.sessions = val()?.parse().context("--sessions")?,
            "--events" => spec.events_per_session = val()?.parse().context("--events")?,
            "--users" => spec.users = val()?.parse().context("--users")?,
            "--memories" => spec.extra_memories = val()?.parse().context("--memories")?,
            "--out" => out = Some(PathBuf::from(val()?)),
            "-h" | "--help" => {
                println!("usage: nocturne-corpus [--seed N] [--sessions N] [--events N] [--users N] [--memories N] --out DIR");
                return Ok(());
            }
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    let out = out.context("--out DIR is required")?;
    let corpus = generate(&spec);
    let files = write_files(&corpus, &out).with_context(|| format!("writing to {}", out.display()))?;
    println!(
        "wrote {} files ({} sessions, {} memories, {} planted patterns) to {}",
        files.len(),
        corpus.sessions.len(),
        corpus.memories.len(),
        corpus.labels.patterns.len(),
        out.display()
    );
    Ok(())
}
