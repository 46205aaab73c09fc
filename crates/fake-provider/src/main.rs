//! `nocturne-fake-provider --script FILE [--port N] [--host H] [--log FILE]`:
//! the scripted fake model server as a process, for shell and Python tests.
//! Prints `listening on http://HOST:PORT` once ready and runs until killed.

use nocturne_fake_provider::{FakeServer, Script};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: nocturne-fake-provider --script FILE [--port N] [--host 127.0.0.1] [--log FILE]";

fn run() -> Result<(), String> {
    let mut script = None;
    let mut port = "0".to_string();
    let mut host = "127.0.0.1".to_string();
    let mut log = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{a} needs a value\n{USAGE}"));
        match a.as_str() {
            "--script" => script = Some(PathBuf::from(value()?)),
            "--port" => port = value()?,
            "--host" => host = value()?,
            "--log" => log = Some(PathBuf::from(value()?)),
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    let path = script.ok_or_else(|| format!("--script is required\n{USAGE}"))?;
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let script = Script::from_json(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let server = FakeServer::start_on(&format!("{host}:{port}"), script, log.as_deref()).map_err(|e| e.to_string())?;
    println!("listening on {}", server.url());
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("nocturne-fake-provider: {e}");
            ExitCode::from(2)
        }
    }
}
