//! Sources that are not sound devices (audio files, the test-signal generator) and the sample
//! ring every source feeds, live capture included.
//!
//! A source runs on its own thread and pushes whole interleaved frames into an rtrb ring that
//! the engine drains. File and generator sources may wait when the ring is full (they are not
//! real-time); the capture callback instead drops whole frames and counts them.

pub mod file;
pub mod synth;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rtrb::{Consumer, Producer, RingBuffer};
use thiserror::Error;

use crate::config::{SampleKind, StreamFormat};

/// The ring holds at least this much audio.
pub const RING_SECONDS: f64 = 2.0;

/// Counters shared between a source and the engine.
#[derive(Debug, Default)]
pub struct RingStats {
    dropped_frames: AtomicU64,
}

impl RingStats {
    /// Whole frames dropped because the ring was full, since the start.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }

    /// Counts `frames` dropped frames (real-time safe: one atomic add).
    pub fn add_dropped(&self, frames: u64) {
        self.dropped_frames.fetch_add(frames, Ordering::Relaxed);
    }
}

/// The producing half of the sample ring, with the stream's shape.
#[derive(Debug)]
pub struct RingWriter {
    producer: Producer<f32>,
    channels: usize,
    stats: Arc<RingStats>,
    engine: Option<std::thread::Thread>,
}

/// A sample ring for `format`, holding at least [`RING_SECONDS`] of audio, with a capacity that
/// is a whole number of frames (so the ring's wrap point never splits a frame).
pub fn sample_ring(format: StreamFormat) -> (RingWriter, Consumer<f32>, Arc<RingStats>) {
    let frames = (RING_SECONDS * f64::from(format.sample_rate)).ceil() as usize;
    let (producer, consumer) = RingBuffer::new(frames * format.channels);
    let stats = Arc::new(RingStats::default());
    (
        RingWriter {
            producer,
            channels: format.channels,
            stats: stats.clone(),
            engine: None,
        },
        consumer,
        stats,
    )
}

/// Returned when the engine has gone away.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("the engine stopped reading")]
pub struct EngineGone;

impl RingWriter {
    /// Lets a non-real-time source wake the engine after each push.
    pub fn wake_on_push(&mut self, engine: std::thread::Thread) {
        self.engine = Some(engine);
    }

    /// Pushes whole frames, waiting while the ring is full (never for real-time code).
    pub fn push_blocking(&mut self, interleaved: &[f32]) -> Result<(), EngineGone> {
        debug_assert_eq!(interleaved.len() % self.channels, 0);
        let mut rest = interleaved;
        while !rest.is_empty() {
            if self.producer.is_abandoned() {
                return Err(EngineGone);
            }
            let room = self.producer.slots();
            let n = room.min(rest.len());
            let n = n - n % self.channels;
            if n == 0 {
                if let Some(t) = &self.engine {
                    t.unpark();
                }
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // `n` is within `slots()`, so the push succeeds.
            let _ = self.producer.push_entire_slice(&rest[..n]);
            rest = &rest[n..];
            if let Some(t) = &self.engine {
                t.unpark();
            }
        }
        Ok(())
    }

    /// Whole frames there is room for now. Real-time safe.
    pub fn room_frames(&self) -> usize {
        self.producer.slots() / self.channels
    }

    /// Pushes whole frames known to fit (after [`RingWriter::room_frames`]); returns false,
    /// pushing nothing, if they do not. Real-time safe.
    pub fn push_fitting(&mut self, interleaved: &[f32]) -> bool {
        debug_assert_eq!(interleaved.len() % self.channels, 0);
        self.producer.push_entire_slice(interleaved).is_ok()
    }

    /// Whether the engine has gone away.
    pub fn engine_gone(&self) -> bool {
        self.producer.is_abandoned()
    }

    /// Counts frames dropped before the ring. Real-time safe.
    pub fn count_dropped(&self, frames: u64) {
        self.stats.add_dropped(frames);
    }
}

/// Why a source could not start or could not go on.
#[derive(Debug, Error)]
pub enum SourceError {
    /// The file could not be opened.
    #[error("cannot open {path}: {reason}")]
    Open {
        /// What was asked for.
        path: String,
        /// The system's reason.
        reason: String,
    },
    /// The content is not audio spektr can read.
    #[error("{path}: {reason}")]
    Unsupported {
        /// What was asked for.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The file broke off or is damaged part-way.
    #[error("{path}: {reason}")]
    Corrupt {
        /// What was asked for.
        path: String,
        /// What went wrong, with the position.
        reason: String,
    },
    /// A generator spec that does not parse.
    #[error("bad synth spec: {0}")]
    Spec(String),
}

/// Anything that produces interleaved f32 blocks at a known format.
pub trait Source: Send {
    /// Rate and channels.
    fn format(&self) -> StreamFormat;
    /// Frames in total, when known.
    fn total_frames(&self) -> Option<u64>;
    /// A human-readable name (the file path, the generator spec).
    fn name(&self) -> String;
    /// How the samples are stored before spektr converts them to f32.
    fn sample_kind(&self) -> SampleKind {
        SampleKind::Float(32)
    }
    /// Fills `out` (a whole number of frames) and returns how many frames were written;
    /// 0 means the end.
    fn read(&mut self, out: &mut [f32]) -> Result<usize, SourceError>;
}

/// Frames a source thread moves per push.
pub const BLOCK_FRAMES: usize = 4096;

/// Reads `source` to its end into `ring` as fast as the engine takes it. Returns the frames
/// pushed; stops early, without error, when the engine goes away.
pub fn pump(source: &mut dyn Source, ring: &mut RingWriter) -> Result<u64, SourceError> {
    pump_with(source, ring, || {})
}

/// [`pump`], calling `before_push` before each block goes into the ring (it may wait: a file
/// recorded as fast as possible waits there for the recording's writer).
pub fn pump_with(
    source: &mut dyn Source,
    ring: &mut RingWriter,
    mut before_push: impl FnMut(),
) -> Result<u64, SourceError> {
    let channels = source.format().channels;
    let mut block = vec![0.0f32; BLOCK_FRAMES * channels];
    let mut pushed = 0u64;
    loop {
        let frames = source.read(&mut block)?;
        if frames == 0 {
            return Ok(pushed);
        }
        before_push();
        if ring.push_blocking(&block[..frames * channels]).is_err() {
            return Ok(pushed);
        }
        pushed += frames as u64;
    }
}
