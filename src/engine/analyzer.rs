//! The analyzer: interleaved samples in, frames out. Stateful, built once, allocation-free in
//! steady state.
//!
//! Runs on the engine thread (or a test's thread); never on the audio callback. Everything is
//! sized in [`Analyzer::new`]: `feed` and `write_frame` only read and write existing buffers.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::decimate::HalfBand;
use super::dsp::{amplitude_to_db, hann, power_to_db, window_energy};
use super::plan::{BandInfo, Plan, plan};
use crate::config::{AnalysisSettings, ConfigError, StreamFormat};
use crate::publish::Frame;

/// A sample at or above this magnitude counts as full scale (the largest positive 16-bit value).
pub const CLIP_LEVEL: f32 = 32767.0 / 32768.0;
/// Consecutive full-scale samples that make a clip.
pub const CLIP_RUN: u32 = 3;
/// AES17: RMS readings are raised by 3.01 dB so that a full-scale sine reads 0 dBFS.
pub const AES17_RMS_OFFSET_DB: f32 = 3.010_3;
/// What the output header says about levels.
pub const DB_CONVENTION: &str = "AES17: dBFS where a full-scale sine reads 0.0 in bars, peak and RMS (RMS is raised by 3.01 dB)";

/// What one call to [`Analyzer::feed`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fed {
    /// Interleaved samples consumed (always whole frames).
    pub consumed: usize,
    /// A frame is due: call [`Analyzer::write_frame`] before feeding more.
    pub frame_due: bool,
}

#[derive(Debug)]
struct Level {
    tap: usize,
    fft: usize,
    window: Vec<f32>,
    history: Vec<f32>,
    pos: usize,
    interval: u64,
    offset: u64,
    bands: Vec<usize>,
}

impl Level {
    /// Appends samples to the double-written ring: the newest `n` samples are always the
    /// contiguous slice `history[pos..pos + n]`.
    fn push(&mut self, samples: &[f32]) {
        let n = self.window.len();
        for chunk in samples.chunks(n) {
            let first = chunk.len().min(n - self.pos);
            let (head, tail) = chunk.split_at(first);
            self.history[self.pos..self.pos + first].copy_from_slice(head);
            self.history[self.pos + n..self.pos + n + first].copy_from_slice(head);
            self.history[..tail.len()].copy_from_slice(tail);
            self.history[n..n + tail.len()].copy_from_slice(tail);
            self.pos = (self.pos + chunk.len()) % n;
        }
    }
}

struct FftSlot {
    plan: Arc<dyn RealToComplex<f32>>,
    input: Vec<f32>,
    output: Vec<Complex<f32>>,
}

impl std::fmt::Debug for FftSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FftSlot({})", self.input.len())
    }
}

#[derive(Debug, Clone, Copy)]
struct BandWeights {
    first_bin: usize,
    start: usize,
    len: usize,
}

/// Per-channel meters.
#[derive(Debug)]
struct Meters {
    channels: usize,
    peak: Vec<f32>,
    clip_run: Vec<u32>,
    clipped: Vec<bool>,
    hop_sumsq: Vec<f32>,
    /// Copies taken before a block, to redo it when it held a NaN or infinity.
    saved: Vec<(f32, f32, u32, bool)>,
    /// `rms_hops` rows of per-channel sums of squares, one row per hop.
    ring: Vec<f64>,
    ring_len: Vec<u64>,
    ring_pos: usize,
    hop_samples: u64,
}

impl Meters {
    fn save(&mut self) {
        for c in 0..self.channels {
            self.saved[c] = (
                self.peak[c],
                self.hop_sumsq[c],
                self.clip_run[c],
                self.clipped[c],
            );
        }
    }

    fn restore(&mut self) {
        for c in 0..self.channels {
            (
                self.peak[c],
                self.hop_sumsq[c],
                self.clip_run[c],
                self.clipped[c],
            ) = self.saved[c];
        }
    }
}

/// Mono mix and per-channel meters over `block`; false if it met a NaN or infinity (only
/// checked when `SANITIZE` is false; with `SANITIZE` such samples count as 0).
fn accumulate<const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    mono: &mut [f32],
    inv_channels: f32,
    gain: f32,
) -> bool {
    if !SANITIZE {
        m.save();
    }
    // Mono and stereo get their state in registers; other counts use the general loop.
    match m.channels {
        1 => accumulate_fixed::<1, SANITIZE>(m, block, mono, inv_channels, gain),
        2 => accumulate_fixed::<2, SANITIZE>(m, block, mono, inv_channels, gain),
        _ => accumulate_any::<SANITIZE>(m, block, mono, inv_channels, gain),
    }
}

#[inline(always)]
fn meter_sample<const SANITIZE: bool>(
    raw: f32,
    gain: f32,
    peak: &mut f32,
    sumsq: &mut f32,
    run: &mut u32,
    clipped: &mut bool,
) -> f32 {
    let x = if SANITIZE && !raw.is_finite() {
        0.0
    } else {
        raw
    };
    let a = x.abs();
    // Clipping is a property of the input: tested before the analysis gain.
    // Branch-free run counter: resets to 0 below full scale.
    *run = (*run + 1) * u32::from(a >= CLIP_LEVEL);
    *clipped |= *run >= CLIP_RUN;
    let g = x * gain;
    let ag = a * gain;
    *peak = if ag > *peak { ag } else { *peak };
    *sumsq += g * g;
    g
}

fn accumulate_fixed<const CH: usize, const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    mono: &mut [f32],
    inv: f32,
    gain: f32,
) -> bool {
    let mut peak = [0.0f32; CH];
    let mut sumsq = [0.0f32; CH];
    let mut run = [0u32; CH];
    let mut clipped = [false; CH];
    for c in 0..CH {
        (peak[c], sumsq[c], run[c], clipped[c]) =
            (m.peak[c], m.hop_sumsq[c], m.clip_run[c], m.clipped[c]);
    }
    let mut total = 0.0f32;
    for (frame, out) in block.chunks_exact(CH).zip(mono.iter_mut()) {
        let mut sum = 0.0f32;
        for c in 0..CH {
            sum += meter_sample::<SANITIZE>(
                frame[c],
                gain,
                &mut peak[c],
                &mut sumsq[c],
                &mut run[c],
                &mut clipped[c],
            );
        }
        total += sum;
        *out = sum * inv;
    }
    for c in 0..CH {
        (m.peak[c], m.hop_sumsq[c], m.clip_run[c], m.clipped[c]) =
            (peak[c], sumsq[c], run[c], clipped[c]);
    }
    SANITIZE || (total.is_finite() && sumsq.iter().all(|s| s.is_finite()))
}

fn accumulate_any<const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    mono: &mut [f32],
    inv: f32,
    gain: f32,
) -> bool {
    let ch = m.channels;
    let mut total = 0.0f32;
    for (frame, out) in block.chunks_exact(ch).zip(mono.iter_mut()) {
        let mut sum = 0.0f32;
        for (c, &raw) in frame.iter().enumerate() {
            sum += meter_sample::<SANITIZE>(
                raw,
                gain,
                &mut m.peak[c],
                &mut m.hop_sumsq[c],
                &mut m.clip_run[c],
                &mut m.clipped[c],
            );
        }
        total += sum;
        *out = sum * inv;
    }
    SANITIZE || (total.is_finite() && m.hop_sumsq.iter().all(|s| s.is_finite()))
}

/// The stateful spectrum analyzer.
#[derive(Debug)]
pub struct Analyzer {
    plan: Plan,
    fs: f64,
    channels: usize,
    inv_channels: f32,
    /// Analysis gain (linear); 1.0 unless set.
    gain: f32,
    // Schedule.
    hop_period: f64,
    hop_index: u64,
    samples_in: u64,
    next_hop_at: u64,
    // Mono mix of the current hop, and the cascade's outputs for it.
    mono: Vec<f32>,
    mono_len: usize,
    stages: Vec<HalfBand>,
    stage_out: Vec<Vec<f32>>,
    stage_len: Vec<usize>,
    levels: Vec<Level>,
    ffts: Vec<FftSlot>,
    scratch: Vec<Complex<f32>>,
    weights: Vec<f32>,
    band_weights: Vec<BandWeights>,
    raw_power: Vec<f64>,
    smoothed: Vec<f64>,
    tau_s: f64,
    hold_db: Vec<f32>,
    hold_age_s: Vec<f64>,
    hold_s: f64,
    fall_db_per_s: f64,
    meters: Meters,
    frame_index: u64,
    last_frame_time_s: f64,
}

impl Analyzer {
    /// Builds an analyzer for `format` with `settings`, or says which setting cannot work.
    pub fn new(settings: &AnalysisSettings, format: StreamFormat) -> Result<Self, ConfigError> {
        let plan = plan(settings, format)?;
        let fs = f64::from(format.sample_rate);
        let channels = format.channels;
        let hop_period = plan.frame_period / plan.hops_per_frame as f64;
        let max_hop = hop_period.ceil() as usize + 1;

        let stages: Vec<HalfBand> = plan
            .stage_protect
            .iter()
            .enumerate()
            .map(|(k, &protect)| HalfBand::new(protect, (max_hop >> k) + 2))
            .collect();
        let stage_out: Vec<Vec<f32>> = (0..stages.len())
            .map(|k| vec![0.0; (max_hop >> (k + 1)) + 2])
            .collect();

        let mut planner = RealFftPlanner::<f32>::new();
        let mut ffts: Vec<FftSlot> = Vec::new();
        let mut levels = Vec::new();
        let mut weights = Vec::new();
        let mut band_weights = vec![
            BandWeights {
                first_bin: 0,
                start: 0,
                len: 0
            };
            plan.bands.len()
        ];
        let weighting = plan.settings.weighting;
        for (i, lp) in plan.levels.iter().enumerate() {
            let n = lp.fft_len;
            if !ffts.iter().any(|s| s.input.len() == n) {
                let p = planner.plan_fft_forward(n);
                ffts.push(FftSlot {
                    input: p.make_input_vec(),
                    output: p.make_output_vec(),
                    plan: p,
                });
            }
            let window = hann(n);
            let norm = 4.0 / (n as f64 * window_energy(&window));
            let bin_hz = fs / f64::from(1u32 << lp.tap) / n as f64;
            for &b in &lp.bands {
                let e = plan.edges[b];
                let k_lo = ((e.lo_hz / bin_hz - 0.5).floor() as usize).max(1);
                let k_hi = ((e.hi_hz / bin_hz + 0.5).ceil() as usize).min(n / 2);
                let start = weights.len();
                for k in k_lo..=k_hi {
                    let f = k as f64 * bin_hz;
                    let overlap = (e.hi_hz.min(f + bin_hz / 2.0) - e.lo_hz.max(f - bin_hz / 2.0))
                        .max(0.0)
                        / bin_hz;
                    weights.push((overlap * weighting.power_gain(f) * norm) as f32);
                }
                band_weights[b] = BandWeights {
                    first_bin: k_lo,
                    start,
                    len: weights.len() - start,
                };
            }
            levels.push(Level {
                tap: lp.tap,
                fft: ffts
                    .iter()
                    .position(|s| s.input.len() == n)
                    .expect("planned above"),
                history: vec![0.0; 2 * n],
                window,
                pos: 0,
                interval: lp.interval,
                offset: i as u64 % lp.interval,
                bands: lp.bands.clone(),
            });
        }
        let scratch_len = ffts
            .iter()
            .map(|s| s.plan.get_scratch_len())
            .max()
            .unwrap_or(0);

        let hop_s = hop_period / fs;
        let rms_hops =
            ((crate::config::DEFAULT_RMS_WINDOW_MS / 1000.0 / hop_s).round() as usize).max(1);
        let bars = plan.bands.len();
        let s = &plan.settings;
        let tau_s = s.smoothing.tau_ms() / 1000.0;
        let hold_s = s.peak_hold_ms / 1000.0;
        let fall_db_per_s = s.peak_fall_db_per_s;
        Ok(Analyzer {
            fs,
            channels,
            inv_channels: 1.0 / channels as f32,
            gain: 1.0,
            hop_period,
            hop_index: 0,
            samples_in: 0,
            next_hop_at: hop_period.round() as u64,
            mono: vec![0.0; max_hop],
            mono_len: 0,
            stage_len: vec![0; stages.len()],
            stages,
            stage_out,
            levels,
            ffts,
            scratch: vec![Complex::default(); scratch_len],
            weights,
            band_weights,
            raw_power: vec![0.0; bars],
            smoothed: vec![0.0; bars],
            tau_s,
            hold_db: vec![super::dsp::FLOOR_DB; bars],
            hold_age_s: vec![0.0; bars],
            hold_s,
            fall_db_per_s,
            meters: Meters {
                channels,
                peak: vec![0.0; channels],
                clip_run: vec![0; channels],
                clipped: vec![false; channels],
                hop_sumsq: vec![0.0; channels],
                saved: vec![(0.0, 0.0, 0, false); channels],
                ring: vec![0.0; rms_hops * channels],
                ring_len: vec![0; rms_hops],
                ring_pos: 0,
                hop_samples: 0,
            },
            frame_index: 0,
            last_frame_time_s: 0.0,
            plan,
        })
    }

    /// The bars: edges, window and update interval of each.
    pub fn bands(&self) -> &[BandInfo] {
        &self.plan.bands
    }

    /// The plan behind this analyzer.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The settings in force (fmax clamped below Nyquist).
    pub fn settings(&self) -> &AnalysisSettings {
        &self.plan.settings
    }

    /// The stream format.
    pub fn format(&self) -> StreamFormat {
        self.plan.format
    }

    /// Sets the analysis gain in dB: it scales what the bars and meters see, never the samples
    /// themselves (a recording stays bit-exact).
    pub fn set_gain_db(&mut self, gain_db: f32) {
        self.gain = if gain_db.is_finite() {
            10f32.powf(gain_db / 20.0)
        } else {
            1.0
        };
    }

    /// A frame sized for this analyzer.
    pub fn new_frame(&self) -> Frame {
        Frame::new(self.plan.bands.len(), self.channels)
    }

    /// Samples (per channel) consumed since the start.
    pub fn samples_in(&self) -> u64 {
        self.samples_in
    }

    /// Frames (per channel) still to come before the next hop is due.
    pub fn frames_to_next_hop(&self) -> u64 {
        self.next_hop_at - self.samples_in
    }

    /// Frames (per channel) still to come before the next frame is due.
    pub fn frames_to_next_frame(&self) -> u64 {
        let per = self.plan.hops_per_frame;
        let next_frame_hop = (self.hop_index / per + 1) * per;
        let at = (next_frame_hop as f64 * self.hop_period).round() as u64;
        at.saturating_sub(self.samples_in)
    }

    /// Consumes interleaved samples up to the next hop boundary. Whole frames only: a trailing
    /// partial frame is left unconsumed.
    pub fn feed(&mut self, interleaved: &[f32]) -> Fed {
        let ch = self.channels;
        let available = (interleaved.len() / ch) as u64;
        let take = available.min(self.next_hop_at - self.samples_in) as usize;
        let block = &interleaved[..take * ch];
        let mono = &mut self.mono[self.mono_len..self.mono_len + take];
        if !accumulate::<false>(&mut self.meters, block, mono, self.inv_channels, self.gain) {
            // NOTE: a NaN or infinity would poison every smoothed bar for good. Rare, so the
            // block is redone with a sanitising pass instead of checking every sample.
            self.meters.restore();
            accumulate::<true>(&mut self.meters, block, mono, self.inv_channels, self.gain);
        }
        let m = &mut self.meters;
        self.mono_len += take;
        m.hop_samples += take as u64;
        self.samples_in += take as u64;
        let mut frame_due = false;
        if self.samples_in == self.next_hop_at {
            frame_due = self.end_hop();
        }
        Fed {
            consumed: take * ch,
            frame_due,
        }
    }

    fn end_hop(&mut self) -> bool {
        // Cascade: stage k reads stage k-1's output (stage 0 reads the mono mix).
        for k in 0..self.stages.len() {
            let (before, after) = self.stage_out.split_at_mut(k);
            let input: &[f32] = if k == 0 {
                &self.mono[..self.mono_len]
            } else {
                &before[k - 1][..self.stage_len[k - 1]]
            };
            self.stage_len[k] = self.stages[k].process(input, &mut after[0]);
        }
        for li in 0..self.levels.len() {
            let level = &mut self.levels[li];
            let input: &[f32] = if level.tap == 0 {
                &self.mono[..self.mono_len]
            } else {
                &self.stage_out[level.tap - 1][..self.stage_len[level.tap - 1]]
            };
            level.push(input);
            if (self.hop_index + level.offset).is_multiple_of(level.interval) {
                self.analyze_level(li);
            }
        }
        self.mono_len = 0;

        let dt = self.meters.hop_samples as f64 / self.fs;
        if self.tau_s > 0.0 {
            let alpha = 1.0 - (-dt / self.tau_s).exp();
            for (s, &r) in self.smoothed.iter_mut().zip(&self.raw_power) {
                *s += alpha * (r - *s);
            }
        } else {
            self.smoothed.copy_from_slice(&self.raw_power);
        }

        let m = &mut self.meters;
        let row = &mut m.ring[m.ring_pos * m.channels..(m.ring_pos + 1) * m.channels];
        for (r, &h) in row.iter_mut().zip(&m.hop_sumsq) {
            *r = f64::from(h);
        }
        m.ring_len[m.ring_pos] = m.hop_samples;
        m.ring_pos = (m.ring_pos + 1) % m.ring_len.len();
        m.hop_sumsq.iter_mut().for_each(|s| *s = 0.0);
        m.hop_samples = 0;

        self.hop_index += 1;
        self.next_hop_at = ((self.hop_index + 1) as f64 * self.hop_period).round() as u64;
        self.hop_index.is_multiple_of(self.plan.hops_per_frame)
    }

    fn analyze_level(&mut self, li: usize) {
        let level = &self.levels[li];
        let slot = &mut self.ffts[level.fft];
        let n = level.window.len();
        let newest = &level.history[level.pos..level.pos + n];
        for ((dst, &x), &w) in slot.input.iter_mut().zip(newest).zip(&level.window) {
            *dst = x * w;
        }
        // Lengths match by construction, so this cannot fail.
        let _ =
            slot.plan
                .process_with_scratch(&mut slot.input, &mut slot.output, &mut self.scratch);
        for &b in &level.bands {
            let bw = self.band_weights[b];
            let bins = &slot.output[bw.first_bin..bw.first_bin + bw.len];
            let w = &self.weights[bw.start..bw.start + bw.len];
            let p: f32 = bins.iter().zip(w).map(|(c, &w)| w * c.norm_sqr()).sum();
            self.raw_power[b] = f64::from(p);
        }
    }

    /// Fills `frame` with the newest bars, peak-hold markers and meters, and starts the next
    /// meter period. A frame from [`Analyzer::new_frame`] is written without allocating; any
    /// other is resized first (once, e.g. after a settings change).
    pub fn write_frame(&mut self, frame: &mut Frame) {
        // A frame from before a settings change: size it once (allocates only then).
        let bars = self.smoothed.len();
        if frame.bars_db.len() != bars || frame.peak_hold_db.len() != bars {
            frame.bars_db.resize(bars, super::dsp::FLOOR_DB);
            frame.peak_hold_db.resize(bars, super::dsp::FLOOR_DB);
        }
        if frame.channels.len() != self.channels {
            frame.channels.resize(self.channels, Default::default());
        }
        let time_s = self.samples_in as f64 / self.fs;
        let dt = time_s - self.last_frame_time_s;
        self.last_frame_time_s = time_s;
        for b in 0..self.smoothed.len() {
            let db = power_to_db(self.smoothed[b]);
            frame.bars_db[b] = db;
            let hold = &mut self.hold_db[b];
            let age = &mut self.hold_age_s[b];
            if db >= *hold {
                *hold = db;
                *age = 0.0;
            } else {
                let falling_s = (*age + dt - age.max(self.hold_s)).max(0.0);
                *age += dt;
                *hold = (*hold - (self.fall_db_per_s * falling_s) as f32).max(db);
            }
            frame.peak_hold_db[b] = *hold;
        }
        let m = &mut self.meters;
        let counted: u64 = m.ring_len.iter().sum();
        for (c, out) in frame.channels.iter_mut().enumerate() {
            let sumsq: f64 = m.ring.iter().skip(c).step_by(m.channels).sum();
            let rms = if counted > 0 {
                (sumsq / counted as f64).sqrt()
            } else {
                0.0
            };
            out.rms_dbfs = (amplitude_to_db(rms) + AES17_RMS_OFFSET_DB).max(super::dsp::FLOOR_DB);
            if rms <= 0.0 {
                out.rms_dbfs = super::dsp::FLOOR_DB;
            }
            out.peak_dbfs = amplitude_to_db(f64::from(m.peak[c]));
            out.clipped = m.clipped[c];
            m.peak[c] = 0.0;
            m.clipped[c] = false;
        }
        frame.index = self.frame_index;
        frame.time_s = time_s;
        self.frame_index += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{BandLayout, Weighting};

    /// Band power from a naive f64 DFT of the same windowed block, with the same bin overlap
    /// and weighting rules written out independently.
    fn reference_band_power(
        block: &[f64],
        bin_hz: f64,
        lo: f64,
        hi: f64,
        weighting: crate::config::Weighting,
    ) -> f64 {
        let n = block.len();
        let window: Vec<f64> = (0..n)
            .map(|i| 0.5 - 0.5 * (std::f64::consts::TAU * i as f64 / n as f64).cos())
            .collect();
        let energy: f64 = window.iter().map(|w| w * w).sum();
        let mut total = 0.0;
        for k in 1..=n / 2 {
            let f = k as f64 * bin_hz;
            let overlap = ((hi.min(f + bin_hz / 2.0) - lo.max(f - bin_hz / 2.0)) / bin_hz).max(0.0);
            if overlap == 0.0 {
                continue;
            }
            let (mut re, mut im) = (0.0, 0.0);
            for (i, (&x, &w)) in block.iter().zip(&window).enumerate() {
                let ph = -std::f64::consts::TAU * (k * i) as f64 / n as f64;
                re += x * w * ph.cos();
                im += x * w * ph.sin();
            }
            total += overlap * weighting.power_gain(f) * (re * re + im * im);
        }
        total * 4.0 / (n as f64 * energy)
    }

    #[test]
    fn band_powers_match_a_naive_dft_of_the_same_block() {
        for (layout, weighting) in [
            (BandLayout::Log, Weighting::Z),
            (BandLayout::ThirdOctave, Weighting::A),
        ] {
            let settings = AnalysisSettings {
                bands: layout,
                weighting,
                ..Default::default()
            };
            let format = StreamFormat {
                sample_rate: 48_000,
                channels: 1,
            };
            let mut a = Analyzer::new(&settings, format).expect("analyzer");
            // A broadband, deterministic signal: noise, tones spread over the range, a chirp.
            let mut state = 0x2545_f491_4f6c_dd1du64;
            let signal: Vec<f32> = (0..48_000 * 3)
                .map(|i| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    let noise = 0.05 * ((state >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
                    let t = i as f64 / 48_000.0;
                    let tones: f64 = [23.0, 61.0, 180.0, 700.0, 2500.0, 9000.0]
                        .iter()
                        .map(|f| 0.1 * (std::f64::consts::TAU * f * t).sin())
                        .sum();
                    (noise
                        + tones
                        + 0.05 * (std::f64::consts::TAU * (30.0 * t + 400.0 * t * t)).sin())
                        as f32
                })
                .collect();
            let mut rest = &signal[..];
            while !rest.is_empty() {
                rest = &rest[a.feed(rest).consumed..];
            }
            // Recompute every level now, so raw_power describes the current histories.
            for li in 0..a.levels.len() {
                a.analyze_level(li);
            }
            for (li, level) in a.levels.iter().enumerate() {
                let n = level.window.len();
                let block: Vec<f64> = level.history[level.pos..level.pos + n]
                    .iter()
                    .map(|&x| f64::from(x))
                    .collect();
                let bin_hz = 48_000.0 / f64::from(1u32 << level.tap) / n as f64;
                for &b in &level.bands {
                    let e = a.plan.edges[b];
                    let want = reference_band_power(&block, bin_hz, e.lo_hz, e.hi_hz, weighting);
                    let got = a.raw_power[b];
                    let diff_db = 10.0 * (got / want).log10();
                    assert!(
                        diff_db.abs() < 0.1,
                        "level {li} band {b} ({:.1} Hz): {diff_db:.3} dB",
                        e.center_hz
                    );
                }
            }
        }
    }
}
