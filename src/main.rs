//! The `spektr` binary: parse arguments, run, turn the result into one line and an exit code.

// The audio callback's rules (clippy.toml) are for the callback only.
#![allow(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;
use spektr::cli::{Cli, EXIT_USAGE};

#[allow(clippy::print_stderr)]
fn main() -> ExitCode {
    // A bug must still end in one line, never a backtrace.
    std::panic::set_hook(Box::new(|info| {
        // A panic in a fenced third-party parser becomes an ordinary error: say nothing here.
        if spektr::guard::in_fence() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!(
            "error: internal error: {}{at} (please report this)",
            msg.replace('\n', " ")
        );
    }));

    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            return match e.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    let _ = e.print();
                    ExitCode::SUCCESS
                }
                _ => {
                    eprintln!("error: {}", one_line_clap_error(&e));
                    ExitCode::from(EXIT_USAGE)
                }
            };
        }
    };
    match spektr::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Clap's first line (without its own `error: `), plus the possible values when it lists them.
fn one_line_clap_error(e: &clap::Error) -> String {
    let text = e.render().to_string();
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    // "the following required arguments were not provided:" names them on the next line.
    let first = match first.ends_with(':').then(|| lines.next()).flatten() {
        Some(next) => format!("{first} {next}"),
        None => first.to_string(),
    };
    let values = lines
        .find(|l| l.starts_with("[possible values"))
        .map(|l| format!(" {l}"))
        .unwrap_or_default();
    format!("{first}{values} (see 'spektr --help')")
}
