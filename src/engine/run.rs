//! The engine thread's loop: drain the stream, analyze, publish, and hand the raw samples to
//! the recording. Runs on "spektr-engine".
//!
//! It never waits on anyone: when the ring is empty it parks (a source that may make syscalls
//! unparks it sooner; the audio callback does not). For a live source it wakes just after the
//! block that completes the next hop is due, judged from the blocks' arrival times
//! ([`Pacer`]); with no estimate yet, at most half a hop later. It never allocates in steady
//! state: the ring's chunks are read in place, commands arrive built, through a ring.

use std::ops::ControlFlow;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::Analyzer;
use super::pacer::Pacer;
use super::worker::{Command, EngineShared};
use crate::publish::FrameSink;
use crate::record::{MarkKind, Tap};
use crate::stream::StreamReader;

/// Why the engine loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineExit {
    /// The source closed the stream and every sample was analyzed.
    EndOfStream,
    /// The sink asked to stop (its reader went away, or it had what it wanted).
    SinkClosed,
    /// Stop was asked for.
    Stopped,
}

/// What the engine hands back when it ends.
#[derive(Debug)]
pub struct EngineOutcome<S> {
    /// Why it ended.
    pub exit: EngineExit,
    /// The analyzer, with its counters.
    pub analyzer: Box<Analyzer>,
    /// The sink, with whatever it kept.
    pub sink: S,
}

/// The longest a live engine sleeps with nothing to do: bounds how long a command waits.
const IDLE: Duration = Duration::from_millis(50);
/// A recording whose first sound comes later than this after it was asked for starts with
/// silence for that time (shorter delays are the capture period's own).
const START_GAP_S: f64 = 0.05;
/// The longest outage written into a recording as silence when the source returns (a longer
/// one, a laptop asleep overnight, is listed in the sidecar with its length but not written).
const MAX_OUTAGE_S: f64 = 60.0;

/// The engine: one stream at a time (a live session hands it the next one after a loss), one
/// analyzer (replaced when the settings change), one frame sink, and the recording's tap.
#[derive(Debug)]
pub struct Engine<S> {
    pub(super) reader: Option<Box<StreamReader>>,
    pub(super) analyzer: Box<Analyzer>,
    pub(super) sink: S,
    pub(super) commands: rtrb::Consumer<Command<S>>,
    pub(super) shared: Arc<EngineShared>,
    /// Wait for another stream when this one ends (a session that reconnects).
    pub(super) keep_alive: bool,
    pub(super) tap: Option<Tap>,
    /// The window's spectrogram, when it shows one.
    spectro: Option<Box<super::spectro::SpectrogramFeed>>,
    /// The shape of the stream now (or the one that ended): a recording is of one shape.
    format: crate::config::StreamFormat,
    /// The stream frame the tap's recording starts at (gaps before it are not its own).
    tap_from: u64,
    paused: bool,
    /// Stream frames passed over while paused (reported with the resume).
    skipped: u64,
    /// The capture time of the newest frame of the stream that ended, for a recording that
    /// goes on when the source returns.
    ended_at: Option<Instant>,
    /// Frames of the streams before this one (frame times go on across a new stream).
    frames_before: u64,
    /// The new stream's first block still has to be placed after the outage.
    returning: bool,
    /// A recording just began: its first frame still has to be placed on its timeline.
    starting: bool,
    pacer: Pacer,
}

impl<S: FrameSink> Engine<S> {
    pub(super) fn new(
        reader: Box<StreamReader>,
        analyzer: Box<Analyzer>,
        sink: S,
        commands: rtrb::Consumer<Command<S>>,
        shared: Arc<EngineShared>,
        keep_alive: bool,
    ) -> Self {
        Engine {
            format: reader.format,
            reader: Some(reader),
            analyzer,
            sink,
            commands,
            shared,
            keep_alive,
            tap: None,
            spectro: None,
            tap_from: 0,
            paused: false,
            skipped: 0,
            ended_at: None,
            frames_before: 0,
            returning: false,
            starting: false,
            pacer: Pacer::default(),
        }
    }

    /// Runs until the stream ends (and no other comes), the sink closes or stop is asked for.
    pub fn run(mut self) -> EngineOutcome<S> {
        if let Some(r) = &self.reader {
            r.stats.register_reader(std::thread::current());
        }
        let exit = self.run_loop();
        // The recording ends with the engine: the tap goes first, so the writer finalizes.
        self.tap = None;
        EngineOutcome {
            exit,
            analyzer: self.analyzer,
            sink: self.sink,
        }
    }

    fn take_commands(&mut self) {
        while let Ok(command) = self.commands.pop() {
            match command {
                Command::Apply { mut analyzer, sink } => {
                    analyzer.continue_loudness(&mut self.analyzer);
                    self.analyzer = analyzer;
                    if let Some(sink) = sink {
                        self.sink = sink;
                    }
                    self.pacer = Pacer::default();
                }
                Command::Stream {
                    reader,
                    analyzer,
                    sink,
                } => {
                    if let Some(analyzer) = analyzer {
                        self.analyzer = analyzer;
                    }
                    if let Some(sink) = sink {
                        self.sink = sink;
                    }
                    if let Some(old) = self.reader.take() {
                        self.frames_before += old.frames_read;
                    }
                    // A recording is of one stream shape: another one ends it.
                    if reader.format != self.format {
                        self.tap = None;
                        self.spectro = None;
                        self.format = reader.format;
                    }
                    self.returning = self.tap.is_some() && self.ended_at.is_some();
                    reader.stats.register_reader(std::thread::current());
                    self.reader = Some(reader);
                    self.tap_from = 0;
                    self.pacer = Pacer::default();
                    self.shared.waiting.store(false, Ordering::Relaxed);
                }
                Command::Spectrogram(feed) => {
                    // One made for another stream shape (the stream changed meanwhile) waits
                    // for the window to make a new one.
                    self.spectro = feed.filter(|f| f.format() == self.format);
                    if let Some(s) = self.spectro.as_mut() {
                        s.set_gain_db(self.shared.gain_db());
                    }
                }
                Command::Record(mut tap) => {
                    tap.begin();
                    self.tap_from = self.reader.as_ref().map_or(0, |r| r.frames_read);
                    if self.paused {
                        let _ = tap.mark(MarkKind::Pause, None);
                    }
                    self.tap = Some(tap);
                    self.starting = true;
                }
            }
        }
    }

    fn run_loop(&mut self) -> EngineExit {
        let mut gain_db = f32::NAN;
        loop {
            if self.shared.stop.load(Ordering::Relaxed) {
                return EngineExit::Stopped;
            }
            self.take_commands();
            if self.tap.as_ref().is_some_and(Tap::wants_end) {
                self.tap = None;
            }
            let wanted = self.shared.gain_db();
            if wanted != gain_db {
                gain_db = wanted;
                self.analyzer.set_gain_db(gain_db);
                if let Some(s) = self.spectro.as_mut() {
                    s.set_gain_db(gain_db);
                }
            }
            if self.shared.reset_loudness.swap(false, Ordering::Relaxed) {
                self.analyzer.reset_loudness();
            }
            if self.shared.reset_averages.swap(false, Ordering::Relaxed) {
                self.analyzer.reset_averages();
            }
            let paused = self.shared.paused.load(Ordering::Relaxed);
            if paused != self.paused {
                self.paused = paused;
                if let Some(tap) = self.tap.as_mut() {
                    let ok = if paused {
                        tap.mark(MarkKind::Pause, None)
                    } else {
                        tap.mark(MarkKind::Resume, Some(self.skipped))
                    };
                    if !ok {
                        self.tap = None;
                    }
                }
                self.skipped = 0;
            }
            let Some(reader) = self.reader.as_mut() else {
                // The stream ended; the session sends the next one, or ends the engine. When it
                // says the source was lost, the loss goes into the recording here, right after
                // the stream's last frame (nothing was forwarded since).
                if self.shared.lost.swap(false, Ordering::Relaxed)
                    && let Some(tap) = self.tap.as_mut()
                    && !tap.mark(MarkKind::DeviceLost, None)
                {
                    self.tap = None;
                }
                std::thread::park_timeout(IDLE);
                continue;
            };
            let channels = reader.format.channels;
            // Read `abandoned` before `slots`: samples pushed before the writer went away are
            // then always seen.
            let abandoned = reader.samples.is_abandoned();
            let available = reader.samples.slots();
            let available = available - available % channels;
            if available == 0 {
                if abandoned {
                    if !self.keep_alive {
                        return EngineExit::EndOfStream;
                    }
                    self.stream_ended();
                    continue;
                }
                // A source the engine reads itself: wait on it (a socket) rather than park.
                if let Some(pump) = reader.pump.as_mut() {
                    let wanted = if self.paused {
                        1
                    } else {
                        self.analyzer.frames_to_next_frame()
                    };
                    if !pump.pump(wanted) {
                        reader.pump = None;
                    }
                    continue;
                }
                let fallback = Duration::from_secs_f64(self.analyzer.plan().hop_s() / 2.0);
                let timeout = match reader.arrivals.as_mut() {
                    // A writer that wakes the engine after each push: sleep until it does.
                    _ if reader.stats.writer_wakes() => IDLE,
                    Some(arrivals) => {
                        // The next frame, not the next hop: a hop that publishes nothing can wait
                        // for the block after it (half the wakes; the frame is not later).
                        let needed = self.analyzer.frames_to_next_frame();
                        let wait = self.pacer.wait(arrivals, needed, fallback);
                        self.shared
                            .block_frames
                            .store(self.pacer.block_frames.round() as u32, Ordering::Relaxed);
                        wait
                    }
                    None => fallback,
                };
                std::thread::park_timeout(timeout);
                continue;
            }
            if self.process(available) == ControlFlow::Break(()) {
                return EngineExit::SinkClosed;
            }
        }
    }

    /// The stream's writer went away and everything was read: note when its last sound was,
    /// keep the tap (the session may bring the source back) and wait for the next stream.
    fn stream_ended(&mut self) {
        if let Some(mut reader) = self.reader.take() {
            self.frames_before += reader.frames_read;
            let last = reader.frames_read.saturating_sub(1);
            let rate = f64::from(reader.format.sample_rate);
            self.ended_at = reader
                .arrival_of(last)
                .map(|a| a.sound_of(last, rate))
                .or(Some(Instant::now()));
        }
        self.shared.waiting.store(true, Ordering::Relaxed);
    }

    /// Analyzes (or, paused, passes over) `available` samples, forwarding them to the
    /// recording. `Break` when the sink closed.
    fn process(&mut self, available: usize) -> ControlFlow<()> {
        let Some(reader) = self.reader.as_deref_mut() else {
            return ControlFlow::Continue(());
        };
        let StreamReader {
            samples,
            arrivals,
            gaps,
            stats,
            format,
            frames_read,
            ..
        } = reader;
        let channels = format.channels;
        let rate = f64::from(format.sample_rate);
        let start = *frames_read;
        let end = start + (available / channels) as u64;
        let mut arrival_of = |frame: u64| {
            arrivals
                .as_mut()
                .and_then(|a| crate::stream::arrival_of(a, frame))
        };
        if self.returning {
            self.returning = false;
            // The recording goes on after the outage, as long as it lasted (written as silence
            // up to a limit), so the file's timeline stays true.
            let first = arrival_of(start).map(|a| a.sound_of(start, rate));
            if let (Some(tap), Some(first), Some(last)) = (self.tap.as_mut(), first, self.ended_at)
            {
                let away_s = first.saturating_duration_since(last).as_secs_f64();
                let frames = ((away_s * rate).round() as u64).saturating_sub(1);
                let ok = if away_s <= MAX_OUTAGE_S {
                    tap.silence(frames, MarkKind::DeviceReturned)
                } else {
                    tap.mark(MarkKind::DeviceReturned, Some(frames))
                };
                if !ok {
                    self.tap = None;
                }
            }
            self.ended_at = None;
        }
        if self.starting && !self.paused {
            self.starting = false;
            // The file's timeline starts when the recording was asked for: a source whose
            // first sound comes later (a server running ahead, a device waking up) leaves
            // silence there, listed, rather than a file shorter than the time it took.
            let first = arrival_of(start).map(|a| a.sound_of(start, rate));
            if let (Some(tap), Some(first)) = (self.tap.as_mut(), first) {
                let late_s = first
                    .saturating_duration_since(tap.asked_at())
                    .as_secs_f64();
                if late_s > START_GAP_S
                    && !tap.silence((late_s * rate).round() as u64, MarkKind::StartGap)
                {
                    self.tap = None;
                }
            }
        }
        let Ok(chunk) = samples.read_chunk(available) else {
            return ControlFlow::Continue(());
        };
        let (first, second) = chunk.as_slices();
        if self.paused {
            // Paused: nothing is analyzed or recorded; the frames are counted for the resume.
            self.skipped += end - start;
        } else if let Some(tap) = self.tap.as_mut() {
            let split = start + (first.len() / channels) as u64;
            let from = self.tap_from;
            let recording =
                record(tap, gaps, from, start, first) && record(tap, gaps, from, split, second);
            if !recording {
                self.tap = None;
            }
        }
        // Gaps nobody records (or after the recording ended) are only counted.
        crate::stream::drop_gaps_before(gaps, end);
        *frames_read = end;
        let mut flow = ControlFlow::Continue(());
        if !self.paused
            && let Some(s) = self.spectro.as_mut()
        {
            let split = (first.len() / channels) as u64;
            let from = self.frames_before + start;
            s.feed(first, from, rate);
            s.feed(second, from + split, rate);
        }
        if !self.paused {
            let mut at = start;
            'parts: for part in [first, second] {
                let mut rest = part;
                while rest.len() >= channels {
                    let fed = self.analyzer.feed(rest);
                    rest = &rest[fed.consumed..];
                    at += (fed.consumed / channels) as u64;
                    if fed.frame_due {
                        let frame = self.sink.frame_mut();
                        self.analyzer.write_frame(frame);
                        frame.dropped_frames = stats.dropped_frames();
                        // Stream time, whatever the analyzer's age (settings change it).
                        frame.time_s = (self.frames_before + at) as f64 / rate;
                        let newest = at.saturating_sub(1);
                        let arrival = arrival_of(newest);
                        frame.arrival = arrival.map(|a| a.at);
                        frame.sound = arrival.map(|a| a.sound_of(newest, rate));
                        if self.sink.publish() == ControlFlow::Break(()) {
                            flow = ControlFlow::Break(());
                            break 'parts;
                        }
                    }
                }
            }
        }
        chunk.commit_all();
        flow
    }
}

/// Forwards `part` (stream frames from `at` on) to the recording, with the capture gaps that
/// fall inside it (from stream frame `from` on, where the recording started) at their places.
/// False when the recording ended.
fn record(
    tap: &mut Tap,
    gaps: &mut rtrb::Consumer<crate::stream::Gap>,
    from: u64,
    mut at: u64,
    part: &[f32],
) -> bool {
    let channels = tap.channels();
    let mut rest = part;
    loop {
        let frames = (rest.len() / channels) as u64;
        let mut next_gap = None;
        while let Ok(&gap) = gaps.peek() {
            if gap.at_frame > at {
                if gap.at_frame < at + frames {
                    next_gap = Some(gap.at_frame);
                }
                break;
            }
            let _ = gaps.pop();
            if gap.at_frame >= from && !tap.silence(gap.frames, MarkKind::Gap) {
                return false;
            }
        }
        let n = next_gap.map_or(frames, |g| g - at);
        let (now, later) = rest.split_at(n as usize * channels);
        if !tap.forward(now) {
            return false;
        }
        if later.is_empty() {
            return true;
        }
        rest = later;
        at += n;
    }
}
