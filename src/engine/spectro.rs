//! The spectrogram's feed: a second analyzer on the fine fractional-octave layout, run by the
//! engine on the same samples as the bars, whose every frame goes to the window through a
//! ring (lossless while the window keeps up; when it does not, the newest frames are dropped
//! and counted, never waited for).
//!
//! A record in the ring is `2 + bands` numbers: the frame's span of stream time (start, end,
//! seconds) and each band's level in dBFS (AES17), NaN while the band's window is not yet
//! full. Frames tile the stream: each starts where the one before it ended.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{Analyzer, BandInfo};
use crate::config::{AnalysisSettings, BandLayout, BarsFrom, Smoothing, StreamFormat};
use crate::publish::Frame;

/// Seconds of frames the ring holds: the window reads it every tick (16 ms); this leaves room
/// for a stalled UI thread (a file dialog, a slow redraw).
pub const RING_S: f64 = 4.0;

/// The engine's half: the analyzer and the ring's writing end.
#[derive(Debug)]
pub struct SpectrogramFeed {
    analyzer: Box<Analyzer>,
    frame: Frame,
    ring: rtrb::Producer<f64>,
    record: usize,
    /// The end of the previous frame, stream seconds (`None`: none yet).
    last_end: Option<f64>,
    dropped: Arc<AtomicU64>,
}

/// The window's half: the ring's reading end and what the rows are.
#[derive(Debug)]
pub struct SpectrogramFrames {
    /// The reading end: records of [`SpectrogramFrames::record`] numbers.
    pub ring: rtrb::Consumer<f64>,
    /// Numbers per record (2 + bands).
    pub record: usize,
    /// The rows' bands (windows and update intervals as the bars publish theirs).
    pub bands: Vec<BandInfo>,
    /// Frames dropped because the window did not read them in time.
    pub dropped: Arc<AtomicU64>,
}

/// The analysis settings of a spectrogram beside bars analyzed with `bars`: the fine layout
/// (`TwelfthOctave` or `TwentyFourthOctave`), no smoothing (a column is a power mean of
/// frames), no peak hold, no loudness (the bars' analyzer measures it), the same range,
/// weighting, frame rate and channel combination (`each` becomes the channels' mean).
pub fn settings(bars: &AnalysisSettings, layout: BandLayout) -> AnalysisSettings {
    AnalysisSettings {
        bands: layout,
        bars: None,
        smoothing: Smoothing::None,
        peak_hold_ms: 0.0,
        loudness: false,
        // In dBFS always: its colours span the scale's floor to top in dBFS.
        spl_offset_db: None,
        bars_from: match bars.bars_from {
            BarsFrom::Each => BarsFrom::Mean,
            other => other,
        },
        ..bars.clone()
    }
}

/// A feed and its reading end for a stream of `format`.
pub fn feed(
    settings: &AnalysisSettings,
    format: StreamFormat,
) -> Result<(SpectrogramFeed, SpectrogramFrames), String> {
    let analyzer = Analyzer::new(settings, format).map_err(|e| e.to_string())?;
    let bands = analyzer.bands().to_vec();
    let record = 2 + bands.len();
    let frames = (RING_S * settings.fps).ceil() as usize + 1;
    let (ring, reader) = rtrb::RingBuffer::new(frames * record);
    let dropped = Arc::new(AtomicU64::new(0));
    let frame = analyzer.new_frame();
    Ok((
        SpectrogramFeed {
            analyzer: Box::new(analyzer),
            frame,
            ring,
            record,
            last_end: None,
            dropped: dropped.clone(),
        },
        SpectrogramFrames {
            ring: reader,
            record,
            bands,
            dropped,
        },
    ))
}

impl SpectrogramFeed {
    /// The stream's shape this feed analyzes.
    pub fn format(&self) -> StreamFormat {
        self.analyzer.format()
    }

    /// Analysis gain, dB (as the bars').
    pub fn set_gain_db(&mut self, gain_db: f32) {
        self.analyzer.set_gain_db(gain_db);
    }

    /// Analyzes `interleaved`, whose first frame is stream frame `first` (of a stream at
    /// `rate`), writing each finished frame into the ring. Never allocates, never waits.
    pub fn feed(&mut self, interleaved: &[f32], first: u64, rate: f64) {
        let channels = self.analyzer.format().channels;
        let mut rest = interleaved;
        let mut at = first;
        while rest.len() >= channels {
            let fed = self.analyzer.feed(rest);
            rest = &rest[fed.consumed..];
            at += (fed.consumed / channels) as u64;
            if fed.frame_due {
                self.analyzer.write_frame(&mut self.frame);
                let end = at as f64 / rate;
                let period = self.analyzer.plan().frame_period / rate;
                // A frame covers the time since the last one, unless a pause or a gap lies
                // between them: then it covers one period and the stretch between is blank.
                let start = self
                    .last_end
                    .filter(|&s| s < end && end - s <= 1.5 * period)
                    .unwrap_or(end - period);
                self.last_end = Some(end);
                self.push(start, end);
            }
        }
    }

    fn push(&mut self, start: f64, end: f64) {
        let Ok(chunk) = self.ring.write_chunk_uninit(self.record) else {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let f = &self.frame;
        let values = [start, end].into_iter().chain(
            f.bars_db
                .iter()
                .zip(&f.settled)
                .map(|(&db, &settled)| if settled { f64::from(db) } else { f64::NAN }),
        );
        // Exactly `record` values: the whole record is committed.
        chunk.fill_from_iter(values);
    }
}
