//! `nocturne`: the command line over the service layer. This crate knows
//! argument parsing and output formats; everything else is in the service.

mod args;
mod commands;
mod render;

use clap::Parser;
use std::io::Write;
use std::process::ExitCode;

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
            let (code, exit) = match e.downcast_ref::<nocturne_service::ServiceError>() {
                Some(se) => {
                    let (code, exit, _) = se.code().table();
                    (code, exit)
                }
                None => ("failure", 1),
            };
            if json {
                let body = serde_json::json!({"error": {"code": code, "message": format!("{e:#}")}});
                let _ = writeln!(std::io::stdout(), "{body}");
            }
            let _ = writeln!(std::io::stderr(), "error: {e:#}");
            ExitCode::from(exit as u8)
        }
    }
}
