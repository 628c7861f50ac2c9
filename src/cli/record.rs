//! `spektr record <OUT>`: record a live source to WAV while analyzing it, printing levels; and
//! the recording half of `spektr analyze --source ... --record <OUT>`.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use super::CliError;
use super::analyze::{Started, start_live};
use crate::capture::supervisor::Event;
use crate::capture::{HostChoice, SourceSpec};
use crate::config::{AnalysisSettings, SampleKind, StreamFormat};
use crate::engine::{self, Analyzer, EngineControl, EngineInput};
use crate::publish::{Frame, frame_buffer};
use crate::record::{
    Finished, MarkKind, RecordEvent, RecordFormat, RecordRequest, Recording, human_bytes,
    unique_recording_path,
};
use crate::source::file::FileSource;
use crate::source::synth::{Synth, SynthSpec};
use crate::source::{Source, pump_with, sample_ring};

/// Arguments of `spektr record`.
#[derive(Debug, Args)]
#[command(
    after_help = "OUT is a new .wav file, or a folder (the file is then named \
spektr-YYYYMMDD-HHMMSS.wav).\nExisting files are never overwritten. A sidecar OUT.json lists \
the source, the settings and every event\n(gaps, device loss) with its sample position.\n\n\
Exit codes: 0 the recording is complete (stopped by --seconds, Ctrl-C or the source's end),\n\
2 usage error, 3 the recording stopped early (disk full, disk too slow, file removed,\n\
device lost): the file then holds everything up to the reported position."
)]
pub struct RecordArgs {
    /// The WAV file to create, or a folder to create it in.
    pub out: PathBuf,
    /// What to record: default, device:<name>, monitor, monitor:<name>, file:<path> or
    /// synth:<spec> (files and synths play at real-time pace unless --fast).
    #[arg(long, value_name = "SPEC", default_value = "default")]
    pub source: String,
    /// Audio system.
    #[arg(long, value_enum, default_value_t = HostChoice::Auto)]
    pub host: HostChoice,
    /// Capture period to ask a device for, ms (1 to 200; default: the audio system's).
    /// Devices only: files and synth are paced.
    #[arg(long, value_name = "MS", value_parser = crate::capture::parse_period_ms)]
    pub period: Option<f64>,
    /// Stop after this many seconds of audio.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Sample format of the file: native keeps the source's (integer sources bit-exact).
    #[arg(long, value_enum, default_value_t = RecordFormat::Native)]
    pub format: RecordFormat,
    /// With a file source, play it again and again.
    #[arg(long = "loop")]
    pub looped: bool,
    /// With a file or synth source, read it as fast as possible instead of in real time.
    #[arg(long)]
    pub fast: bool,
    /// Print nothing but errors.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The path to record to: OUT itself, or a new unique name when OUT is a folder.
pub fn target(out: &Path) -> PathBuf {
    if out.is_dir() {
        unique_recording_path(out, chrono::Local::now())
    } else {
        out.to_path_buf()
    }
}

/// Starts a recording of a stream, for the CLI.
pub(crate) fn start(
    out: &Path,
    format: StreamFormat,
    kind: SampleKind,
    choice: RecordFormat,
    source: &str,
    settings: &AnalysisSettings,
    seconds: Option<f64>,
) -> Result<(Recording, crate::record::Tap), CliError> {
    let mut request = RecordRequest::new(target(out), format, kind);
    request.choice = choice;
    request.source = source.to_string();
    request.settings = serde_json::to_value(settings).unwrap_or_default();
    request.limit_frames = seconds.map(|s| (s * f64::from(format.sample_rate)).round() as u64);
    Recording::start(request).map_err(|e| {
        if e.is_usage() {
            CliError::Usage(e.to_string())
        } else {
            CliError::Io(e.to_string())
        }
    })
}

fn check_seconds(seconds: Option<f64>) -> Result<(), CliError> {
    match seconds {
        Some(s) if !(s.is_finite() && s > 0.0) => Err(CliError::Usage(format!(
            "--seconds must be above 0, got {s}"
        ))),
        _ => Ok(()),
    }
}

/// Runs `spektr record`.
pub fn run(args: &RecordArgs) -> Result<(), CliError> {
    check_seconds(args.seconds)?;
    let spec: SourceSpec = args
        .source
        .parse()
        .map_err(|e: crate::capture::CaptureError| CliError::Usage(e.to_string()))?;
    if args.fast && !matches!(spec, SourceSpec::File(_) | SourceSpec::Synth(_)) {
        return Err(CliError::Usage(
            "--fast works with file: and synth: sources only".into(),
        ));
    }
    let settings = AnalysisSettings::default();
    let control = Arc::new(EngineControl::default());
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let flag = interrupted.clone();
        let _ = ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed));
    }
    if args.fast {
        return run_fast(args, &spec, &settings, &control, &interrupted);
    }
    let (
        supervisor,
        Started {
            name,
            format,
            kind,
            input,
            ..
        },
    ) = start_live(spec, args.host, args.looped, args.period, &control)?;
    let (recording, tap) = start(
        &args.out,
        format,
        kind,
        args.format,
        &name,
        &settings,
        args.seconds,
    )?;
    control.install_tap(tap);
    let (mut session, engine) = Session::start(
        args.quiet,
        &recording,
        format,
        &settings,
        input,
        control.clone(),
    )?;
    let mut lost = None;
    let finished = loop {
        if interrupted.swap(false, Ordering::Relaxed) {
            recording.stop();
        }
        while let Ok(event) = supervisor.events.try_recv() {
            if let Event::DeviceLost { reason } = event {
                recording.mark(MarkKind::DeviceLost, reason.clone());
                lost = Some(reason);
            }
        }
        if let Some(f) = session.poll(&recording) {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    control.stop();
    let _ = engine.join();
    drop(supervisor);
    session.end(&finished, lost)
}

/// `--fast`: a file or synth pumped as fast as the engine takes it.
fn run_fast(
    args: &RecordArgs,
    spec: &SourceSpec,
    settings: &AnalysisSettings,
    control: &Arc<EngineControl>,
    interrupted: &Arc<AtomicBool>,
) -> Result<(), CliError> {
    let spec = spec.clone();
    let open = move || -> Result<Box<dyn Source>, CliError> {
        Ok(match &spec {
            SourceSpec::File(path) => Box::new(
                FileSource::open(Path::new(path)).map_err(|e| CliError::Io(e.to_string()))?,
            ),
            SourceSpec::Synth(s) => Box::new(Synth::new(
                SynthSpec::parse(s).map_err(|e| CliError::Usage(e.to_string()))?,
            )),
            _ => unreachable!("checked by the caller"),
        })
    };
    let mut source = open()?;
    let format = source.format();
    let (recording, tap) = start(
        &args.out,
        format,
        source.sample_kind(),
        args.format,
        &source.name(),
        settings,
        args.seconds,
    )?;
    control.install_tap(tap);
    let (mut ring, samples, stats) = sample_ring(format);
    let input = EngineInput::new(samples, stats);
    let (mut session, engine) = Session::start(
        args.quiet,
        &recording,
        format,
        settings,
        input,
        control.clone(),
    )?;
    ring.wake_on_push(engine.thread().clone());
    let looped = args.looped;
    let gauge = recording.gauge();
    // Not real time: the source waits for the writer (half its ring at most) instead of
    // overrunning it, so --fast records as fast as the disk takes it.
    let most = (crate::record::RING_SECONDS / 2.0 * f64::from(format.sample_rate)) as u64;
    let pumper = std::thread::Builder::new()
        .name("spektr-source".into())
        .spawn(move || -> Result<(), String> {
            let wait_for_writer = || {
                while gauge.backlog() > most && !gauge.ended() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            };
            loop {
                pump_with(source.as_mut(), &mut ring, wait_for_writer)
                    .map_err(|e| e.to_string())?;
                if !looped || ring.engine_gone() {
                    return Ok(());
                }
                source = open().map_err(|e| e.to_string())?;
            }
        })
        .map_err(|e| CliError::Io(format!("cannot start the source thread: {e}")))?;
    let finished = loop {
        if interrupted.swap(false, Ordering::Relaxed) {
            recording.stop();
        }
        if let Some(f) = session.poll(&recording) {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    control.stop();
    let _ = engine.join();
    let source_error = pumper.join().ok().and_then(Result::err);
    session.end(&finished, source_error)
}

/// The live display of a recording on stderr, and the engine it watches.
struct Session {
    bar: Option<ProgressBar>,
    quiet: bool,
    plain: bool,
    frames: crate::publish::FrameOutput,
    last_line: Instant,
    progress: crate::record::Progress,
}

impl Session {
    /// Starts the engine on `input` (the recording's tap is installed in `control`) and the
    /// display of its levels.
    fn start(
        quiet: bool,
        recording: &Recording,
        format: StreamFormat,
        settings: &AnalysisSettings,
        mut input: EngineInput,
        control: Arc<EngineControl>,
    ) -> Result<(Self, std::thread::JoinHandle<()>), CliError> {
        let mut analyzer =
            Analyzer::new(settings, format).map_err(|e| CliError::Usage(e.to_string()))?;
        let (mut frames_in, frames) = frame_buffer(analyzer.bands().len(), format.channels);
        // The recording ends with the engine: the tap goes with the input.
        let engine = std::thread::Builder::new()
            .name("spektr-engine".into())
            .spawn(move || {
                engine::run(&mut input, &mut analyzer, &mut frames_in, &control);
            })
            .map_err(|e| CliError::Io(format!("cannot start the engine thread: {e}")))?;
        let terminal = std::io::stderr().is_terminal();
        let bar = (!quiet && terminal).then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner:.red} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner())
                    .tick_chars("●○ "),
            );
            bar.enable_steady_tick(Duration::from_millis(250));
            bar
        });
        #[allow(clippy::print_stderr)]
        if !quiet {
            eprintln!(
                "recording {} ({}, {} Hz, {} ch); Ctrl-C stops",
                recording.path().display(),
                recording.encoding(),
                format.sample_rate,
                format.channels
            );
        }
        let session = Session {
            bar,
            quiet,
            plain: !quiet && !terminal,
            frames,
            last_line: Instant::now(),
            progress: Default::default(),
        };
        Ok((session, engine))
    }

    /// Drains the recording's events and refreshes the display; the end, once it came.
    fn poll(&mut self, recording: &Recording) -> Option<Finished> {
        let mut finished = None;
        while let Ok(event) = recording.events.try_recv() {
            match event {
                RecordEvent::Progress(p) => self.progress = p,
                RecordEvent::Finished(f) => finished = Some(f),
            }
        }
        if finished.is_some() {
            return finished;
        }
        let line = status_line(self.frames.read(), recording, &self.progress);
        if let Some(bar) = &self.bar {
            bar.set_message(line);
        } else if self.plain && self.last_line.elapsed() >= Duration::from_secs(1) {
            self.last_line = Instant::now();
            #[allow(clippy::print_stderr)]
            {
                eprintln!("{line}");
            }
        }
        None
    }

    /// The closing line and the exit code: 0 when the recording is complete.
    fn end(self, finished: &Finished, trouble: Option<String>) -> Result<(), CliError> {
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
        report(finished, trouble, self.quiet)
    }
}

/// How a recording's end is reported by the CLI: `Ok` (with an info line on stderr) when it is
/// complete, the error line otherwise.
pub(crate) fn report(
    finished: &Finished,
    trouble: Option<String>,
    quiet: bool,
) -> Result<(), CliError> {
    match trouble {
        Some(reason) if finished.complete() => Err(CliError::Io(format!(
            "capture ended: {reason}; {}",
            finished.message()
        ))),
        _ if finished.complete() => {
            #[allow(clippy::print_stderr)]
            if !quiet {
                eprintln!("{}", finished.message());
            }
            Ok(())
        }
        _ => Err(CliError::Io(finished.message())),
    }
}

fn status_line(frame: &Frame, recording: &Recording, progress: &crate::record::Progress) -> String {
    let mut line = format!(
        "REC {}  {}  buffer {:.0}%  |",
        recording.clock(),
        human_bytes(progress.bytes),
        progress.ring_fill * 100.0
    );
    for (i, c) in frame.channels.iter().enumerate() {
        // The window's names, so both say the same.
        let name = crate::publish::channel_label(frame.channels.len(), i);
        line.push_str(&format!(
            "  {name} {:>6.1} pk {:>6.1} rms{}",
            c.peak_dbfs.max(-120.0),
            c.rms_dbfs.max(-120.0),
            if c.clipped { " CLIP" } else { "" }
        ));
    }
    line.push_str(" dBFS");
    line
}
