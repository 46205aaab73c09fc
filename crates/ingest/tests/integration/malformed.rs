use nocturne_ingest::{parse, Format};

use crate::common::{display, error};

fn check(name: &str, format: Format, line: Option<u32>, reason: &str) {
    let e = error(&format!("malformed/{name}"), format);
    assert_eq!(e.file(), display(&format!("malformed/{name}")));
    assert_eq!(e.line(), line, "{name}: {e}");
    assert!(e.reason().contains(reason), "{name}: {:?} lacks {reason:?}", e.reason());
}

#[test]
fn a_broken_line_is_named() {
    check("claude-code-bad-line.jsonl", Format::Auto, Some(3), "truncated JSON (EOF while parsing an object)");
    let e = error("malformed/claude-code-bad-line.jsonl", Format::ClaudeCode);
    assert!(e.to_string().starts_with("fixtures/malformed/claude-code-bad-line.jsonl:3: "), "{e}");
}

#[test]
fn a_truncated_transcript_is_refused() {
    check("claude-code-truncated.jsonl", Format::Auto, Some(6), "truncated JSON");
    for format in [Format::Auto, Format::Anthropic] {
        let e = error("malformed/anthropic-truncated.json", format);
        assert_eq!(e.line(), Some(74), "the last line of the cut file");
        assert_eq!(e.reason(), "truncated JSON (EOF while parsing a value)");
    }
}

#[test]
fn a_line_that_is_not_an_object_is_named() {
    check("claude-code-not-object.jsonl", Format::ClaudeCode, Some(2), "expected a JSON object, found an array");
}

#[test]
fn wrong_types_are_refused() {
    check(
        "claude-code-content-number.jsonl",
        Format::Auto,
        Some(5),
        "\"message\": \"content\" must be a string or an array of blocks, found a number",
    );
    check("openai-messages-not-array.json", Format::Auto, None, "\"messages\" must be an array, found an object");
    check("openai-missing-role.json", Format::OpenAi, None, "message 2: \"role\" is missing");
    check(
        "anthropic-content-number.json",
        Format::Auto,
        None,
        "message 2: \"content\" must be a string or an array of blocks, found a number",
    );
}

#[test]
fn files_that_are_not_transcripts_say_what_they_are() {
    check("unknown-shape.json", Format::Auto, None, "not a transcript: a JSON object with keys");
    check(
        "plain-text.txt",
        Format::Auto,
        None,
        "not a transcript: text that is neither JSON nor an aider chat history",
    );
    check("agent-a1b2.meta.json", Format::Auto, None, "not a transcript: a Claude Code sub-agent meta file");
    check("all_preds.jsonl", Format::Auto, None, "not a transcript: JSONL of SWE-bench predictions (keys \"model_name_or_path\", \"instance_id\", \"model_patch\")");
}

#[test]
fn a_bad_counterpart_in_a_nocturne_header_is_named() {
    check("nocturne-bad-counterpart.jsonl", Format::Auto, Some(1), "unknown counterpart \"boss\"");
}

#[test]
fn nocturne_files_need_a_valid_header_and_known_kinds() {
    check("nocturne-no-header.jsonl", Format::Nocturne, Some(1), "expected a Nocturne session header");
    check("nocturne-bad-version.jsonl", Format::Auto, Some(1), "unsupported version 2");
    check("nocturne-bad-kind.jsonl", Format::Auto, Some(4), "unknown kind \"chat\"");
}

#[test]
fn empty_files_are_empty_and_non_utf8_files_are_refused() {
    for format in Format::ALL {
        let p = nocturne_ingest::parse_file(
            "e.jsonl",
            &crate::common::fixture("edge/empty.jsonl"),
            format,
            &Default::default(),
        )
        .unwrap();
        assert!(
            p.sessions.is_empty() && p.report.notes == [nocturne_ingest::EMPTY],
            "{format}: nothing to import is no error"
        );
        check("not-utf8.jsonl", format, Some(2), "not valid UTF-8");
    }
}

#[test]
fn errors_display_file_line_and_reason() {
    let e = parse("x/y.jsonl", b"{\"nocturne\":\"session\",\"version\":1}\n42\n", Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "x/y.jsonl:2: expected a JSON object, found a number");
    let e = parse("x/y.json", b"{\"messages\": 3}", Format::Auto).unwrap_err();
    assert_eq!(e.to_string(), "x/y.json: \"messages\" must be an array, found a number");
}
