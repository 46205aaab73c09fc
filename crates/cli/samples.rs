// The sample sessions `nocturne quickstart` ingests (crates/cli/samples/).
[
    ("claude-code-ana-10.jsonl", include_str!("samples/claude-code-ana-10.jsonl")),
    ("anthropic-bob-12.json", include_str!("samples/anthropic-bob-12.json")),
    ("openai-carol-14.json", include_str!("samples/openai-carol-14.json")),
    ("nocturne-ana-17.jsonl", include_str!("samples/nocturne-ana-17.jsonl")),
    ("claude-code-dave-19.jsonl", include_str!("samples/claude-code-dave-19.jsonl")),
]
