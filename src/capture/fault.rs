//! What a stream's error callback saw, for the supervisor to act on. Set from the audio
//! system's error callback (real-time safe: one atomic), taken by the supervisor.

use std::sync::atomic::{AtomicU8, Ordering};

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
