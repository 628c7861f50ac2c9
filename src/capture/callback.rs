//! The audio callback: convert to f32, push whole frames, count. Runs on the audio thread.
//!
//! It never allocates, locks, blocks, waits, prints or does I/O. The only clock read is
//! `Instant::now()`: a vDSO read, not a syscall, on the usual Linux clock sources (tsc, and
//! kvm-clock in VMs); on a machine whose clock source has no vDSO support it becomes a cheap
//! syscall. Everything it touches is built before the stream starts.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Instant;

use crate::source::RingWriter;

/// Samples converted per step; the scratch buffer is this many samples, rounded to frames.
pub const SCRATCH_SAMPLES: usize = 4096;

/// A sample type the callback can take, with its full scale mapped to +/-1.0: the most
/// negative integer reads exactly -1.0, unsigned types are centred on their midpoint.
pub trait ToF32: Copy + Send + 'static {
    /// The sample as f32.
    fn to_f32(self) -> f32;
}

macro_rules! signed {
    ($t:ty, $scale:expr) => {
        impl ToF32 for $t {
            #[inline(always)]
            fn to_f32(self) -> f32 {
                (self as f64 * (1.0 / $scale)) as f32
            }
        }
    };
}

signed!(i8, 128.0);
signed!(i16, 32_768.0);
signed!(i32, 2_147_483_648.0);
signed!(i64, 9_223_372_036_854_775_808.0);

impl ToF32 for u8 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f32::from(self) - 128.0) * (1.0 / 128.0)
    }
}

impl ToF32 for u16 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f32::from(self) - 32_768.0) * (1.0 / 32_768.0)
    }
}

impl ToF32 for u32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((f64::from(self) - 2_147_483_648.0) * (1.0 / 2_147_483_648.0)) as f32
    }
}

impl ToF32 for u64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((self as f64 - 9_223_372_036_854_775_808.0) * (1.0 / 9_223_372_036_854_775_808.0)) as f32
    }
}

impl ToF32 for cpal::I24 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        (f64::from(self.inner()) * (1.0 / 8_388_608.0)) as f32
    }
}

impl ToF32 for cpal::U24 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        ((f64::from(self.inner()) - 8_388_608.0) * (1.0 / 8_388_608.0)) as f32
    }
}

impl ToF32 for f32 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self
    }
}

impl ToF32 for f64 {
    #[inline(always)]
    fn to_f32(self) -> f32 {
        self as f32
    }
}

/// When a block of samples arrived: the ring held `end_frame` frames in total after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Frames pushed into the ring since the stream started, this block included.
    pub end_frame: u64,
    /// When the callback received the block.
    pub at: Instant,
}

/// Frames the callback dropped (the ring was full): `frames` frames are missing between the
/// stream's frame `at_frame - 1` and frame `at_frame` (frames pushed into the ring, counted
/// from the stream's start). A recording writes them as silence at that point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Frames pushed into the ring before the gap.
    pub at_frame: u64,
    /// Frames missing.
    pub frames: u64,
}

/// Gap records the engine may fall behind by. While this ring is full, the callback drops
/// samples too (and adds them to the pending gap), so a gap is never reported at the wrong
/// position.
pub const GAPS: usize = 256;

/// What cpal's error callback saw, for the supervisor to act on (0 = nothing).
#[derive(Debug, Default)]
pub struct StreamFault(AtomicU8);

/// Kinds of fault the error callback records, in rising order of severity.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Fault {
    /// An xrun or another error the stream survives.
    Glitch = 1,
    /// The device went away or the stream can no longer run.
    DeviceLost = 2,
    /// The audio server itself went away.
    HostLost = 3,
}

impl StreamFault {
    /// Records `fault`; the most severe one since the last `take` wins. Real-time safe.
    pub fn set(&self, fault: Fault) {
        self.0.fetch_max(fault as u8, Ordering::Relaxed);
    }

    /// Takes the recorded fault, if any.
    pub fn take(&self) -> Option<Fault> {
        match self.0.swap(0, Ordering::Relaxed) {
            1 => Some(Fault::Glitch),
            2 => Some(Fault::DeviceLost),
            3 => Some(Fault::HostLost),
            _ => None,
        }
    }
}

/// Everything the callback owns. Built on the supervisor thread, moved into the callback.
#[derive(Debug)]
pub struct CallbackState {
    ring: RingWriter,
    channels: usize,
    scratch: Box<[f32]>,
    pushed_frames: u64,
    arrivals: rtrb::Producer<Arrival>,
    gaps: rtrb::Producer<Gap>,
    /// Frames dropped at `pushed_frames` and not yet reported.
    pending_gap: u64,
}

impl CallbackState {
    /// State for a stream of `channels` channels feeding `ring`, reporting block arrivals into
    /// `arrivals` and dropped frames into `gaps`.
    pub fn new(
        ring: RingWriter,
        channels: usize,
        arrivals: rtrb::Producer<Arrival>,
        gaps: rtrb::Producer<Gap>,
    ) -> Self {
        let frames = (SCRATCH_SAMPLES / channels).max(1);
        CallbackState {
            ring,
            channels,
            scratch: vec![0.0; frames * channels].into_boxed_slice(),
            pushed_frames: 0,
            arrivals,
            gaps,
            pending_gap: 0,
        }
    }

    /// The callback body: converts `data` (interleaved) and pushes whole frames; the frames
    /// that do not fit in the ring (the newest ones) are dropped and counted.
    #[inline]
    pub fn process<T: ToF32>(&mut self, data: &[T]) {
        let at = Instant::now();
        let frames = data.len() / self.channels;
        // Only this callback adds to the ring, so the room can only grow until the push.
        let mut fit = frames.min(self.ring.room_frames());
        // A gap must be reported before the samples after it; if it cannot be, those samples
        // join the gap.
        if fit > 0 && self.pending_gap > 0 {
            let gap = Gap {
                at_frame: self.pushed_frames,
                frames: self.pending_gap,
            };
            if self.gaps.push(gap).is_ok() {
                self.pending_gap = 0;
            } else {
                fit = 0;
            }
        }
        // The arrival goes first: the engine must never see samples before their arrival.
        // A full arrivals ring means the engine is not reading; those blocks then go without
        // a latency figure, and the frame counters already say why.
        let _ = self.arrivals.push(Arrival {
            end_frame: self.pushed_frames + fit as u64,
            at,
        });
        for chunk in data[..fit * self.channels].chunks(self.scratch.len()) {
            let out = &mut self.scratch[..chunk.len()];
            for (d, &s) in out.iter_mut().zip(chunk) {
                *d = s.to_f32();
            }
            self.ring.push_fitting(out);
        }
        self.pushed_frames += fit as u64;
        if fit < frames {
            let dropped = (frames - fit) as u64;
            self.ring.count_dropped(dropped);
            self.pending_gap += dropped;
        }
    }
}

/// Keeps the fault flag shared between cpal's error callback and the supervisor.
pub type SharedFault = Arc<StreamFault>;
