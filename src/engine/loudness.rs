//! Loudness and true peak (ITU-R BS.1770-5, EBU R 128, Tech 3341 and 3342): a consumer of the
//! analyzer's input.
//!
//! Runs where the analyzer runs (the engine thread, or a file's analysis). Everything is sized
//! in [`Loudness::new`]: feeding and reading never allocate (`tests/no_alloc.rs`, over an hour
//! of audio too).
//!
//! Each channel is K-weighted (BS.1770's shelf and high-pass, made for the stream's rate by the
//! bilinear transform with pre-warping, as libebur128, the `ebur128` crate and ffmpeg make
//! them), squared and summed with its weight G over pieces of 10 ms (at rates that are a
//! multiple of 100 Hz; a piece of the nearest whole number of frames elsewhere): the filter is
//! [`super::kfilter`]'s, computed in blocks. True peaks
//! come from [`super::truepeak`]. The `ebur128` crate did the filtering and true peaks at
//! first; by `perf` they were three quarters of `spektr loudness`'s time, run a frame at a
//! time; the tests compare the two (`tests/integration/loudness.rs`). From the pieces' energies:
//!
//! - momentary (400 ms) and short-term (3 s) loudness: energy means of the newest 40 and 300
//!   pieces, updated every 10 ms with their maxima (Tech 3341 case 14 needs the maximum
//!   momentary loudness looked at every ~18 ms at least);
//! - integrated loudness (BS.1770-5 gating: 400 ms blocks every 100 ms, absolute gate -70
//!   LUFS, relative gate 10 LU under the abs-gated mean) and loudness range (Tech 3342: the
//!   short-term loudness sampled every 100 ms, gates -70 LUFS and 20 LU under, P95 - P10),
//!   each from a histogram of 0.01 LU bins that keeps every bin's exact energy sum. The
//!   crate's own histogram mode has 0.1 LU bins and returns bin centres: a steady -23.0 LUFS
//!   tone reads -22.95 there; here it reads its energy. Nothing grows with time.

use super::kfilter::KFilter;
use super::truepeak::TruePeak;

use crate::config::StreamFormat;

/// Pieces in the momentary (400 ms) and short-term (3 s) windows, and between gating blocks
/// (100 ms).
const MOMENTARY_PIECES: usize = 40;
const SHORT_TERM_PIECES: usize = 300;
const BLOCK_STEP_PIECES: u64 = 10;
/// The absolute gate, and the histograms' span above it in bins of [`BIN_LU`].
const ABSOLUTE_GATE_LUFS: f64 = -70.0;
const BIN_LU: f64 = 0.01;
const BINS: usize = 10_000;

/// Loudness values (gating blocks, or short-term values) in bins of [`BIN_LU`] from the
/// absolute gate up, with each bin's count and exact energy sum.
#[derive(Clone)]
struct Histogram {
    count: Vec<u64>,
    energy: Vec<f64>,
    total_count: u64,
    total_energy: f64,
}

impl Histogram {
    fn new() -> Self {
        Histogram {
            count: vec![0; BINS],
            energy: vec![0.0; BINS],
            total_count: 0,
            total_energy: 0.0,
        }
    }

    fn clear(&mut self) {
        self.count.iter_mut().for_each(|c| *c = 0);
        self.energy.iter_mut().for_each(|e| *e = 0.0);
        self.total_count = 0;
        self.total_energy = 0.0;
    }

    /// Adds every value of `other` (another programme's, for an album).
    fn merge(&mut self, other: &Histogram) {
        for (c, o) in self.count.iter_mut().zip(&other.count) {
            *c += o;
        }
        for (e, o) in self.energy.iter_mut().zip(&other.energy) {
            *e += o;
        }
        self.total_count += other.total_count;
        self.total_energy += other.total_energy;
    }

    /// Adds a value of `energy`, unless the absolute gate takes it out.
    fn add(&mut self, energy: f64) {
        let Some(l) = lufs(energy).filter(|&l| l >= ABSOLUTE_GATE_LUFS) else {
            return;
        };
        let bin = (((l - ABSOLUTE_GATE_LUFS) / BIN_LU) as usize).min(BINS - 1);
        self.count[bin] += 1;
        self.energy[bin] += energy;
        self.total_count += 1;
        self.total_energy += energy;
    }

    /// The first bin at or above `gap` LU under the energy mean of every value (the relative
    /// gate; a bin counts when its centre is at or above it).
    fn gate(&self, gap: f64) -> Option<usize> {
        if self.total_count == 0 {
            return None;
        }
        let gate = lufs(self.total_energy / self.total_count as f64)? - gap;
        let from = ((gate - ABSOLUTE_GATE_LUFS) / BIN_LU - 0.5).ceil();
        Some(from.clamp(0.0, BINS as f64) as usize)
    }

    /// BS.1770-5 integrated loudness: the energy mean of the values the gates keep.
    fn integrated(&self) -> Option<f64> {
        let from = self.gate(10.0)?;
        let n: u64 = self.count[from..].iter().sum();
        let e: f64 = self.energy[from..].iter().sum();
        (n > 0).then(|| lufs(e / n as f64)).flatten()
    }

    /// Tech 3342 loudness range: P95 - P10 of the values the gates keep (20 LU under).
    fn range(&self) -> Option<f64> {
        let from = self.gate(20.0)?;
        let n: u64 = self.count[from..].iter().sum();
        if n == 0 {
            return None;
        }
        // The value of rank `round(p (n - 1))` (from 0), as the bin centre holding it.
        let at = |p: f64| -> f64 {
            let rank = (p * (n - 1) as f64).round() as u64;
            let mut seen = 0;
            for (i, &c) in self.count.iter().enumerate().skip(from) {
                seen += c;
                if seen > rank {
                    return ABSOLUTE_GATE_LUFS + (i as f64 + 0.5) * BIN_LU;
                }
            }
            ABSOLUTE_GATE_LUFS + BINS as f64 * BIN_LU
        };
        Some(at(0.95) - at(0.10))
    }
}

/// BS.1770's channel weights G from the channel count, in WAVE order: mono (once, or twice as
/// dual mono), stereo, L R C, quad (L R Ls Rs), 5.0 (L R C Ls Rs), 5.1 (L R C LFE Ls Rs, the
/// LFE left out), 7.1 (L R C LFE Lb Rb Ls Rs; every surround at 1.41); other counts: every
/// channel at 1.0.
pub fn channel_weights(channels: usize, dual_mono: bool) -> Vec<f64> {
    const S: f64 = 1.41;
    match channels {
        1 if dual_mono => vec![2.0],
        4 => vec![1.0, 1.0, S, S],
        5 => vec![1.0, 1.0, 1.0, S, S],
        6 => vec![1.0, 1.0, 1.0, 0.0, S, S],
        8 => vec![1.0, 1.0, 1.0, 0.0, S, S, S, S],
        n => vec![1.0; n],
    }
}

/// The lowest rate whose Nyquist frequency lies above the shelf's (the K filter needs it).
pub const MIN_RATE_HZ: u32 = 3_400;

/// What the header says about how channels count.
pub fn channel_rule(channels: usize, dual_mono: bool) -> &'static str {
    match channels {
        1 if dual_mono => {
            "dual mono: the one channel counts twice (+3.01 dB), as if played on two speakers"
        }
        1 => "mono: the one channel counts once",
        2 => "stereo: L and R at 1.0",
        3 => "L R C at 1.0",
        4 => "quad: L R at 1.0, Ls Rs at 1.41",
        5 => "5.0: L R C at 1.0, Ls Rs at 1.41",
        6 => "5.1: L R C at 1.0, LFE excluded, Ls Rs at 1.41",
        8 => "7.1: L R C at 1.0, LFE excluded, the four surrounds at 1.41",
        _ => "every channel at 1.0 (no standard layout for this count)",
    }
}

/// One reading of the loudness meter. `None` where a value does not exist yet (a window not
/// yet full, no block above the gates) or cannot (silence): never a made-up number.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LoudnessReading {
    /// Momentary loudness (400 ms), LUFS.
    pub momentary_lufs: Option<f64>,
    /// Short-term loudness (3 s), LUFS.
    pub short_term_lufs: Option<f64>,
    /// Integrated (gated) loudness since the start or the last reset, LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (Tech 3342), LU.
    pub range_lu: Option<f64>,
    /// The highest momentary and short-term loudness since the start or the last reset, LUFS.
    pub max_momentary_lufs: Option<f64>,
    pub max_short_term_lufs: Option<f64>,
    /// The highest true peak of any channel, dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Audio the measurement covers, seconds (since the start or the last reset).
    pub measured_s: f64,
}

impl LoudnessReading {
    /// The programme-to-peak ratio (true peak max minus integrated loudness), LU.
    pub fn plr_lu(&self) -> Option<f64> {
        Some(self.true_peak_dbtp? - self.integrated_lufs?)
    }
}

/// The loudness meter of one stream.
pub struct Loudness {
    /// The K filter, and per channel its state (two values per section).
    filter: KFilter,
    state: Vec<[f64; 4]>,
    /// Per channel, G (0: left out), and the current piece's weighted sum of squares.
    weights: Vec<f64>,
    sum: f64,
    channels: usize,
    /// Frames per piece, and how many of the current piece are in.
    piece: usize,
    filled: usize,
    /// The newest pieces' energies (mean square, K-weighted, channel-weighted), a ring.
    energies: Vec<f64>,
    pos: usize,
    /// Whole pieces since the start or the last reset.
    pieces: u64,
    momentary: Option<f64>,
    short_term: Option<f64>,
    max_momentary: Option<f64>,
    max_short_term: Option<f64>,
    /// The gating blocks and the short-term values sampled for the range.
    blocks: Histogram,
    short_terms: Histogram,
    /// Integrated loudness and range as of the newest 100 ms (they change only then), worked
    /// out when read (a file's scan reads them once), and whether that is still to do.
    gated: std::cell::Cell<(Option<f64>, Option<f64>)>,
    gated_stale: std::cell::Cell<bool>,
    /// Per channel, the highest true peak.
    true_peak: TruePeak,
    rate: f64,
}

impl std::fmt::Debug for Loudness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loudness")
            .field("channels", &self.channels)
            .field("piece", &self.piece)
            .finish()
    }
}

fn lufs(energy: f64) -> Option<f64> {
    (energy > 0.0).then(|| -0.691 + 10.0 * energy.log10())
}

fn higher(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

impl Loudness {
    /// A meter for `format`; `dual_mono` counts a mono channel twice.
    pub fn new(format: StreamFormat, dual_mono: bool) -> Result<Self, String> {
        let channels = format.channels;
        if channels == 0 {
            return Err("no channels".into());
        }
        if format.sample_rate < MIN_RATE_HZ {
            return Err(format!(
                "K-weighting needs a sample rate of {MIN_RATE_HZ} Hz at least, not {} Hz",
                format.sample_rate
            ));
        }
        let piece = ((f64::from(format.sample_rate) / 100.0).round() as usize).max(1);
        Ok(Loudness {
            filter: KFilter::new(f64::from(format.sample_rate)),
            state: vec![[0.0; 4]; channels],
            weights: channel_weights(channels, dual_mono),
            sum: 0.0,
            channels,
            piece,
            filled: 0,
            energies: vec![0.0; SHORT_TERM_PIECES],
            pos: 0,
            pieces: 0,
            momentary: None,
            short_term: None,
            max_momentary: None,
            max_short_term: None,
            blocks: Histogram::new(),
            short_terms: Histogram::new(),
            gated: std::cell::Cell::new((None, None)),
            gated_stale: std::cell::Cell::new(false),
            true_peak: TruePeak::new(format.sample_rate, channels),
            rate: f64::from(format.sample_rate),
        })
    }

    /// Starts the measurement over: integrated, range and every maximum together.
    pub fn reset(&mut self) {
        self.state.iter_mut().for_each(|s| *s = [0.0; 4]);
        self.sum = 0.0;
        self.filled = 0;
        self.energies.iter_mut().for_each(|e| *e = 0.0);
        self.pos = 0;
        self.pieces = 0;
        self.momentary = None;
        self.short_term = None;
        self.max_momentary = None;
        self.max_short_term = None;
        self.blocks.clear();
        self.short_terms.clear();
        self.gated.set((None, None));
        self.gated_stale.set(false);
        self.true_peak.reset();
    }

    /// Feeds interleaved samples (whole frames; sanitised: finite).
    pub fn feed(&mut self, interleaved: &[f32]) {
        self.true_peak.feed(interleaved);
        let mut rest = interleaved;
        while rest.len() >= self.channels {
            let take = (self.piece - self.filled).min(rest.len() / self.channels);
            let (now, later) = rest.split_at(take * self.channels);
            self.sum += self.filter.energy(now, &mut self.state, &self.weights);
            self.filled += take;
            rest = later;
            if self.filled == self.piece {
                self.end_piece();
            }
        }
    }

    fn end_piece(&mut self) {
        self.filled = 0;
        let energy = self.sum / self.piece as f64;
        self.sum = 0.0;
        // A filter ringing down to nothing would reach denormal numbers (slow on x86): what is
        // far under any audible level is zero.
        for s in self.state.iter_mut().flatten() {
            if s.abs() < 1e-30 {
                *s = 0.0;
            }
        }
        self.energies[self.pos] = energy;
        self.pos = (self.pos + 1) % SHORT_TERM_PIECES;
        self.pieces += 1;
        let newest = |n: usize| -> f64 {
            let len = SHORT_TERM_PIECES;
            (1..=n)
                .map(|k| self.energies[(self.pos + len - k) % len])
                .sum::<f64>()
                / n as f64
        };
        let step = self.pieces.is_multiple_of(BLOCK_STEP_PIECES);
        if self.pieces >= MOMENTARY_PIECES as u64 {
            let energy = newest(MOMENTARY_PIECES);
            self.momentary = lufs(energy);
            self.max_momentary = higher(self.max_momentary, self.momentary);
            if step {
                self.blocks.add(energy);
            }
        }
        if self.pieces >= SHORT_TERM_PIECES as u64 {
            let energy = newest(SHORT_TERM_PIECES);
            self.short_term = lufs(energy);
            self.max_short_term = higher(self.max_short_term, self.short_term);
            if step {
                self.short_terms.add(energy);
            }
        }
        if step {
            self.gated_stale.set(true);
        }
    }

    /// The current reading; `true_peak_dbtp` gets each channel's highest true peak (dBTP,
    /// `None` before any sound). Integrated loudness and range are as of the newest 100 ms.
    pub fn read(&self, true_peak_dbtp: &mut [Option<f64>]) -> LoudnessReading {
        for (out, p) in true_peak_dbtp.iter_mut().zip(self.true_peak.peaks()) {
            *out = (p > 0.0).then(|| 20.0 * p.log10());
        }
        let max_tp = self.true_peak.peaks().fold(0.0, f64::max);
        if self.gated_stale.replace(false) {
            self.gated
                .set((self.blocks.integrated(), self.short_terms.range()));
        }
        let (integrated, range) = self.gated.get();
        LoudnessReading {
            momentary_lufs: self.momentary,
            short_term_lufs: self.short_term,
            integrated_lufs: integrated,
            range_lu: range,
            max_momentary_lufs: self.max_momentary,
            max_short_term_lufs: self.max_short_term,
            true_peak_dbtp: (max_tp > 0.0).then(|| 20.0 * max_tp.log10()),
            measured_s: (self.pieces as f64 * self.piece as f64 + self.filled as f64) / self.rate,
        }
    }

    /// Channels measured.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The reading as a summary's `loudness` object (two decimals; `null` where a value does
    /// not exist): what `analyze`'s summary, `spektr loudness --json` and a recording's sidecar
    /// carry.
    pub fn summary(&self) -> serde_json::Value {
        let mut tp = vec![None; self.channels];
        let r = self.read(&mut tp);
        summary_json(&r, &tp)
    }
}

/// A reading (and its per-channel true peaks) as a summary's `loudness` object.
pub fn summary_json(r: &LoudnessReading, per_channel: &[Option<f64>]) -> serde_json::Value {
    // `+ 0.0` turns a rounded -0.0 into 0.0.
    let round = |v: Option<f64>| v.map(|v| (v * 100.0).round() / 100.0 + 0.0);
    serde_json::json!({
        "integrated_lufs": round(r.integrated_lufs),
        "range_lu": round(r.range_lu),
        "true_peak_dbtp": round(r.true_peak_dbtp),
        "true_peak_dbtp_per_channel": per_channel.iter().copied().map(round).collect::<Vec<_>>(),
        "max_momentary_lufs": round(r.max_momentary_lufs),
        "max_short_term_lufs": round(r.max_short_term_lufs),
        "plr_lu": round(r.plr_lu()),
        "measured_s": round(Some(r.measured_s)),
    })
}

/// Several programmes measured as one (an album, as r128gain and loudgain do it): their gating
/// blocks and short-term values gated together, the highest true peak and maxima of any.
/// Files of different rates and channel counts combine: blocks are 400 ms of loudness either
/// way.
#[derive(Clone, Default)]
pub struct Programme {
    totals: Option<(Histogram, Histogram)>,
    true_peak: f64,
    max_momentary: Option<f64>,
    max_short_term: Option<f64>,
    measured_s: f64,
    parts: usize,
}

impl std::fmt::Debug for Programme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Programme")
            .field("parts", &self.parts)
            .finish()
    }
}

impl Programme {
    /// Adds one measured programme.
    pub fn add(&mut self, l: &Loudness) {
        match &mut self.totals {
            Some((blocks, short_terms)) => {
                blocks.merge(&l.blocks);
                short_terms.merge(&l.short_terms);
            }
            None => self.totals = Some((l.blocks.clone(), l.short_terms.clone())),
        }
        let r = l.read(&mut []);
        self.true_peak = l.true_peak.peaks().fold(self.true_peak, f64::max);
        self.max_momentary = higher(self.max_momentary, r.max_momentary_lufs);
        self.max_short_term = higher(self.max_short_term, r.max_short_term_lufs);
        self.measured_s += r.measured_s;
        self.parts += 1;
    }

    /// Programmes added.
    pub fn parts(&self) -> usize {
        self.parts
    }

    /// The whole as one programme (no momentary or short-term value: those are of an instant).
    pub fn read(&self) -> LoudnessReading {
        let (integrated_lufs, range_lu) = self
            .totals
            .as_ref()
            .map_or((None, None), |(b, s)| (b.integrated(), s.range()));
        LoudnessReading {
            momentary_lufs: None,
            short_term_lufs: None,
            integrated_lufs,
            range_lu,
            max_momentary_lufs: self.max_momentary,
            max_short_term_lufs: self.max_short_term,
            true_peak_dbtp: (self.true_peak > 0.0).then(|| 20.0 * self.true_peak.log10()),
            measured_s: self.measured_s,
        }
    }
}
