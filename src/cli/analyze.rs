//! `spektr analyze <INPUT>`: the engine over a file or a generated signal, as fast as possible.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::output::{InputInfo, Output, OutputFormat, OutputSink};
use crate::capture::supervisor::{Event, Options, Supervisor};
use crate::capture::{HostChoice, SourceSpec};
use crate::config::{AnalysisSettings, BandLayout, Smoothing, Weighting};
use crate::engine::{self, Analyzer, EngineControl, EngineInput};
use crate::source::file::FileSource;
use crate::source::synth::{Synth, SynthSpec};
use crate::source::{Source, SourceError, pump, sample_ring};

/// Inputs at least this long get a progress bar (when stderr is a terminal).
const PROGRESS_FROM_S: f64 = 30.0;

/// Arguments of `spektr analyze`.
#[derive(Debug, Args)]
#[command(
    after_help = "INPUT is an audio file (WAV, FLAC, Ogg Vorbis), file:<path>, or synth:<spec>.\n\
Synth specs are comma-separated: sine=F@L, sweep=F1-F2@L, white@L, pink@L, silence, demo,\n\
duration=S, rate=R, channels=C, seed=N. L is in dBFS (peak for sines, RMS AES17 for noise).\n\
Example: spektr analyze synth:sine=1000@-6,sine=100@-20,duration=5 --format summary\n\n\
Exit codes: 0 success, 2 usage error, 3 input or output error."
)]
pub struct AnalyzeArgs {
    /// Audio file path, file:<path>, or synth:<spec>, analyzed as fast as possible.
    #[arg(required_unless_present = "source", conflicts_with = "source")]
    pub input: Option<String>,
    /// Analyze live instead: default, device:<name>, monitor, monitor:<name>, file:<path> or
    /// synth:<spec> (files and synths then play at real-time pace).
    #[arg(long, value_name = "SPEC")]
    pub source: Option<String>,
    /// Audio system for --source.
    #[arg(long, value_enum, default_value_t = HostChoice::Auto)]
    pub host: HostChoice,
    /// Capture period to ask a device for, ms (1 to 200; default: the audio system's). Longer
    /// periods wake spektr less often (less CPU). Devices only: files and synth are paced.
    #[arg(long, value_name = "MS", value_parser = crate::capture::parse_period_ms)]
    pub period: Option<f64>,
    /// Stop after this many seconds of audio.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// With --source file:<path>, play the file again and again.
    #[arg(long = "loop")]
    pub looped: bool,
    /// Print arrival-to-publication latency (median, p99, max) on stderr at the end.
    #[arg(long)]
    pub stats: bool,
    /// Analysis gain in dB (bars and meters only).
    #[arg(
        long,
        value_name = "DB",
        default_value_t = 0.0,
        allow_negative_numbers = true
    )]
    pub gain: f64,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Ndjson)]
    pub format: OutputFormat,
    /// Frames per second of audio time.
    #[arg(long, default_value_t = crate::config::DEFAULT_FPS)]
    pub fps: f64,
    /// Number of bars (log layout only; 8 to 128) [default: 32].
    #[arg(long)]
    pub bars: Option<usize>,
    /// Band layout.
    #[arg(long, value_enum, default_value_t = BandsArg::Log)]
    pub bands: BandsArg,
    /// Lower edge of the analysed range, Hz.
    #[arg(long, default_value_t = crate::config::DEFAULT_FMIN_HZ)]
    pub fmin: f64,
    /// Upper edge of the analysed range, Hz (clamped to the Nyquist frequency).
    #[arg(long, default_value_t = crate::config::DEFAULT_FMAX_HZ)]
    pub fmax: f64,
    /// Frequency weighting of the bars (IEC 61672-1).
    #[arg(long, value_enum, default_value_t = WeightingArg::Z)]
    pub weighting: WeightingArg,
    /// Smoothing of band power: none, fast (125 ms) or slow (1 s).
    #[arg(long, value_enum, default_value_t = SmoothingArg::None)]
    pub smoothing: SmoothingArg,
    /// Peak-hold time, ms.
    #[arg(long, value_name = "MS", default_value_t = crate::config::DEFAULT_PEAK_HOLD_MS)]
    pub peak_hold: f64,
    /// Peak-hold fall rate after the hold time, dB/s.
    #[arg(long, value_name = "DB_PER_S", default_value_t = crate::config::DEFAULT_PEAK_FALL_DB_PER_S)]
    pub peak_fall: f64,
    /// Write to FILE instead of standard output.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// With --source: also record it to this WAV file (or a new file in this folder). The
    /// analysis goes on to its end even if the recording stops early.
    #[arg(long, value_name = "OUT", requires = "source")]
    pub record: Option<PathBuf>,
    /// Sample format of --record's file.
    #[arg(long, value_enum, default_value_t = crate::record::RecordFormat::Native, requires = "record")]
    pub record_format: crate::record::RecordFormat,
}

/// `--bands`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BandsArg {
    /// N log-spaced bars between fmin and fmax.
    Log,
    /// IEC 61260 one-third-octave bands.
    ThirdOctave,
}

/// `--weighting`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WeightingArg {
    /// No weighting.
    Z,
    /// A-weighting.
    A,
    /// C-weighting.
    C,
}

/// `--smoothing`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum SmoothingArg {
    /// Each frame stands alone.
    None,
    /// 125 ms exponential.
    Fast,
    /// 1 s exponential.
    Slow,
}

impl From<BandsArg> for BandLayout {
    fn from(b: BandsArg) -> Self {
        match b {
            BandsArg::Log => BandLayout::Log,
            BandsArg::ThirdOctave => BandLayout::ThirdOctave,
        }
    }
}

impl From<WeightingArg> for Weighting {
    fn from(w: WeightingArg) -> Self {
        match w {
            WeightingArg::Z => Weighting::Z,
            WeightingArg::A => Weighting::A,
            WeightingArg::C => Weighting::C,
        }
    }
}

impl From<SmoothingArg> for Smoothing {
    fn from(s: SmoothingArg) -> Self {
        match s {
            SmoothingArg::None => Smoothing::None,
            SmoothingArg::Fast => Smoothing::Fast,
            SmoothingArg::Slow => Smoothing::Slow,
        }
    }
}

impl AnalyzeArgs {
    /// The analysis settings these arguments ask for.
    pub fn settings(&self) -> AnalysisSettings {
        AnalysisSettings {
            bands: match self.bands {
                BandsArg::Log => BandLayout::Log,
                BandsArg::ThirdOctave => BandLayout::ThirdOctave,
            },
            bars: self.bars,
            fmin_hz: self.fmin,
            fmax_hz: self.fmax,
            weighting: match self.weighting {
                WeightingArg::Z => Weighting::Z,
                WeightingArg::A => Weighting::A,
                WeightingArg::C => Weighting::C,
            },
            smoothing: match self.smoothing {
                SmoothingArg::None => Smoothing::None,
                SmoothingArg::Fast => Smoothing::Fast,
                SmoothingArg::Slow => Smoothing::Slow,
            },
            fps: self.fps,
            peak_hold_ms: self.peak_hold,
            peak_fall_db_per_s: self.peak_fall,
        }
    }
}

fn source_error(e: SourceError) -> CliError {
    match e {
        SourceError::Spec(_) => CliError::Usage(e.to_string()),
        _ => CliError::Io(e.to_string()),
    }
}

/// Opens INPUT: `synth:<spec>`, `file:<path>` or a plain path.
pub fn open_input(input: &str) -> Result<(Box<dyn Source>, Option<String>), CliError> {
    if let Some(spec) = input.strip_prefix("synth:") {
        let spec = SynthSpec::parse(spec).map_err(source_error)?;
        return Ok((Box::new(Synth::new(spec)), Some("generated f32".into())));
    }
    let path = input.strip_prefix("file:").unwrap_or(input);
    let file = FileSource::open(Path::new(path)).map_err(source_error)?;
    let description = file.description.clone();
    Ok((Box::new(file), Some(description)))
}

/// Runs `spektr analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<(), CliError> {
    let settings = args.settings();
    // Settings that are wrong whatever the input say so before the input is opened.
    settings
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(s) = args.seconds.filter(|s| !(s.is_finite() && *s > 0.0)) {
        return Err(CliError::Usage(format!(
            "--seconds must be above 0, got {s}"
        )));
    }
    if !args.gain.is_finite() || args.gain.abs() > 120.0 {
        return Err(CliError::Usage(format!(
            "--gain must be between -120 and 120 dB, got {}",
            args.gain
        )));
    }
    let control = Arc::new(EngineControl::default());
    control.set_gain_db(args.gain as f32);
    match (&args.input, &args.source) {
        (Some(input), None) => run_offline(args, &settings, input, &control),
        (None, Some(source)) => run_live(args, &settings, source, control),
        _ => Err(CliError::Usage(
            "give either an INPUT or --source, not both".into(),
        )),
    }
}

fn open_output(args: &AnalyzeArgs) -> Result<Box<dyn Write + Send>, CliError> {
    Ok(match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
            Box::new(std::io::BufWriter::with_capacity(1 << 16, file))
        }
        None => Box::new(std::io::BufWriter::with_capacity(
            1 << 16,
            std::io::stdout(),
        )),
    })
}

/// The end of a run: write errors, the closing line, the stats line.
fn finish(
    args: &AnalyzeArgs,
    mut sink: OutputSink,
    analyzer: &Analyzer,
    info: &InputInfo,
) -> Result<(), CliError> {
    if let Some(e) = sink.error.take() {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            // The reader (`| head`) has what it wanted.
            return Ok(());
        }
        return Err(write_error(args, &e));
    }
    match sink.finish(analyzer, info) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
        Err(e) => return Err(write_error(args, &e)),
    }
    if args.stats {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", sink.latency_line());
        }
    }
    Ok(())
}

fn run_offline(
    args: &AnalyzeArgs,
    settings: &AnalysisSettings,
    input: &str,
    control: &EngineControl,
) -> Result<(), CliError> {
    let (mut source, sample_format) = open_input(input)?;
    let format = source.format();
    let mut analyzer =
        Analyzer::new(settings, format).map_err(|e| CliError::Usage(e.to_string()))?;
    let fs = f64::from(format.sample_rate);
    let total = source.total_frames();
    let info = InputInfo {
        source: source.name(),
        sample_format,
        duration_s: total.map(|t| t as f64 / fs),
    };
    let long = total.is_none_or(|t| t as f64 / fs >= PROGRESS_FROM_S);
    let progress = (!args.no_progress && long && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(total.unwrap_or(0));
        bar.set_style(
            ProgressStyle::with_template(
                "{spinner} analyzing [{bar:40}] {percent}% {elapsed} (eta {eta})",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    });
    let mut sink = OutputSink::new(
        args.format,
        &analyzer,
        &info,
        Output::Direct(open_output(args)?),
        progress,
    )
    .map_err(|e| write_error(args, &e))?;
    sink.limit_s = args.seconds;

    let (mut ring, samples, stats) = sample_ring(format);
    let mut input = EngineInput::new(samples, stats);
    let (read_result, sink, analyzer) = std::thread::scope(|scope| {
        let engine = std::thread::Builder::new()
            .name("spektr-engine".into())
            .spawn_scoped(scope, || {
                engine::run(&mut input, &mut analyzer, &mut sink, control);
                (sink, analyzer)
            })
            .map_err(|e| CliError::Io(format!("cannot start the engine thread: {e}")))?;
        ring.wake_on_push(engine.thread().clone());
        let read_result = pump(source.as_mut(), &mut ring);
        drop(ring);
        engine.thread().unpark();
        let (sink, analyzer) = engine
            .join()
            .map_err(|_| CliError::Io("the engine thread failed".into()))?;
        Ok::<_, CliError>((read_result, sink, analyzer))
    })?;
    // A file that breaks off is an error even when the output stopped earlier by itself.
    if sink.error.is_none() {
        read_result.map_err(source_error)?;
    }
    finish(args, sink, &analyzer, &info)
}

/// How long a device may take to deliver its first stream.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A capture that started.
pub(crate) struct Started {
    pub name: String,
    pub format: crate::config::StreamFormat,
    pub sample_format: String,
    pub kind: crate::config::SampleKind,
    pub input: EngineInput,
}

/// Starts capturing `spec` (no reconnection: the CLI reports a loss) and waits for the stream.
pub(crate) fn start_live(
    spec: SourceSpec,
    host: HostChoice,
    looped: bool,
    period_ms: Option<f64>,
    control: &Arc<EngineControl>,
) -> Result<(Supervisor, Started), CliError> {
    let options = Options {
        host,
        looped,
        reconnect: false,
        period_ms,
    };
    let supervisor = Supervisor::spawn(spec, options, control.clone())
        .map_err(|e| CliError::Io(format!("cannot start the capture thread: {e}")))?;
    let started = wait_started(&supervisor)?;
    Ok((supervisor, started))
}

/// Waits for the supervisor's first stream, or its failure.
pub(crate) fn wait_started(supervisor: &Supervisor) -> Result<Started, CliError> {
    loop {
        match supervisor.events.recv_timeout(START_TIMEOUT) {
            Ok(Event::Started {
                source,
                format,
                sample_format,
                kind,
                input,
            }) => {
                return Ok(Started {
                    name: source,
                    format,
                    sample_format,
                    kind,
                    input: *input,
                });
            }
            Ok(Event::Failed { error, usage: true }) => return Err(CliError::Usage(error)),
            Ok(Event::Failed { error, .. }) => return Err(CliError::Io(error)),
            Ok(_) => continue,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(CliError::Io(format!(
                    "the capture did not start within {} s",
                    START_TIMEOUT.as_secs()
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(CliError::Io("the capture thread stopped".into()));
            }
        }
    }
}

fn run_live(
    args: &AnalyzeArgs,
    settings: &AnalysisSettings,
    source: &str,
    control: Arc<EngineControl>,
) -> Result<(), CliError> {
    let spec: SourceSpec = source
        .parse()
        .map_err(|e: crate::capture::CaptureError| CliError::Usage(e.to_string()))?;
    let spec_kind = spec.clone();
    let (
        supervisor,
        Started {
            name,
            format,
            sample_format,
            kind,
            mut input,
        },
    ) = start_live(spec, args.host, args.looped, args.period, &control)?;
    let mut analyzer =
        Analyzer::new(settings, format).map_err(|e| CliError::Usage(e.to_string()))?;
    let recording = match &args.record {
        Some(out) => {
            let (recording, tap) = super::record::start(
                out,
                format,
                kind,
                args.record_format,
                &name,
                settings,
                args.seconds,
            )?;
            control.install_tap(tap);
            Some(recording)
        }
        None => None,
    };
    let info = InputInfo {
        source: name,
        sample_format: Some(sample_format),
        duration_s: None,
    };
    let output = Output::live(open_output(args)?)
        .map_err(|e| CliError::Io(format!("cannot start the output thread: {e}")))?;
    let mut sink = OutputSink::new(args.format, &analyzer, &info, output, None)
        .map_err(|e| write_error(args, &e))?;
    sink.limit_s = args.seconds;
    sink.xruns = Some(0);
    {
        let control = control.clone();
        // A second handler (a library user that set one) is not an error worth failing for.
        let _ = ctrlc::set_handler(move || control.stop());
    }
    let engine_control = control.clone();
    let engine = std::thread::Builder::new()
        .name("spektr-engine".into())
        .spawn(move || {
            let exit = engine::run(&mut input, &mut analyzer, &mut sink, &engine_control);
            (exit, sink, analyzer)
        })
        .map_err(|e| CliError::Io(format!("cannot start the engine thread: {e}")))?;
    let device = !matches!(spec_kind, SourceSpec::File(_) | SourceSpec::Synth(_));
    let mut lost = None;
    let mut xruns = 0;
    let mut recorded = None;
    while !engine.is_finished() {
        match supervisor.events.recv_timeout(Duration::from_millis(50)) {
            Ok(Event::DeviceLost { reason }) => {
                if let Some(r) = &recording {
                    r.mark(crate::record::MarkKind::DeviceLost, reason.clone());
                }
                lost = Some(reason);
                control.stop();
            }
            Ok(Event::Xruns(n)) => xruns = n,
            _ => {}
        }
        if recorded.is_none() {
            recorded = recording.as_ref().and_then(recording_end);
        }
    }
    let (exit, mut sink, analyzer) = engine
        .join()
        .map_err(|_| CliError::Io("the engine thread failed".into()))?;
    if exit == engine::EngineExit::EndOfStream && lost.is_none() {
        // The stream's producer went away: with the device, or at a file's end or error. The
        // supervisor says which; cpal reports a lost PulseAudio server from a polling thread,
        // so the reason may still be on its way.
        let deadline = std::time::Instant::now() + Duration::from_secs(1);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match supervisor.events.recv_timeout(left) {
                Ok(Event::DeviceLost { reason }) => {
                    lost = Some(reason);
                    break;
                }
                Ok(Event::Ended) => break,
                Ok(Event::Xruns(n)) => xruns = n,
                Ok(_) => {}
                Err(_) => {
                    if device {
                        lost = Some("the device stopped delivering audio".into());
                    }
                    break;
                }
            }
        }
    }
    drop(supervisor);
    sink.xruns = Some(xruns);
    sink.block_frames = control.block_frames();
    // The engine has let go of the recording (if it still ran): the writer finalizes it.
    if let Some(r) = recording
        && recorded.is_none()
    {
        recorded = r.wait();
    }
    finish(args, sink, &analyzer, &info)?;
    match (lost, recorded) {
        // Already said when it happened; the exit code still says it.
        (None, Some(finished)) if !finished.complete() => Err(CliError::Io(format!(
            "the recording is incomplete: {} holds {}",
            finished.path.display(),
            finished.duration()
        ))),
        (lost, Some(finished)) => super::record::report(&finished, lost, false),
        (Some(reason), None) => Err(CliError::Io(format!("capture ended: {reason}"))),
        (None, None) => Ok(()),
    }
}

/// The end of a recording that ran alongside the analysis, once it came; a recording that
/// stops early says so at once (the analysis goes on).
fn recording_end(recording: &crate::record::Recording) -> Option<crate::record::Finished> {
    let mut end = None;
    while let Ok(event) = recording.events.try_recv() {
        if let crate::record::RecordEvent::Finished(f) = event {
            if !f.complete() {
                #[allow(clippy::print_stderr)]
                {
                    eprintln!("error: {}", f.message());
                }
            }
            end = Some(f);
        }
    }
    end
}

fn write_error(args: &AnalyzeArgs, e: &std::io::Error) -> CliError {
    let target = args.output.as_ref().map_or_else(
        || "standard output".to_string(),
        |p| p.display().to_string(),
    );
    CliError::Io(format!("cannot write {target}: {e}"))
}
