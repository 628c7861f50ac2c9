//! Headless subcommands. Runs on the main thread and starts the source and engine threads.
//!
//! Errors come back as [`CliError`], which `main` turns into one `error:` line and an exit
//! code: 2 for usage (arguments, settings), 3 for input or output that cannot be read or
//! written.

pub mod analyze;
pub mod devices;
pub mod output;

use clap::{Parser, Subcommand};
use thiserror::Error;

/// Exit code for a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for an input or output error.
pub const EXIT_IO: u8 = 3;

/// spektr: a real-time audio spectrum analyzer with dB-honest bars.
#[derive(Debug, Parser)]
#[command(name = "spektr", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Option<Command>,
}

impl Cli {
    /// Parses `args` (the first is the program name); for benches and embedding.
    pub fn try_parse_from_args<I, T>(args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Self as Parser>::parse_from(args)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze an audio file or a generated signal as fast as the machine allows, or a live
    /// source (--source) in real time.
    Analyze(analyze::AnalyzeArgs),
    /// List input devices and output monitors ("what you hear"), per audio system.
    Devices(devices::DevicesArgs),
}

/// Why a command failed, and so which exit code it gets.
#[derive(Debug, Error)]
pub enum CliError {
    /// Bad arguments or settings.
    #[error("{0}")]
    Usage(String),
    /// Input that cannot be read, or output that cannot be written.
    #[error("{0}")]
    Io(String),
}

impl CliError {
    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Io(_) => EXIT_IO,
        }
    }
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> Result<(), CliError> {
    match cli.command {
        Some(Command::Analyze(args)) => analyze::run(&args),
        Some(Command::Devices(args)) => devices::run(&args),
        None => Err(CliError::Usage(
            "the window is not built yet; try 'spektr analyze synth:demo --format summary' or 'spektr --help'".into(),
        )),
    }
}
