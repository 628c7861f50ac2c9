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
use super::args::LiveArgs;
use crate::capture::{SourceSpec, StreamInfo};
use crate::config::{AnalysisSettings, StreamFormat};
use crate::engine::{Analyzer, EngineHandle};
use crate::live::{Latest, LiveEvent, LiveSession};
use crate::publish::{Frame, FrameOutput};
use crate::record::{
    Finished, RecordEvent, RecordFormat, RecordRequest, Recording, human_bytes,
    unique_recording_path,
};
use crate::source::pump_with;

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
    /// Audio system, capture period and looping.
    #[command(flatten)]
    pub live: LiveArgs,
    /// Stop after this many seconds of audio.
    #[arg(long, value_name = "S")]
    pub seconds: Option<f64>,
    /// Sample format of the file: native keeps the source's (integer sources bit-exact).
    #[arg(long, value_enum, default_value_t = RecordFormat::Native)]
    pub format: RecordFormat,
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

/// A recording of the stream `info` describes, for the CLI.
pub(crate) fn request(
    out: &Path,
    info: &StreamInfo,
    choice: RecordFormat,
    settings: &AnalysisSettings,
    seconds: Option<f64>,
) -> RecordRequest {
    let mut request = RecordRequest::new(target(out), info.format, info.kind);
    request.choice = choice;
    request.source = info.name.clone();
    request.settings = serde_json::to_value(settings).unwrap_or_default();
    request.limit_frames = seconds.map(|s| (s * f64::from(info.format.sample_rate)).round() as u64);
    request
}

/// Runs `spektr record`.
pub fn run(args: &RecordArgs) -> Result<(), CliError> {
    super::check_seconds(args.seconds)?;
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
    let interrupted = super::on_interrupt();
    if args.fast {
        return run_fast(args, &spec, &settings, &interrupted);
    }
    let options = args.live.options(&settings, 0.0);
    let mut session = LiveSession::start(spec, options, Latest::default())?;
    let (out, choice, seconds) = (args.out.clone(), args.format, args.seconds);
    session.record_from_start(move |info| request(&out, info, choice, &settings, seconds));
    let (info, note) = session.wait_started()?;
    super::warn(note);
    let mut display = Display::new(args.quiet, session.recording(), info.format);
    let mut lost = None;
    let mut ended = false;
    let finished = loop {
        if interrupted.swap(false, Ordering::Relaxed)
            && let Some(r) = session.recording()
        {
            r.stop();
        }
        for event in session.poll() {
            match event {
                LiveEvent::Lost { reason } => lost = Some(reason),
                LiveEvent::Ended => ended = true,
                _ => {}
            }
        }
        // A file played to its end: once the engine has forwarded everything, the recording
        // ends with it (complete).
        if ended && session.engine_waiting() {
            session.stop_engine();
        }
        let (recording, frames) = session.parts();
        if recording.is_none() {
            break None;
        }
        if let Some(f) = display.poll(recording, frames.output()) {
            break Some(f);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (_, last) = session.finish();
    let finished = finished
        .or(last)
        .ok_or_else(|| CliError::Io("the recording ended without a word".into()))?;
    display.end(&finished, lost)
}

/// `--fast`: a file or synth pumped as fast as the engine takes it.
fn run_fast(
    args: &RecordArgs,
    spec: &SourceSpec,
    settings: &AnalysisSettings,
    interrupted: &Arc<AtomicBool>,
) -> Result<(), CliError> {
    let input = spec.to_string();
    let open = move || super::open_input(&input);
    let mut source = open()?;
    let format = source.format();
    let info = StreamInfo {
        name: source.name(),
        format,
        sample_format: source.description(),
        kind: source.sample_kind(),
        block_frames: None,
    };
    let (recording, tap) = Recording::start(request(
        &args.out,
        &info,
        args.format,
        settings,
        args.seconds,
    ))
    .map_err(super::record_error)?;
    let analyzer = Analyzer::new(settings, format).map_err(|e| CliError::Usage(e.to_string()))?;
    let (frames_in, mut frames) = triple_buffer::triple_buffer(&analyzer.new_frame());
    let (mut writer, reader) = crate::stream::channel(format, false);
    let engine = EngineHandle::spawn(reader, analyzer, frames_in, false, Some(tap))
        .map_err(|e| CliError::Io(format!("cannot start the engine thread: {e}")))?;
    writer.wake_on_push();
    let mut display = Display::new(args.quiet, Some(&recording), format);
    let looped = args.live.looped;
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
                pump_with(source.as_mut(), &mut writer, wait_for_writer)
                    .map_err(|e| e.to_string())?;
                if !looped || writer.engine_gone() {
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
        if let Some(f) = display.poll(Some(&recording), Some(&mut frames)) {
            break f;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    engine.stop();
    drop(engine);
    let source_error = pumper.join().ok().and_then(Result::err);
    display.end(&finished, source_error)
}

/// The live display of a recording on stderr.
struct Display {
    bar: Option<ProgressBar>,
    quiet: bool,
    plain: bool,
    last_line: Instant,
    progress: crate::record::Progress,
}

impl Display {
    fn new(quiet: bool, recording: Option<&Recording>, format: StreamFormat) -> Self {
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
        if !quiet && let Some(recording) = recording {
            eprintln!(
                "recording {} ({}, {} Hz, {} ch); Ctrl-C stops",
                recording.path().display(),
                recording.encoding(),
                format.sample_rate,
                format.channels
            );
        }
        Display {
            bar,
            quiet,
            plain: !quiet && !terminal,
            last_line: Instant::now(),
            progress: Default::default(),
        }
    }

    /// Drains the recording's events and refreshes the display; the end, once it came.
    fn poll(
        &mut self,
        recording: Option<&Recording>,
        frames: Option<&mut FrameOutput>,
    ) -> Option<Finished> {
        let recording = recording?;
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
        let frames = frames?;
        let line = status_line(frames.read(), recording, &self.progress);
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
        Some(reason) => Err(CliError::Io(format!(
            "capture ended: {reason}; {}",
            finished.message()
        ))),
        None if finished.complete() => {
            #[allow(clippy::print_stderr)]
            if !quiet {
                eprintln!("{}", finished.message());
            }
            Ok(())
        }
        None => Err(CliError::Io(finished.message())),
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
