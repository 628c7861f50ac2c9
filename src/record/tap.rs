//! The engine's end of a recording: forwards the raw captured samples (before any gain) and
//! the positions of capture gaps into the writer's rings. Real-time safe: no allocation, no
//! lock, no wait. When the writer's ring has no room, the recording ends there (it is never
//! allowed to lose samples in the middle).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};

use rtrb::Producer;

use crate::capture::callback::Gap;

/// Why the engine stopped forwarding (stored in [`Shared::end`]).
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

/// A gap as the writer sees it: `frames` frames of silence go in after `at` frames of the
/// recording's ring data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GapMark {
    /// Ring frames forwarded before the gap.
    pub at: u64,
    /// Frames missing.
    pub frames: u64,
}

/// State shared by the controller, the engine's tap and the writer. Atomics only.
#[derive(Debug)]
pub struct Shared {
    /// The controller asks the engine to end the recording.
    pub(crate) stop: AtomicBool,
    /// The writer failed; the engine should let go.
    pub(crate) writer_failed: AtomicBool,
    /// The engine has taken the tap.
    pub(crate) installed: AtomicBool,
    /// The recording's position in frames (forwarded samples plus gaps), as the engine sees it.
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

/// The engine's end of a recording. Install it with
/// [`EngineControl::install_tap`](crate::engine::EngineControl::install_tap); dropping it ends
/// the recording (the writer then drains what is left and finalizes the file).
#[derive(Debug)]
pub struct Tap {
    samples: Producer<f32>,
    gaps: Producer<GapMark>,
    shared: Arc<Shared>,
    channels: usize,
    /// The stream frame the recording starts at (set when the engine installs it).
    start: Option<u64>,
    forwarded: u64,
    position: u64,
}

impl Tap {
    pub(crate) fn new(
        samples: Producer<f32>,
        gaps: Producer<GapMark>,
        shared: Arc<Shared>,
        channels: usize,
    ) -> Self {
        Tap {
            samples,
            gaps,
            shared,
            channels,
            start: None,
            forwarded: 0,
            position: 0,
        }
    }

    /// The engine took the tap; the recording starts at stream frame `frame`.
    pub fn begin(&mut self, frame: u64) {
        if self.start.is_none() {
            self.start = Some(frame);
            self.shared.installed.store(true, Ordering::Release);
        }
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

    /// A capture gap (in stream frames). Returns false when the recording has ended.
    pub fn gap(&mut self, gap: Gap) -> bool {
        let Some(start) = self.start else {
            return true;
        };
        if gap.at_frame < start {
            return true;
        }
        let room = self.shared.limit - self.position;
        let frames = gap.frames.min(room);
        if frames == 0 {
            return true;
        }
        let mark = GapMark {
            at: gap.at_frame - start,
            frames,
        };
        debug_assert_eq!(mark.at, self.forwarded);
        if self.gaps.push(mark).is_err() {
            self.shared.set_end(TapEnd::Overflow, self.position);
            return false;
        }
        self.position += frames;
        self.shared.position.store(self.position, Ordering::Relaxed);
        if self.position >= self.shared.limit {
            self.shared.set_end(TapEnd::Limit, self.position);
            return false;
        }
        true
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
            self.position += n;
            self.shared.position.store(self.position, Ordering::Relaxed);
        }
        if n < allowed {
            self.shared.set_end(TapEnd::Overflow, self.position);
            return false;
        }
        if self.position >= self.shared.limit {
            self.shared.set_end(TapEnd::Limit, self.position);
            return false;
        }
        true
    }
}

impl Drop for Tap {
    fn drop(&mut self) {
        self.shared.set_end(TapEnd::Released, self.position);
    }
}
