//! Snapshots of the normalized sessions of every valid fixture. `raw` is left
//! out (it is the source record, checked by the format tests).

use nocturne_ingest::Format;
use serde_json::Value;

use crate::common::sessions;

fn view(name: &str, format: Format) -> Value {
    let all = sessions(name, format);
    let mut v = serde_json::to_value(all).unwrap();
    for s in v.as_array_mut().unwrap() {
        for e in s["events"].as_array_mut().unwrap() {
            e.as_object_mut().unwrap().remove("raw");
        }
    }
    v
}

#[test]
fn claude_code() {
    insta::assert_json_snapshot!(view("claude-code.jsonl", Format::ClaudeCode));
}

#[test]
fn claude_code_two_sessions() {
    insta::assert_json_snapshot!(view("claude-code-two-sessions.jsonl", Format::ClaudeCode));
}

#[test]
fn anthropic() {
    insta::assert_json_snapshot!(view("anthropic.json", Format::Anthropic));
}

#[test]
fn openai() {
    insta::assert_json_snapshot!(view("openai.json", Format::OpenAi));
}

#[test]
fn nocturne() {
    insta::assert_json_snapshot!(view("nocturne.jsonl", Format::Nocturne));
}

#[test]
fn nocturne_empty() {
    insta::assert_json_snapshot!(view("nocturne-empty.jsonl", Format::Nocturne));
}
