//! The suite itself, on small sources written here (no real data needed):
//! a source that does not ingest is a report line, not a crash; a dream's
//! ops are classified against the labels and their evidence is mapped back
//! to the label's records.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test helpers

use nocturne_quality::{evaluate_source, goal_failures, invariant_failures, run_suite, Class, Expectations, Status};
use std::path::Path;

const LABELS: &str = r#"
source = "demo"
description = "three sessions in which the operator asks for pnpm"

[[lesson]]
id = "use-pnpm"
kind = "preference"
scope_hint = "project"
recurring = true
needs_model = true
text = "Use pnpm for installs in this repo, never npm."
match = [["pnpm"]]
evidence = [
  { file = "s1.jsonl", line = 2, quote = "Please use pnpm, never npm" },
  { file = "s2.jsonl", line = 2, quote = "Please use pnpm, never npm" },
  { file = "s3.jsonl", line = 2, quote = "Please use pnpm, never npm" },
]

[[lesson]]
id = "read-before-edit"
kind = "mistake"
scope_hint = "any"
recurring = false
text = "Read a file before editing it."
match = [["read"], ["edit"]]
evidence = [{ file = "s1.jsonl", line = 3, quote = "Sure" }]

[[session_specific]]
values = ["ana-secret-branch"]
"#;

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join(name), text).unwrap();
}

fn labels() -> Expectations {
    Expectations::parse(LABELS, Path::new("demo.toml")).unwrap()
}

#[test]
fn a_source_that_does_not_ingest_is_reported_with_the_reason() {
    let data = tempfile::tempdir().unwrap();
    write(&data.path().join("demo"), "broken.json", "{ not json");
    let reports = evaluate_source(&labels(), data.path());
    assert_eq!(reports.len(), 1);
    let r = &reports[0];
    let Status::NotIngested { reason } = &r.status else { panic!("expected not ingested, got {:?}", r.status) };
    assert!(reason.contains("refused 1"), "{reason}");
    assert_eq!((r.recurring.found, r.recurring.total), (0, 1));
    assert_eq!(r.missed_recurring, vec!["use-pnpm (preference, needs model)".to_string()]);
}

#[test]
fn a_missing_source_folder_is_reported_not_an_error() {
    let data = tempfile::tempdir().unwrap();
    let r = &evaluate_source(&labels(), data.path())[0];
    assert!(matches!(&r.status, Status::NotIngested { reason } if reason.contains("is missing")), "{:?}", r.status);
}

#[test]
fn a_dream_is_scored_against_the_labels_and_cites_their_records() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    let expect = root.path().join("expect");
    write(&expect, "demo.toml", LABELS);
    // The operator is named: a preference of nobody known gets no scope.
    for n in 1..=3 {
        write(
            &data.join("demo"),
            &format!("s{n}.jsonl"),
            &format!(
                "{{\"nocturne\": \"session\", \"version\": 1, \"id\": \"s{n}\", \"user\": \"ana\"}}\n\
                 {{\"kind\": \"user_message\", \"text\": \"Please use pnpm, never npm, for installs in this repo.\"}}\n\
                 {{\"kind\": \"assistant_message\", \"text\": \"Sure, session {n}.\"}}\n"
            ),
        );
    }
    let report = run_suite(&expect, &data, true).unwrap();
    assert!(invariant_failures(&report).is_empty(), "{:?}", invariant_failures(&report));
    let r = &report.sources[0];
    assert_eq!(r.status, Status::Ingested);
    assert_eq!((r.sessions, r.events), (3, 6));
    assert_eq!(r.labels.exact, 4, "{:?}", r.labels.notes);
    let op = r.op_details.iter().find(|o| o.text.contains("pnpm")).expect("a pnpm preference op");
    assert_eq!(op.class, Class::Lesson { ids: vec!["use-pnpm".into()] });
    assert_eq!(op.cites_label_evidence, Some(true));
    assert!(op.evidence.iter().all(|e| e.quote_verified), "{:?}", op.evidence);
    assert_eq!((r.recurring.found, r.recurring.total), (1, 1));
    assert_eq!(r.found, vec!["use-pnpm".to_string()]);
    assert!(r.missed_recurring.is_empty());
    assert!(report.leave_one_out.is_empty(), "no [[session]] entries, no leave-one-out");
    let table = report.table();
    assert!(table.contains("| demo | all | 3 | 6 |"), "{table}");
    assert!(!goal_failures(&report).iter().any(|g| g.contains("recurring lessons found")));
}
