//! The engine's handle: starts the engine thread ("spektr-engine") and is the only way to talk
//! to it. Runs on the controller's thread (the window's UI thread, the CLI's main thread).
//!
//! Everything the engine needs is built here, off the engine thread: a settings change builds
//! the new [`Analyzer`] (and the sink sized for it) and sends them through a small command
//! ring; the engine swaps them in between two chunks, never allocating. Gain, pause and stop
//! are atomics. The handle never waits on the engine, except in [`EngineHandle::join`].

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::thread::JoinHandle;

use super::Analyzer;
use super::run::{Engine, EngineOutcome};
use crate::publish::FrameSink;
use crate::record::Tap;
use crate::stream::StreamReader;

/// Commands the engine takes between two chunks.
#[derive(Debug)]
pub enum Command<S> {
    /// Analyze with these settings from now on (and publish into `sink`, sized for them).
    Apply {
        /// The new analyzer.
        analyzer: Box<Analyzer>,
        /// A sink for its frames, when the old one does not fit them.
        sink: Option<S>,
    },
    /// The source's next stream (after a loss, or the new default): go on with it.
    Stream {
        /// Its reading half.
        reader: Box<StreamReader>,
        /// An analyzer for it, when its format differs.
        analyzer: Option<Box<Analyzer>>,
        /// A sink for that analyzer.
        sink: Option<S>,
    },
    /// Start recording: forward every sample from now on.
    Record(Tap),
    /// Feed a spectrogram from now on (`None`: stop feeding it).
    Spectrogram(Option<Box<super::spectro::SpectrogramFeed>>),
}

/// Commands in flight at most (a settings panel moved quickly; the engine takes them all at
/// its next chunk).
const COMMANDS: usize = 16;

/// What the controller may change while the engine runs: atomics, which cost the engine
/// nothing to read.
#[derive(Debug, Default)]
pub struct EngineShared {
    pub(super) stop: AtomicBool,
    pub(super) paused: AtomicBool,
    gain_db_bits: AtomicU32,
    /// Frames per capture block as the engine sees them (0: not known).
    pub(super) block_frames: AtomicU32,
    /// The stream ended and the engine waits for the next.
    pub(super) waiting: AtomicBool,
    /// The session says the source was lost (marked in the recording where the stream ended).
    pub(super) lost: AtomicBool,
    /// The window asks for the loudness measurement to start over (integrated, range, maxima).
    pub(super) reset_loudness: AtomicBool,
    /// The window asks for the infinite average and the max-hold to start over.
    pub(super) reset_averages: AtomicBool,
    /// The engine's run ended (set on its thread just before it ends: whoever it wakes then
    /// sees it, where the thread's own end may come a moment later).
    ended: AtomicBool,
}

/// Says the engine ended and wakes whoever waits for that, also when the engine panicked.
struct Ended<F: FnOnce()> {
    shared: Arc<EngineShared>,
    then: Option<F>,
}

impl<F: FnOnce()> Drop for Ended<F> {
    fn drop(&mut self) {
        self.shared.ended.store(true, Ordering::Release);
        if let Some(then) = self.then.take() {
            then();
        }
    }
}

impl EngineShared {
    pub(super) fn gain_db(&self) -> f32 {
        f32::from_bits(self.gain_db_bits.load(Ordering::Relaxed))
    }
}

/// The controller's end of a running engine.
#[derive(Debug)]
pub struct EngineHandle<S> {
    commands: rtrb::Producer<Command<S>>,
    shared: Arc<EngineShared>,
    thread: Option<JoinHandle<EngineOutcome<S>>>,
    /// The engine's thread, to wake it for a command.
    waker: Option<std::thread::Thread>,
}

impl<S: FrameSink + Send + 'static> EngineHandle<S> {
    /// Starts an engine on `reader`, analyzing with `analyzer` and publishing into `sink`.
    /// `keep_alive`: when the stream ends, wait for the next one ([`EngineHandle::next_stream`])
    /// instead of ending. `tap`: a recording that begins at the stream's first frame.
    pub fn spawn(
        reader: StreamReader,
        analyzer: Analyzer,
        sink: S,
        keep_alive: bool,
        tap: Option<Tap>,
    ) -> std::io::Result<Self> {
        Self::spawn_then(reader, analyzer, sink, keep_alive, tap, || {})
    }

    /// [`EngineHandle::spawn`], calling `then` on the engine's thread when the engine ends
    /// (to wake whoever waits for it).
    pub fn spawn_then(
        reader: StreamReader,
        analyzer: Analyzer,
        sink: S,
        keep_alive: bool,
        tap: Option<Tap>,
        then: impl FnOnce() + Send + 'static,
    ) -> std::io::Result<Self> {
        let (mut handle, engine) = Self::unstarted(reader, analyzer, sink, keep_alive);
        if let Some(tap) = tap {
            // The ring is empty and the engine not yet running: this cannot be refused.
            let _ = handle.record(tap);
        }
        let ended = Ended {
            shared: handle.shared.clone(),
            then: Some(then),
        };
        let thread = std::thread::Builder::new()
            .name("spektr-engine".into())
            .spawn(move || {
                let _ended = ended;
                engine.run()
            })?;
        handle.waker = Some(thread.thread().clone());
        handle.thread = Some(thread);
        Ok(handle)
    }
}

impl<S: FrameSink> EngineHandle<S> {
    /// The handle and the engine it drives, not yet running: a test runs
    /// [`Engine::run`] on a thread of its own (with a counting allocator armed) and tells the
    /// handle about that thread with [`EngineHandle::wake`].
    pub fn unstarted(
        reader: StreamReader,
        analyzer: Analyzer,
        sink: S,
        keep_alive: bool,
    ) -> (Self, Engine<S>) {
        let (commands, commands_rx) = rtrb::RingBuffer::new(COMMANDS);
        let shared = Arc::new(EngineShared::default());
        let engine = Engine::new(
            Box::new(reader),
            Box::new(analyzer),
            sink,
            commands_rx,
            shared.clone(),
            keep_alive,
        );
        (
            EngineHandle {
                commands,
                shared,
                thread: None,
                waker: None,
            },
            engine,
        )
    }

    /// The thread that runs the engine, for a handle made by [`EngineHandle::unstarted`].
    pub fn wake(&mut self, thread: std::thread::Thread) {
        self.waker = Some(thread);
    }

    fn send(&mut self, command: Command<S>) -> Result<(), EngineBusy> {
        self.commands.push(command).map_err(|_| EngineBusy)?;
        if let Some(t) = &self.waker {
            t.unpark();
        }
        Ok(())
    }

    /// Analyze with `analyzer` from the next chunk on, publishing into `sink` when given.
    pub fn apply(&mut self, analyzer: Analyzer, sink: Option<S>) -> Result<(), EngineBusy> {
        self.send(Command::Apply {
            analyzer: Box::new(analyzer),
            sink,
        })
    }

    /// Goes on with the source's next stream (an analyzer and sink for it when its format
    /// differs: a recording then ends).
    pub fn next_stream(
        &mut self,
        reader: StreamReader,
        analyzer: Option<Analyzer>,
        sink: Option<S>,
    ) -> Result<(), EngineBusy> {
        self.send(Command::Stream {
            reader: Box::new(reader),
            analyzer: analyzer.map(Box::new),
            sink,
        })
    }

    /// Starts forwarding every sample to a recording.
    pub fn record(&mut self, tap: Tap) -> Result<(), EngineBusy> {
        self.send(Command::Record(tap))
    }

    /// Feeds `feed` from the next chunk on (`None`: no spectrogram, which then costs nothing).
    pub fn spectrogram(
        &mut self,
        feed: Option<super::spectro::SpectrogramFeed>,
    ) -> Result<(), EngineBusy> {
        self.send(Command::Spectrogram(feed.map(Box::new)))
    }

    /// Analysis gain in dB (bars and meters; never what is recorded).
    pub fn set_gain_db(&self, gain_db: f32) {
        self.shared
            .gain_db_bits
            .store(gain_db.to_bits(), Ordering::Relaxed);
    }

    /// Pauses or resumes the analysis and the recording, at the next chunk's first frame: the
    /// recording marks both at their exact frames.
    pub fn set_paused(&self, paused: bool) {
        self.shared.paused.store(paused, Ordering::Relaxed);
        if let Some(t) = &self.waker {
            t.unpark();
        }
    }

    /// Starts the loudness measurement over (integrated, range and every maximum together),
    /// at the next chunk.
    pub fn reset_loudness(&self) {
        self.shared.reset_loudness.store(true, Ordering::Relaxed);
    }

    /// Starts the infinite average and the max-hold over, at the next chunk.
    pub fn reset_averages(&self) {
        self.shared.reset_averages.store(true, Ordering::Relaxed);
    }

    /// The source went away: the recording marks the loss after the stream's last frame.
    pub fn source_lost(&self) {
        self.shared.lost.store(true, Ordering::Relaxed);
        if let Some(t) = &self.waker {
            t.unpark();
        }
    }

    /// Asks the engine to stop after the current chunk.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = &self.waker {
            t.unpark();
        }
    }

    /// Frames per block the live source delivers (its period), once the engine has seen some.
    pub fn block_frames(&self) -> Option<u32> {
        Some(self.shared.block_frames.load(Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// The engine's thread (a source that is not real-time wakes it after each push).
    pub fn thread(&self) -> Option<&std::thread::Thread> {
        self.waker.as_ref()
    }

    /// Wakes the engine now (after the stream's writer went away, say).
    pub fn wake_now(&self) {
        if let Some(t) = &self.waker {
            t.unpark();
        }
    }

    /// Whether the stream ended and the engine waits for the next.
    pub fn waiting(&self) -> bool {
        self.shared.waiting.load(Ordering::Relaxed)
    }

    /// Whether the engine thread has ended.
    pub fn is_finished(&self) -> bool {
        self.shared.ended.load(Ordering::Acquire)
            || self.thread.as_ref().is_none_or(|t| t.is_finished())
    }

    /// Waits for the engine to end (after [`EngineHandle::stop`], or the stream's end) and
    /// returns what it hands back; `None` if it was not started here or it panicked.
    pub fn join(mut self) -> Option<EngineOutcome<S>> {
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl<S> Drop for EngineHandle<S> {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(t) = &self.waker {
            t.unpark();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The engine has not taken the commands sent before (it is stuck, or gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the engine is not taking commands")]
pub struct EngineBusy;
