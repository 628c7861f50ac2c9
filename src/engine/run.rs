//! The engine thread's loop: drain the sample ring, analyze, publish.
//!
//! It never waits on anyone: when the ring is empty it parks for at most half a hop (a source
//! that may make syscalls unparks it sooner; the audio callback does not, so the timeout is the
//! poll interval). It never allocates: the ring's chunks are read in place.

use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rtrb::Consumer;

use super::Analyzer;
use crate::publish::FrameSink;
use crate::source::RingStats;

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
    consumer: &mut Consumer<f32>,
    analyzer: &mut Analyzer,
    sink: &mut S,
    stats: &RingStats,
    stop: &AtomicBool,
) -> EngineExit {
    let channels = analyzer.format().channels;
    let wait = Duration::from_secs_f64(analyzer.plan().hop_s() / 2.0);
    loop {
        if stop.load(Ordering::Relaxed) {
            return EngineExit::Stopped;
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
                    frame.dropped_frames = stats.dropped_frames();
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
