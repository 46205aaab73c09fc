//! Prints the sessions of one transcript file as JSON (without `raw`), with
//! its report: `cargo run -p nocturne-ingest --example dump -- FILE [META]`.

use nocturne_ingest::{parse_file, Format, Hints};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: dump FILE [META]")?;
    let meta = args.next().map(std::fs::read).transpose()?;
    let bytes = std::fs::read(&file)?;
    let parsed = parse_file(&file, &bytes, Format::Auto, &Hints { meta, parent: None })?;
    let mut sessions = serde_json::to_value(&parsed.sessions)?;
    for s in sessions.as_array_mut().into_iter().flatten() {
        for e in s.get_mut("events").and_then(|e| e.as_array_mut()).into_iter().flatten() {
            if let Some(o) = e.as_object_mut() {
                o.remove("raw");
            }
        }
    }
    let out = serde_json::json!({
        "sessions": sessions,
        "records": parsed.report.records,
        "skipped": parsed.report.skipped,
        "notes": parsed.report.notes,
        "spawns": parsed.spawns.iter().map(|s| serde_json::json!([s.session, s.tool_use_id, s.agent_id, s.child])).collect::<Vec<_>>(),
    });
    println!("{}", serde_json::to_string_pretty(&out)?);
    Ok(())
}
