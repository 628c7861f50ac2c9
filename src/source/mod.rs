//! Sources that are not sound devices: audio files and the test-signal generator.
//!
//! A source is read on its own thread (or the main thread) and pushed into the engine's
//! stream ([`crate::stream`]); it may wait when the stream's ring is full, since it is not
//! real-time.

pub mod file;
pub mod synth;

use thiserror::Error;

use crate::config::{SampleKind, StreamFormat};
use crate::stream::StreamWriter;

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
    /// The stored format in words, for headers ("16-bit integer", "generated f32").
    fn description(&self) -> String {
        "generated f32".into()
    }
    /// Fills `out` (a whole number of frames) and returns how many frames were written;
    /// 0 means the end.
    fn read(&mut self, out: &mut [f32]) -> Result<usize, SourceError>;
}

/// Frames a source thread moves per push.
pub const BLOCK_FRAMES: usize = 4096;

/// Reads `source` to its end into `ring` as fast as the engine takes it. Returns the frames
/// pushed; stops early, without error, when the engine goes away.
pub fn pump(source: &mut dyn Source, ring: &mut StreamWriter) -> Result<u64, SourceError> {
    pump_with(source, ring, || {})
}

/// [`pump`], calling `before_push` before each block goes into the ring (it may wait: a file
/// recorded as fast as possible waits there for the recording's writer).
pub fn pump_with(
    source: &mut dyn Source,
    ring: &mut StreamWriter,
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

/// Opens an input as the command line names it: `synth:<spec>`, `file:<path>` or a plain path.
/// The one place a spec becomes a source.
pub fn open(input: &str) -> Result<Box<dyn Source>, SourceError> {
    if let Some(spec) = input.strip_prefix("synth:") {
        return Ok(Box::new(synth::Synth::new(synth::SynthSpec::parse(spec)?)));
    }
    let path = input.strip_prefix("file:").unwrap_or(input);
    Ok(Box::new(file::FileSource::open(std::path::Path::new(
        path,
    ))?))
}
