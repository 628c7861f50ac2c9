//! The engine thread's loop: drain the sample ring, analyze, publish.
//!
//! It never waits on anyone: when the ring is empty it parks for at most half a hop (a source
//! that may make syscalls unparks it sooner; the audio callback does not, so the timeout is the
//! poll interval). It never allocates: the ring's chunks are read in place.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use rtrb::Consumer;

use super::Analyzer;
use crate::capture::callback::Arrival;
use crate::publish::FrameSink;
use crate::source::RingStats;

/// What other threads may change while the engine runs. Plain atomics: reading them costs the
/// engine nothing and never waits.
#[derive(Debug, Default)]
pub struct EngineControl {
    stop: AtomicBool,
    gain_db_bits: AtomicU32,
}

impl EngineControl {
    /// Asks the engine to stop after the current chunk.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Clears a stop, so the same control can run the engine again.
    pub fn resume(&self) {
        self.stop.store(false, Ordering::Relaxed);
    }

    /// Whether a stop was asked for.
    pub fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sets the analysis gain in dB (bars and meters; never what is recorded).
    pub fn set_gain_db(&self, gain_db: f32) {
        self.gain_db_bits
            .store(gain_db.to_bits(), Ordering::Relaxed);
    }

    /// The analysis gain in dB.
    pub fn gain_db(&self) -> f32 {
        f32::from_bits(self.gain_db_bits.load(Ordering::Relaxed))
    }
}

/// The engine's inputs: the sample ring, its counters and, for live sources, block arrivals.
#[derive(Debug)]
pub struct EngineInput {
    /// Interleaved samples.
    pub samples: Consumer<f32>,
    /// Counters the source keeps.
    pub stats: std::sync::Arc<RingStats>,
    /// When each block arrived (live sources).
    pub arrivals: Option<Consumer<Arrival>>,
}

/// Why the engine loop ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineExit {
    /// The source closed the ring and every sample was analyzed.
    EndOfStream,
    /// The sink asked to stop (its reader went away).
    SinkClosed,
    /// `stop` was set.
    Stopped,
}

/// Runs the engine until the source ends, the sink closes or `stop` is set.
pub fn run<S: FrameSink>(
    input: &mut EngineInput,
    analyzer: &mut Analyzer,
    sink: &mut S,
    control: &EngineControl,
) -> EngineExit {
    let channels = analyzer.format().channels;
    let wait = Duration::from_secs_f64(analyzer.plan().hop_s() / 2.0);
    let consumer = &mut input.samples;
    let mut gain_db = f32::NAN;
    loop {
        if control.stopped() {
            return EngineExit::Stopped;
        }
        let wanted = control.gain_db();
        if wanted != gain_db {
            gain_db = wanted;
            analyzer.set_gain_db(gain_db);
        }
        // Read `abandoned` before `slots`: samples pushed before the producer went away are
        // then always seen.
        let abandoned = consumer.is_abandoned();
        let available = consumer.slots();
        let available = available - available % channels;
        if available == 0 {
            if abandoned {
                return EngineExit::EndOfStream;
            }
            std::thread::park_timeout(wait);
            continue;
        }
        let Ok(chunk) = consumer.read_chunk(available) else {
            continue;
        };
        let (first, second) = chunk.as_slices();
        let mut exit = None;
        'parts: for part in [first, second] {
            let mut rest = part;
            while rest.len() >= channels {
                let fed = analyzer.feed(rest);
                rest = &rest[fed.consumed..];
                if fed.frame_due {
                    let frame = sink.frame_mut();
                    analyzer.write_frame(frame);
                    frame.dropped_frames = input.stats.dropped_frames();
                    frame.arrival = input
                        .arrivals
                        .as_mut()
                        .and_then(|a| newest_arrival(a, analyzer.samples_in()));
                    if sink.publish() == ControlFlow::Break(()) {
                        exit = Some(EngineExit::SinkClosed);
                        break 'parts;
                    }
                }
            }
        }
        chunk.commit_all();
        if let Some(exit) = exit {
            return exit;
        }
    }
}

/// The arrival time of the block holding sample `samples_in - 1`: drops the blocks that ended
/// before it and peeks at the first that reaches it.
fn newest_arrival(arrivals: &mut Consumer<Arrival>, samples_in: u64) -> Option<std::time::Instant> {
    while let Ok(a) = arrivals.peek() {
        if a.end_frame >= samples_in {
            return Some(a.at);
        }
        let _ = arrivals.pop();
    }
    None
}
