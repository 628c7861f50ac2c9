//! The `Frame` the engine publishes, and the sinks it publishes into.
//!
//! The engine thread writes a frame in place and publishes it; the live display reads the
//! newest one through a triple buffer (latest wins, nothing waits). Offline analysis uses a
//! sink that serialises every frame instead. Publishing never allocates: frames are sized when
//! the analyzer is built.

use std::ops::ControlFlow;

/// The lowest level spektr reports. Anything quieter (including digital silence) prints as this.
pub const FLOOR_DB: f32 = -120.0;

/// Levels of one input channel over the frame.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChannelLevels {
    /// Largest absolute sample value since the previous frame, dBFS.
    pub peak_dbfs: f32,
    /// RMS over the last [`crate::config::DEFAULT_RMS_WINDOW_MS`], dBFS in the AES17 convention
    /// (a full-scale sine reads 0 dBFS).
    pub rms_dbfs: f32,
    /// A run of consecutive samples sat at full scale since the previous frame.
    pub clipped: bool,
    /// The highest true peak (BS.1770, 4x oversampled) since the start or the loudness reset,
    /// dBTP; `None` before any sound or without loudness.
    pub true_peak_dbtp: Option<f64>,
}

/// One analysis result. All vectors keep their length for the life of the analyzer.
#[derive(Debug, Default, PartialEq)]
pub struct Frame {
    /// Frame number, from 0.
    pub index: u64,
    /// Audio time of the newest sample the frame includes, in seconds from the stream start.
    pub time_s: f64,
    /// Band power per bar, dBFS (AES17), floored at [`FLOOR_DB`].
    pub bars_db: Vec<f32>,
    /// Peak-hold marker per bar, dBFS.
    pub peak_hold_db: Vec<f32>,
    /// Per bar: its window holds only signal (see `BandInfo::settled_s`); until then it reads
    /// low.
    pub settled: Vec<bool>,
    /// Per bar: the frequency of the strongest component in the band, interpolated between
    /// bins, from its newest analysis (Hz; 0 before the first).
    pub peak_hz: Vec<f32>,
    /// With `--bars-from each`: every channel's own band power, channel after channel (as many
    /// rows as channels, each as long as `bars_db`), dBFS; empty otherwise.
    pub traces_db: Vec<f32>,
    /// Per-channel meters.
    pub channels: Vec<ChannelLevels>,
    /// Loudness (EBU R 128) as of the frame's newest sample; `None` without loudness.
    pub loudness: Option<crate::engine::loudness::LoudnessReading>,
    /// The SPL meter on a calibrated analysis (dB SPL; time-weighted hop by hop from the
    /// bands' unsmoothed powers); `None` uncalibrated.
    pub spl: Option<crate::calibration::SplReading>,
    /// Whole frames the source dropped before the engine (ring overflow) since the start.
    pub dropped_frames: u64,
    /// When the newest sample in this frame reached spektr (live sources only).
    pub arrival: Option<std::time::Instant>,
    /// When the newest sample in this frame was captured: the sound, as the device or audio
    /// server timestamps it (live sources only).
    pub sound: Option<std::time::Instant>,
    /// When the frame was published to the display's triple buffer.
    pub published: Option<std::time::Instant>,
}

impl Clone for Frame {
    fn clone(&self) -> Self {
        let mut copy = Frame::default();
        copy.clone_from(self);
        copy
    }

    /// Field by field, so a frame of the same shape is copied without allocating (the derived
    /// `clone_from` makes a new frame and drops the old).
    fn clone_from(&mut self, source: &Self) {
        // Destructured, so a new field cannot be forgotten here.
        let Frame {
            index,
            time_s,
            bars_db,
            peak_hold_db,
            settled,
            peak_hz,
            traces_db,
            channels,
            loudness,
            spl,
            dropped_frames,
            arrival,
            sound,
            published,
        } = source;
        self.index = *index;
        self.time_s = *time_s;
        self.bars_db.clone_from(bars_db);
        self.peak_hold_db.clone_from(peak_hold_db);
        self.settled.clone_from(settled);
        self.peak_hz.clone_from(peak_hz);
        self.traces_db.clone_from(traces_db);
        self.channels.clone_from(channels);
        self.loudness = *loudness;
        self.spl = *spl;
        self.dropped_frames = *dropped_frames;
        self.arrival = *arrival;
        self.sound = *sound;
        self.published = *published;
    }
}

impl Frame {
    /// A frame with room for `bars` bars and `channels` channels.
    pub fn new(bars: usize, channels: usize) -> Self {
        Frame {
            bars_db: vec![FLOOR_DB; bars],
            peak_hold_db: vec![FLOOR_DB; bars],
            settled: vec![false; bars],
            peak_hz: vec![0.0; bars],
            channels: vec![ChannelLevels::default(); channels],
            ..Default::default()
        }
    }
}

/// Where the engine puts its frames.
pub trait FrameSink {
    /// The frame to fill in place.
    fn frame_mut(&mut self) -> &mut Frame;
    /// Makes the filled frame visible; `Break` stops the engine (the reader went away).
    fn publish(&mut self) -> ControlFlow<()>;
}

/// The name of channel `c` of `channels`, as meters show it: L and R for stereo, else 1, 2, ...
///
/// ```
/// assert_eq!(spektr::publish::channel_label(2, 1), "R");
/// assert_eq!(spektr::publish::channel_label(6, 0), "1");
/// ```
pub fn channel_label(channels: usize, c: usize) -> String {
    match (channels, c) {
        (2, 0) => "L".into(),
        (2, 1) => "R".into(),
        _ => format!("{}", c + 1),
    }
}

/// Writing half of the live display's triple buffer.
pub type FrameInput = triple_buffer::Input<Frame>;
/// Reading half: the UI calls `update()` and reads only when it returns true.
pub type FrameOutput = triple_buffer::Output<Frame>;

/// The triple buffer both halves share, sized for `bars` and `channels`.
pub fn frame_buffer(bars: usize, channels: usize) -> (FrameInput, FrameOutput) {
    triple_buffer::triple_buffer(&Frame::new(bars, channels))
}

impl FrameSink for FrameInput {
    fn frame_mut(&mut self) -> &mut Frame {
        self.input_buffer_mut()
    }

    fn publish(&mut self) -> ControlFlow<()> {
        self.input_buffer_mut().published = Some(std::time::Instant::now());
        triple_buffer::Input::publish(self);
        ControlFlow::Continue(())
    }
}

/// Delays (from a sample's arrival to the publication of the frame that holds it, or from
/// publication to the window reading the frame) in a fixed histogram (10 us bins up to 2 s):
/// recording one costs an add, never an allocation.
#[derive(Clone, Debug)]
pub struct LatencyHistogram {
    bins: Vec<u32>,
    count: u64,
    max_s: f64,
}

/// Width of one histogram bin.
const LATENCY_BIN_S: f64 = 10e-6;

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            bins: vec![0; 200_000],
            count: 0,
            max_s: 0.0,
        }
    }
}

impl LatencyHistogram {
    /// Records one delay.
    pub fn record(&mut self, delay: std::time::Duration) {
        let s = delay.as_secs_f64();
        let bin = ((s / LATENCY_BIN_S) as usize).min(self.bins.len() - 1);
        self.bins[bin] += 1;
        self.count += 1;
        self.max_s = self.max_s.max(s);
    }

    /// Delays recorded.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The delay below which `q` (0..=1) of the recorded delays lie, in ms (bin resolution).
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        if self.count == 0 {
            return None;
        }
        let target = ((q * self.count as f64).ceil() as u64).max(1);
        let mut seen = 0u64;
        for (i, &n) in self.bins.iter().enumerate() {
            seen += u64::from(n);
            if seen >= target {
                return Some(((i as f64 + 0.5) * LATENCY_BIN_S * 1000.0).min(self.max_s * 1000.0));
            }
        }
        Some(self.max_s * 1000.0)
    }

    /// The largest delay recorded, in ms.
    pub fn max_ms(&self) -> Option<f64> {
        (self.count > 0).then_some(self.max_s * 1000.0)
    }

    /// "median 0.42 ms, p90 0.80 ms, p99 1.10 ms, max 2.03 ms (5400 frames)", or `None` when
    /// empty.
    pub fn summary(&self) -> Option<String> {
        match (
            self.quantile_ms(0.5),
            self.quantile_ms(0.9),
            self.quantile_ms(0.99),
            self.max_ms(),
        ) {
            (Some(median), Some(p90), Some(p99), Some(max)) => Some(format!(
                "median {median:.2} ms, p90 {p90:.2} ms, p99 {p99:.2} ms, max {max:.2} ms ({} frames)",
                self.count
            )),
            _ => None,
        }
    }
}
