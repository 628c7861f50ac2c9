//! `spektr analyze <INPUT>`: the engine over a file or a generated signal, as fast as possible.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::args::LiveArgs;
use super::output::{DirectOut, InputInfo, Output, OutputFormat, OutputSink};
use super::{open_input, source_error};
use crate::capture::{SourceSpec, StreamInfo};
use crate::config::{AnalysisSettings, BandLayout, BarsFrom, Smoothing, Weighting};
use crate::engine::{Analyzer, EngineHandle, EngineOutcome};
use crate::live::{LiveEvent, LiveSession, Publisher};
use crate::source::pump;

/// Inputs at least this long get a progress bar (when stderr is a terminal).
const PROGRESS_FROM_S: f64 = 30.0;
/// How long the engine may take to analyze what a stream that ended left in its ring.
const DRAIN: Duration = Duration::from_secs(2);
/// How often a live run looks at its flags when nothing wakes it (Ctrl-C and the engine's end
/// do): a wake costs tens of microseconds on a virtual machine.
const LOOK: Duration = Duration::from_secs(1);

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
    /// Audio system, capture period and looping, for --source.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Stop after this many seconds of audio.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Print the latency from the sound to each frame's publication (median, p90, p99, max)
    /// and the capture block size on stderr at the end.
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
    /// What the bars measure: mean (the mean of every channel's own band power), mid
    /// ((L+R)/2), side ((L-R)/2), left, right or a channel number (from 1), or each (every
    /// channel as its own trace, bars as for mean).
    #[arg(long, value_name = "MODE", default_value_t = BarsFrom::Mean)]
    pub bars_from: BarsFrom,
    /// Leave out loudness and true peak (EBU R 128): frames and the summary then carry none.
    #[arg(long)]
    pub no_loudness: bool,
    /// Count a mono input twice in loudness (dual mono: as if played on two speakers, +3 dB).
    #[arg(long)]
    pub dual_mono: bool,
    /// Lower edge of the analysed range, Hz.
    #[arg(long, default_value_t = crate::config::DEFAULT_FMIN_HZ)]
    pub fmin: f64,
    /// Upper edge of the analysed range, Hz (clamped to the Nyquist frequency).
    #[arg(long, default_value_t = crate::config::DEFAULT_FMAX_HZ)]
    pub fmax: f64,
    /// Frequency weighting of the bars (IEC 61672-1).
    #[arg(long, value_enum, default_value_t = WeightingArg::Z)]
    pub weighting: WeightingArg,
    /// Smoothing of band power: none, fast (125 ms) or slow (1 s) exponentials, or infinite
    /// (a power average since the start: each band's analyses count equally from when its
    /// window holds only signal). --average is another name for it.
    #[arg(long, visible_alias = "average", value_enum, default_value_t = SmoothingArg::None)]
    pub smoothing: SmoothingArg,
    /// Max-hold: the peak-hold markers never fall (instead of falling after --peak-hold).
    #[arg(long)]
    pub max_hold: bool,
    /// Peak-hold time, ms.
    #[arg(long, value_name = "MS", default_value_t = crate::config::DEFAULT_PEAK_HOLD_MS)]
    pub peak_hold: f64,
    /// Peak-hold fall rate after the hold time, dB/s.
    #[arg(long, value_name = "DB_PER_S", default_value_t = crate::config::DEFAULT_PEAK_FALL_DB_PER_S)]
    pub peak_fall: f64,
    /// Calibrate to dB SPL: the bars (and their peak-hold markers) read dBFS plus this, in dB
    /// SPL (a 1 kHz calibrator at 94 dB SPL that reads -20 dBFS needs 114). Meters stay in
    /// dBFS.
    #[arg(long, value_name = "DB", allow_negative_numbers = true)]
    pub spl_offset: Option<f64>,
    /// The SPL meter's frequency weighting (with --spl-offset: each frame's "spl" holds its
    /// Fast and Slow levels, the Leq since the start and the highest Fast level).
    #[arg(long, value_enum, default_value_t = WeightingArg::A, requires = "spl_offset")]
    pub spl_weighting: WeightingArg,
    /// A measurement microphone's correction file (miniDSP UMIK .txt, Dayton .txt, REW .cal):
    /// its response is taken out of the bars, linear in dB over log frequency between its
    /// points and held at its ends.
    #[arg(long, value_name = "FILE")]
    pub mic_cal: Option<PathBuf>,
    /// Compare with a reference: a window snapshot's .json or .csv, or a --save-reference
    /// file. Each frame gains "diff_db" (NDJSON; diff_ columns in CSV), the bars minus the
    /// reference's levels band by band, and the summary each band's mean minus them. The
    /// reference must have been measured in the same bands, at the same rate, in the same unit.
    #[arg(long, value_name = "FILE")]
    pub reference: Option<PathBuf>,
    /// At the end, store the last frame's bars as a reference in FILE (JSON), for --reference
    /// and the window's References; with --average infinite, the whole run's average.
    #[arg(long, value_name = "FILE")]
    pub save_reference: Option<PathBuf>,
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
    /// N log-spaced bars between fmin and fmax, 1 kHz at a band centre.
    Log,
    /// IEC 61260-1 octave bands.
    #[value(name = "1/1")]
    Octave,
    /// IEC 61260-1 one-third-octave bands.
    #[value(name = "1/3", alias = "third-octave")]
    ThirdOctave,
    /// IEC 61260-1 one-sixth-octave bands.
    #[value(name = "1/6")]
    SixthOctave,
    /// IEC 61260-1 one-twelfth-octave bands.
    #[value(name = "1/12")]
    TwelfthOctave,
    /// IEC 61260-1 one-twenty-fourth-octave bands.
    #[value(name = "1/24")]
    TwentyFourthOctave,
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
    /// A power average since the start (an RTA's infinite average).
    Infinite,
}

impl From<BandsArg> for BandLayout {
    fn from(b: BandsArg) -> Self {
        match b {
            BandsArg::Log => BandLayout::Log,
            BandsArg::Octave => BandLayout::Octave,
            BandsArg::ThirdOctave => BandLayout::ThirdOctave,
            BandsArg::SixthOctave => BandLayout::SixthOctave,
            BandsArg::TwelfthOctave => BandLayout::TwelfthOctave,
            BandsArg::TwentyFourthOctave => BandLayout::TwentyFourthOctave,
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
            SmoothingArg::Infinite => Smoothing::Infinite,
        }
    }
}

impl AnalyzeArgs {
    /// The analysis settings these arguments ask for.
    pub fn settings(&self) -> AnalysisSettings {
        AnalysisSettings {
            bands: self.bands.into(),
            bars: self.bars,
            fmin_hz: self.fmin,
            fmax_hz: self.fmax,
            weighting: self.weighting.into(),
            smoothing: self.smoothing.into(),
            fps: self.fps,
            peak_hold_ms: self.peak_hold,
            peak_fall_db_per_s: self.peak_fall,
            max_hold: self.max_hold,
            bars_from: self.bars_from,
            loudness: !self.no_loudness,
            dual_mono: self.dual_mono,
            spl_offset_db: self.spl_offset,
            spl_weighting: self.spl_weighting.into(),
            mic: None,
        }
    }
}

/// Runs `spektr analyze`.
pub fn run(args: &AnalyzeArgs) -> Result<(), CliError> {
    let mut settings = args.settings();
    // Settings that are wrong whatever the input say so before the input is opened.
    settings
        .validate()
        .map_err(|e| CliError::Usage(e.to_string()))?;
    if let Some(path) = &args.mic_cal {
        // A file that cannot be read is an input error (3); one read and found wrong, a
        // usage error (2), as a bad argument is.
        let curve = crate::calibration::MicCurve::load(path).map_err(|e| {
            if e.unreadable {
                CliError::Io(e.to_string())
            } else {
                CliError::Usage(e.to_string())
            }
        })?;
        settings.mic = Some(std::sync::Arc::new(curve));
    }
    let reference = match &args.reference {
        // As the correction file: unreadable is an input error (3), wrong a usage error (2).
        Some(path) => Some(std::sync::Arc::new(
            crate::reference::Reference::load(path).map_err(|e| {
                if e.unreadable {
                    CliError::Io(e.to_string())
                } else {
                    CliError::Usage(e.to_string())
                }
            })?,
        )),
        None => None,
    };
    super::check_seconds(args.seconds)?;
    if !args.gain.is_finite() || args.gain.abs() > 120.0 {
        return Err(CliError::Usage(format!(
            "--gain must be between -120 and 120 dB, got {}",
            args.gain
        )));
    }
    match (&args.input, &args.source) {
        (Some(input), None) => run_offline(args, &settings, input, reference),
        (None, Some(source)) => run_live(args, &settings, source, reference),
        _ => Err(CliError::Usage(
            "give either an INPUT or --source, not both".into(),
        )),
    }
}

/// Where the lines go: FILE or standard output, buffered in large blocks (offline: fast).
fn open_output(args: &AnalyzeArgs) -> Result<Box<dyn Write + Send>, CliError> {
    let (out, _) = open_live_output(args)?;
    Ok(Box::new(std::io::BufWriter::with_capacity(1 << 16, out)))
}

/// The same unbuffered, for live output written frame by frame (the reader sees each frame
/// as it is made), with a second handle on it for the engine to write a line itself where
/// that can never wait (a pipe or a socket: [`DirectOut`]).
fn open_live_output(
    args: &AnalyzeArgs,
) -> Result<(Box<dyn Write + Send>, Option<DirectOut>), CliError> {
    use std::os::fd::AsFd;
    Ok(match &args.output {
        Some(path) => {
            let file = std::fs::File::create(path)
                .map_err(|e| CliError::Io(format!("cannot write {}: {e}", path.display())))?;
            let direct = file.try_clone().ok().and_then(DirectOut::new);
            (Box::new(file), direct)
        }
        None => {
            let direct = std::io::stdout()
                .as_fd()
                .try_clone_to_owned()
                .ok()
                .map(std::fs::File::from)
                .and_then(DirectOut::new);
            (Box::new(std::io::stdout()), direct)
        }
    })
}

/// The end of a run: write errors, the closing line, the stats line. A reader that went away
/// (`| head`) has what it wanted: that is a clean end, in silence.
fn finish(
    args: &AnalyzeArgs,
    mut sink: OutputSink,
    analyzer: &Analyzer,
    info: &InputInfo,
) -> Result<(), CliError> {
    let result = match sink.error.take() {
        Some(seen) => Err(sink.close_after(seen)),
        None => sink.finish(analyzer, info),
    };
    // Stored whatever became of the output (a reader that went away is no reason not to);
    // the output's own error, if any, is the one reported.
    let saved = args
        .save_reference
        .as_ref()
        .map_or(Ok(()), |path| save_reference(path, &sink, analyzer, info));
    match result {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return saved,
        Err(e) => return Err(write_error(args, &e)),
    }
    saved?;
    if args.stats {
        #[allow(clippy::print_stderr)]
        {
            eprintln!("{}", sink.latency_line());
        }
    }
    Ok(())
}

/// `--save-reference`: the last frame's bars, named after the file.
fn save_reference(
    path: &std::path::Path,
    sink: &OutputSink,
    analyzer: &Analyzer,
    info: &InputInfo,
) -> Result<(), CliError> {
    if sink.frames == 0 {
        return Err(CliError::Io(format!(
            "no frame was analyzed: nothing to store in {}",
            path.display()
        )));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    sink.last_as_reference(analyzer, &name, &info.source)
        .save(path)
        .map_err(|e| {
            CliError::Io(format!(
                "cannot write the reference {}: {}",
                path.display(),
                crate::paths::io_reason(&e)
            ))
        })
}

/// Whether `reference` compares with `analyzer`'s analysis: a usage error if not.
fn check_reference(
    reference: Option<&crate::reference::Reference>,
    args: &AnalyzeArgs,
    analyzer: &Analyzer,
) -> Result<(), String> {
    let (Some(r), Some(path)) = (reference, &args.reference) else {
        return Ok(());
    };
    r.fits(
        analyzer.bands(),
        analyzer.format().sample_rate,
        analyzer.settings().unit(),
    )
    .map_err(|e| {
        format!(
            "cannot compare with the reference {}: {e} (analyze with the settings it was \
             measured with)",
            path.display()
        )
    })
}

fn progress_bar(total: Option<u64>) -> ProgressBar {
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
}

fn run_offline(
    args: &AnalyzeArgs,
    settings: &AnalysisSettings,
    input: &str,
    reference: Option<std::sync::Arc<crate::reference::Reference>>,
) -> Result<(), CliError> {
    let mut source = open_input(input)?;
    let format = source.format();
    let mut analyzer =
        Analyzer::new(settings, format).map_err(|e| CliError::Usage(e.to_string()))?;
    analyzer.set_gain_db(args.gain as f32);
    check_reference(reference.as_deref(), args, &analyzer).map_err(CliError::Usage)?;
    let fs = f64::from(format.sample_rate);
    let total = source.total_frames();
    let info = InputInfo {
        source: source.name(),
        sample_format: Some(source.description()),
        duration_s: total.map(|t| t as f64 / fs),
    };
    let long = total.is_none_or(|t| t as f64 / fs >= PROGRESS_FROM_S);
    let progress =
        (!args.no_progress && long && std::io::stderr().is_terminal()).then(|| progress_bar(total));
    let mut sink = OutputSink::new(
        args.format,
        &analyzer,
        &info,
        Output::Direct(open_output(args)?),
        progress,
        reference,
    );
    if let Some(e) = sink.error.take() {
        return Err(write_error(args, &sink.close_after(e)));
    }
    sink.limit_s = args.seconds;
    let (mut writer, reader) = crate::stream::channel(format, false);
    let engine = EngineHandle::spawn(reader, analyzer, sink, false, None)
        .map_err(|e| CliError::Io(format!("cannot start the engine thread: {e}")))?;
    engine.set_gain_db(args.gain as f32);
    writer.wake_on_push();
    let read_result = pump(source.as_mut(), &mut writer);
    drop(writer);
    engine.wake_now();
    let EngineOutcome { sink, analyzer, .. } = engine
        .join()
        .ok_or_else(|| CliError::Io("the engine thread failed".into()))?;
    // A file that breaks off is an error even when the output stopped earlier by itself.
    if sink.error.is_none() {
        read_result.map_err(source_error)?;
    }
    finish(args, sink, &analyzer, &info)
}

/// The live run's sink: made once the stream's format is known.
struct LiveOutput<'a> {
    args: &'a AnalyzeArgs,
    reference: Option<std::sync::Arc<crate::reference::Reference>>,
    format: OutputFormat,
    out: Option<(Box<dyn Write + Send>, Option<DirectOut>)>,
    limit_s: Option<f64>,
    info: Option<InputInfo>,
}

impl Publisher for LiveOutput<'_> {
    type Sink = OutputSink;

    fn sink(&mut self, info: &StreamInfo, analyzer: &Analyzer) -> Result<OutputSink, String> {
        check_reference(self.reference.as_deref(), self.args, analyzer)?;
        let out = self
            .out
            .take()
            .ok_or("the source changed its format: start again")?;
        let input = InputInfo {
            source: info.name.clone(),
            sample_format: Some(info.sample_format.clone()),
            duration_s: None,
        };
        let output = Output::live(out.0, out.1)
            .map_err(|e| format!("cannot start the output thread: {e}"))?;
        // A header that could not be written stops the engine at its first frame; the error
        // is reported at the end, as any failed write.
        let mut sink = OutputSink::new(
            self.format,
            analyzer,
            &input,
            output,
            None,
            self.reference.clone(),
        );
        sink.limit_s = self.limit_s;
        sink.xruns = Some(0);
        self.info = Some(input);
        Ok(sink)
    }
}

fn run_live(
    args: &AnalyzeArgs,
    settings: &AnalysisSettings,
    source: &str,
    reference: Option<std::sync::Arc<crate::reference::Reference>>,
) -> Result<(), CliError> {
    let spec: SourceSpec = source
        .parse()
        .map_err(|e: crate::capture::CaptureError| CliError::Usage(e.to_string()))?;
    let publisher = LiveOutput {
        args,
        reference,
        format: args.format,
        out: Some(open_live_output(args)?),
        limit_s: args.seconds,
        info: None,
    };
    let options = args.live.options(settings, args.gain as f32);
    let mut session = LiveSession::start(spec, options, publisher)?;
    if let Some(out) = args.record.clone() {
        let (choice, settings, seconds) = (args.record_format, settings.clone(), args.seconds);
        session.record_from_start(move |info| {
            super::record::request(&out, info, choice, &settings, seconds)
        });
    }
    let (info, note) = session.wait_started()?;
    super::warn(note);
    // Ctrl-C and the engine's end wake this thread: it need not look on a timer.
    let waker = session.waker();
    let interrupted = super::on_interrupt_then(move || waker.wake());
    let mut lost = None;
    let mut xruns = 0;
    let mut recorded = None;
    // The run ends with Ctrl-C, the output (a limit reached, the reader gone, a failed write),
    // or the source: at a file's end or a loss, once the engine has analyzed what came.
    let mut source_ended: Option<std::time::Instant> = None;
    loop {
        if interrupted.load(Ordering::Relaxed) || session.engine_finished() {
            break;
        }
        if source_ended.is_some_and(|t| session.engine_waiting() || t.elapsed() > DRAIN) {
            break;
        }
        // A source that ended: the engine's analysis of the rest is looked for often.
        let look = if source_ended.is_some() {
            Duration::from_millis(20)
        } else {
            LOOK
        };
        match session.next_event(look) {
            Some(LiveEvent::Lost { reason }) => {
                lost = Some(reason);
                source_ended.get_or_insert_with(std::time::Instant::now);
            }
            Some(LiveEvent::Failed { error, .. }) => {
                // The source could not be opened again (a new default that is not there).
                lost = Some(error);
                source_ended.get_or_insert_with(std::time::Instant::now);
            }
            Some(LiveEvent::Ended) => {
                source_ended.get_or_insert_with(std::time::Instant::now);
            }
            Some(LiveEvent::DefaultChanged { to }) => {
                super::warn(Some(format!(
                    "the default device is now {to}: following it"
                )));
            }
            Some(LiveEvent::Xruns(n)) => xruns = n,
            _ => {}
        }
        if recorded.is_none() {
            recorded = session.recording().and_then(recording_end);
        }
    }
    let block_frames = session.block_frames().or(info.block_frames);
    let outcome = session
        .join_engine()
        .ok_or_else(|| CliError::Io("the engine thread failed".into()))?;
    let info_out = session.publisher().info.take();
    let (_, finished) = session.finish();
    let recorded = recorded.or(finished);
    let mut sink = outcome.sink;
    sink.xruns = Some(xruns);
    sink.block_frames = block_frames;
    let input = info_out.unwrap_or(InputInfo {
        source: info.name.clone(),
        sample_format: None,
        duration_s: None,
    });
    finish(args, sink, &outcome.analyzer, &input)?;
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
