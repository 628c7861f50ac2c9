//! Headless subcommands. Runs on the main thread and starts the source and engine threads.
//!
//! Errors come back as [`CliError`], which `main` turns into one `error:` line and an exit
//! code: 2 for usage (arguments, settings), 3 for input or output that cannot be read or
//! written.

pub mod analyze;
pub mod args;
pub mod devices;
pub mod generate;
pub mod loudness;
pub mod output;
pub mod record;
pub mod render;

use clap::{Parser, Subcommand};
use thiserror::Error;

/// Exit code for a usage error.
pub const EXIT_USAGE: u8 = 2;
/// Exit code for an input or output error.
pub const EXIT_IO: u8 = 3;

/// spektr: a real-time audio spectrum analyzer with dB-honest bars.
#[derive(Debug, Parser)]
#[command(name = "spektr", version, about, long_about = None, propagate_version = true, args_conflicts_with_subcommands = true)]
#[command(
    after_help = "With no subcommand, spektr opens its window on the default input (or the demo signal when\n\
there is none). Keys: Space freezes, S saves a snapshot, R records, P pauses, V switches\n\
between bars, spectrogram and both, I picks the source, O opens an audio file, comma opens\n\
the settings, L starts loudness over, Z starts the average and the max-hold over, T stores\n\
the spectrum as a reference line, D shows the live bars against it (the difference view),\n\
G starts and stops the test signal to the speakers (the Generator panel)."
)]
pub struct Cli {
    /// What to do (nothing: open the window).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// Window options.
    #[command(flatten)]
    pub window: WindowArgs,
}

/// Arguments of `spektr render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// Audio file paths, file:<path>, or synth:<spec> (several with --view spectrogram).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<String>,
    /// What to draw: the bars at one moment (--at), or the whole file as a spectrogram.
    #[arg(long, value_enum, default_value_t = render::ViewArg::Bars)]
    pub view: render::ViewArg,
    /// The moment to draw (--view bars), in seconds of audio.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub at: Option<f64>,
    /// Where the spectrogram starts, seconds (default: the start).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub from: Option<f64>,
    /// Where the spectrogram ends, seconds (default: the end).
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub to: Option<f64>,
    /// The spectrogram's rows: 1/12 or 1/24 octave bands.
    #[arg(long, value_enum, default_value_t = render::LayoutArg::Twelfth)]
    pub layout: render::LayoutArg,
    /// The spectrogram's colour map.
    #[arg(long, value_enum, default_value_t = crate::spectrogram::ColorMap::Magma)]
    pub colormap: crate::spectrogram::ColorMap,
    /// The spectrogram's floor, dBFS (its top is 0 dBFS), as the window's scale.
    #[arg(long, value_name = "DB", default_value_t = -96.0, allow_negative_numbers = true)]
    pub floor: f32,
    /// No progress bar (it is shown only on a terminal anyway).
    #[arg(long)]
    pub no_progress: bool,
    /// Where to write the PNG (a folder, for several inputs).
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: std::path::PathBuf,
    /// Picture size.
    #[arg(long, value_name = "WxH", default_value = "960x540")]
    pub size: String,
    /// Number of bars (log layout, 8 to 128).
    #[arg(long)]
    pub bars: Option<usize>,
    /// Band layout.
    #[arg(long, value_enum, default_value_t = analyze::BandsArg::Log)]
    pub bands: analyze::BandsArg,
    /// Frequency weighting of the bars.
    #[arg(long, value_enum, default_value_t = analyze::WeightingArg::Z)]
    pub weighting: analyze::WeightingArg,
    /// Smoothing of the bars.
    #[arg(long, value_enum, default_value_t = analyze::SmoothingArg::Fast)]
    pub smoothing: analyze::SmoothingArg,
    /// What the bars measure: mean, mid, side, left, right, a channel number, or each.
    #[arg(long, value_name = "MODE", default_value_t = crate::config::BarsFrom::Mean)]
    pub bars_from: crate::config::BarsFrom,
}

fn render(args: &RenderArgs) -> Result<(), CliError> {
    let settings = crate::config::AnalysisSettings {
        bands: args.bands.into(),
        bars: args.bars,
        weighting: args.weighting.into(),
        smoothing: args.smoothing.into(),
        bars_from: args.bars_from,
        ..Default::default()
    };
    settings
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let size = args
        .size
        .split_once('x')
        .and_then(|(w, h)| Some((w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?)))
        .filter(|&(w, h)| (240..=7680).contains(&w) && (160..=4320).contains(&h))
        .ok_or_else(|| {
            // A spectrogram's smallest picture is larger.
            let least = if args.view == render::ViewArg::Spectrogram {
                let (w, h) = crate::spectrogram::MIN_PICTURE;
                format!("{w}x{h}")
            } else {
                "240x160".to_owned()
            };
            CliError::Usage(format!(
                "--size takes WxH between {least} and 7680x4320, got '{}'",
                args.size
            ))
        })?;
    let floors = crate::settings::DB_FLOOR_RANGE;
    if !floors.contains(&args.floor) {
        return Err(CliError::Usage(format!(
            "--floor must be between {} and {} dBFS, got {}",
            floors.start(),
            floors.end(),
            args.floor
        )));
    }
    if args.view == render::ViewArg::Spectrogram {
        #[cfg(feature = "gui")]
        return render::spectrogram(args, settings, size);
    }
    let at = match (args.at, args.inputs.as_slice()) {
        (_, [_, _, ..]) => {
            return Err(CliError::Usage(
                "--view bars draws one input; several take --view spectrogram".into(),
            ));
        }
        (None, _) => {
            return Err(CliError::Usage(
                "--view bars needs --at SECONDS (or use --view spectrogram)".into(),
            ));
        }
        (Some(at), _) => at,
    };
    if !(at.is_finite() && at > 0.0) {
        return Err(CliError::Usage(format!(
            "--at must be a time above 0 s, got {at}"
        )));
    }
    let source = open_input(&args.inputs[0])?;
    #[cfg(feature = "gui")]
    return crate::ui::render::render(source, &settings, at, size.0, size.1, &args.output)
        .map_err(CliError::Io);
    #[cfg(not(feature = "gui"))]
    {
        let _ = (source, size);
        Err(CliError::Usage(NO_GUI.into()))
    }
}

/// What a build without the window says when asked for it.
#[cfg(not(feature = "gui"))]
const NO_GUI: &str = "this spektr was built without the window (cargo feature 'gui'); \
                      'spektr analyze' works without it";

/// Options of the window (`spektr` without a subcommand). Those given override the saved
/// settings (and are saved with the next change made in the window).
#[derive(Debug, clap::Args)]
pub struct WindowArgs {
    /// What to show: default, device:<name>, monitor, monitor:<name>, file:<path>, synth:<spec>.
    #[arg(long, value_name = "SPEC")]
    pub source: Option<String>,
    /// Audio system.
    #[arg(long, value_enum, default_value_t = crate::capture::HostChoice::Auto)]
    pub host: crate::capture::HostChoice,
    /// Capture period to ask devices for, ms (1 to 200; default: the saved one, else 10, or the
    /// device's own where it refuses 10). Longer periods cost less CPU. Not saved:
    /// `capture_period_ms` in the settings file keeps one.
    #[arg(long, value_name = "MS", value_parser = crate::capture::parse_period_ms)]
    pub period: Option<f64>,
    /// Folder for snapshots [default: your pictures folder/spektr].
    #[arg(long, value_name = "DIR")]
    pub snapshots: Option<std::path::PathBuf>,
    /// Folder for recordings [default: your music folder/spektr].
    #[arg(long, value_name = "DIR")]
    pub recordings: Option<std::path::PathBuf>,
    /// Sample format of recordings: native keeps the source's (integer sources bit-exact).
    #[arg(long, value_enum)]
    pub record_format: Option<crate::record::RecordFormat>,
    /// Number of bars (log layout, 8 to 128).
    #[arg(long)]
    pub bars: Option<usize>,
    /// Band layout.
    #[arg(long, value_enum)]
    pub bands: Option<analyze::BandsArg>,
    /// Frequency weighting of the bars.
    #[arg(long, value_enum)]
    pub weighting: Option<analyze::WeightingArg>,
    /// Smoothing of the bars.
    #[arg(long, value_enum)]
    pub smoothing: Option<analyze::SmoothingArg>,
    /// What the bars measure: mean (the mean of every channel's own band power), mid, side,
    /// left, right, a channel number, or each (every channel as its own trace).
    #[arg(long, value_name = "MODE")]
    pub bars_from: Option<crate::config::BarsFrom>,
    /// What the window shows: bars, a scrolling spectrogram, or both (V switches; the choice
    /// is remembered) [default: the saved view, bars at first].
    #[arg(long, value_enum, value_name = "VIEW")]
    pub view: Option<crate::settings::View>,
    /// Settings file [default: your config folder/spektr/settings.toml].
    #[arg(long, value_name = "FILE")]
    pub config: Option<std::path::PathBuf>,
    /// At the end, print the frames shown and the latency up to the window reading a frame
    /// (median, p99, max) on stderr.
    #[arg(long)]
    pub stats: bool,
}

fn window(w: WindowArgs) -> Result<(), CliError> {
    let path = w.config.or_else(crate::settings::default_path);
    let (mut user, warning) = path
        .as_deref()
        .map(crate::settings::load)
        .unwrap_or_default();
    if let Some(warning) = &warning {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("warning: {warning}");
        }
    }
    if let Some(b) = w.bands {
        user.bands = b.into();
    }
    if let Some(n) = w.bars {
        if user.bands != crate::config::BandLayout::Log {
            return Err(CliError::Usage(
                crate::config::ConfigError::BarsWithThirdOctave.to_string(),
            ));
        }
        user.bars = n;
    }
    if let Some(x) = w.weighting {
        user.weighting = x.into();
    }
    if let Some(x) = w.smoothing {
        user.smoothing = x.into();
    }
    if let Some(x) = w.bars_from {
        user.bars_from = x;
    }
    if let Some(v) = w.view {
        user.view = v;
    }
    if let Some(dir) = w.snapshots {
        user.snapshots = Some(dir);
    }
    if let Some(dir) = w.recordings {
        user.recordings = Some(dir);
    }
    if let Some(f) = w.record_format {
        user.record_format = f;
    }
    if let Some(problem) = user.problem() {
        return Err(CliError::Usage(problem));
    }
    if let Some(s) = &w.source {
        s.parse::<crate::capture::SourceSpec>()
            .map_err(|e| CliError::Usage(e.to_string()))?;
    }
    #[cfg(feature = "gui")]
    {
        let stats = crate::ui::run(crate::ui::WindowOptions {
            source: w.source,
            host: w.host,
            user,
            settings_path: path,
            warning,
            period_ms: w.period,
        })
        .map_err(CliError::Io)?;
        if w.stats {
            #[allow(clippy::print_stderr)]
            for line in stats {
                eprintln!("{line}");
            }
        }
        Ok(())
    }
    #[cfg(not(feature = "gui"))]
    {
        let _ = (user, path, warning, w.host, w.stats);
        Err(CliError::Usage(NO_GUI.into()))
    }
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
    /// Measure the loudness of audio files (EBU R 128): integrated, range, true peak, one line
    /// a file and all of them as one programme (an album), in parallel across cores.
    Loudness(loudness::LoudnessArgs),
    /// Draw a PNG offscreen: the window at a moment of a file or signal, or a whole file's
    /// spectrogram (--view spectrogram).
    Render(RenderArgs),
    /// Record a live source to WAV while analyzing it (levels on stderr; Ctrl-C stops).
    Record(record::RecordArgs),
    /// Play a test signal (pink noise, white noise, a sine, a log sweep) to an output device,
    /// faded in from 60 dB below its level; Ctrl-C fades it out.
    Generate(generate::GenerateArgs),
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

impl From<crate::live::LiveError> for CliError {
    fn from(e: crate::live::LiveError) -> Self {
        if e.is_usage() {
            CliError::Usage(e.to_string())
        } else {
            CliError::Io(e.to_string())
        }
    }
}

/// A source that could not be opened: a bad spec is the user's (exit 2), the rest input
/// errors (exit 3).
pub(crate) fn source_error(e: crate::source::SourceError) -> CliError {
    match e {
        crate::source::SourceError::Spec(_) => CliError::Usage(e.to_string()),
        _ => CliError::Io(e.to_string()),
    }
}

/// Opens INPUT: `synth:<spec>`, `file:<path>` or a plain path.
pub fn open_input(input: &str) -> Result<Box<dyn crate::source::Source>, CliError> {
    crate::source::open(input).map_err(source_error)
}

/// A recording that could not start: the path's fault (exit 2) or the system's (exit 3).
pub(crate) fn record_error(e: crate::record::RecordError) -> CliError {
    if e.is_usage() {
        CliError::Usage(e.to_string())
    } else {
        CliError::Io(e.to_string())
    }
}

/// `--seconds` must be a positive time.
pub(crate) fn check_seconds(seconds: Option<f64>) -> Result<(), CliError> {
    match seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => Err(CliError::Usage(format!(
            "--seconds must be above 0, got {s}"
        ))),
        _ => Ok(()),
    }
}

/// Prints a note for the user (not an error) on stderr.
pub(crate) fn warn(note: Option<String>) {
    if let Some(note) = note {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("note: {note}");
        }
    }
}

/// A flag that Ctrl-C (or SIGTERM) sets. A second handler (a library user that set one) is not
/// an error worth failing for: the flag then never sets.
pub(crate) fn on_interrupt() -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    on_interrupt_then(|| {})
}

/// [`on_interrupt`], also calling `then` (to wake the thread that looks at the flag).
pub(crate) fn on_interrupt_then(
    then: impl Fn() + Send + 'static,
) -> std::sync::Arc<std::sync::atomic::AtomicBool> {
    let flag = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let f = flag.clone();
    let _ = ctrlc::set_handler(move || {
        f.store(true, std::sync::atomic::Ordering::Relaxed);
        then();
    });
    flag
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
        Some(Command::Loudness(args)) => loudness::run(&args),
        Some(Command::Render(args)) => render(&args),
        Some(Command::Record(args)) => record::run(&args),
        Some(Command::Generate(args)) => generate::run(&args),
        None => window(cli.window),
    }
}
