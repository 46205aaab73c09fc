//! `nocturne`: the command line over the service layer. This crate knows
//! argument parsing and output formats; everything else is in the service.

/// `print!` that never panics: a closed pipe (`nocturne ... | head`) ends
/// the program quietly; any other write error is reported.
macro_rules! out {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = write!(std::io::stdout(), $($t)*) {
            $crate::stdout_failed(e)
        }
    }};
}

/// `println!` that never panics (see `out!`).
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout(), $($t)*) {
            $crate::stdout_failed(e)
        }
    }};
}

mod args;
mod commands;
mod model;
mod render;
mod runs;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    let _ = writeln!(std::io::stderr(), "error: cannot write to standard output: {e}");
    std::process::exit(1);
}

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let json = cli.json;
    match commands::run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            let (code, exit, field) = match e.downcast_ref::<nocturne_service::ServiceError>() {
                Some(se) => {
                    let (code, exit, _) = se.code().table();
                    (code, exit, se.field())
                }
                None => ("failure", 1, None),
            };
            if json {
                let mut body = serde_json::json!({"error": {"code": code, "message": format!("{e:#}")}});
                if let Some(f) = field {
                    body["error"]["field"] = serde_json::json!(f);
                }
                outln!("{body}");
            }
            let _ = writeln!(std::io::stderr(), "error: {}", render::terminal(&format!("{e:#}")));
            ExitCode::from(exit as u8)
        }
    }
}
