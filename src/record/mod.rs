//! Recording while analyzing: lossless WAV through a writer thread (DESIGN.md section 1, the
//! second contract).
//!
//! ```text
//!  engine ── Tap ── rtrb ring (raw f32 samples, >= 10 s) ──> [spektr-writer] hound::WavWriter
//!                └─ rtrb ring (gaps, pause, loss: by position) ┘   header updated every 0.5 s
//!  controller (window, CLI) ── Recording: stop, discard, mark ──┘  events: progress, finished
//! ```
//!
//! The engine forwards each chunk it reads, before any gain, and never waits: when the writer's
//! ring has no room the recording ends exactly there. Frames the capture dropped are written as
//! silence of the same length and listed in the sidecar. A failed write, a file that was
//! removed, or a full ring ends the recording with the file finalized up to the last complete
//! frame on disk, and one message saying when and why.

mod tap;
mod wav;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

pub use tap::{Tap, TapEnd, TapEvent};
pub use wav::{default_dir, repair_header, unique_recording_path};

use crate::config::{SampleKind, StreamFormat};

/// The writer's ring holds at least this much audio.
pub const RING_SECONDS: f64 = 10.0;
/// The WAV header is brought up to date at least this often, so a killed process leaves a
/// playable file missing at most this much (plus what was still in the ring).
pub const HEADER_EVERY: Duration = Duration::from_millis(500);
/// Progress events come this often.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(250);

/// The sample format asked for.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RecordFormat {
    /// As captured: integer sources bit-exact at their width, float sources as 32-bit float.
    #[default]
    Native,
    /// 16-bit integer (TPDF-dithered when the source has more resolution).
    I16,
    /// 24-bit integer (TPDF-dithered when the source has more resolution).
    I24,
    /// 32-bit float.
    F32,
}

/// What the WAV file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// 8-bit integer (unsigned in the file, as WAV wants).
    I8,
    /// 16-bit integer.
    I16,
    /// 24-bit integer.
    I24,
    /// 32-bit integer.
    I32,
    /// 32-bit IEEE float.
    F32,
}

impl Encoding {
    /// What `choice` means for a source whose samples are `source`. Native keeps integer
    /// sources at their width (wider than 32 bits: 32) and floats as 32-bit float (the engine
    /// carries f32, so 64-bit float sources are kept to f32 precision).
    pub fn choose(choice: RecordFormat, source: SampleKind) -> Self {
        match choice {
            RecordFormat::I16 => Encoding::I16,
            RecordFormat::I24 => Encoding::I24,
            RecordFormat::F32 => Encoding::F32,
            RecordFormat::Native => match source {
                SampleKind::Int(b) if b <= 8 => Encoding::I8,
                SampleKind::Int(b) if b <= 16 => Encoding::I16,
                SampleKind::Int(b) if b <= 24 => Encoding::I24,
                SampleKind::Int(_) => Encoding::I32,
                SampleKind::Float(_) => Encoding::F32,
            },
        }
    }

    /// Bits per sample in the file.
    pub fn bits(self) -> u16 {
        match self {
            Encoding::I8 => 8,
            Encoding::I16 => 16,
            Encoding::I24 => 24,
            Encoding::I32 | Encoding::F32 => 32,
        }
    }

    /// Whether writing `source` samples in this encoding loses resolution (then the writer
    /// adds TPDF dither of one LSB).
    pub fn needs_dither(self, source: SampleKind) -> bool {
        match (self, source) {
            (Encoding::F32, _) => false,
            // Wider than 24 bits only reaches us as f32 (24-bit mantissa): 32-bit integer
            // output keeps it as it is.
            (Encoding::I32, _) => false,
            (_, SampleKind::Float(_)) => true,
            (e, SampleKind::Int(b)) => b > e.bits(),
        }
    }

    fn spec(self, format: StreamFormat) -> hound::WavSpec {
        hound::WavSpec {
            channels: format.channels as u16,
            sample_rate: format.sample_rate,
            bits_per_sample: self.bits(),
            sample_format: if self == Encoding::F32 {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        }
    }
}

impl std::fmt::Display for Encoding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Encoding::F32 => f.write_str("32-bit float"),
            e => write!(f, "{}-bit integer", e.bits()),
        }
    }
}

/// Everything needed to start a recording.
#[derive(Debug, Clone)]
pub struct RecordRequest {
    /// The WAV file to create (never overwritten) or a device such as `/dev/full`.
    pub path: PathBuf,
    /// Rate and channels of the source.
    pub format: StreamFormat,
    /// How the source's samples are encoded.
    pub source_kind: SampleKind,
    /// The format asked for.
    pub choice: RecordFormat,
    /// The source's name, for the sidecar.
    pub source: String,
    /// The analysis settings, for the sidecar.
    pub settings: serde_json::Value,
    /// Stop after this many frames.
    pub limit_frames: Option<u64>,
    /// The writer's ring, in seconds of audio (at least [`RING_SECONDS`] outside tests).
    pub ring_seconds: f64,
    /// Test hook: the writer sleeps this long after each block it writes (a slow disk).
    pub write_delay: Option<Duration>,
}

impl RecordRequest {
    /// A request with the defaults: native format, no limit, a 10 s ring.
    pub fn new(path: PathBuf, format: StreamFormat, source_kind: SampleKind) -> Self {
        RecordRequest {
            path,
            format,
            source_kind,
            choice: RecordFormat::Native,
            source: String::new(),
            settings: serde_json::Value::Null,
            limit_frames: None,
            ring_seconds: RING_SECONDS,
            write_delay: None,
        }
    }
}

/// Why a recording could not start.
#[derive(Debug, Error)]
pub enum RecordError {
    /// The file exists: spektr never overwrites.
    #[error("{0} already exists; spektr does not overwrite files")]
    Exists(String),
    /// The file or its folder could not be created or written.
    #[error("cannot record to {path}: {reason}")]
    Io {
        /// The file.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// The writer thread could not start.
    #[error("cannot start the recording thread: {0}")]
    Thread(String),
}

impl RecordError {
    /// Whether the user's choice of path is at fault (exit code 2) rather than the system.
    pub fn is_usage(&self) -> bool {
        matches!(self, RecordError::Exists(_))
    }
}

/// Kinds of sidecar event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MarkKind {
    /// The display was frozen.
    Freeze,
    /// The display went live again.
    Unfreeze,
    /// A snapshot was taken (the detail names it).
    Snapshot,
    /// The recording was paused (nothing is recorded until the resume, at the same position).
    Pause,
    /// The recording went on after a pause (`frames`: the frames not recorded meanwhile).
    Resume,
    /// The source changed (the recording stops here).
    SourceChange,
    /// Analysis settings changed.
    Settings,
    /// Frames lost before the engine, written as silence.
    Gap,
    /// The source delivered nothing for this long after the recording was asked for (an
    /// audio server that was running ahead, a device waking up): written as silence, so the
    /// file starts when the recording did.
    StartGap,
    /// The source went away: its last frame is just before this position.
    DeviceLost,
    /// The source came back: the time it was away is written as silence before this.
    DeviceReturned,
}

/// An event in the sidecar.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mark {
    /// Position in the recording, in frames.
    pub position: u64,
    /// The same in seconds.
    pub seconds: f64,
    /// What happened.
    pub kind: MarkKind,
    /// For gaps: the frames written as silence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frames: Option<u64>,
    /// More about it (a snapshot's path, the new source).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// Wall-clock time, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Progress of a running recording.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Progress {
    /// Frames in the file (written or in the writer's buffer).
    pub frames: u64,
    /// Bytes in the file, header included.
    pub bytes: u64,
    /// How full the writer's ring is, 0 to 1.
    pub ring_fill: f32,
}

/// How a recording ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Stopped on request.
    Stopped,
    /// The requested length was reached.
    Limit,
    /// The source ended (end of file) or was switched to another.
    SourceEnded,
    /// The source went away (device unplugged, audio server stopped): the take is cut short.
    SourceLost,
    /// The disk did not keep up: the writer's ring filled.
    Overflow,
    /// Writing failed (disk full, file removed, permission, read-only).
    WriteFailed,
    /// Discarded on request: the files were deleted.
    Discarded,
}

/// The end of a recording.
#[derive(Clone, Debug, PartialEq)]
pub struct Finished {
    /// The WAV file.
    pub path: PathBuf,
    /// Frames in the file.
    pub frames: u64,
    /// Its size in bytes.
    pub bytes: u64,
    /// Frames per second.
    pub sample_rate: u32,
    /// Why it ended.
    pub ending: Ending,
    /// The system's reason, when writing failed.
    pub error: Option<String>,
    /// A problem with the sidecar (the WAV itself is fine).
    pub sidecar_error: Option<String>,
    /// False when the file was deleted or replaced while recording (nothing is kept).
    pub file_kept: bool,
}

impl Finished {
    /// Whether the recording holds everything up to the point the user asked it to end (or the
    /// source ended).
    pub fn complete(&self) -> bool {
        matches!(
            self.ending,
            Ending::Stopped | Ending::Limit | Ending::SourceEnded | Ending::Discarded
        )
    }

    /// The recording's length as `h:mm:ss.mmm`.
    pub fn duration(&self) -> String {
        clock(self.frames, self.sample_rate)
    }

    /// One line for the user.
    pub fn message(&self) -> String {
        let path = self.path.display();
        let at = self.duration();
        let mut line = match self.ending {
            Ending::Stopped | Ending::Limit | Ending::SourceEnded => {
                format!("recorded {at} ({}) to {path}", human_bytes(self.bytes))
            }
            Ending::SourceLost => format!(
                "recording stopped at {at}: the source went away; {path} holds everything up to \
                 that point"
            ),
            Ending::Discarded => format!("recording discarded ({path} deleted)"),
            Ending::Overflow => format!(
                "recording stopped at {at}: the disk did not keep up and the recording buffer \
                 filled; {path} holds everything up to that point"
            ),
            Ending::WriteFailed if !self.file_kept => format!(
                "recording stopped after {}: {}",
                clock(self.frames, self.sample_rate),
                self.error.as_deref().unwrap_or("the file went away")
            ),
            Ending::WriteFailed => format!(
                "recording stopped at {at}: {}; {path} holds everything up to that point",
                self.error.as_deref().unwrap_or("a write failed")
            ),
        };
        if let Some(e) = &self.sidecar_error {
            line.push_str(&format!(" (sidecar: {e})"));
        }
        line
    }
}

/// Events from the writer.
#[derive(Clone, Debug, PartialEq)]
pub enum RecordEvent {
    /// Recording in progress.
    Progress(Progress),
    /// The recording ended; the file is final.
    Finished(Finished),
}

/// The controller's handle on a running recording (the window's or the CLI's).
#[derive(Debug)]
pub struct Recording {
    path: PathBuf,
    sidecar: Option<PathBuf>,
    encoding: Encoding,
    sample_rate: u32,
    shared: Arc<tap::Shared>,
    marks: Sender<Mark>,
    discard: Arc<std::sync::atomic::AtomicBool>,
    /// Progress and the end, in order.
    pub events: Receiver<RecordEvent>,
    thread: Option<JoinHandle<()>>,
}

impl Recording {
    /// Creates the file, writes its header and the first sidecar, and starts the writer
    /// thread. Install the returned tap in the engine to start recording.
    pub fn start(request: RecordRequest) -> Result<(Recording, Tap), RecordError> {
        let encoding = Encoding::choose(request.choice, request.source_kind);
        let channels = request.format.channels;
        let rate = request.format.sample_rate;
        let frames = (request.ring_seconds * f64::from(rate)).ceil().max(1.0) as usize;
        let (samples_tx, samples_rx) = rtrb::RingBuffer::new(frames * channels);
        let (events_ring_tx, events_ring_rx) = rtrb::RingBuffer::new(tap::EVENTS);
        let shared = Arc::new(tap::Shared::new(request.limit_frames.unwrap_or(u64::MAX)));
        let (marks_tx, marks_rx) = mpsc::channel();
        let (events_tx, events_rx) = mpsc::channel();
        let discard = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = writer::Writer::create(
            &request,
            encoding,
            writer::Inputs {
                samples: Some(samples_rx),
                taps: events_ring_rx,
                marks: marks_rx,
                shared: shared.clone(),
                discard: discard.clone(),
                events: events_tx,
            },
        )?;
        let sidecar = w.sidecar_path();
        let thread = std::thread::Builder::new()
            .name("spektr-writer".into())
            .spawn(move || w.run())
            .map_err(|e| RecordError::Thread(e.to_string()))?;
        let tap = Tap::new(samples_tx, events_ring_tx, shared.clone(), channels);
        Ok((
            Recording {
                path: request.path,
                sidecar,
                encoding,
                sample_rate: rate,
                shared,
                marks: marks_tx,
                discard,
                events: events_rx,
                thread: Some(thread),
            },
            tap,
        ))
    }

    /// The WAV file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sidecar file, if there is one (not for devices such as `/dev/full`).
    pub fn sidecar(&self) -> Option<&Path> {
        self.sidecar.as_deref()
    }

    /// What the file holds.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// The recording's position in frames, as the engine forwards it.
    pub fn position(&self) -> u64 {
        self.shared.position.load(Ordering::Relaxed)
    }

    /// Whether the engine has taken the tap: the samples it reads from now on are recorded.
    pub fn started(&self) -> bool {
        self.shared.installed.load(Ordering::Acquire)
    }

    /// Frames forwarded by the engine and not yet in the file (what the writer's ring holds).
    pub fn backlog(&self) -> u64 {
        self.gauge().backlog()
    }

    /// A handle that reads the backlog from another thread.
    pub fn gauge(&self) -> Gauge {
        Gauge(self.shared.clone())
    }

    /// The position as `h:mm:ss.mmm`.
    pub fn clock(&self) -> String {
        clock(self.position(), self.sample_rate)
    }

    /// Asks the engine to end the recording at its next chunk; the writer then finalizes the
    /// file and sends [`RecordEvent::Finished`].
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
    }

    /// Stops and deletes the file and its sidecar.
    pub fn discard(&self) {
        self.discard.store(true, Ordering::Relaxed);
        self.stop();
    }

    /// The source went away (`reason` for the sidecar): a take that ends with it is not
    /// complete. The engine places the loss in the file where the source's last frame is.
    pub fn lost(&self, reason: impl Into<String>) {
        if let Ok(mut slot) = self.shared.loss_reason.lock() {
            *slot = Some(reason.into());
        }
        self.shared.lost.store(true, Ordering::Release);
    }

    /// The source is back (the recording went on).
    pub fn returned(&self) {
        self.shared.lost.store(false, Ordering::Release);
    }

    /// Notes an event at the current position in the sidecar.
    pub fn mark(&self, kind: MarkKind, detail: impl Into<String>) {
        let position = self.position();
        let _ = self.marks.send(Mark {
            position,
            seconds: position as f64 / f64::from(self.sample_rate),
            kind,
            frames: None,
            detail: detail.into(),
            time: Some(chrono::Local::now().to_rfc3339()),
        });
    }

    /// Waits for the end (after [`Recording::stop`], or when the engine let go) and returns it.
    pub fn wait(mut self) -> Option<Finished> {
        let mut last = None;
        while let Ok(event) = self.events.recv() {
            if let RecordEvent::Finished(f) = event {
                last = Some(f);
            }
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        last
    }
}

impl Drop for Recording {
    fn drop(&mut self) {
        // A recording dropped unfinished is stopped and finalized, never left open.
        self.stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Reads how far the writer is behind, from any thread: a source that is not real-time (a file
/// read as fast as possible) waits on it instead of overrunning the writer's ring.
#[derive(Debug, Clone)]
pub struct Gauge(Arc<tap::Shared>);

impl Gauge {
    /// Frames forwarded by the engine and not yet in the file.
    pub fn backlog(&self) -> u64 {
        let position = self.0.position.load(Ordering::Relaxed);
        position.saturating_sub(self.0.written.load(Ordering::Relaxed))
    }

    /// Whether the recording has ended on the engine's side.
    pub fn ended(&self) -> bool {
        self.0.end().is_some()
    }
}

/// Frames as `h:mm:ss.mmm` (minutes and seconds only under an hour).
pub fn clock(frames: u64, rate: u32) -> String {
    let ms = (frames as u128 * 1000 / u128::from(rate.max(1))) as u64;
    let (h, m, s, ms) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}.{ms:03}")
    } else {
        format!("{m:02}:{s:02}.{ms:03}")
    }
}

/// Bytes as kB/MB/GB (decimal, as file managers show them).
pub fn human_bytes(bytes: u64) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}
