//! One live pipeline for every front end: the capture supervisor, the engine that analyzes
//! what it delivers, the frame sink and the recording, wired in one place. The window,
//! `spektr analyze --source` and `spektr record` are its clients. Runs on the controller's
//! thread (the UI thread or the CLI's main thread) and never waits on the others, except in
//! [`LiveSession::wait_started`] and [`LiveSession::finish`].
//!
//! ```text
//!  supervisor ("spektr-capture") --Started(stream)--> LiveSession --spawn / next_stream--> engine
//!        ^ commands: source, host, pause                  |  apply(analyzer, sink), gain, pause,
//!        |                                                 |  record(tap), stop
//!  controller (window, CLI) <---------- LiveEvent --------+
//! ```

use std::sync::mpsc::RecvTimeoutError;
use std::time::{Duration, Instant};

use crate::capture::supervisor::{Command, Event, Options, Supervisor, Waker};
use crate::capture::{HostChoice, Period, SourceSpec, StreamInfo};
use crate::config::AnalysisSettings;
use crate::engine::{Analyzer, BandInfo, EngineHandle, EngineOutcome};
use crate::publish::{FrameInput, FrameOutput, FrameSink};
use crate::record::{MarkKind, RecordError, RecordRequest, Recording};

/// Makes the frame sinks the engine publishes into: one for the first stream, and a new one
/// whenever the analysis changes shape (new settings, a stream of another format).
pub trait Publisher {
    /// The sink.
    type Sink: FrameSink + Send + 'static;
    /// A sink for `analyzer`'s frames of the stream `info` describes.
    fn sink(&mut self, info: &StreamInfo, analyzer: &Analyzer) -> Result<Self::Sink, String>;
}

/// The display's publisher: the newest frame through a triple buffer (latest wins, nothing
/// waits). A new buffer comes with each new analysis shape; [`Latest::take_replaced`] says so.
#[derive(Debug, Default)]
pub struct Latest {
    output: Option<FrameOutput>,
    replaced: bool,
}

impl Latest {
    /// The reading half of the newest buffer.
    pub fn output(&mut self) -> Option<&mut FrameOutput> {
        self.output.as_mut()
    }

    /// Whether the buffer was replaced (new bands) since the last call.
    pub fn take_replaced(&mut self) -> bool {
        std::mem::take(&mut self.replaced)
    }
}

impl Publisher for Latest {
    type Sink = FrameInput;

    fn sink(&mut self, _info: &StreamInfo, analyzer: &Analyzer) -> Result<FrameInput, String> {
        let (input, output) = triple_buffer::triple_buffer(&analyzer.new_frame());
        self.output = Some(output);
        self.replaced = true;
        Ok(input)
    }
}

/// How a live session runs.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    /// Which audio system.
    pub host: HostChoice,
    /// Play file sources again from the start when they end.
    pub looped: bool,
    /// When the source goes away, wait for it to return (the window) rather than end (the CLI).
    pub reconnect: bool,
    /// The capture period to ask for.
    pub period: Period,
    /// What to analyze.
    pub settings: AnalysisSettings,
    /// Analysis gain in dB (bars and meters only).
    pub gain_db: f32,
}

/// What happened, for the controller to show.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveEvent {
    /// A stream started: the first, or the source's next after a loss, a switch or a change
    /// of the default device. The engine analyzes it already.
    Started {
        /// What it is.
        info: StreamInfo,
        /// Something to tell the user (the device refused the period asked for).
        note: Option<String>,
    },
    /// The stream could not be analyzed (its format is not one spektr takes).
    Unusable {
        /// Why, in one line.
        error: String,
    },
    /// A source could not be opened.
    Failed {
        /// One line for the user.
        error: String,
        /// Whether the mistake is the user's (bad name, bad spec).
        usage: bool,
    },
    /// The source went away.
    Lost {
        /// One line for the user.
        reason: String,
    },
    /// The default device changed and the source follows it; a `Started` follows.
    DefaultChanged {
        /// The device that is the default now.
        to: String,
    },
    /// A file source reached its end.
    Ended,
    /// Delivery paused (`true`) or resumed.
    Paused(bool),
    /// The device's xruns, running total.
    Xruns(u64),
    /// Nothing happened in the pipeline: a [`Waker`] asked the controller to look (a Ctrl-C,
    /// the engine's end).
    Woken,
}

/// A running live pipeline.
#[derive(Debug)]
pub struct LiveSession<P: Publisher> {
    supervisor: Supervisor,
    engine: Option<EngineHandle<P::Sink>>,
    publisher: P,
    options: LiveOptions,
    info: Option<StreamInfo>,
    bands: Vec<BandInfo>,
    /// What the bars measure for the stream being analyzed (the settings' mode, or its
    /// fallback).
    bars_from: crate::config::BarsFrom,
    recording: Option<Recording>,
    /// A recording to begin at the first stream's first frame (the CLI's `record`).
    record_first: Option<RecordFirst>,
    /// Why that recording could not begin.
    record_failed: Option<RecordError>,
    lost: bool,
    paused: bool,
}

/// Makes the request for a recording of the first stream, once its format is known.
struct RecordFirst(Box<dyn FnOnce(&StreamInfo) -> RecordRequest + Send>);

impl std::fmt::Debug for RecordFirst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecordFirst")
    }
}

/// Why a live session could not start.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    /// The source could not be opened: the user's mistake (`usage`) or the system's.
    #[error("{error}")]
    Source {
        /// One line.
        error: String,
        /// Whether the user can fix it by asking differently.
        usage: bool,
    },
    /// The settings do not suit the stream.
    #[error("{0}")]
    Settings(String),
    /// A thread could not start, or the capture did not start in time.
    #[error("{0}")]
    System(String),
    /// The recording asked for from the start could not begin.
    #[error("{0}")]
    Record(RecordError),
}

impl LiveError {
    /// Whether the user can fix this by asking differently (exit 2) rather than by fixing the
    /// system (exit 3).
    pub fn is_usage(&self) -> bool {
        match self {
            LiveError::Record(e) => e.is_usage(),
            _ => matches!(
                self,
                LiveError::Source { usage: true, .. } | LiveError::Settings(_)
            ),
        }
    }
}

/// How long a device may take to deliver its first stream.
const START_TIMEOUT: Duration = Duration::from_secs(10);

impl<P: Publisher> LiveSession<P> {
    /// Starts capturing `spec`; the engine starts with the first stream (see
    /// [`LiveSession::poll`] and [`LiveSession::wait_started`]).
    pub fn start(spec: SourceSpec, options: LiveOptions, publisher: P) -> Result<Self, LiveError> {
        let supervisor = Supervisor::spawn(
            spec,
            Options {
                host: options.host,
                looped: options.looped,
                reconnect: options.reconnect,
                period: options.period,
            },
        )
        .map_err(|e| LiveError::System(format!("cannot start the capture thread: {e}")))?;
        Ok(LiveSession {
            supervisor,
            engine: None,
            publisher,
            options,
            info: None,
            bands: Vec::new(),
            bars_from: crate::config::BarsFrom::Mean,
            recording: None,
            record_first: None,
            record_failed: None,
            lost: false,
            paused: false,
        })
    }

    /// Records the first stream from its first frame on (a file played in real time is
    /// recorded from its start, however late this thread gets to it): `make` turns the
    /// stream's description into the request. Call before [`LiveSession::wait_started`], which
    /// reports a recording that could not begin.
    pub fn record_from_start(
        &mut self,
        make: impl FnOnce(&StreamInfo) -> RecordRequest + Send + 'static,
    ) {
        self.record_first = Some(RecordFirst(Box::new(make)));
    }

    /// Waits for the first stream (or the reason there is none), for the CLI.
    pub fn wait_started(&mut self) -> Result<(StreamInfo, Option<String>), LiveError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left) {
                Some(LiveEvent::Started { info, note }) => {
                    return match self.record_failed.take() {
                        Some(e) => Err(LiveError::Record(e)),
                        None => Ok((info, note)),
                    };
                }
                Some(LiveEvent::Failed { error, usage }) => {
                    return Err(LiveError::Source { error, usage });
                }
                Some(LiveEvent::Unusable { error }) => return Err(LiveError::Settings(error)),
                Some(LiveEvent::Lost { reason }) => {
                    return Err(LiveError::Source {
                        error: reason,
                        usage: false,
                    });
                }
                Some(_) => {}
                None if Instant::now() >= deadline => {
                    return Err(LiveError::System(format!(
                        "the capture did not start within {} s",
                        START_TIMEOUT.as_secs()
                    )));
                }
                None => {}
            }
        }
    }

    /// Something that makes [`LiveSession::next_event`] return now, from any thread.
    pub fn waker(&self) -> Waker {
        self.supervisor.waker()
    }

    /// Takes everything that happened since the last call, without waiting.
    pub fn poll(&mut self) -> Vec<LiveEvent> {
        let mut out = Vec::new();
        while let Some(e) = self.next_event(Duration::ZERO) {
            out.push(e);
        }
        out
    }

    /// The next thing that happens within `timeout` (`None`: nothing did).
    pub fn next_event(&mut self, timeout: Duration) -> Option<LiveEvent> {
        let event = if timeout.is_zero() {
            self.supervisor.events.try_recv().ok()?
        } else {
            match self.supervisor.events.recv_timeout(timeout) {
                Ok(e) => e,
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => return None,
            }
        };
        Some(match event {
            Event::Started { info, reader, note } => match self.stream_started(&info, *reader) {
                Ok(fallback) => LiveEvent::Started {
                    info,
                    note: match (note, fallback) {
                        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                        (a, b) => a.or(b),
                    },
                },
                Err(error) => LiveEvent::Unusable { error },
            },
            Event::Failed { error, usage } => LiveEvent::Failed { error, usage },
            Event::DeviceLost { reason } => {
                self.lost = true;
                if let Some(e) = &self.engine {
                    e.source_lost();
                }
                if let Some(r) = &self.recording {
                    r.lost(reason.clone());
                    // Nothing will bring it back: the take ends at the loss.
                    if !self.options.reconnect {
                        r.stop();
                    }
                }
                LiveEvent::Lost { reason }
            }
            Event::DefaultChanged { to } => {
                if let Some(r) = &self.recording {
                    r.mark(MarkKind::SourceChange, format!("the default is now {to}"));
                }
                LiveEvent::DefaultChanged { to }
            }
            Event::Ended => LiveEvent::Ended,
            Event::Paused => LiveEvent::Paused(true),
            Event::Resumed => LiveEvent::Paused(false),
            Event::Xruns(n) => LiveEvent::Xruns(n),
            Event::Wake => LiveEvent::Woken,
            Event::Stopped => return None,
        })
    }

    /// A stream came: the first starts the engine, a later one goes to the running engine
    /// (with a new analyzer and sink when its format differs).
    /// Returns a note when the settings had to fall back for this stream.
    fn stream_started(
        &mut self,
        info: &StreamInfo,
        reader: crate::stream::StreamReader,
    ) -> Result<Option<String>, String> {
        let same = self.info.as_ref().is_some_and(|i| i.format == info.format);
        let mut fallback = None;
        let analyzer = if same && self.engine.is_some() {
            None
        } else {
            // A saved mode the new source cannot give (side or a third channel on a mono
            // microphone): the default rule, said once, and the saved mode kept for sources
            // that can.
            let mut settings = self.options.settings.clone();
            if let Err(e) = settings.bars_from.validate(info.format.channels) {
                settings.bars_from = crate::config::BarsFrom::Mean;
                fallback = Some(format!(
                    "{e}: the bars show the mean of the channels' power"
                ));
            }
            let analyzer = Analyzer::new(&settings, info.format)
                .map_err(|e| format!("cannot analyze {}: {e}", info.name))?;
            let sink = self.publisher.sink(info, &analyzer)?;
            Some((analyzer, sink))
        };
        if let Some((a, _)) = &analyzer {
            self.bands = a.bands().to_vec();
            self.bars_from = a.settings().bars_from;
        }
        match (self.engine.as_mut(), analyzer) {
            (Some(engine), analyzer) => {
                let (a, s) = analyzer.map_or((None, None), |(a, s)| (Some(a), Some(s)));
                engine
                    .next_stream(reader, a, s)
                    .map_err(|e| e.to_string())?;
            }
            (None, Some((analyzer, sink))) => {
                // A live engine waits for the source's next stream when one ends (a loss, a
                // new default); the session ends it.
                // A recording of the stream from its first frame: its tap is the engine's
                // first command.
                let tap = match self.record_first.take().map(|make| {
                    let mut request = (make.0)(info);
                    request.format = info.format;
                    request.source_kind = info.kind;
                    Recording::start(request)
                }) {
                    Some(Ok((recording, tap))) => {
                        self.recording = Some(recording);
                        Some(tap)
                    }
                    Some(Err(e)) => {
                        self.record_failed = Some(e);
                        None
                    }
                    None => None,
                };
                // Whoever waits for events learns of the engine's end at once.
                let waker = self.supervisor.waker();
                let engine =
                    EngineHandle::spawn_then(reader, analyzer, sink, true, tap, move || {
                        waker.wake();
                    })
                    .map_err(|e| format!("cannot start the engine thread: {e}"))?;
                engine.set_gain_db(self.options.gain_db);
                engine.set_paused(self.paused);
                self.engine = Some(engine);
            }
            (None, None) => unreachable!("an analyzer is built when there is no engine"),
        }
        if self.lost {
            self.lost = false;
            if let Some(r) = &self.recording
                && same
            {
                r.returned();
            }
        }
        self.info = Some(info.clone());
        Ok(fallback)
    }

    /// The stream being analyzed (the last one, while the source is away).
    pub fn info(&self) -> Option<&StreamInfo> {
        self.info.as_ref()
    }

    /// The bands being analyzed.
    pub fn bands(&self) -> &[BandInfo] {
        &self.bands
    }

    /// What the bars measure for the stream being analyzed.
    pub fn bars_from(&self) -> crate::config::BarsFrom {
        self.bars_from
    }

    /// The publisher (the window reads its frames through it).
    pub fn publisher(&mut self) -> &mut P {
        &mut self.publisher
    }

    /// The recording and the publisher at once (the CLI shows the recording's progress beside
    /// the newest frame).
    pub fn parts(&mut self) -> (Option<&Recording>, &mut P) {
        (self.recording.as_ref(), &mut self.publisher)
    }

    /// The settings in force.
    pub fn settings(&self) -> &AnalysisSettings {
        &self.options.settings
    }

    /// Analyze with `settings` from now on (a recording goes on).
    pub fn apply(&mut self, settings: AnalysisSettings) -> Result<(), String> {
        if let (Some(engine), Some(info)) = (self.engine.as_mut(), self.info.as_ref()) {
            let analyzer = Analyzer::new(&settings, info.format).map_err(|e| e.to_string())?;
            let sink = self.publisher.sink(info, &analyzer)?;
            let bands = analyzer.bands().to_vec();
            engine
                .apply(analyzer, Some(sink))
                .map_err(|e| e.to_string())?;
            self.bands = bands;
            self.bars_from = settings.bars_from;
        }
        self.options.settings = settings;
        Ok(())
    }

    /// Feeds a spectrogram on the fine `layout` beside the bars, from now on, and returns its
    /// frames' reading end; `None` stops it (and returns `None`). Call it again after a
    /// `Started` (the stream's shape may differ) or a change of settings.
    pub fn spectrogram(
        &mut self,
        layout: Option<crate::config::BandLayout>,
    ) -> Result<Option<crate::engine::spectro::SpectrogramFrames>, String> {
        let Some(engine) = self.engine.as_mut() else {
            return Ok(None);
        };
        let Some(layout) = layout else {
            engine.spectrogram(None).map_err(|e| e.to_string())?;
            return Ok(None);
        };
        let Some(info) = self.info.as_ref() else {
            return Ok(None);
        };
        // The bars' effective source: the saved one may have fallen back to the mean.
        let mut bars = self.options.settings.clone();
        bars.bars_from = self.bars_from;
        let settings = crate::engine::spectro::settings(&bars, layout);
        let (feed, frames) = crate::engine::spectro::feed(&settings, info.format)?;
        engine.spectrogram(Some(feed)).map_err(|e| e.to_string())?;
        Ok(Some(frames))
    }

    /// Analysis gain in dB (bars and meters; never what is recorded).
    pub fn set_gain_db(&mut self, gain_db: f32) {
        self.options.gain_db = gain_db;
        if let Some(e) = &self.engine {
            e.set_gain_db(gain_db);
        }
    }

    /// Starts the loudness measurement over (integrated, range and the maxima together).
    pub fn reset_loudness(&self) {
        if let Some(e) = &self.engine {
            e.reset_loudness();
        }
    }

    /// Starts the infinite average and the max-hold over.
    pub fn reset_averages(&self) {
        if let Some(e) = &self.engine {
            e.reset_averages();
        }
    }

    /// Pauses or resumes analysis and recording (at an exact frame, marked in the recording);
    /// a file or generator holds its place meanwhile.
    pub fn set_paused(&mut self, paused: bool) {
        self.paused = paused;
        if let Some(e) = &self.engine {
            e.set_paused(paused);
        }
        self.supervisor.send(if paused {
            Command::Pause
        } else {
            Command::Resume
        });
    }

    /// Whether analysis is paused.
    pub fn paused(&self) -> bool {
        self.paused
    }

    /// Whether the source is away (lost and not back yet).
    pub fn lost(&self) -> bool {
        self.lost
    }

    /// Switches to another source (through `host`); a recording ends first (it is of one
    /// source).
    pub fn set_source(&mut self, host: HostChoice, spec: SourceSpec) {
        if let Some(r) = &self.recording {
            r.mark(MarkKind::SourceChange, spec.to_string());
            r.stop();
        }
        self.supervisor.send(Command::SetHost(host));
        self.supervisor.send(Command::SetSource(spec));
    }

    /// Starts recording what the engine analyzes.
    pub fn record(&mut self, mut request: RecordRequest) -> Result<&Recording, RecordError> {
        let engine = self
            .engine
            .as_mut()
            .filter(|e| !e.is_finished())
            .ok_or_else(|| RecordError::Thread("no source is running".into()))?;
        if let Some(info) = &self.info {
            request.format = info.format;
            request.source_kind = info.kind;
            if request.source.is_empty() {
                request.source = info.name.clone();
            }
        }
        let (recording, tap) = Recording::start(request)?;
        engine
            .record(tap)
            .map_err(|e| RecordError::Thread(e.to_string()))?;
        if self.lost {
            recording.lost("the source went away before the recording started");
        }
        Ok(self.recording.insert(recording))
    }

    /// The recording in progress, if any.
    pub fn recording(&self) -> Option<&Recording> {
        self.recording.as_ref()
    }

    /// Takes the recording (its end is the caller's to wait for).
    pub fn take_recording(&mut self) -> Option<Recording> {
        self.recording.take()
    }

    /// Notes an event at the recording's current position.
    pub fn mark(&self, kind: MarkKind, detail: impl Into<String>) {
        if let Some(r) = &self.recording {
            r.mark(kind, detail);
        }
    }

    /// Whether the engine has ended (its sink closed: a limit reached, the output gone).
    pub fn engine_finished(&self) -> bool {
        self.engine.as_ref().is_some_and(EngineHandle::is_finished)
    }

    /// Whether the engine has analyzed all of a stream that ended, and waits for the next.
    pub fn engine_waiting(&self) -> bool {
        self.engine.as_ref().is_some_and(EngineHandle::waiting)
    }

    /// Whether an engine runs (a stream has started).
    pub fn has_engine(&self) -> bool {
        self.engine.is_some()
    }

    /// Frames per block the source delivers, as the engine sees them.
    pub fn block_frames(&self) -> Option<u32> {
        self.engine.as_ref().and_then(EngineHandle::block_frames)
    }

    /// Asks the engine to stop (it ends after its current chunk).
    pub fn stop_engine(&self) {
        if let Some(e) = &self.engine {
            e.stop();
        }
    }

    /// Stops the engine (unless it has ended by itself) and returns what it hands back; the
    /// capture and the recording go on until [`LiveSession::finish`].
    pub fn join_engine(&mut self) -> Option<EngineOutcome<P::Sink>> {
        self.engine.take().and_then(|e| {
            e.stop();
            e.join()
        })
    }

    /// Ends the session: the recording is stopped and finalized, the engine stopped (unless it
    /// has ended by itself) and joined, the capture closed. Returns what the engine handed
    /// back, and the recording's end.
    pub fn finish(
        mut self,
    ) -> (
        Option<EngineOutcome<P::Sink>>,
        Option<crate::record::Finished>,
    ) {
        let recording = self.recording.take();
        if let Some(r) = &recording {
            r.stop();
        }
        let outcome = self.engine.take().and_then(|e| {
            e.stop();
            e.join()
        });
        self.supervisor.send(Command::Stop);
        let finished = recording.and_then(Recording::wait);
        (outcome, finished)
    }
}
