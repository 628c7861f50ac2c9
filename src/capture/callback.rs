//! The audio callback: convert to f32, push whole frames, count. Runs on the audio thread.
//!
//! It never allocates, locks, blocks, waits, prints or does I/O. The only clock read is
//! `Instant::now()`: a vDSO read, not a syscall, on the usual Linux clock sources (tsc, and
//! kvm-clock in VMs). Everything it touches is built before the stream starts.
#![deny(clippy::disallowed_methods, clippy::disallowed_macros)]

use std::time::{Duration, Instant};

use super::convert::ToF32;
use crate::stream::StreamWriter;

/// Everything the callback owns. Built on the supervisor thread, moved into the callback.
#[derive(Debug)]
pub struct CallbackState {
    writer: StreamWriter,
    channels: usize,
    frame_s: f64,
}

impl CallbackState {
    /// State for a stream of `channels` channels at `rate` Hz feeding `writer`.
    pub fn new(writer: StreamWriter, channels: usize, rate: u32) -> Self {
        CallbackState {
            writer,
            channels: channels.max(1),
            frame_s: 1.0 / f64::from(rate.max(1)),
        }
    }

    /// The callback body: converts `data` (interleaved) and pushes whole frames; the frames
    /// that do not fit in the ring (the newest ones) are dropped and counted. `delay` is how
    /// long before now the block's first frame was captured, as the audio system reports it
    /// (`None`: it reports nothing, and the newest frame counts as captured now).
    #[inline]
    pub fn process<T: ToF32>(&mut self, data: &[T], delay: Option<Duration>) {
        let now = Instant::now();
        let frames = data.len() / self.channels;
        let sound_end = match delay {
            Some(delay) => {
                let span = Duration::from_secs_f64(frames.saturating_sub(1) as f64 * self.frame_s);
                // Never in the future: a reported delay shorter than the block is rounding.
                now.checked_sub(delay.saturating_sub(span)).unwrap_or(now)
            }
            None => now,
        };
        self.writer.push_block(data, T::to_f32, sound_end);
    }

    /// Whole frames the ring has room for now (a feeder that must not overflow it asks).
    pub fn free_frames(&self) -> usize {
        self.writer.free_frames()
    }
}
