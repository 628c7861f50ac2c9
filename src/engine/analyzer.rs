//! The analyzer: interleaved samples in, frames out. Stateful, built once, allocation-free in
//! steady state.
//!
//! Runs on the engine thread (or a test's thread); never on the audio callback. Everything is
//! sized in [`Analyzer::new`]: `feed` and `write_frame` only read and write existing buffers.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use super::decimate::HalfBand;
use super::dsp::{amplitude_to_db, hann, power_to_db, window_energy};
use super::loudness::Loudness;
use super::plan::{BandInfo, Plan, plan};
use crate::config::{AnalysisSettings, BarsFrom, ConfigError, StreamFormat};
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

/// One level's recent samples, double-written: the newest `n` are always the contiguous slice
/// `history[pos..pos + n]`. `T` is `f32` for a signal alone, `Complex<f32>` for two signals
/// interleaved as `a + i b` (the complex transform's input, so that an analysis only windows
/// it: the pairing happens once per sample, not once per overlapping window).
#[derive(Debug)]
struct Ring<T> {
    history: Vec<T>,
    pos: usize,
}

impl<T: Copy + Default> Ring<T> {
    fn new(n: usize) -> Self {
        Ring {
            history: vec![T::default(); 2 * n],
            pos: 0,
        }
    }

    /// Appends `len` samples: `fill(dst, from)` writes samples `from..from + dst.len()`.
    #[inline(always)]
    fn push_with(&mut self, len: usize, fill: impl Fn(&mut [T], usize)) {
        let n = self.history.len() / 2;
        let mut done = 0;
        while done < len {
            let m = (len - done).min(n - self.pos);
            let (lo, hi) = self.history.split_at_mut(n);
            let dst = &mut lo[self.pos..self.pos + m];
            fill(dst, done);
            hi[self.pos..self.pos + m].copy_from_slice(dst);
            done += m;
            self.pos = (self.pos + m) % n;
        }
    }

    fn newest(&self) -> &[T] {
        let n = self.history.len() / 2;
        &self.history[self.pos..self.pos + n]
    }
}

/// One analysis level: its window, schedule and bands, a ring per pair of analysed signals
/// and one for a signal left over.
struct Level {
    tap: usize,
    window: Vec<f32>,
    interval: u64,
    offset: u64,
    /// Smoothing step per analysis (1 without smoothing).
    alpha: f64,
    bands: Vec<usize>,
    /// The bins its bands (and the corrections it gives) use, first and last, and one more
    /// each side (for the peaks).
    bins: (usize, usize),
    /// Width of a bin, Hz.
    bin_hz: f64,
    /// The edge corrections (indices) this level's spectrum gives to bands above it.
    feeds: Vec<usize>,
    pairs: Vec<Ring<Complex<f32>>>,
    single: Option<Ring<f32>>,
    /// Two signals at once: one complex transform of `a + i b`.
    complex: Arc<dyn Fft<f32>>,
    /// One signal alone.
    real: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for Level {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Level(tap {}, n {})", self.tap, self.window.len())
    }
}

/// The half-band cascade of one analysed signal. A stage runs only on hops where a level that
/// reads it or a deeper one analyses (the deep levels recompute every few hops): in between,
/// its input waits in `pending`, so the deep stages run a few times longer blocks instead of a
/// sliver every hop.
#[derive(Debug)]
struct Cascade {
    stages: Vec<HalfBand>,
    /// What each stage wrote on this hop (nothing when it did not run).
    out: Vec<Vec<f32>>,
    len: Vec<usize>,
    /// Input waiting for each stage.
    pending: Vec<Vec<f32>>,
    pending_len: Vec<usize>,
}

impl Cascade {
    /// A cascade of `stages` whose hops bring up to `max_hop` samples, for levels that may
    /// leave a stage unrun for up to `gap` hops.
    fn new(stages: Vec<HalfBand>, max_hop: usize, gap: usize) -> Self {
        let room = |k: usize| Self::room(max_hop, gap, k);
        Cascade {
            out: (0..stages.len())
                .map(|k| vec![0.0; room(k) / 2 + 2])
                .collect(),
            len: vec![0; stages.len()],
            pending: (0..stages.len()).map(|k| vec![0.0; room(k)]).collect(),
            pending_len: vec![0; stages.len()],
            stages,
        }
    }

    /// The most input stage `k` can have waiting.
    fn room(max_hop: usize, gap: usize, k: usize) -> usize {
        gap * ((max_hop >> k) + 2) + 8
    }

    /// Takes the hop's `input` and runs the first `depth` stages over everything waiting for
    /// them: stage k reads stage k-1's output.
    fn run(&mut self, input: &[f32], depth: usize) {
        self.len.iter_mut().for_each(|l| *l = 0);
        if self.stages.is_empty() {
            return;
        }
        let n = self.pending_len[0];
        self.pending[0][n..n + input.len()].copy_from_slice(input);
        self.pending_len[0] += input.len();
        for k in 0..depth.min(self.stages.len()) {
            let waiting = &self.pending[k][..self.pending_len[k]];
            self.len[k] = self.stages[k].process(waiting, &mut self.out[k]);
            self.pending_len[k] = 0;
            if k + 1 < self.stages.len() {
                let (n, m) = (self.pending_len[k + 1], self.len[k]);
                self.pending[k + 1][n..n + m].copy_from_slice(&self.out[k][..m]);
                self.pending_len[k + 1] += m;
            }
        }
    }

    /// Stage `k`'s output on this hop.
    fn output(&self, k: usize) -> &[f32] {
        &self.out[k][..self.len[k]]
    }
}

/// A band's lower edge, corrected from the spectrum of the longer window of the band below.
///
/// Each band's bins tile the frequency axis exactly, so neighbours on the same window split a
/// tone's power without loss; across a change of window they do not: the short window spreads
/// a tone over more hertz, so it takes part of a tone below its edge and misses part of one
/// above it. The band above adds, from the long window's bins near the edge, the difference
/// between a sharp edge (the long window's bins above it) and what its own short window takes
/// there (`HannKernel::above_edge`): for a steady tone it then reads as if the long window's
/// sharp edge bounded it, the two bands sum to the tone's level, the band below keeps its own
/// reading, and the skirt is the long window's. The correction follows the long window's
/// newest analysis; a band so corrected says so (`BandInfo::edge_window_ms`).
#[derive(Debug, Clone, Copy)]
struct Correction {
    from_level: usize,
    band: usize,
    first_bin: usize,
    start: usize,
    len: usize,
}

#[derive(Debug, Clone, Copy)]
struct BandWeights {
    first_bin: usize,
    start: usize,
    len: usize,
    /// The bins whose centres lie in the band, where its strongest component is looked for.
    inside: (usize, usize),
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

/// Per-channel meters over `block`, and its samples (after the gain) de-interleaved into
/// `planar` (channel `c` at `c * stride + at`); false if it met a NaN or infinity (only checked
/// when `SANITIZE` is false; with `SANITIZE` such samples count as 0).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn accumulate<const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    planar: &mut [f32],
    stride: usize,
    at: usize,
    gain: f32,
) -> bool {
    if !SANITIZE {
        m.save();
    }
    // Mono and stereo get their state in registers; other counts use the general loop.
    match m.channels {
        1 => accumulate_fixed::<1, SANITIZE>(m, block, planar, stride, at, gain),
        2 => accumulate_fixed::<2, SANITIZE>(m, block, planar, stride, at, gain),
        _ => accumulate_any::<SANITIZE>(m, block, planar, stride, at, gain),
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

#[inline(always)]
fn accumulate_fixed<const CH: usize, const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    planar: &mut [f32],
    stride: usize,
    at: usize,
    gain: f32,
) -> bool {
    let n = block.len() / CH;
    if !SANITIZE && n > 0 && quiet_block::<CH>(m, block, planar, stride, at, gain) {
        return m.hop_sumsq.iter().all(|s| s.is_finite());
    }
    for c in 0..CH {
        let out = &mut planar[c * stride + at..c * stride + at + n];
        let (mut peak, mut sumsq, mut run, mut clipped) =
            (m.peak[c], m.hop_sumsq[c], m.clip_run[c], m.clipped[c]);
        for (frame, o) in block.chunks_exact(CH).zip(out.iter_mut()) {
            *o = meter_sample::<SANITIZE>(
                frame[c],
                gain,
                &mut peak,
                &mut sumsq,
                &mut run,
                &mut clipped,
            );
        }
        (m.peak[c], m.hop_sumsq[c], m.clip_run[c], m.clipped[c]) = (peak, sumsq, run, clipped);
    }
    SANITIZE || m.hop_sumsq.iter().all(|s| s.is_finite())
}

/// The common case for a block: no sample reaches full scale, so no clip run can go on or
/// start, and the rest vectorises. The interleaved samples are read as they lie, sixteen at a
/// time (sample `i` is channel `i % CH`), in one pass for the peaks and one for the sums of
/// squares, then de-interleaved. Returns false, having written nothing, when some sample
/// reaches full scale.
#[inline(always)]
fn quiet_block<const CH: usize>(
    m: &mut Meters,
    block: &[f32],
    planar: &mut [f32],
    stride: usize,
    at: usize,
    gain: f32,
) -> bool {
    const W: usize = 16;
    let (chunks, rest) = block.as_chunks::<W>();
    // Magnitudes as bits, which order as the values do (an integer maximum vectorises); a NaN
    // orders above full scale, so it takes the careful path.
    let mut top = [0u32; W];
    for frames in chunks {
        for l in 0..W {
            top[l] = top[l].max(frames[l].to_bits() & 0x7fff_ffff);
        }
    }
    let mut tops = [0u32; CH];
    for (l, &t) in top.iter().enumerate() {
        tops[l % CH] = tops[l % CH].max(t);
    }
    for (i, x) in rest.iter().enumerate() {
        tops[i % CH] = tops[i % CH].max(x.to_bits() & 0x7fff_ffff);
    }
    if tops.iter().any(|&t| t >= CLIP_LEVEL.to_bits()) {
        return false;
    }
    let tops = tops.map(f32::from_bits);
    let mut sums = [0.0f32; W];
    for frames in chunks {
        for l in 0..W {
            let g = frames[l] * gain;
            sums[l] += g * g;
        }
    }
    let mut sumsq = [0.0f32; CH];
    for (l, &s) in sums.iter().enumerate() {
        sumsq[l % CH] += s;
    }
    for (i, &x) in rest.iter().enumerate() {
        let g = x * gain;
        sumsq[i % CH] += g * g;
    }
    let n = block.len() / CH;
    for c in 0..CH {
        let out = &mut planar[c * stride + at..c * stride + at + n];
        for (o, frame) in out.iter_mut().zip(block.chunks_exact(CH)) {
            *o = frame[c] * gain;
        }
        m.peak[c] = m.peak[c].max(tops[c] * gain);
        m.hop_sumsq[c] += sumsq[c];
        m.clip_run[c] = 0;
    }
    true
}

#[inline(always)]
fn accumulate_any<const SANITIZE: bool>(
    m: &mut Meters,
    block: &[f32],
    planar: &mut [f32],
    stride: usize,
    at: usize,
    gain: f32,
) -> bool {
    let ch = m.channels;
    let n = block.len() / ch;
    for c in 0..ch {
        let out = &mut planar[c * stride + at..c * stride + at + n];
        for (frame, o) in block.chunks_exact(ch).zip(out.iter_mut()) {
            *o = meter_sample::<SANITIZE>(
                frame[c],
                gain,
                &mut m.peak[c],
                &mut m.hop_sumsq[c],
                &mut m.clip_run[c],
                &mut m.clipped[c],
            );
        }
    }
    SANITIZE || m.hop_sumsq.iter().all(|s| s.is_finite())
}

/// What the bars of one frame are made of: every hop since the previous frame, each with the
/// newest analysis of every band.
#[derive(Debug)]
struct FrameSums {
    /// Sum over the frame's hops of each band's (smoothed) power.
    sum: Vec<f64>,
    /// The largest, for peak-hold.
    max: Vec<f64>,
    /// How many hops.
    count: Vec<u32>,
    /// The value a band shows when no analysis of it fell in a frame: its previous one.
    last: Vec<f64>,
}

impl FrameSums {
    fn new(n: usize) -> Self {
        FrameSums {
            sum: vec![0.0; n],
            max: vec![0.0; n],
            count: vec![0; n],
            last: vec![0.0; n],
        }
    }

    fn add(&mut self, b: usize, p: f64) {
        self.sum[b] += p;
        self.max[b] = self.max[b].max(p);
        self.count[b] += 1;
    }

    /// The frame's (mean, max) for band `b`, and a fresh start for the next frame.
    fn take(&mut self, b: usize) -> (f64, f64) {
        let out = if self.count[b] > 0 {
            let mean = self.sum[b] / f64::from(self.count[b]);
            self.last[b] = mean;
            (mean, self.max[b])
        } else {
            (self.last[b], self.last[b])
        };
        self.sum[b] = 0.0;
        self.max[b] = 0.0;
        self.count[b] = 0;
        out
    }
}

/// The power response of a periodic Hann window of `n` points to a tone `nu` bins from a bin,
/// normalised so that the responses of all `n` bins sum to one (Parseval).
#[derive(Debug)]
struct HannKernel {
    n: usize,
    norm: f64,
}

impl HannKernel {
    fn new(n: usize) -> Self {
        // sum |W|^2 over n bins = n * sum w^2 = n * 3n/8.
        HannKernel {
            n,
            norm: 1.0 / (n as f64 * 3.0 * n as f64 / 8.0),
        }
    }

    /// |W(nu)|^2, normalised. With `D(mu) = sum_t e^(-2 pi i mu t / n)`, whose magnitude is
    /// `s(mu) = sin(pi mu) / sin(pi mu / n)`, `W = D(nu) / 2 - D(nu - 1) / 4 - D(nu + 1) / 4`,
    /// and the three phases differ by `theta = pi (n - 1) / n`.
    fn at(&self, nu: f64) -> f64 {
        let n = self.n as f64;
        let s = |mu: f64| {
            let d = (std::f64::consts::PI * mu / n).sin();
            if d.abs() < 1e-12 {
                n
            } else {
                (std::f64::consts::PI * mu).sin() / d
            }
        };
        let (s0, sm, sp) = (s(nu), s(nu - 1.0), s(nu + 1.0));
        let theta = std::f64::consts::PI * (n - 1.0) / n;
        let re = 0.5 * s0 - 0.25 * theta.cos() * (sm + sp);
        let im = 0.25 * theta.sin() * (sm - sp);
        (re * re + im * im) * self.norm
    }

    /// Of a tone at `f` Hz, the fraction that bins of width `bin_hz` weighted by their overlap
    /// with `[edge, infinity)` take.
    fn above_edge(&self, f: f64, edge: f64, bin_hz: f64) -> f64 {
        let (c, e) = (f / bin_hz, edge / bin_hz);
        let first = (e - 0.5).floor().max(0.0) as i64;
        let last = (c + 8.0).ceil().max(first as f64) as i64;
        let near: f64 = (first..=last)
            .map(|m| {
                let overlap = (m as f64 + 0.5 - e).clamp(0.0, 1.0);
                overlap * self.at(c - m as f64)
            })
            .sum();
        // Beyond eight bins above the tone all bins count whole: their share is what the
        // bins up to there leave, halved (the kernel is symmetric).
        let central: f64 = ((c - 8.0).floor() as i64..=(c + 8.0).ceil() as i64)
            .map(|m| self.at(c - m as f64))
            .sum();
        let tail = (1.0 - central).max(0.0) / 2.0;
        (near + tail).clamp(0.0, 1.0)
    }
}

/// A band's strongest component in its newest analysis: the largest bin and its larger
/// neighbour, interpolated only when a frame asks ([`Peak::hz`]).
#[derive(Debug, Clone, Copy, Default)]
struct Peak {
    bin: u32,
    /// +1 or -1: the side of the larger neighbour (0 for silence).
    towards: f32,
    /// The neighbour's power over the largest bin's.
    ratio: f32,
    bin_hz: f32,
}

impl Peak {
    /// For a Hann window the ratio `a` of the two bins' magnitudes gives the offset exactly:
    /// `(2a - 1) / (a + 1)` bins towards the neighbour (Grandke 1983). 0 for silence.
    fn hz(self) -> f64 {
        if self.towards == 0.0 {
            return 0.0;
        }
        let a = f64::from(self.ratio).sqrt();
        let offset = ((2.0 * a - 1.0) / (a + 1.0)).clamp(0.0, 1.0);
        (f64::from(self.bin) + f64::from(self.towards) * offset) * f64::from(self.bin_hz)
    }
}

/// Where in bins the strongest component of `power[first..first + len]` lies: the largest bin
/// and its larger neighbour (within `bins`, the range `power` holds).
fn peak_bin(power: &[f32], first: usize, len: usize, (lo, hi): (usize, usize)) -> Peak {
    let band = &power[first..first + len];
    // Powers are finite and not negative, so their bits order as the values do: an integer
    // maximum (which vectorises), then its first position.
    let top_bits = band.iter().map(|p| p.to_bits()).max().unwrap_or(0);
    let top = f32::from_bits(top_bits);
    if top <= 0.0 || !top.is_finite() {
        return Peak::default();
    }
    let Some(j) = band.iter().position(|p| p.to_bits() == top_bits) else {
        return Peak::default();
    };
    let k = first + j;
    let left = if k > lo { power[k - 1] } else { 0.0 };
    let right = if k < hi { power[k + 1] } else { 0.0 };
    let (side, towards) = if right >= left {
        (right, 1.0)
    } else {
        (left, -1.0)
    };
    Peak {
        bin: k as u32,
        towards,
        ratio: side / top,
        bin_hz: 0.0,
    }
}

/// With more than two analysed signals, sums each pair's (or the last single's) power per bin
/// into `total` (signal `s` first in its group; the first group starts it), for the peaks.
fn gather_peaks(
    fold: &[f32],
    total: &mut [f32],
    (lo, hi): (usize, usize),
    s: usize,
    signals: usize,
) {
    if signals <= 2 {
        return;
    }
    let (fold, total) = (&fold[lo..=hi], &mut total[lo..=hi]);
    if s == 0 {
        total.copy_from_slice(fold);
    } else {
        for (t, &f) in total.iter_mut().zip(fold) {
            *t += f;
        }
    }
}

// The loops below run on every sample or bin: compiled for AVX2 too, chosen at run time.

/// `dst = x * w`, a window applied to two signals' samples `a + i b`.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn window_pair(dst: &mut [Complex<f32>], x: &[Complex<f32>], w: &[f32]) {
    for ((z, &x), &w) in dst.iter_mut().zip(x).zip(w) {
        *z = x * w;
    }
}

/// `dst = x * w`, a window applied to one signal's samples.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn window_real(dst: &mut [f32], x: &[f32], w: &[f32]) {
    for ((d, &x), &w) in dst.iter_mut().zip(x).zip(w) {
        *d = x * w;
    }
}

/// Two signals' samples as `a + i b`.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn interleave(dst: &mut [Complex<f32>], a: &[f32], b: &[f32]) {
    for ((z, &a), &b) in dst.iter_mut().zip(a).zip(b) {
        *z = Complex::new(a, b);
    }
}

/// A pair's power per bin, `|Z[k]|^2 + |Z[n-k]|^2`, from bins `z` and their mirrors (`mirror`
/// in ascending order, so read backwards).
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn fold_pair(fold: &mut [f32], z: &[Complex<f32>], mirror: &[Complex<f32>]) {
    for ((f, zk), zm) in fold.iter_mut().zip(z).zip(mirror.iter().rev()) {
        *f = zk.norm_sqr() + zm.norm_sqr();
    }
}

/// Four times the weighted powers of the two signals of a complex transform `z` of `a + i b`
/// over `w.len()` bins from `first`: `2 A[k] = Z[k] + conj Z[n-k]`, `2i B[k] = Z[k] - conj Z[n-k]`.
fn split_powers(w: &[f32], z: &[Complex<f32>], first: usize) -> (f32, f32) {
    let n = z.len();
    let bins = &z[first..first + w.len()];
    // The mirror bins n - k, in the same order.
    let mirror = &z[n + 1 - first - w.len()..=n - first];
    let (mut pa, mut pb) = (0.0f32, 0.0f32);
    for ((&w, &zk), &zm) in w.iter().zip(bins).zip(mirror.iter().rev()) {
        let zc = zm.conj();
        pa += w * (zk + zc).norm_sqr();
        pb += w * (zk - zc).norm_sqr();
    }
    (pa, pb)
}

/// `sum(w * f)`, in eight partial sums so that it vectorises.
#[multiversion::multiversion(targets("x86_64+avx2"))]
fn dot(w: &[f32], f: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (wc, fc) = (w.chunks_exact(8), f.chunks_exact(8));
    let tail: f32 = wc
        .remainder()
        .iter()
        .zip(fc.remainder())
        .map(|(w, f)| w * f)
        .sum();
    for (w, f) in wc.zip(fc) {
        for l in 0..8 {
            acc[l] += w[l] * f[l];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The stateful spectrum analyzer.
#[derive(Debug)]
pub struct Analyzer {
    plan: Plan,
    /// The loudness meter, fed the input before the analysis gain (`None` without loudness).
    loudness: Option<Loudness>,
    /// A block with its non-finite samples zeroed, for the loudness meter (rare).
    sanitized: Vec<f32>,
    /// Per channel, the true peak to publish.
    true_peaks: Vec<Option<f64>>,
    fs: f64,
    channels: usize,
    /// Analysis gain (linear); 1.0 unless set.
    gain: f32,
    // Schedule.
    hop_period: f64,
    hop_index: u64,
    samples_in: u64,
    next_hop_at: u64,
    /// The current hop's samples, de-interleaved: channel `c` at `c * stride`.
    planar: Vec<f32>,
    stride: usize,
    hop_len: usize,
    /// The mid or side mix of the current hop, when the bars measure one.
    mix: Vec<f32>,
    /// Signals analysed: every channel (mean, each) or one.
    signals: usize,
    cascades: Vec<Cascade>,
    levels: Vec<Level>,
    /// Working buffers for the transforms, sized for the longest.
    zbuf: Vec<Complex<f32>>,
    rin: Vec<f32>,
    rout: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Power per bin (a pair's two spectra summed) over the bins an analysis uses.
    fold: Vec<f32>,
    /// With more than two signals: every signal's power per bin, for the peaks.
    peak_fold: Vec<f32>,
    weights: Vec<f32>,
    band_weights: Vec<BandWeights>,
    corrections: Vec<Correction>,
    corr_weights: Vec<f32>,
    /// Per signal and band: the newest edge correction, linear power.
    corr: Vec<f64>,
    /// Newest band power per signal (`signals` rows of `bars`), before smoothing.
    raw_power: Vec<f64>,
    /// Newest band power of the bars (the signals' mean), before smoothing: the SPL meter's.
    unsmoothed: Vec<f64>,
    /// Calibrated: the SPL meter, time-weighted hop by hop from when every band's window
    /// holds only signal (samples in).
    spl: Option<crate::calibration::SplMeter>,
    spl_from: u64,
    /// Smoothed band power of the bars, and per signal for traces.
    smoothed: Vec<f64>,
    trace_smoothed: Vec<f64>,
    sums: FrameSums,
    trace_sums: FrameSums,
    /// Per band: samples in after which its window holds only signal.
    settle_at: Vec<u64>,
    /// With the infinite average: each band's analyses averaged since the start or reset.
    averaged: Vec<u64>,
    /// Per band: the strongest component of its newest analysis.
    peaks: Vec<Peak>,
    traces: bool,
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
        Self::with_plan(plan(settings, format)?)
    }

    /// An analyzer for a plan made by `plan::plan_with`.
    pub fn with_plan(plan: Plan) -> Result<Self, ConfigError> {
        let settings = &plan.settings.clone();
        let format = plan.format;
        let fs = f64::from(format.sample_rate);
        let channels = format.channels;
        let bars_from = plan.settings.bars_from;
        let signals = if bars_from.per_channel() { channels } else { 1 };
        let hop_period = plan.frame_period / plan.hops_per_frame as f64;
        let max_hop = hop_period.ceil() as usize + 1;

        let gap = plan.levels.iter().map(|l| l.interval).max().unwrap_or(1) as usize;
        let cascades: Vec<Cascade> = (0..signals)
            .map(|_| {
                let stages: Vec<HalfBand> = plan
                    .stage_protect
                    .iter()
                    .enumerate()
                    .map(|(k, &protect)| HalfBand::new(protect, Cascade::room(max_hop, gap, k)))
                    .collect();
                Cascade::new(stages, max_hop, gap)
            })
            .collect();

        let mut real_planner = RealFftPlanner::<f32>::new();
        let mut planner = FftPlanner::<f32>::new();
        let mut levels = Vec::new();
        let mut weights = Vec::new();
        let mut corrections: Vec<Correction> = Vec::new();
        let mut corr_weights: Vec<f32> = Vec::new();
        let mut band_weights = vec![
            BandWeights {
                first_bin: 0,
                start: 0,
                len: 0,
                inside: (0, 0),
            };
            plan.bands.len()
        ];
        let weighting = plan.settings.weighting;
        let mic = plan.settings.mic.clone();
        // Per bin: the bars' weighting, with the microphone's response taken out.
        let gain =
            |f: f64| weighting.power_gain(f) * mic.as_ref().map_or(1.0, |m| m.correction_power(f));
        let hop_s = hop_period / fs;
        let tau_s = plan.settings.smoothing.tau_ms() / 1000.0;
        // Each band's analysis: (FFT length, bin width in Hz).
        let analysis_of = |b: usize| {
            plan.levels
                .iter()
                .find(|l| l.bands.contains(&b))
                .map(|l| (l.fft_len, fs / f64::from(1u32 << l.tap) / l.fft_len as f64))
                .expect("every band has a level")
        };
        for (i, lp) in plan.levels.iter().enumerate() {
            let n = lp.fft_len;
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
                    weights.push((overlap * gain(f) * norm) as f32);
                }
                let last = k_lo + (weights.len() - start) - 1;
                let centre = ((e.center_hz / bin_hz).round() as usize).clamp(k_lo, last);
                let from = ((e.lo_hz / bin_hz).ceil() as usize).clamp(k_lo, last);
                let to = ((e.hi_hz / bin_hz).floor() as usize).clamp(k_lo, last);
                band_weights[b] = BandWeights {
                    first_bin: k_lo,
                    start,
                    len: weights.len() - start,
                    inside: if from <= to {
                        (from, to)
                    } else {
                        (centre, centre)
                    },
                };
                // Where the band above has a shorter window, its lower edge is corrected from
                // this level's spectrum (see `Correction`).
                if let Some((above_n, above_hz)) = (b + 1 < plan.edges.len())
                    .then(|| analysis_of(b + 1))
                    .filter(|&(_, above_hz)| above_hz > bin_hz * 1.0001)
                {
                    let kernel = HannKernel::new(above_n);
                    let reach = 4.0 * above_hz;
                    let c_lo = (((e.hi_hz - reach) / bin_hz).floor() as usize).max(1);
                    let c_hi = (((e.hi_hz + reach) / bin_hz).ceil() as usize).min(n / 2);
                    let start = corr_weights.len();
                    for k in c_lo..=c_hi {
                        let f = k as f64 * bin_hz;
                        let above = ((f + bin_hz / 2.0 - e.hi_hz) / bin_hz).clamp(0.0, 1.0);
                        // The long window smooths what it is given by its own kernel, whose
                        // variance is a third of a bin squared: given g - g''/6, it gives g.
                        let g = |f: f64| kernel.above_edge(f, e.hi_hz, above_hz);
                        let curve = g(f + bin_hz) + g(f - bin_hz) - 2.0 * g(f);
                        let c = above - (g(f) - curve / 6.0);
                        corr_weights.push((c * gain(f) * norm) as f32);
                    }
                    corrections.push(Correction {
                        from_level: i,
                        band: b + 1,
                        first_bin: c_lo,
                        start,
                        len: corr_weights.len() - start,
                    });
                }
            }
            let alpha = if tau_s > 0.0 {
                1.0 - (-(lp.interval as f64 * hop_s) / tau_s).exp()
            } else {
                1.0
            };
            levels.push(Level {
                tap: lp.tap,
                pairs: (0..signals / 2).map(|_| Ring::new(n)).collect(),
                single: (signals % 2 == 1).then(|| Ring::new(n)),
                window,
                interval: lp.interval,
                offset: i as u64 % lp.interval,
                alpha,
                bands: lp.bands.clone(),
                bins: lp
                    .bands
                    .iter()
                    .map(|&b| band_weights[b])
                    .map(|w| (w.first_bin, w.len))
                    .chain(
                        corrections
                            .iter()
                            .filter(|c| c.from_level == i)
                            .map(|c| (c.first_bin, c.len)),
                    )
                    .fold((n / 2, 1), |(lo, hi), (first, len)| {
                        (
                            lo.min(first.saturating_sub(1).max(1)),
                            hi.max((first + len).min(n / 2)),
                        )
                    }),
                bin_hz,
                feeds: corrections
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.from_level == i)
                    .map(|(j, _)| j)
                    .collect(),
                complex: planner.plan_fft_forward(n),
                real: real_planner.plan_fft_forward(n),
            });
        }
        let longest = plan.levels.iter().map(|l| l.fft_len).max().unwrap_or(0);
        let scratch_len = levels
            .iter()
            .map(|l| {
                l.complex
                    .get_inplace_scratch_len()
                    .max(l.real.get_scratch_len())
            })
            .max()
            .unwrap_or(0);

        let rms_hops =
            ((crate::config::DEFAULT_RMS_WINDOW_MS / 1000.0 / hop_s).round() as usize).max(1);
        let bars = plan.bands.len();
        let s = &plan.settings;
        let hold_s = s.peak_hold_ms / 1000.0;
        let fall_db_per_s = s.peak_fall_db_per_s;
        let traces = bars_from == BarsFrom::Each && channels > 1;
        let trace_rows = if traces { signals } else { 0 };
        let loudness = if settings.loudness {
            Some(
                Loudness::new(format, settings.dual_mono)
                    .map_err(|e| ConfigError::Loudness(e.to_string()))?,
            )
        } else {
            None
        };
        Ok(Analyzer {
            loudness,
            sanitized: Vec::with_capacity((hop_period.ceil() as usize + 1) * channels),
            true_peaks: vec![None; channels],
            fs,
            channels,
            gain: 1.0,
            hop_period,
            hop_index: 0,
            samples_in: 0,
            next_hop_at: hop_period.round() as u64,
            planar: vec![0.0; max_hop * channels],
            stride: max_hop,
            hop_len: 0,
            mix: if signals == 1 && channels > 1 && !matches!(bars_from, BarsFrom::Channel(_)) {
                vec![0.0; max_hop]
            } else {
                Vec::new()
            },
            signals,
            cascades,
            levels,
            zbuf: vec![Complex::default(); longest],
            rin: vec![0.0; longest],
            rout: vec![Complex::default(); longest / 2 + 1],
            scratch: vec![Complex::default(); scratch_len],
            fold: vec![0.0; longest / 2 + 1],
            peak_fold: vec![0.0; if signals > 2 { longest / 2 + 1 } else { 0 }],
            weights,
            band_weights,
            corr: vec![0.0; bars * signals],
            corrections,
            corr_weights,
            raw_power: vec![0.0; bars * signals],
            unsmoothed: vec![0.0; bars],
            spl_from: plan
                .bands
                .iter()
                .map(|b| (b.settled_s * fs).ceil() as u64)
                .max()
                .unwrap_or(0),
            spl: s.spl_offset_db.map(|_| {
                crate::calibration::SplMeter::new(
                    s.spl_weighting,
                    s.weighting,
                    plan.bands.iter().map(|b| (b.lo_hz, b.hi_hz)),
                )
            }),
            smoothed: vec![0.0; bars],
            trace_smoothed: vec![0.0; bars * trace_rows],
            sums: FrameSums::new(bars),
            averaged: vec![0; bars],
            settle_at: plan
                .bands
                .iter()
                .map(|b| (b.settled_s * fs).ceil() as u64)
                .collect(),
            peaks: vec![Peak::default(); bars],
            trace_sums: FrameSums::new(bars * trace_rows),
            traces,
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

    /// Every transform the analyzer runs: (length, runs per second of audio, complex). Two
    /// analysed signals share one complex transform; a signal left over has a real one.
    pub fn transforms(&self) -> Vec<(usize, f64, bool)> {
        let hops_per_s = 1.0 / self.plan.hop_s();
        let (pairs, single) = (self.signals / 2, self.signals % 2);
        self.plan
            .levels
            .iter()
            .flat_map(|l| {
                let per_s = hops_per_s / l.interval as f64;
                std::iter::repeat_n((l.fft_len, per_s, true), pairs)
                    .chain(std::iter::repeat_n((l.fft_len, per_s, false), single))
            })
            .collect()
    }

    /// Traces per frame besides the bars: one per channel with `--bars-from each`, else none.
    pub fn trace_count(&self) -> usize {
        if self.traces { self.signals } else { 0 }
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
        let mut f = Frame::new(self.plan.bands.len(), self.channels);
        f.traces_db = vec![super::dsp::FLOOR_DB; self.plan.bands.len() * self.trace_count()];
        f
    }

    /// The loudness meter, unless loudness is off.
    pub fn loudness(&self) -> Option<&Loudness> {
        self.loudness.as_ref()
    }

    /// Takes over `old`'s loudness measurement (a settings change makes a new analyzer; the
    /// measurement goes on through it), when both measure loudness the same way.
    pub fn continue_loudness(&mut self, old: &mut Analyzer) {
        let same = self.settings().dual_mono == old.settings().dual_mono
            && self.fs == old.fs
            && self.channels == old.channels;
        if same && let (Some(new), Some(old)) = (&mut self.loudness, &mut old.loudness) {
            std::mem::swap(new, old);
        }
    }

    /// Starts the infinite average and the max-hold again (the bars' and the markers').
    pub fn reset_averages(&mut self) {
        self.averaged.fill(0);
        self.hold_db.fill(super::dsp::FLOOR_DB);
        self.hold_age_s.fill(0.0);
        // The SPL meter's Leq and Lmax run from the same moment.
        if let Some(spl) = &mut self.spl {
            spl.reset();
        }
    }

    /// Starts loudness over (integrated, range and every maximum).
    pub fn reset_loudness(&mut self) {
        if let Some(l) = &mut self.loudness {
            l.reset();
        }
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
        let (stride, at) = (self.stride, self.hop_len);
        if !accumulate::<false>(
            &mut self.meters,
            block,
            &mut self.planar,
            stride,
            at,
            self.gain,
        ) {
            // NOTE: a NaN or infinity would poison every smoothed bar for good. Rare, so the
            // block is redone with a sanitising pass instead of checking every sample.
            if let Some(l) = &mut self.loudness {
                // The loudness meter gets the block with them zeroed.
                self.sanitized.clear();
                self.sanitized
                    .extend(block.iter().map(|&x| if x.is_finite() { x } else { 0.0 }));
                l.feed(&self.sanitized);
            }
            self.meters.restore();
            accumulate::<true>(
                &mut self.meters,
                block,
                &mut self.planar,
                stride,
                at,
                self.gain,
            );
        } else if let Some(l) = &mut self.loudness {
            l.feed(block);
        }
        self.hop_len += take;
        self.meters.hop_samples += take as u64;
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

    #[inline(never)]
    fn end_hop(&mut self) -> bool {
        let n = self.hop_len;
        if !self.mix.is_empty() {
            let (stride, planar) = (self.stride, &self.planar);
            match self.plan.settings.bars_from {
                BarsFrom::Side => {
                    let (l, r) = (&planar[..n], &planar[stride..stride + n]);
                    for ((m, &l), &r) in self.mix.iter_mut().zip(l).zip(r) {
                        *m = 0.5 * (l - r);
                    }
                }
                _ => {
                    let inv = 1.0 / self.channels as f32;
                    self.mix[..n].copy_from_slice(&planar[..n]);
                    for c in 1..self.channels {
                        let x = &planar[c * stride..c * stride + n];
                        for (m, &x) in self.mix.iter_mut().zip(x) {
                            *m += x;
                        }
                    }
                    self.mix[..n].iter_mut().for_each(|m| *m *= inv);
                }
            }
        }
        let pick = match self.plan.settings.bars_from {
            BarsFrom::Channel(c) => Some(c),
            _ => None,
        };
        let hop_index = self.hop_index;
        let due = |l: &Level| (hop_index + l.offset).is_multiple_of(l.interval);
        // The stages this hop's analyses need.
        let depth = self
            .levels
            .iter()
            .filter(|l| due(l))
            .map(|l| l.tap)
            .max()
            .unwrap_or(0);
        let Analyzer {
            planar,
            mix,
            cascades,
            levels,
            stride,
            signals,
            ..
        } = self;
        let input = |s: usize| -> &[f32] {
            if mix.is_empty() {
                let c = pick.unwrap_or(s);
                &planar[c * *stride..c * *stride + n]
            } else {
                &mix[..n]
            }
        };
        for (s, cascade) in cascades.iter_mut().enumerate() {
            cascade.run(input(s), depth);
        }
        for level in levels.iter_mut() {
            let tap = level.tap;
            let x = |s: usize| -> &[f32] {
                if tap == 0 {
                    input(s)
                } else {
                    cascades[s].output(tap - 1)
                }
            };
            for (p, ring) in level.pairs.iter_mut().enumerate() {
                let (a, b) = (x(2 * p), x(2 * p + 1));
                ring.push_with(a.len().min(b.len()), |dst, from| {
                    let (a, b) = (&a[from..from + dst.len()], &b[from..from + dst.len()]);
                    interleave(dst, a, b);
                });
            }
            if let Some(ring) = &mut level.single {
                let a = x(*signals - 1);
                ring.push_with(a.len(), |dst, from| {
                    dst.copy_from_slice(&a[from..from + dst.len()]);
                });
            }
        }
        // The hop that ends the current frame: a level's strongest components are looked for
        // only in its last analysis before it (the frame shows no other).
        let hpf = self.plan.hops_per_frame;
        let frame_end = self.hop_index + (hpf - 1 - self.hop_index % hpf);
        for li in 0..self.levels.len() {
            let level = &self.levels[li];
            if (self.hop_index + level.offset).is_multiple_of(level.interval) {
                let peaks = self.hop_index + level.interval > frame_end;
                self.analyze_level(li, peaks);
            }
        }
        // Every hop adds each band's current value to the frame: an analysis counts for as
        // many hops as it stands for (its level's update interval), however the frames fall.
        for (b, &p) in self.smoothed.iter().enumerate() {
            self.sums.add(b, p);
        }
        // From when every band's window holds only signal (before, the low bands read low and
        // the meter would start on too little).
        if let Some(spl) = &mut self.spl
            && self.samples_in >= self.spl_from
        {
            spl.feed_powers(&self.unsmoothed, self.plan.hop_s());
        }
        for (i, &p) in self.trace_smoothed.iter().enumerate() {
            self.trace_sums.add(i, p);
        }
        self.hop_len = 0;

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

    /// Transforms level `li`'s newest window of every signal and sets its bands' powers: two
    /// signals share one complex transform of `a + i b`, whose bins give both spectra
    /// (`A[k] = (Z[k] + conj Z[n-k]) / 2`, `B[k] = (Z[k] - conj Z[n-k]) / 2i`).
    #[inline(never)]
    fn analyze_level(&mut self, li: usize, peaks: bool) {
        let level = &self.levels[li];
        let n = level.window.len();
        let bars = self.smoothed.len();
        let mut s = 0;
        while s < self.signals {
            if s + 1 < self.signals {
                let z = &mut self.zbuf[..n];
                window_pair(z, level.pairs[s / 2].newest(), &level.window);
                let need = level.complex.get_inplace_scratch_len();
                level
                    .complex
                    .process_with_scratch(z, &mut self.scratch[..need]);
                let z = &*z;
                // The pair's power per bin: |A|^2 + |B|^2 = (|Z[k]|^2 + |Z[n-k]|^2) / 2,
                // folded once over the bins the bands use (for the sums and the peaks).
                let (lo, hi) = level.bins;
                fold_pair(&mut self.fold[lo..=hi], &z[lo..=hi], &z[n - hi..=n - lo]);
                if peaks {
                    gather_peaks(&self.fold, &mut self.peak_fold, level.bins, s, self.signals);
                }
                for &j in &level.feeds {
                    let c = self.corrections[j];
                    let w = &self.corr_weights[c.start..c.start + c.len];
                    if self.traces {
                        let (pa, pb) = split_powers(w, z, c.first_bin);
                        self.corr[s * bars + c.band] = f64::from(pa) * 0.25;
                        self.corr[(s + 1) * bars + c.band] = f64::from(pb) * 0.25;
                    } else {
                        let p = dot(w, &self.fold[c.first_bin..c.first_bin + c.len]);
                        self.corr[s * bars + c.band] = f64::from(p) * 0.5;
                        self.corr[(s + 1) * bars + c.band] = 0.0;
                    }
                }
                if !self.traces {
                    // Only the pair's sum counts: dot products.
                    for &band in &level.bands {
                        let bw = self.band_weights[band];
                        let w = &self.weights[bw.start..bw.start + bw.len];
                        let f = &self.fold[bw.first_bin..bw.first_bin + bw.len];
                        let p = dot(w, f);
                        self.raw_power[s * bars + band] = f64::from(p) * 0.5;
                        self.raw_power[(s + 1) * bars + band] = 0.0;
                    }
                    s += 2;
                    continue;
                }
                for &band in &level.bands {
                    let bw = self.band_weights[band];
                    let w = &self.weights[bw.start..bw.start + bw.len];
                    let (pa, pb) = split_powers(w, z, bw.first_bin);
                    self.raw_power[s * bars + band] = f64::from(pa) * 0.25;
                    self.raw_power[(s + 1) * bars + band] = f64::from(pb) * 0.25;
                }
                s += 2;
            } else {
                let Some(ring) = &level.single else {
                    break;
                };
                let x = ring.newest();
                let input = &mut self.rin[..n];
                window_real(input, x, &level.window);
                let output = &mut self.rout[..n / 2 + 1];
                let need = level.real.get_scratch_len();
                // Lengths match by construction, so this cannot fail.
                let _ = level
                    .real
                    .process_with_scratch(input, output, &mut self.scratch[..need]);
                let (lo, hi) = level.bins;
                for (f, x) in self.fold[lo..=hi].iter_mut().zip(&output[lo..=hi]) {
                    *f = x.norm_sqr();
                }
                if peaks {
                    gather_peaks(&self.fold, &mut self.peak_fold, level.bins, s, self.signals);
                }
                for &j in &level.feeds {
                    let c = self.corrections[j];
                    let w = &self.corr_weights[c.start..c.start + c.len];
                    let p = dot(w, &self.fold[c.first_bin..c.first_bin + c.len]);
                    self.corr[s * bars + c.band] = f64::from(p);
                }
                for &band in &level.bands {
                    let bw = self.band_weights[band];
                    let w = &self.weights[bw.start..bw.start + bw.len];
                    let p = dot(w, &self.fold[bw.first_bin..bw.first_bin + bw.len]);
                    self.raw_power[s * bars + band] = f64::from(p);
                }
                s += 1;
            }
        }
        // Of every signal at once: the power of all channels per bin (for one or two signals,
        // the fold itself), kept inside the band.
        let power = if self.signals > 2 {
            &self.peak_fold
        } else {
            &self.fold
        };
        for &band in level.bands.iter().filter(|_| peaks) {
            let (from, to) = self.band_weights[band].inside;
            self.peaks[band] = Peak {
                bin_hz: level.bin_hz as f32,
                ..peak_bin(power, from, to + 1 - from, level.bins)
            };
        }
        // Lower edges corrected from a longer window's newest spectrum (zero elsewhere); a
        // transient the two windows see differently must not make a power negative.
        for &band in &level.bands {
            for s in 0..self.signals {
                let i = s * bars + band;
                self.raw_power[i] = (self.raw_power[i] + self.corr[i]).max(0.0);
            }
        }
        let infinite = self.plan.settings.smoothing == crate::config::Smoothing::Infinite;
        let inv = 1.0 / self.signals as f64;
        for &band in &level.bands {
            let p = (0..self.signals)
                .map(|s| self.raw_power[s * bars + band])
                .sum::<f64>()
                * inv;
            // The infinite average counts a band's analyses from when its window holds only
            // signal; before, the band shows its newest analysis.
            let alpha = if !infinite {
                level.alpha
            } else if self.samples_in >= self.settle_at[band] {
                self.averaged[band] += 1;
                1.0 / self.averaged[band] as f64
            } else {
                1.0
            };
            self.unsmoothed[band] = p;
            let sm = &mut self.smoothed[band];
            *sm += alpha * (p - *sm);
            if self.traces {
                for s in 0..self.signals {
                    let i = s * bars + band;
                    let t = &mut self.trace_smoothed[i];
                    *t += alpha * (self.raw_power[i] - *t);
                }
            }
        }
    }

    /// Fills `frame` with the bars, peak-hold markers and meters since the previous frame, and
    /// starts the next frame's. A bar is its band's power averaged over the frame's hops, each
    /// analysis standing for the hops until the next one of its level (so every analysis
    /// counts, for the time it covers); a marker follows the largest. A frame from [`Analyzer::new_frame`] is written without allocating; any other
    /// is resized first (once, e.g. after a settings change).
    pub fn write_frame(&mut self, frame: &mut Frame) {
        // A frame from before a settings change: size it once (allocates only then).
        let bars = self.smoothed.len();
        if frame.bars_db.len() != bars || frame.peak_hold_db.len() != bars {
            frame.bars_db.resize(bars, super::dsp::FLOOR_DB);
            frame.peak_hold_db.resize(bars, super::dsp::FLOOR_DB);
        }
        let traces = bars * self.trace_count();
        if frame.traces_db.len() != traces {
            frame.traces_db.resize(traces, super::dsp::FLOOR_DB);
        }
        if frame.settled.len() != bars || frame.peak_hz.len() != bars {
            frame.settled.resize(bars, false);
            frame.peak_hz.resize(bars, 0.0);
        }
        for (s, &at) in frame.settled.iter_mut().zip(&self.settle_at) {
            *s = self.samples_in >= at;
        }
        for ((hz, peak), e) in frame
            .peak_hz
            .iter_mut()
            .zip(&self.peaks)
            .zip(&self.plan.edges)
        {
            let f = peak.hz();
            *hz = if f > 0.0 {
                f.clamp(e.lo_hz, e.hi_hz) as f32
            } else {
                0.0
            };
        }
        if frame.channels.len() != self.channels {
            frame.channels.resize(self.channels, Default::default());
        }
        let time_s = self.samples_in as f64 / self.fs;
        let dt = time_s - self.last_frame_time_s;
        self.last_frame_time_s = time_s;
        // Calibrated, the bars read dB SPL; the holds are kept in dBFS.
        let offset = self.plan.settings.spl_offset_db.unwrap_or(0.0) as f32;
        frame.spl = self
            .spl
            .as_ref()
            .filter(|m| m.started())
            .map(|m| crate::calibration::SplMeter::offset_by(m.reading(), f64::from(offset)));
        for b in 0..bars {
            let (mean, top) = self.sums.take(b);
            let db = power_to_db(mean);
            let top_db = power_to_db(top);
            frame.bars_db[b] = db + offset;
            let hold = &mut self.hold_db[b];
            let age = &mut self.hold_age_s[b];
            if top_db >= *hold {
                *hold = top_db;
                *age = 0.0;
            } else if self.plan.settings.max_hold {
                // Max-hold: held until a reset.
            } else {
                let falling_s = (*age + dt - age.max(self.hold_s)).max(0.0);
                *age += dt;
                *hold = (*hold - (self.fall_db_per_s * falling_s) as f32).max(top_db);
            }
            frame.peak_hold_db[b] = *hold + offset;
        }
        for (i, out) in frame.traces_db.iter_mut().enumerate() {
            *out = power_to_db(self.trace_sums.take(i).0) + offset;
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
        match &self.loudness {
            Some(l) => {
                frame.loudness = Some(l.read(&mut self.true_peaks));
                for (out, &tp) in frame.channels.iter_mut().zip(&self.true_peaks) {
                    out.true_peak_dbtp = tp;
                }
            }
            None => frame.loudness = None,
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
            // Recompute every level now, so raw_power describes the current histories, without
            // the edge corrections (this compares each band's own bins).
            a.corr_weights.iter_mut().for_each(|w| *w = 0.0);
            a.corr.iter_mut().for_each(|c| *c = 0.0);
            for li in 0..a.levels.len() {
                a.analyze_level(li, true);
            }
            for (li, level) in a.levels.iter().enumerate() {
                let n = level.window.len();
                let block: Vec<f64> = level
                    .single
                    .as_ref()
                    .expect("mono: one signal")
                    .newest()
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
