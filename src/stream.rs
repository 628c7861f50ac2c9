//! The sample stream from a source to the engine: an rtrb ring of interleaved f32 frames and
//! two side channels, block arrivals (when each block came, and when its sound was captured)
//! and capture gaps (frames dropped because the ring was full). [`channel`] makes the two
//! halves, in rtrb's shape.
//!
//! The [`StreamWriter`] lives on the audio callback ([`StreamWriter::push_block`]: no
//! allocation, no lock, no wait) or on a source thread that may wait
//! ([`StreamWriter::push_blocking`]). The [`StreamReader`] lives on the engine thread.

use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rtrb::{Consumer, Producer, RingBuffer};
use thiserror::Error;

use crate::config::StreamFormat;

/// The ring holds at least this much audio: twice the longest block an audio server hands
/// over when it ignores the period spektr asks for (PulseAudio's default fragment is 2 s), so
/// such a block fits while the engine works on the one before.
pub const RING_SECONDS: f64 = 4.0;
/// Arrival records the engine may fall behind by before the writer stops recording them.
pub const ARRIVALS: usize = 4096;
/// Gap records the engine may fall behind by. While this ring is full the writer drops samples
/// too (and adds them to the pending gap), so a gap is never reported at the wrong position.
pub const GAPS: usize = 256;

/// When a block of samples arrived, and when its sound was captured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrival {
    /// Frames pushed into the ring since the stream started, this block included.
    pub end_frame: u64,
    /// When the block reached spektr (the callback ran).
    pub at: Instant,
    /// When the block's newest frame was captured: the device's (or audio server's) timestamp,
    /// for a paced file or generator the moment the frame was due.
    pub sound_end: Instant,
}

impl Arrival {
    /// When frame `frame` of this block (or of the blocks just before it) was captured, at
    /// `rate` frames per second.
    pub fn sound_of(&self, frame: u64, rate: f64) -> Instant {
        let back = self.end_frame.saturating_sub(frame + 1) as f64 / rate;
        self.sound_end
            .checked_sub(Duration::from_secs_f64(back))
            .unwrap_or(self.sound_end)
    }
}

/// Frames the writer dropped (the ring was full): `frames` frames are missing between the
/// stream's frame `at_frame - 1` and frame `at_frame` (frames pushed into the ring, counted
/// from the stream's start). A recording writes them as silence at that point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// Frames pushed into the ring before the gap.
    pub at_frame: u64,
    /// Frames missing.
    pub frames: u64,
}

/// Counters shared between the writer and everyone who reports on the stream, and the
/// engine's thread for a writer that wakes it.
#[derive(Debug, Default)]
pub struct StreamStats {
    dropped_frames: AtomicU64,
    pushed_frames: AtomicU64,
    /// The thread that reads the stream (the engine registers itself).
    reader_thread: OnceLock<std::thread::Thread>,
    /// The writer wakes the reader after each push (it may make syscalls: not the audio
    /// callback, but a file, a generator, or a sound server's client thread).
    wakes: AtomicBool,
}

impl StreamStats {
    /// Whole frames dropped because the ring was full, since the start.
    pub fn dropped_frames(&self) -> u64 {
        self.dropped_frames.load(Ordering::Relaxed)
    }

    /// Frames pushed into the ring since the start.
    pub fn pushed_frames(&self) -> u64 {
        self.pushed_frames.load(Ordering::Relaxed)
    }

    /// The reading thread says who it is (once per stream; the first one counts).
    pub fn register_reader(&self, thread: std::thread::Thread) {
        let _ = self.reader_thread.set(thread);
    }

    /// Whether the writer wakes the reader after each push (it need not pace itself).
    pub fn writer_wakes(&self) -> bool {
        self.wakes.load(Ordering::Relaxed)
    }

    fn wake_reader(&self) {
        if let Some(t) = self.reader_thread.get() {
            t.unpark();
        }
    }
}

/// Returned when the engine has gone away.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("the engine stopped reading")]
pub struct EngineGone;

/// The writing half: a source's end of the stream.
#[derive(Debug)]
pub struct StreamWriter {
    samples: Producer<f32>,
    arrivals: Producer<Arrival>,
    gaps: Producer<Gap>,
    stats: Arc<StreamStats>,
    channels: usize,
    pushed_frames: u64,
    /// Frames dropped at `pushed_frames` and not yet reported.
    pending_gap: u64,
    /// Wake the engine after each push (never for the audio callback: a wake is a syscall).
    wakes: bool,
}

/// A source the engine itself reads, on its own thread, instead of parking until a callback
/// has filled the ring: for a source that blocks on a socket anyway (a sound server), so one
/// thread wakes per block instead of two.
pub trait Pump: Send {
    /// Waits up to a short time (a few tens of ms: it bounds how long a command to the engine
    /// waits) until the source has about `frames` frames (the rest of the next frame: waking
    /// for less would only wake again) and pushes what it has into the stream's writer, which
    /// it owns. False once the source has ended; dropping the pump then drops the writer.
    fn pump(&mut self, frames: u64) -> bool;
}

/// The reading half: the engine's end of the stream.
pub struct StreamReader {
    /// Interleaved samples.
    pub samples: Consumer<f32>,
    /// When each block arrived (`None`: a source read as fast as the engine takes it).
    pub arrivals: Option<Consumer<Arrival>>,
    /// Where the writer dropped frames.
    pub gaps: Consumer<Gap>,
    /// The writer's counters.
    pub stats: Arc<StreamStats>,
    /// Rate and channels.
    pub format: StreamFormat,
    /// Frames read from the ring since the stream started.
    pub frames_read: u64,
    /// The source, for one the engine reads itself.
    pub pump: Option<Box<dyn Pump>>,
}

impl std::fmt::Debug for StreamReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamReader")
            .field("format", &self.format)
            .field("frames_read", &self.frames_read)
            .field("pump", &self.pump.is_some())
            .finish()
    }
}

/// A stream for `format`, holding at least [`RING_SECONDS`] of audio in a ring whose capacity
/// is a whole number of frames (its wrap point never splits a frame). `live`: the writer
/// records block arrivals (devices and paced sources), so the engine can pace itself and
/// report latency.
pub fn channel(format: StreamFormat, live: bool) -> (StreamWriter, StreamReader) {
    channel_holding(format, live, RING_SECONDS)
}

/// [`channel`] with a ring of `seconds` of audio (benchmarks fill one before the engine runs).
pub fn channel_holding(
    format: StreamFormat,
    live: bool,
    seconds: f64,
) -> (StreamWriter, StreamReader) {
    let frames = (seconds * f64::from(format.sample_rate)).ceil() as usize;
    let (samples_tx, samples) = RingBuffer::new(frames * format.channels);
    let (arrivals_tx, arrivals) = RingBuffer::new(if live { ARRIVALS } else { 1 });
    let (gaps_tx, gaps) = RingBuffer::new(GAPS);
    let stats = Arc::new(StreamStats::default());
    (
        StreamWriter {
            samples: samples_tx,
            arrivals: arrivals_tx,
            gaps: gaps_tx,
            stats: stats.clone(),
            channels: format.channels,
            pushed_frames: 0,
            pending_gap: 0,
            wakes: false,
        },
        StreamReader {
            samples,
            arrivals: live.then_some(arrivals),
            gaps,
            stats,
            format,
            frames_read: 0,
            pump: None,
        },
    )
}

impl StreamWriter {
    /// Pushes one block of interleaved samples, converted by `convert`, as whole frames; the
    /// frames that do not fit (the newest) are dropped and reported as a gap. `sound_end` is
    /// when the block's newest frame was captured. Real-time safe: no allocation, lock or wait.
    #[inline]
    pub fn push_block<T: Copy>(
        &mut self,
        data: &[T],
        convert: impl Fn(T) -> f32,
        sound_end: Instant,
    ) {
        let frames = data.len() / self.channels;
        self.push_samples(frames, data.iter().map(|&s| convert(s)), sound_end);
    }

    /// [`StreamWriter::push_block`] for a block of `frames` frames given as interleaved
    /// samples (at least `frames` times the channel count of them).
    #[inline]
    pub fn push_samples(
        &mut self,
        frames: usize,
        samples: impl Iterator<Item = f32>,
        sound_end: Instant,
    ) {
        let at = Instant::now();
        let ch = self.channels;
        // Only this writer adds to the ring, so the room can only grow until the push.
        let mut fit = frames.min(self.samples.slots() / ch);
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
        // The arrival goes first: the engine must never see samples before their arrival. A
        // full arrivals ring means the engine is not reading; those blocks then go without a
        // latency figure, and the frame counters already say why.
        let _ = self.arrivals.push(Arrival {
            end_frame: self.pushed_frames + fit as u64,
            at,
            sound_end: sound_end.min(at),
        });
        if fit > 0
            && let Ok(chunk) = self.samples.write_chunk_uninit(fit * ch)
        {
            chunk.fill_from_iter(samples.take(fit * ch));
        }
        self.pushed_frames += fit as u64;
        self.stats
            .pushed_frames
            .store(self.pushed_frames, Ordering::Relaxed);
        if fit < frames {
            let dropped = (frames - fit) as u64;
            self.stats
                .dropped_frames
                .fetch_add(dropped, Ordering::Relaxed);
            self.pending_gap += dropped;
        }
        if self.wakes {
            self.stats.wake_reader();
        }
    }

    /// Makes this writer wake the engine after each push: for writers that may make syscalls
    /// (a file or generator read as fast as possible, a sound server's client thread), never
    /// for the audio callback. The engine then sleeps until woken instead of pacing itself.
    pub fn wake_on_push(&mut self) {
        self.wakes = true;
        self.stats.wakes.store(true, Ordering::Relaxed);
    }

    /// Pushes whole frames, waiting while the ring is full (never for real-time code).
    pub fn push_blocking(&mut self, interleaved: &[f32]) -> Result<(), EngineGone> {
        debug_assert_eq!(interleaved.len() % self.channels, 0);
        let mut rest = interleaved;
        while !rest.is_empty() {
            if self.samples.is_abandoned() {
                return Err(EngineGone);
            }
            let room = self.samples.slots();
            let n = room.min(rest.len());
            let n = n - n % self.channels;
            if n == 0 {
                self.stats.wake_reader();
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            // `n` is within `slots()`, so the push succeeds.
            let _ = self.samples.push_entire_slice(&rest[..n]);
            rest = &rest[n..];
            self.pushed_frames += (n / self.channels) as u64;
            self.stats
                .pushed_frames
                .store(self.pushed_frames, Ordering::Relaxed);
            self.stats.wake_reader();
        }
        Ok(())
    }

    /// Whether the engine has gone away.
    pub fn engine_gone(&self) -> bool {
        self.samples.is_abandoned()
    }

    /// The stream's counters.
    pub fn stats(&self) -> &Arc<StreamStats> {
        &self.stats
    }

    /// Whole frames the ring has room for now.
    pub fn free_frames(&self) -> usize {
        self.samples.slots() / self.channels
    }
}

impl StreamReader {
    /// Whole frames waiting in the ring.
    pub fn available_frames(&self) -> usize {
        self.samples.slots() / self.format.channels
    }

    /// The arrival record of the block holding stream frame `frame` (dropping those that
    /// ended before it), when the source records arrivals.
    pub fn arrival_of(&mut self, frame: u64) -> Option<Arrival> {
        arrival_of(self.arrivals.as_mut()?, frame)
    }
}

/// [`StreamReader::arrival_of`] on the arrivals ring alone (while the sample ring is borrowed).
pub fn arrival_of(arrivals: &mut Consumer<Arrival>, frame: u64) -> Option<Arrival> {
    while let Ok(a) = arrivals.peek() {
        if a.end_frame > frame {
            return Some(*a);
        }
        let _ = arrivals.pop();
    }
    None
}

/// Takes the gaps that lie before stream frame `end` (nobody records them: they are only
/// counted).
pub fn drop_gaps_before(gaps: &mut Consumer<Gap>, end: u64) {
    while gaps.peek().is_ok_and(|g| g.at_frame < end) {
        let _ = gaps.pop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STEREO: StreamFormat = StreamFormat {
        sample_rate: 48_000,
        channels: 2,
    };

    #[test]
    fn a_full_ring_drops_whole_frames_and_reports_the_gap_before_the_next_push() {
        let (mut w, mut r) = channel(STEREO, true);
        let capacity = r.samples.buffer().capacity() / 2;
        assert_eq!(capacity, 192_000, "four seconds");
        let block: Vec<f32> = (0..2 * 48_000).map(|i| i as f32).collect();
        let now = Instant::now();
        for _ in 0..5 {
            w.push_block(&block, |x| x, now);
        }
        assert_eq!(w.stats().dropped_frames(), 48_000);
        assert_eq!(r.available_frames(), 192_000);
        // Room again: the gap is reported at the frame where the drop happened.
        if let Ok(chunk) = r.samples.read_chunk(2 * 1000) {
            chunk.commit_all();
        }
        w.push_block(&block[..2 * 10], |x| x, now);
        assert_eq!(
            r.gaps.pop(),
            Ok(Gap {
                at_frame: 192_000,
                frames: 48_000
            })
        );
        assert_eq!(w.stats().pushed_frames(), 192_010);
    }

    #[test]
    fn sound_times_count_back_from_the_newest_frame() {
        let end = Instant::now();
        let a = Arrival {
            end_frame: 4800,
            at: end,
            sound_end: end,
        };
        assert_eq!(a.sound_of(4799, 48_000.0), end);
        let d = end.duration_since(a.sound_of(0, 48_000.0));
        assert!((d.as_secs_f64() - 0.099_979).abs() < 1e-6, "{d:?}");
    }
}
