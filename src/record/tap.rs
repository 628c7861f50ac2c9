//! The engine's end of a recording: forwards the raw captured samples (before any gain) into
//! the writer's ring, and, in order with them, the events that belong at exact places in the
//! file: capture gaps (written as silence), pause and resume, the source's loss and return.
//! Real-time safe: no allocation, no lock, no wait. When the writer's ring has no room, the
//! recording ends there (it is never allowed to lose samples in the middle).

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rtrb::Producer;

use super::MarkKind;

/// Why the engine stopped forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TapEnd {
    /// The user stopped the recording.
    Stopped = 1,
    /// The requested length was reached.
    Limit = 2,
    /// The writer's ring was full: the disk did not keep up.
    Overflow = 3,
    /// The writer failed and asked the engine to stop.
    WriterFailed = 4,
    /// The engine let go of the tap: the source ended, was lost or was switched.
    Released = 5,
}

impl TapEnd {
    fn from_u8(v: u8) -> Option<Self> {
        Some(match v {
            1 => TapEnd::Stopped,
            2 => TapEnd::Limit,
            3 => TapEnd::Overflow,
            4 => TapEnd::WriterFailed,
            5 => TapEnd::Released,
            _ => return None,
        })
    }
}

/// Something that belongs at an exact place in the file: after `at` frames of the ring's
/// samples (counted from the recording's start).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TapEvent {
    /// `frames` frames of silence go in here: frames lost before the engine (`Gap`), or the
    /// time the source was away (`DeviceReturned`). The sidecar lists it as `kind`.
    Silence {
        /// Ring frames before it.
        at: u64,
        /// Frames of silence.
        frames: u64,
        /// How the sidecar lists it.
        kind: MarkKind,
    },
    /// An event with no audio of its own (pause, resume, the source's loss).
    Mark {
        /// Ring frames before it.
        at: u64,
        /// What happened.
        kind: MarkKind,
        /// A count that goes with it (for a resume: the frames not recorded while paused).
        frames: Option<u64>,
    },
}

impl TapEvent {
    /// Ring frames before the event.
    pub fn at(&self) -> u64 {
        match *self {
            TapEvent::Silence { at, .. } | TapEvent::Mark { at, .. } => at,
        }
    }
}

/// Events the engine may get ahead of the writer by. A full ring ends the recording (as a full
/// sample ring does), so no event is ever dropped.
pub const EVENTS: usize = 256;

/// State shared by the controller, the engine's tap and the writer. Atomics, and one string
/// the engine never touches.
#[derive(Debug)]
pub struct Shared {
    /// The controller asks the engine to end the recording.
    pub(crate) stop: AtomicBool,
    /// The writer failed; the engine should let go.
    pub(crate) writer_failed: AtomicBool,
    /// The engine has taken the tap.
    pub(crate) installed: AtomicBool,
    /// The controller saw the source go away: a take that ends now is not complete.
    pub(crate) lost: AtomicBool,
    /// Why it went away, for the sidecar (set by the controller, read by the writer).
    pub(crate) loss_reason: Mutex<Option<String>>,
    /// The recording's position in frames (forwarded samples plus silence), as the engine
    /// sees it.
    pub(crate) position: AtomicU64,
    /// Frames the writer has put in the file.
    pub(crate) written: AtomicU64,
    /// Why the engine ended the tap (a [`TapEnd`]; 0 while it runs).
    end: AtomicU8,
    /// The position at which it ended.
    end_at: AtomicU64,
    /// Frames to record at most.
    pub(crate) limit: u64,
}

impl Shared {
    pub(crate) fn new(limit: u64) -> Self {
        Shared {
            stop: AtomicBool::new(false),
            writer_failed: AtomicBool::new(false),
            installed: AtomicBool::new(false),
            lost: AtomicBool::new(false),
            loss_reason: Mutex::new(None),
            position: AtomicU64::new(0),
            written: AtomicU64::new(0),
            end: AtomicU8::new(0),
            end_at: AtomicU64::new(0),
            limit,
        }
    }

    /// Records why the tap ended; the first reason wins.
    fn set_end(&self, end: TapEnd, at: u64) {
        if self
            .end
            .compare_exchange(0, end as u8, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            self.end_at.store(at, Ordering::Release);
        }
    }

    /// Why and where the tap ended, once it has.
    pub(crate) fn end(&self) -> Option<(TapEnd, u64)> {
        TapEnd::from_u8(self.end.load(Ordering::Acquire))
            .map(|e| (e, self.end_at.load(Ordering::Acquire)))
    }
}

/// The engine's end of a recording. Hand it to the engine
/// ([`EngineHandle::record`](crate::engine::EngineHandle::record)); dropping it ends the
/// recording (the writer then drains what is left and finalizes the file).
#[derive(Debug)]
pub struct Tap {
    samples: Producer<f32>,
    events: Producer<TapEvent>,
    shared: Arc<Shared>,
    channels: usize,
    /// Ring frames forwarded.
    forwarded: u64,
    /// Forwarded frames plus silence.
    position: u64,
    /// When the recording was asked for: the file's timeline starts there.
    asked_at: std::time::Instant,
}

impl Tap {
    pub(crate) fn new(
        samples: Producer<f32>,
        events: Producer<TapEvent>,
        shared: Arc<Shared>,
        channels: usize,
    ) -> Self {
        Tap {
            samples,
            events,
            shared,
            channels,
            forwarded: 0,
            position: 0,
            asked_at: std::time::Instant::now(),
        }
    }

    /// When the recording was asked for (the file's timeline starts there: a source that
    /// delivers its first sound later leaves a gap of silence at the start, listed).
    pub fn asked_at(&self) -> std::time::Instant {
        self.asked_at
    }

    /// The engine took the tap: the recording starts with the next samples forwarded.
    pub fn begin(&mut self) {
        self.shared.installed.store(true, Ordering::Release);
    }

    /// Frames per sample block (the stream's channel count).
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Whether the controller or the writer asked the engine to let go.
    pub fn wants_end(&self) -> bool {
        if self.shared.stop.load(Ordering::Relaxed) {
            self.shared.set_end(TapEnd::Stopped, self.position);
            return true;
        }
        if self.shared.writer_failed.load(Ordering::Relaxed) {
            self.shared.set_end(TapEnd::WriterFailed, self.position);
            return true;
        }
        false
    }

    fn push(&mut self, event: TapEvent) -> bool {
        if self.events.push(event).is_err() {
            self.shared.set_end(TapEnd::Overflow, self.position);
            return false;
        }
        true
    }

    fn advance(&mut self, frames: u64) -> bool {
        self.position += frames;
        self.shared.position.store(self.position, Ordering::Relaxed);
        if self.position >= self.shared.limit {
            self.shared.set_end(TapEnd::Limit, self.position);
            return false;
        }
        true
    }

    /// `frames` frames of silence here, listed in the sidecar as `kind` (frames lost before the
    /// engine, or the time the source was away). Returns false when the recording has ended.
    pub fn silence(&mut self, frames: u64, kind: MarkKind) -> bool {
        let frames = frames.min(self.shared.limit - self.position);
        if frames == 0 {
            return true;
        }
        let event = TapEvent::Silence {
            at: self.forwarded,
            frames,
            kind,
        };
        self.push(event) && self.advance(frames)
    }

    /// An event at the current position (pause, resume, the source's loss). Returns false when
    /// the recording has ended.
    pub fn mark(&mut self, kind: MarkKind, frames: Option<u64>) -> bool {
        let event = TapEvent::Mark {
            at: self.forwarded,
            kind,
            frames,
        };
        self.push(event)
    }

    /// Forwards interleaved samples (whole frames). Returns false when the recording has ended:
    /// the limit was reached, or the writer's ring had no room (then exactly the frames that fit
    /// were forwarded, and the recording ends after them).
    pub fn forward(&mut self, samples: &[f32]) -> bool {
        let frames = (samples.len() / self.channels) as u64;
        let allowed = frames.min(self.shared.limit - self.position);
        let room = (self.samples.slots() / self.channels) as u64;
        let n = allowed.min(room);
        if n > 0 {
            let len = n as usize * self.channels;
            // `n` frames fit (checked above; only this tap pushes).
            let _ = self.samples.push_entire_slice(&samples[..len]);
            self.forwarded += n;
        }
        if n < allowed {
            self.advance(n);
            self.shared.set_end(TapEnd::Overflow, self.position);
            return false;
        }
        self.advance(n)
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.shared.set_end(TapEnd::Released, self.position);
    }
}
