//! Frame sinks that serialise every frame: NDJSON, CSV, and a readable end-of-run summary.
//!
//! Runs on the engine thread during offline analysis. Lines are formatted into a reused byte
//! buffer with fixed decimals (no float-to-string allocation per value).

use crate::engine::loudness::LoudnessReading;
use std::io::Write;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use serde::Serialize;

use crate::engine::dsp::{FLOOR_DB, power_to_db};
use crate::engine::{Analyzer, BandInfo, DB_CONVENTION};
use crate::publish::{Frame, FrameSink, LatencyHistogram};

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Output::Direct(_) => "Output::Direct",
            Output::Live { .. } => "Output::Live",
        })
    }
}

/// What the latency figures span, in words (the NDJSON summary carries it).
pub const LATENCY_SPANS: &str = "sound: when the frame's newest sample was captured, as the \
device or audio server timestamps it (their latency included); arrival: when the block holding \
it reached spektr; publication: when the frame was handed to the output (in the window: read \
for drawing)";

/// Where serialised lines go.
pub enum Output {
    /// Straight to a buffered writer: offline analysis, where waiting costs nothing and big
    /// writes are fast.
    Direct(Box<dyn Write + Send>),
    /// Live analysis, where the reader wants every frame now and the engine must never wait
    /// on a slow reader: the engine writes a line itself when the output takes it at once
    /// (`poll`) and nothing is queued; otherwise the line goes through a byte ring to a writer
    /// thread that writes and flushes it (a line that does not fit is counted, not waited for).
    Live {
        /// The engine's end (None once closed).
        producer: Option<rtrb::Producer<u8>>,
        /// Set by the writer thread when a write failed (its error comes with the join).
        failed: Arc<AtomicBool>,
        /// The writer thread.
        thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
        /// Wakes the writer thread when a line is in the ring (it parks in between).
        writer: std::thread::Thread,
        /// The same output, for the engine to write a line itself when it can take it at
        /// once and nothing waits in the ring: no other thread wakes for that line.
        direct: Option<DirectOut>,
        /// The ring's capacity (it is empty when this much is free).
        capacity: usize,
    },
}

/// A second handle on a live output that is a pipe or a socket, for the engine to write a
/// short line itself where that can never wait.
#[derive(Debug)]
pub enum DirectOut {
    /// A pipe opened anew without blocking (`/proc/self/fd/N`: its own open file description,
    /// so the flag reaches no other holder of the pipe): a write that would wait fails at
    /// once, one system call per line.
    Pipe(std::fs::File),
    /// Anything else (a socket): asked with `poll` whether it takes a write now, then written.
    Polled(std::fs::File),
}

impl DirectOut {
    /// The handle for `file` (a pipe or a socket; `None` for anything else: a terminal or a
    /// file on a slow disk could hold the engine up).
    pub fn new(file: std::fs::File) -> Option<Self> {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
        let kind = file.metadata().ok()?.file_type();
        if kind.is_fifo() {
            let path = format!("/proc/self/fd/{}", file.as_raw_fd());
            if let Ok(pipe) = std::fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(path)
            {
                return Some(DirectOut::Pipe(pipe));
            }
        }
        (kind.is_fifo() || kind.is_socket()).then_some(DirectOut::Polled(file))
    }

    /// Writes what it takes of `line` now (`None`: it would wait, nothing written).
    fn try_write(&mut self, line: &[u8]) -> std::io::Result<Option<usize>> {
        let file = match self {
            DirectOut::Pipe(file) => file,
            DirectOut::Polled(file) if writable(file) => file,
            DirectOut::Polled(_) => return Ok(None),
        };
        match file.write(line) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(None),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => Ok(Some(0)),
            Err(e) => Err(e),
        }
    }
}

/// Whether `file` takes a write now (`poll` for writability, not waiting).
fn writable(file: &std::fs::File) -> bool {
    use rustix::event::{PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(file, PollFlags::OUT)];
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(rustix::event::poll(&mut fds, Some(&now)), Ok(1))
        && fds[0].revents().contains(PollFlags::OUT)
}

/// The most a line the engine writes itself may hold: a pipe takes this much at once, whole
/// (POSIX's `PIPE_BUF` on Linux), once it says it is writable.
const DIRECT_MAX: usize = 4096;

/// Bytes of formatted output a live run may have in flight (many seconds of frames).
const LIVE_OUTPUT_BYTES: usize = 1 << 20;

/// The writer thread stopped: its error comes with [`Output::close`].
fn writer_stopped() -> std::io::Error {
    std::io::Error::other("the output writer stopped")
}

impl Output {
    /// A ring to a writer thread that writes to `out` (unbuffered: the thread writes each
    /// batch of lines in one call and flushes it). With `direct`, a second handle on the same
    /// file, the engine writes a line itself when it can (see [`Output::Live`]).
    pub fn live(
        mut out: Box<dyn Write + Send>,
        direct: Option<DirectOut>,
    ) -> std::io::Result<Self> {
        let (producer, mut consumer) = rtrb::RingBuffer::<u8>::new(LIVE_OUTPUT_BYTES);
        let failed = Arc::new(AtomicBool::new(false));
        let flag = failed.clone();
        let thread = std::thread::Builder::new()
            .name("spektr-output".into())
            .spawn(move || {
                let result = (|| loop {
                    let n = consumer.slots();
                    if n == 0 {
                        if consumer.is_abandoned() && consumer.is_empty() {
                            return out.flush();
                        }
                        // NOTE: the engine writes most lines itself and unparks this thread
                        // only for those it queues (a reader that lags); polling every 2 ms
                        // cost 500 wakeups and 8 ms of CPU per second of audio. The timeout
                        // only bounds a missed wake.
                        std::thread::park_timeout(std::time::Duration::from_millis(500));
                        continue;
                    }
                    if let Ok(chunk) = consumer.read_chunk(n) {
                        let (a, b) = chunk.as_slices();
                        out.write_all(a)?;
                        out.write_all(b)?;
                        chunk.commit_all();
                        // Each frame reaches the reader when it is made, not in bursts.
                        out.flush()?;
                    }
                })();
                if result.is_err() {
                    flag.store(true, Ordering::Relaxed);
                }
                result
            })?;
        Ok(Output::Live {
            producer: Some(producer),
            failed,
            writer: thread.thread().clone(),
            thread: Some(thread),
            direct,
            capacity: LIVE_OUTPUT_BYTES,
        })
    }

    /// Writes `line` if it fits now; false if it was dropped (live) or failed (direct).
    fn try_line(&mut self, line: &[u8]) -> std::io::Result<bool> {
        match self {
            Output::Direct(w) => w.write_all(line).map(|()| true),
            Output::Live {
                producer,
                failed,
                writer,
                direct,
                capacity,
                ..
            } => {
                if failed.load(Ordering::Relaxed) {
                    return Err(writer_stopped());
                }
                // Nothing queued before it, it fits a pipe whole, and the output takes it now:
                // the engine writes it (a failed write is the run's error, as the thread's).
                let idle = producer.as_ref().is_some_and(|p| p.slots() == *capacity);
                if let Some(out) = direct.as_mut().filter(|_| idle && line.len() <= DIRECT_MAX)
                    && let Some(n) = out.try_write(line)?
                {
                    if n == line.len() {
                        return Ok(true);
                    }
                    // Cut short (a signal): the rest goes through the ring, in order.
                    let rest = &line[n..];
                    let pushed = producer
                        .as_mut()
                        .is_some_and(|p| p.push_entire_slice(rest).is_ok());
                    writer.unpark();
                    return Ok(pushed);
                }
                let pushed = producer
                    .as_mut()
                    .is_some_and(|p| p.push_entire_slice(line).is_ok());
                if pushed {
                    writer.unpark();
                }
                Ok(pushed)
            }
        }
    }

    /// Ends the output: flushes, and for a live output waits for the writer thread to finish;
    /// the first error the writing met.
    pub fn close(&mut self) -> std::io::Result<()> {
        match self {
            Output::Direct(w) => w.flush(),
            Output::Live {
                producer,
                thread,
                writer,
                ..
            } => {
                drop(producer.take());
                writer.unpark();
                match thread.take().map(|t| t.join()) {
                    Some(Ok(result)) => result,
                    Some(Err(_)) => Err(std::io::Error::other("the output writer failed")),
                    None => Ok(()),
                }
            }
        }
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

impl Write for Output {
    /// Blocking write, for the header and the closing lines (never from the engine in live
    /// mode: it uses `try_line`).
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::Direct(w) => w.write(buf),
            Output::Live {
                producer,
                failed,
                writer,
                ..
            } => {
                let Some(p) = producer.as_mut() else {
                    return Err(writer_stopped());
                };
                loop {
                    if failed.load(Ordering::Relaxed) {
                        return Err(writer_stopped());
                    }
                    let n = p.slots().min(buf.len());
                    if n > 0 {
                        let _ = p.push_entire_slice(&buf[..n]);
                    }
                    // After the push (or with the ring full): the writer has work either way.
                    writer.unpark();
                    if n > 0 {
                        return Ok(n);
                    }
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Direct(w) => w.flush(),
            Output::Live { .. } => Ok(()),
        }
    }
}

/// Output formats of `spektr analyze`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// One JSON object per line: a header, every frame, a summary.
    Ndjson,
    /// A header row, then one row per frame.
    Csv,
    /// A readable table of every band's mean and maximum, and the meters.
    Summary,
}

/// Appends `v` with two decimals (`-6.02`); values below the floor print as the floor.
pub fn push_db(buf: &mut Vec<u8>, v: f32) {
    let v = if v.is_nan() {
        FLOOR_DB
    } else {
        v.max(FLOOR_DB)
    };
    push_fixed(buf, f64::from(v), 2);
}

/// Appends `v` with `decimals` (at most 9) fixed decimals.
pub fn push_fixed(buf: &mut Vec<u8>, v: f64, decimals: u32) {
    let scale = 10i64.pow(decimals);
    let scaled = (v * scale as f64).round() as i64;
    if scaled < 0 {
        buf.push(b'-');
    }
    let a = scaled.unsigned_abs();
    let mut ib = itoa::Buffer::new();
    buf.extend_from_slice(ib.format(a / scale as u64).as_bytes());
    if decimals > 0 {
        buf.push(b'.');
        let frac = ib.format(a % scale as u64);
        for _ in frac.len()..decimals as usize {
            buf.push(b'0');
        }
        buf.extend_from_slice(frac.as_bytes());
    }
}

/// What the header says about the input.
#[derive(Debug, Serialize)]
pub struct InputInfo {
    /// The input as given.
    pub source: String,
    /// Sample format description, where known.
    pub sample_format: Option<String>,
    /// Length in seconds, where known.
    pub duration_s: Option<f64>,
}

/// Per-band running totals for the summary.
#[derive(Debug, Default)]
struct Totals {
    power_sum: Vec<f64>,
    max_db: Vec<f32>,
    peak_dbfs: Vec<f32>,
    rms_max_dbfs: Vec<f32>,
    clipped: Vec<bool>,
}

/// Serialises frames to a writer.
pub struct OutputSink {
    format: OutputFormat,
    frame: Frame,
    out: Output,
    line: Vec<u8>,
    /// Frames a slow reader made the live output skip.
    pub output_dropped: u64,
    /// The first write error; the engine stops when one happens.
    pub error: Option<std::io::Error>,
    /// Frames written.
    pub frames: u64,
    progress: Option<ProgressBar>,
    sample_rate: f64,
    totals: Totals,
    /// Stop after this much audio, seconds.
    pub limit_s: Option<f64>,
    /// Device xruns, for the summary (live sources).
    pub xruns: Option<u64>,
    /// Frames per capture block (the audio system's period), for the summary (live sources).
    pub block_frames: Option<u32>,
    /// From a frame's newest sound (its capture timestamp) to its publication (live sources).
    pub sound_latency: LatencyHistogram,
    /// From the arrival of a frame's newest block to its publication (live sources).
    pub arrival_latency: LatencyHistogram,
    /// The SPL meter on the calibrated bars (only when calibrated), and its latest reading.
    spl: Option<(crate::calibration::SplMeter, crate::calibration::SplReading)>,
    /// The previous frame's time, for the meter's time weighting.
    last_time_s: f64,
    /// `--reference`: what each frame's bars are compared with (`diff_db`).
    reference: Option<std::sync::Arc<crate::reference::Reference>>,
}

impl std::fmt::Debug for OutputSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutputSink")
            .field("format", &self.format)
            .field("frames", &self.frames)
            .finish()
    }
}

impl OutputSink {
    /// A sink for `analyzer`'s frames; writes the header at once. A failed write is kept in
    /// [`OutputSink::error`] (the engine then stops at the first frame).
    /// `reference` must fit the analysis ([`crate::reference::Reference::fits`]).
    pub fn new(
        format: OutputFormat,
        analyzer: &Analyzer,
        input: &InputInfo,
        out: Output,
        progress: Option<ProgressBar>,
        reference: Option<std::sync::Arc<crate::reference::Reference>>,
    ) -> Self {
        let bars = analyzer.bands().len();
        let channels = analyzer.format().channels;
        let mut sink = OutputSink {
            format,
            frame: analyzer.new_frame(),
            out,
            output_dropped: 0,
            line: Vec::with_capacity(
                64 + 24 * bars + 64 * channels + if reference.is_some() { 16 * bars } else { 0 },
            ),
            error: None,
            frames: 0,
            progress,
            sample_rate: f64::from(analyzer.format().sample_rate),
            totals: Totals {
                power_sum: vec![0.0; bars],
                max_db: vec![FLOOR_DB; bars],
                peak_dbfs: vec![FLOOR_DB; channels],
                rms_max_dbfs: vec![FLOOR_DB; channels],
                clipped: vec![false; channels],
            },
            limit_s: None,
            xruns: None,
            block_frames: None,
            sound_latency: LatencyHistogram::default(),
            arrival_latency: LatencyHistogram::default(),
            spl: spl_meter(analyzer).map(|m| (m, Default::default())),
            last_time_s: 0.0,
            reference,
        };
        if let Err(e) = sink.write_header(analyzer, input) {
            sink.error = Some(e);
        }
        sink
    }

    fn write_header(&mut self, analyzer: &Analyzer, input: &InputInfo) -> std::io::Result<()> {
        let channels = analyzer.format().channels;
        let sink = self;
        match sink.format {
            OutputFormat::Ndjson => {
                let header = serde_json::json!({
                    "type": "header",
                    "version": 1,
                    "sample_rate": analyzer.format().sample_rate,
                    "channels": channels,
                    "source": input.source,
                    "sample_format": input.sample_format,
                    "duration_s": input.duration_s,
                    "settings": analyzer.settings(),
                    "hop_ms": analyzer.plan().hop_s() * 1000.0,
                    "bars_from": analyzer.settings().bars_from,
                    "bars_rule": analyzer.settings().bars_from.rule(channels),
                    "smoothing_rule": smoothing_rule(analyzer.settings()),
                    "traces": (0..analyzer.trace_count())
                        .map(|c| crate::publish::channel_label(channels, c))
                        .collect::<Vec<_>>(),
                    "bands": analyzer.bands(),
                    "db_convention": DB_CONVENTION,
                    "unit": analyzer.settings().unit(),
                    "calibration": calibration_header(analyzer),
                    "spl_meter": spl_header(analyzer),
                    "floor_db": FLOOR_DB + analyzer.settings().spl_offset_db.unwrap_or(0.0) as f32,
                    "rms_window_ms": crate::config::DEFAULT_RMS_WINDOW_MS,
                    "loudness": loudness_header(analyzer),
                    "reference": sink.reference.as_deref().map(reference_header),
                });
                serde_json::to_writer(&mut sink.out, &header)?;
                sink.out.write_all(b"\n")?;
            }
            OutputFormat::Csv => {
                let mut row = String::from("t_s");
                // Calibrated bars say their unit in their names.
                let unit = if analyzer.settings().spl_offset_db.is_some() {
                    "_dbspl"
                } else {
                    ""
                };
                for b in analyzer.bands() {
                    row.push_str(&format!(",bar_{}hz{unit}", label_hz(b)));
                }
                for c in 0..analyzer.trace_count() {
                    let name = crate::publish::channel_label(channels, c);
                    for b in analyzer.bands() {
                        row.push_str(&format!(",{name}_bar_{}hz{unit}", label_hz(b)));
                    }
                }
                for c in 1..=channels {
                    row.push_str(&format!(",ch{c}_peak_dbfs,ch{c}_rms_dbfs,ch{c}_clipped"));
                }
                if analyzer.loudness().is_some() {
                    let none = LoudnessReading::default();
                    for (key, _) in loudness_fields(&none) {
                        row.push(',');
                        row.push_str(key);
                    }
                    for c in 1..=channels {
                        row.push_str(&format!(",ch{c}_true_peak_dbtp"));
                    }
                }
                if sink.spl.is_some() {
                    row.push_str(",spl_fast_db,spl_slow_db,spl_leq_db,spl_max_db");
                }
                if sink.reference.is_some() {
                    for b in analyzer.bands() {
                        row.push_str(&format!(",diff_{}hz_db", label_hz(b)));
                    }
                }
                row.push('\n');
                sink.out.write_all(row.as_bytes())?;
            }
            OutputFormat::Summary => {}
        }
        Ok(())
    }

    fn format_line(&mut self) {
        let f = &self.frame;
        let buf = &mut self.line;
        buf.clear();
        match self.format {
            OutputFormat::Ndjson => {
                buf.extend_from_slice(b"{\"type\":\"frame\",\"t\":");
                push_fixed(buf, f.time_s, 6);
                buf.extend_from_slice(b",\"bars_db\":[");
                for (i, &v) in f.bars_db.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    push_db(buf, v);
                }
                buf.extend_from_slice(b"],\"peak_hold_db\":[");
                for (i, &v) in f.peak_hold_db.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    push_db(buf, v);
                }
                if !f.traces_db.is_empty() {
                    buf.extend_from_slice(b"],\"traces_db\":[");
                    let bars = f.bars_db.len().max(1);
                    for (t, row) in f.traces_db.chunks(bars).enumerate() {
                        buf.extend_from_slice(if t > 0 { b",[" } else { b"[" });
                        for (i, &v) in row.iter().enumerate() {
                            if i > 0 {
                                buf.push(b',');
                            }
                            push_db(buf, v);
                        }
                        buf.push(b']');
                    }
                }
                // The bands still settling (empty once every window is full).
                buf.extend_from_slice(b"],\"settling\":[");
                let mut first = true;
                for (i, _) in f.settled.iter().enumerate().filter(|(_, s)| !**s) {
                    if !first {
                        buf.push(b',');
                    }
                    first = false;
                    buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
                }
                buf.extend_from_slice(b"],\"channels\":[");
                for (i, c) in f.channels.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    buf.extend_from_slice(b"{\"peak_dbfs\":");
                    push_db(buf, c.peak_dbfs);
                    buf.extend_from_slice(b",\"rms_dbfs\":");
                    push_db(buf, c.rms_dbfs);
                    buf.extend_from_slice(if c.clipped {
                        b",\"clipped\":true}"
                    } else {
                        b",\"clipped\":false}"
                    });
                }
                buf.push(b']');
                if let Some(l) = &f.loudness {
                    buf.extend_from_slice(b",\"loudness\":{");
                    for (key, v) in loudness_fields(l) {
                        buf.push(b'"');
                        buf.extend_from_slice(key.as_bytes());
                        buf.extend_from_slice(b"\":");
                        push_opt(buf, v);
                        buf.push(b',');
                    }
                    buf.extend_from_slice(b"\"true_peak_dbtp\":[");
                    for (i, c) in f.channels.iter().enumerate() {
                        if i > 0 {
                            buf.push(b',');
                        }
                        push_opt(buf, c.true_peak_dbtp);
                    }
                    buf.extend_from_slice(b"]}");
                }
                if let Some((_, r)) = &self.spl {
                    for (i, (key, v)) in spl_fields(r).into_iter().enumerate() {
                        buf.extend_from_slice(if i == 0 { b",\"spl\":{\"" } else { b",\"" });
                        buf.extend_from_slice(key.as_bytes());
                        buf.extend_from_slice(b"\":");
                        push_fixed(buf, v, 2);
                    }
                    buf.push(b'}');
                }
                if let Some(r) = &self.reference {
                    buf.extend_from_slice(b",\"diff_db\":[");
                    for (i, (&v, level)) in f.bars_db.iter().zip(r.levels()).enumerate() {
                        if i > 0 {
                            buf.push(b',');
                        }
                        push_fixed(buf, f64::from(v - level), 2);
                    }
                    buf.push(b']');
                }
                buf.extend_from_slice(b",\"dropped_frames\":");
                buf.extend_from_slice(itoa::Buffer::new().format(f.dropped_frames).as_bytes());
                buf.extend_from_slice(b"}\n");
            }
            OutputFormat::Csv => {
                push_fixed(buf, f.time_s, 6);
                for &v in f.bars_db.iter().chain(&f.traces_db) {
                    buf.push(b',');
                    push_db(buf, v);
                }
                for c in &f.channels {
                    buf.push(b',');
                    push_db(buf, c.peak_dbfs);
                    buf.push(b',');
                    push_db(buf, c.rms_dbfs);
                    buf.extend_from_slice(if c.clipped { b",1" } else { b",0" });
                }
                if let Some(l) = &f.loudness {
                    for v in loudness_fields(l)
                        .map(|(_, v)| v)
                        .into_iter()
                        .chain(f.channels.iter().map(|c| c.true_peak_dbtp))
                    {
                        buf.push(b',');
                        if let Some(v) = v {
                            push_fixed(buf, v, 2);
                        }
                    }
                }
                if let Some((_, r)) = &self.spl {
                    for (_, v) in spl_fields(r) {
                        buf.push(b',');
                        push_fixed(buf, v, 2);
                    }
                }
                if let Some(r) = &self.reference {
                    for (&v, level) in f.bars_db.iter().zip(r.levels()) {
                        buf.push(b',');
                        push_fixed(buf, f64::from(v - level), 2);
                    }
                }
                buf.push(b'\n');
            }
            OutputFormat::Summary => {}
        }
    }

    fn accumulate(&mut self) {
        let t = &mut self.totals;
        for (i, &db) in self.frame.bars_db.iter().enumerate() {
            t.power_sum[i] += 10f64.powf(f64::from(db) / 10.0);
            t.max_db[i] = t.max_db[i].max(db);
        }
        for (i, c) in self.frame.channels.iter().enumerate() {
            t.peak_dbfs[i] = t.peak_dbfs[i].max(c.peak_dbfs);
            t.rms_max_dbfs[i] = t.rms_max_dbfs[i].max(c.rms_dbfs);
            t.clipped[i] |= c.clipped;
        }
    }

    /// Each band of the last frame (with --average infinite, the run's average; what
    /// --save-reference would store) minus the reference's level.
    fn last_diff_db(&self, r: &crate::reference::Reference) -> Vec<f64> {
        self.frame
            .bars_db
            .iter()
            .zip(r.levels())
            .map(|(&db, level)| round2(f64::from(db - level)))
            .collect()
    }

    /// The last frame's bars as a reference named `name` (`--save-reference`).
    pub fn last_as_reference(
        &self,
        analyzer: &Analyzer,
        name: &str,
        source: &str,
    ) -> crate::reference::Reference {
        crate::reference::Reference::from_levels(
            name,
            source,
            analyzer.settings().unit(),
            analyzer.format().sample_rate,
            analyzer.bands(),
            &self.frame.bars_db,
        )
    }

    /// Ends an output that failed while the engine wrote to it: the error the writing met
    /// (for a live output, the writer thread's own), else `seen`.
    pub fn close_after(&mut self, seen: std::io::Error) -> std::io::Error {
        match self.out.close() {
            Err(e) => e,
            Ok(()) => seen,
        }
    }

    /// Writes the closing line (NDJSON summary or the readable table) and flushes.
    pub fn finish(&mut self, analyzer: &Analyzer, input: &InputInfo) -> std::io::Result<()> {
        if let Some(p) = &self.progress {
            p.finish_and_clear();
        }
        let duration_s = analyzer.samples_in() as f64 / self.sample_rate;
        let dropped = self.frame.dropped_frames;
        match self.format {
            OutputFormat::Ndjson => {
                let mut summary = serde_json::json!({
                    "type": "summary",
                    "frames": self.frames,
                    "duration_s": duration_s,
                    "dropped_frames": dropped,
                });
                if let Some(xruns) = self.xruns {
                    summary["xruns"] = xruns.into();
                }
                if let Some(frames) = self.block_frames {
                    summary["capture_block_frames"] = frames.into();
                }
                if self.output_dropped > 0 {
                    summary["output_dropped_frames"] = self.output_dropped.into();
                }
                if let Some(latency) = self.latency_json() {
                    summary["latency_ms"] = latency;
                }
                if let Some(l) = analyzer.loudness() {
                    summary["loudness"] = l.summary();
                }
                if let Some(r) = &self.reference {
                    summary["reference"] = serde_json::json!({
                        "name": r.name,
                        "last_diff_db": self.last_diff_db(r),
                    });
                }
                if let Some((meter, r)) = &self.spl {
                    summary["spl"] = serde_json::json!({
                        "weighting": meter.weighting(),
                        "leq_db": round2(r.leq_db),
                        "max_db": round2(r.max_db),
                        "seconds": r.seconds,
                    });
                }
                let written = serde_json::to_writer(&mut self.out, &summary)
                    .map_err(std::io::Error::from)
                    .and_then(|()| self.out.write_all(b"\n"));
                if let Err(e) = written {
                    return Err(self.close_after(e));
                }
            }
            OutputFormat::Csv => {}
            OutputFormat::Summary => {
                let text = self.summary_text(analyzer, input, duration_s, dropped);
                if let Err(e) = self.out.write_all(text.as_bytes()) {
                    return Err(self.close_after(e));
                }
            }
        }
        self.out.close()
    }

    /// The latency figures, when there were live frames: from the sound and from the
    /// block's arrival, each to the frame's publication.
    pub fn latency_json(&self) -> Option<serde_json::Value> {
        let figures = |l: &LatencyHistogram| {
            Some(serde_json::json!({
                "median": l.quantile_ms(0.5)?,
                "p90": l.quantile_ms(0.9)?,
                "p99": l.quantile_ms(0.99)?,
                "max": l.max_ms()?,
                "frames": l.count(),
            }))
        };
        Some(serde_json::json!({
            "sound_to_publication": figures(&self.sound_latency)?,
            "arrival_to_publication": figures(&self.arrival_latency),
            "spans": LATENCY_SPANS,
        }))
    }

    /// The `--stats` line.
    pub fn latency_line(&self) -> String {
        let blocks = self
            .block_frames
            .map(|n| format!("; capture blocks of {n} frames"))
            .unwrap_or_default();
        match (self.sound_latency.summary(), self.arrival_latency.summary()) {
            (Some(sound), arrival) => format!(
                "latency from the sound (a frame's newest sample as the audio system timestamps \
                 it) to the frame's publication: {sound}; from its block's arrival: {}{blocks}",
                arrival.unwrap_or_else(|| "n/a".into())
            ),
            (None, _) => format!("latency: no live frames were published{blocks}"),
        }
    }

    fn summary_text(
        &self,
        analyzer: &Analyzer,
        input: &InputInfo,
        duration_s: f64,
        dropped: u64,
    ) -> String {
        use std::fmt::Write as _;
        let s = analyzer.settings();
        let f = analyzer.format();
        let mut t = String::new();
        let _ = writeln!(
            t,
            "spektr analyze: {} ({} Hz, {} ch, {:.2} s, {} frames at {} fps)",
            input.source, f.sample_rate, f.channels, duration_s, self.frames, s.fps
        );
        let bands = analyzer.bands();
        let layout = match s.bands.fraction() {
            None => format!(
                "{} log bands {:.1}-{:.0} Hz",
                bands.len(),
                bands.first().map_or(0.0, |b| b.lo_hz),
                bands.last().map_or(0.0, |b| b.hi_hz)
            ),
            Some(b) => format!("{} 1/{b}-octave bands", bands.len()),
        };
        let levels = match s.spl_offset_db {
            Some(db) => format!("bars in dB SPL (dBFS {db:+.2} dB)"),
            None => "levels in dBFS, AES17 (a full-scale sine reads 0.0)".to_owned(),
        };
        let _ = writeln!(
            t,
            "{layout}, {:?} weighting, smoothing {:?}; {levels}",
            s.weighting, s.smoothing
        );
        if let Some(m) = &s.mic {
            let _ = writeln!(
                t,
                "microphone correction {} ({} points, {:.0} to {:.0} Hz) taken out of the bars",
                m.file, m.points, m.range_hz.0, m.range_hz.1
            );
        }
        if let Some(r) = &self.reference {
            let about: Vec<&str> = [r.source.as_str(), r.time.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect();
            let about = if about.is_empty() {
                String::new()
            } else {
                format!(" ({})", about.join(", "))
            };
            let _ = writeln!(
                t,
                "compared with reference \"{}\"{about}: vs ref = the last frame's level (with \
                 --average infinite, the run's average) minus its level",
                r.name
            );
        }
        let diffs = self.reference.as_deref().map(|r| self.last_diff_db(r));
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "  band (Hz)          window   mean dB   max dB{}",
            if diffs.is_some() { "   vs ref" } else { "" }
        );
        let n = self.frames.max(1) as f64;
        for (i, b) in analyzer.bands().iter().enumerate() {
            let mean = power_to_db(self.totals.power_sum[i] / n);
            let max = self.totals.max_db[i];
            let offset = s.spl_offset_db.unwrap_or(0.0) as f32;
            let width = (((mean - offset - FLOOR_DB) / 120.0 * 40.0)
                .round()
                .clamp(0.0, 40.0)) as usize;
            let vs = diffs
                .as_ref()
                .and_then(|d| d.get(i))
                .map_or_else(String::new, |d| format!("  {d:>+7.1}"));
            let _ = writeln!(
                t,
                "  {:>7} - {:<7} {:>6.0} ms  {:>7.1}  {:>7.1}{vs}  {}",
                format_hz(b.lo_hz),
                format_hz(b.hi_hz),
                b.window_ms,
                mean,
                max,
                "#".repeat(width)
            );
        }
        let _ = writeln!(t);
        for c in 0..f.channels {
            let _ = writeln!(
                t,
                "  channel {}: peak {:.2} dBFS, highest RMS {:.2} dBFS{}",
                c + 1,
                self.totals.peak_dbfs[c],
                self.totals.rms_max_dbfs[c],
                if self.totals.clipped[c] {
                    ", CLIPPED"
                } else {
                    ""
                }
            );
        }
        if let Some(l) = analyzer.loudness() {
            let mut tp = vec![None; l.channels()];
            let r = l.read(&mut tp);
            let show = |v: Option<f64>, unit: &str| {
                v.map_or_else(|| "n/a".to_string(), |v| format!("{v:.1} {unit}"))
            };
            let _ = writeln!(
                t,
                "  loudness: integrated {}, range {}, true peak {}, max momentary {}, max short-term {}, PLR {}",
                show(r.integrated_lufs, "LUFS"),
                show(r.range_lu, "LU"),
                show(r.true_peak_dbtp, "dBTP"),
                show(r.max_momentary_lufs, "LUFS"),
                show(r.max_short_term_lufs, "LUFS"),
                show(r.plr_lu(), "LU"),
            );
        }
        if let Some((meter, r)) = &self.spl {
            let _ = writeln!(
                t,
                "  SPL ({:?} weighting, from the bars): Leq {:.1} dB SPL, highest Fast level {:.1} dB SPL, over {:.1} s",
                meter.weighting(),
                r.leq_db,
                r.max_db,
                r.seconds
            );
        }
        let _ = writeln!(t, "  dropped frames: {dropped}");
        if let Some(xruns) = self.xruns {
            let _ = writeln!(t, "  device xruns: {xruns}");
        }
        t
    }
}

/// A frame's loudness values under their NDJSON keys (CSV column names), in order.
fn loudness_fields(l: &LoudnessReading) -> [(&'static str, Option<f64>); 6] {
    [
        ("momentary_lufs", l.momentary_lufs),
        ("short_term_lufs", l.short_term_lufs),
        ("integrated_lufs", l.integrated_lufs),
        ("range_lu", l.range_lu),
        ("max_momentary_lufs", l.max_momentary_lufs),
        ("max_short_term_lufs", l.max_short_term_lufs),
    ]
}

/// A value with two decimals, or `null`.
fn push_opt(buf: &mut Vec<u8>, v: Option<f64>) {
    match v {
        Some(v) => push_fixed(buf, v, 2),
        None => buf.extend_from_slice(b"null"),
    }
}

/// What the bars' smoothing and the markers' hold do, for the header.
fn smoothing_rule(s: &crate::config::AnalysisSettings) -> String {
    use crate::config::Smoothing;
    let bars = match s.smoothing {
        Smoothing::None => "each frame's bars are its own hops' mean power".to_owned(),
        Smoothing::Fast | Smoothing::Slow => format!(
            "each band's power is smoothed by a {} ms exponential",
            s.smoothing.tau_ms()
        ),
        Smoothing::Infinite => "each band's power is averaged since the start, every analysis \
             counting equally from when the band's window holds only signal (settled_s); the \
             last frame's bars are the whole run's average"
            .to_owned(),
    };
    let markers = if s.max_hold {
        "the peak-hold markers never fall (max-hold)".to_owned()
    } else {
        format!(
            "the peak-hold markers hold {} ms, then fall {} dB/s",
            s.peak_hold_ms, s.peak_fall_db_per_s
        )
    };
    format!("{bars}; {markers}")
}

/// The SPL meter a calibrated analysis shows.
fn spl_meter(analyzer: &Analyzer) -> Option<crate::calibration::SplMeter> {
    let s = analyzer.settings();
    s.spl_offset_db?;
    // It time-weights the bars itself: bars already smoothed would be weighted twice.
    if s.smoothing != crate::config::Smoothing::None {
        return None;
    }
    Some(crate::calibration::SplMeter::new(
        s.spl_weighting,
        s.weighting,
        analyzer.bands().iter().map(|b| (b.lo_hz, b.hi_hz)),
    ))
}

/// What the header says about the SPL meter (`null` when uncalibrated).
fn spl_header(analyzer: &Analyzer) -> serde_json::Value {
    let s = analyzer.settings();
    if s.spl_offset_db.is_none() {
        return serde_json::Value::Null;
    }
    if s.smoothing != crate::config::Smoothing::None {
        return serde_json::json!({
            "shown": false,
            "why": "the SPL meter time-weights the bars itself (Fast, Slow, Leq): it needs \
                    --smoothing none",
        });
    }
    serde_json::json!({
        "shown": true,
        "weighting": s.spl_weighting,
        "unit": "dB SPL",
        "rule": "the bars' band power summed under the meter's weighting (its mean over each \
                 band in log frequency), over the bars' range; fast_db and slow_db: 125 ms and \
                 1 s exponential time weighting; leq_db: the equivalent level since the start; \
                 max_db: the highest Fast level",
    })
}

/// An SPL reading's NDJSON keys (CSV columns without the `spl_`), in order.
fn spl_fields(r: &crate::calibration::SplReading) -> [(&'static str, f64); 4] {
    [
        ("fast_db", r.fast_db),
        ("slow_db", r.slow_db),
        ("leq_db", r.leq_db),
        ("max_db", r.max_db),
    ]
}

/// `v` to two decimals, for JSON.
fn round2(v: f64) -> f64 {
    (v * 100.0).round() / 100.0
}

/// What the header says about the calibration: the SPL offset and the microphone's file
/// (`null` when uncalibrated).
fn calibration_header(analyzer: &Analyzer) -> serde_json::Value {
    let s = analyzer.settings();
    if s.spl_offset_db.is_none() && s.mic.is_none() {
        return serde_json::Value::Null;
    }
    serde_json::json!({
        "spl_offset_db": s.spl_offset_db,
        "applies_to": "bars and peak-hold markers (meters stay dBFS, loudness LUFS)",
        "mic": s.mic.as_deref(),
        "mic_rule": s.mic.as_ref().map(|_| {
            "the file's gain is subtracted from each bin's power before the band sums, \
             linear in dB over log frequency between its points, held beyond its ends"
        }),
    })
}

/// What the header says about `--reference`.
fn reference_header(r: &crate::reference::Reference) -> serde_json::Value {
    serde_json::json!({
        "name": r.name,
        "source": r.source,
        "time": r.time,
        "unit": r.unit,
        "sample_rate": r.sample_rate,
        "levels_db": r.levels().collect::<Vec<_>>(),
        "rule": "diff_db: each band's level minus the reference's, dB (positive: louder than \
                 the reference); the summary's last_diff_db is the last frame's (with \
                 --average infinite, the run's average)",
    })
}

/// What the header says about loudness (`null` when it is off).
fn loudness_header(analyzer: &Analyzer) -> serde_json::Value {
    let Some(l) = analyzer.loudness() else {
        return serde_json::Value::Null;
    };
    let s = analyzer.settings();
    serde_json::json!({
        "standard": "ITU-R BS.1770-5, EBU R 128 (Tech 3341, 3342)",
        "channels": crate::engine::loudness::channel_rule(l.channels(), s.dual_mono),
        "dual_mono": s.dual_mono,
        "momentary_ms": 400,
        "short_term_ms": 3000,
        "updated_ms": 10,
        "range": "Tech 3342; short-term values sampled every 100 ms",
        "true_peak": "4x oversampled below 96 kHz (2x at 96 kHz), the larger of it and the sample peak; per channel, the highest since the start",
        "null": "a window not yet full, no block above the gates, or silence",
    })
}

fn format_hz(hz: f64) -> String {
    if hz >= 1000.0 {
        format!("{:.2}k", hz / 1000.0)
    } else {
        format!("{hz:.1}")
    }
}

fn label_hz(b: &BandInfo) -> String {
    let hz = b.nominal_hz.unwrap_or(b.center_hz);
    if hz >= 100.0 {
        format!("{hz:.0}")
    } else {
        format!("{hz:.1}")
    }
}

impl FrameSink for OutputSink {
    fn frame_mut(&mut self) -> &mut Frame {
        &mut self.frame
    }

    fn publish(&mut self) -> ControlFlow<()> {
        if self.error.is_some() {
            return ControlFlow::Break(());
        }
        let now = std::time::Instant::now();
        if let Some(sound) = self.frame.sound {
            self.sound_latency
                .record(now.saturating_duration_since(sound));
        }
        if let Some(arrival) = self.frame.arrival {
            self.arrival_latency
                .record(now.saturating_duration_since(arrival));
        }
        self.frames += 1;
        if let Some((meter, reading)) = &mut self.spl {
            *reading = meter.feed(&self.frame.bars_db, self.frame.time_s - self.last_time_s);
        }
        self.last_time_s = self.frame.time_s;
        let done = self
            .limit_s
            .is_some_and(|limit| self.frame.time_s >= limit - 0.5 / self.sample_rate);
        if let Some(p) = &self.progress {
            p.set_position((self.frame.time_s * self.sample_rate) as u64);
        }
        if self.format == OutputFormat::Summary {
            self.accumulate();
            return if done {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            };
        }
        self.format_line();
        match self.out.try_line(&self.line) {
            Ok(written) => {
                self.output_dropped += u64::from(!written);
                if done {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            }
            Err(e) => {
                self.error = Some(e);
                ControlFlow::Break(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_formatting() {
        let cases = [
            (-6.0206f32, "-6.02"),
            (0.0, "0.00"),
            (-0.004, "0.00"),
            (-0.006, "-0.01"),
            (3.5, "3.50"),
            (-130.0, "-120.00"),
            (f32::NEG_INFINITY, "-120.00"),
            (f32::NAN, "-120.00"),
        ];
        for (v, s) in cases {
            let mut b = Vec::new();
            push_db(&mut b, v);
            assert_eq!(String::from_utf8(b).expect("utf8"), s, "{v}");
        }
        let mut b = Vec::new();
        push_fixed(&mut b, 0.016667, 6);
        assert_eq!(b, b"0.016667");
    }

    #[test]
    fn the_engines_handle_on_a_full_pipe_never_waits_and_leaves_the_pipe_blocking() {
        use std::os::fd::AsFd;
        let (reader, writer) = std::io::pipe().expect("pipe");
        let writer = std::fs::File::from(std::os::fd::OwnedFd::from(writer));
        let mut direct = DirectOut::new(writer.try_clone().expect("dup")).expect("a pipe");
        assert!(matches!(direct, DirectOut::Pipe(_)), "{direct:?}");
        let line = [b'x'; 600];
        let mut taken = 0;
        // Nobody reads: the pipe fills, and then a line is refused whole, at once.
        while let Some(n) = direct.try_write(&line).expect("write") {
            assert_eq!(n, line.len(), "a short line goes in whole or not at all");
            taken += n;
            assert!(taken < 1 << 24, "the pipe never filled");
        }
        assert!(taken >= 4096, "{taken} bytes before the pipe was full");
        // The other holders of the pipe (stdout) still block: the flag is the handle's own.
        let flags = rustix::fs::fcntl_getfl(writer.as_fd()).expect("flags");
        assert!(!flags.contains(rustix::fs::OFlags::NONBLOCK), "{flags:?}");
        drop(reader);
    }

    #[test]
    fn only_pipes_and_sockets_get_a_direct_handle() {
        let file = tempfile_in_target();
        assert!(DirectOut::new(file).is_none());
        let (a, _b) = std::os::unix::net::UnixStream::pair().expect("socket pair");
        let socket = std::fs::File::from(std::os::fd::OwnedFd::from(a));
        assert!(matches!(DirectOut::new(socket), Some(DirectOut::Polled(_))));
    }

    fn tempfile_in_target() -> std::fs::File {
        let path = std::env::temp_dir().join(format!("spektr-direct-{}", std::process::id()));
        let file = std::fs::File::create(&path).expect("create");
        let _ = std::fs::remove_file(&path);
        file
    }
}
