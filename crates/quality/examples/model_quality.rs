//! The real-data quality suite with the model pass: every chosen source
//! dreamt without and with a model, both scored (see
//! `nocturne_quality::model`). `scripts/local-model.sh quality` runs it
//! against the local llama-server.
//!
//! ```sh
//! cargo run -p nocturne-quality --features model --example model_quality -- \
//!     [--model PROVIDER:BASE_URL#MODEL] [--sources a,b] [--projects] [--min-support N] \
//!     [--max-input-tokens N] [--max-output-tokens N] [--context-tokens N] \
//!     [--source-timeout SECS] [--total-timeout SECS] [--out FILE.md] [--json FILE.json] \
//!     [--replay EARLIER.json,...]
//! ```
//!
//! `--replay` re-scores the answers an earlier run recorded (its `--json`)
//! instead of asking the model: the same prompts, the same answers, the
//! current checks.
//!
//! Without `--model`: `NOCTURNE_MODEL`, else the llama-server at
//! `NOCTURNE_TEST_LLM_URL` (`llamacpp:URL/v1#qwen2.5-coder-1.5b-instruct`).
//! The key, when the provider needs one, is read from `NOCTURNE_MODEL_KEY`.
//! Requests are not streamed (the per-attempt timeout is then the whole
//! answer's), one at a time, never retried: the run measures the model,
//! not the retries.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use nocturne_provider::ModelConfig;
use nocturne_quality::data;
use nocturne_quality::model::{run_suite, ModelRun, Recorded};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

fn arg(args: &[String], name: &str) -> Option<String> {
    // The last occurrence wins (a script's defaults, then the caller's).
    args.iter().rposition(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn num<T: std::str::FromStr>(args: &[String], name: &str) -> Option<T> {
    arg(args, name).map(|v| v.parse().unwrap_or_else(|_| panic!("{name}: not a number: {v}")))
}

/// `--replay A.json,B.json`: the answers earlier runs recorded (their `--json` reports), by `source [batch]`.
fn replay(files: &str) -> BTreeMap<String, Recorded> {
    let mut out = BTreeMap::new();
    for f in files.split(',').filter(|f| !f.is_empty()) {
        let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{f}: {e}"));
        let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{f}: {e}"));
        for s in v["sources"].as_array().into_iter().flatten() {
            let key = format!("{} [{}]", s["source"].as_str().unwrap_or(""), s["batch"].as_str().unwrap_or(""));
            let answers: Vec<String> =
                s["answers"].as_array().into_iter().flatten().filter_map(|a| a.as_str().map(str::to_string)).collect();
            let n = |k: &str| s["model"][k].as_u64().unwrap_or(0);
            out.insert(key, Recorded { answers, input_tokens: n("input_tokens"), output_tokens: n("output_tokens") });
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = arg(&args, "--model").or_else(|| std::env::var("NOCTURNE_MODEL").ok()).or_else(|| {
        std::env::var("NOCTURNE_TEST_LLM_URL")
            .ok()
            .map(|u| format!("llamacpp:{}/v1#qwen2.5-coder-1.5b-instruct", u.trim_end_matches('/')))
    });
    let Some(spec) = spec else {
        eprintln!("model_quality: no model: give --model, NOCTURNE_MODEL or NOCTURNE_TEST_LLM_URL");
        std::process::exit(2);
    };
    let mut config = ModelConfig::from_spec(&spec).unwrap_or_else(|e| panic!("{e}"));
    config.max_input_tokens = num(&args, "--max-input-tokens");
    if let Some(n) = num(&args, "--max-output-tokens") {
        config.max_output_tokens = n;
    }
    config.context_tokens = num(&args, "--context-tokens");
    config.stream = false;
    config.concurrency = 1;
    config.retries = 0;
    let source_timeout = Duration::from_secs(num(&args, "--source-timeout").unwrap_or(600));
    config.timeout_secs = source_timeout.as_secs_f64();
    let total = Duration::from_secs(num(&args, "--total-timeout").unwrap_or(2400));
    let sources: Vec<String> = arg(&args, "--sources")
        .map(|s| s.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    let run = ModelRun {
        config,
        source_timeout,
        projects: args.iter().any(|a| a == "--projects"),
        min_support: num(&args, "--min-support"),
        replay: arg(&args, "--replay").map(|files| replay(&files)).unwrap_or_default(),
    };
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let expect = data::find_expect_dir(&manifest).expect("tests/real-data/expect above the crate");
    let Some(data) = data::find_data_dir(&manifest) else {
        eprintln!("model_quality: shared/data/real-transcripts not found (set NOCTURNE_REAL_TRANSCRIPTS)");
        std::process::exit(2);
    };
    let report = run_suite(&expect, &data, &run, &sources, total, &|r| {
        eprintln!(
            "[model_quality] {} [{}]: {} ops ({:?}), model: {} requests, {} answered, {} dropped unverified, \
             {} in / {} out tokens, {:.0} s{}",
            r.source,
            r.batch,
            r.with_model.ops,
            r.ops_by_pass,
            r.model.requests,
            r.model.ops_answered,
            r.model.dropped_unverified,
            r.model.input_tokens,
            r.model.output_tokens,
            r.model_dream_ms as f64 / 1000.0,
            r.error.as_deref().map(|e| format!("; {e}")).unwrap_or_default()
        );
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let mut md = report.markdown();
    if let Some(f) = arg(&args, "--replay") {
        md = format!("Answers replayed from {f} (nothing sent; the model figures are the recorded ones).\n\n{md}");
    }
    println!("{md}");
    if let Some(p) = arg(&args, "--out") {
        std::fs::write(&p, &md).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
    if let Some(p) = arg(&args, "--json") {
        std::fs::write(&p, serde_json::to_string_pretty(&report).unwrap()).unwrap_or_else(|e| panic!("{p}: {e}"));
    }
}
