//! True peak (ITU-R BS.1770-5 Annex 2): each channel oversampled 4x (2x from 96 kHz, not at
//! all from 192 kHz) by a polyphase FIR, the largest magnitude of the oversampled signal and
//! the samples themselves.
//!
//! The interpolator is the `ebur128` crate's (and libebur128's): 48 taps, a Hann-windowed sinc,
//! 12 taps a phase at 4x. The crate runs it a frame at a time with the channels interleaved
//! (44 % of `spektr loudness`'s time by `perf`); here each channel's block is laid out
//! contiguously and eight outputs of a phase are computed at once, compiled for AVX2 with FMA
//! too and chosen at run time; the phase that falls on the samples is the samples, so it is not
//! computed (a quarter of the work at 4x, half at 2x). The values are the crate's to float rounding
//! (`tests/integration/loudness.rs` compares them).
//!
//! Sized in [`TruePeak::new`]; [`TruePeak::feed`] never allocates.

/// Taps of the interpolator, over all its phases.
const TAPS: usize = 48;
/// Outputs computed together: two AVX2 registers (or one AVX-512 register) per phase, so
/// that enough independent sums are in flight to hide the multiply-adds' latency (with 8, a
/// phase's 12 taps made one chain of 12 dependent operations, and the scan waited on it).
const LANES: usize = 16;
/// Frames a channel's line takes at once.
const BLOCK: usize = 1024;

/// The true-peak meter of one stream.
#[derive(Debug, Clone)]
pub struct TruePeak {
    /// Oversampling factor (1: the sample peak only), and taps per phase.
    factor: usize,
    per: usize,
    /// Phase `p`'s tap `t` at `p * per + t`; tap 0 weighs the newest sample.
    coeffs: Vec<f32>,
    channels: usize,
    /// Per channel: the previous `per - 1` samples (oldest first), a block, and slack for the
    /// last group of outputs.
    lines: Vec<Vec<f32>>,
    /// Per channel, the highest magnitude so far (linear).
    peaks: Vec<f32>,
}

impl TruePeak {
    /// A meter for `channels` channels at `rate` Hz.
    pub fn new(rate: u32, channels: usize) -> Self {
        let factor = if rate < 96_000 {
            4
        } else if rate < 192_000 {
            2
        } else {
            1
        };
        let per = TAPS / factor;
        let mut coeffs = vec![0.0f32; TAPS];
        if factor > 1 {
            for j in 0..TAPS {
                // Coefficient j belongs to tap j / factor of phase j % factor (the crate's
                // layout); the window spans 48 taps, the sinc has its zeros every `factor`.
                let jf = j as f64;
                let w = 0.5 * (1.0 - (std::f64::consts::TAU * jf / TAPS as f64).cos());
                let m = jf - TAPS as f64 / 2.0;
                let x = m * std::f64::consts::PI / factor as f64;
                let c = if m.abs() > 1e-6 { w * x.sin() / x } else { w };
                coeffs[(j % factor) * per + j / factor] = c as f32;
            }
        }
        TruePeak {
            factor,
            per,
            coeffs,
            channels,
            lines: vec![vec![0.0; per - 1 + BLOCK + LANES]; channels],
            peaks: vec![0.0; channels],
        }
    }

    /// Starts over: no peak, no history.
    pub fn reset(&mut self) {
        for line in &mut self.lines {
            line.iter_mut().for_each(|x| *x = 0.0);
        }
        self.peaks.iter_mut().for_each(|p| *p = 0.0);
    }

    /// Feeds interleaved samples (whole frames, finite).
    pub fn feed(&mut self, interleaved: &[f32]) {
        let channels = self.channels;
        let history = self.per - 1;
        for chunk in interleaved.chunks(BLOCK * channels) {
            let frames = chunk.len() / channels;
            for (c, line) in self.lines.iter_mut().enumerate() {
                let fresh = &mut line[history..history + frames];
                for (x, &s) in fresh.iter_mut().zip(chunk.iter().skip(c).step_by(channels)) {
                    *x = s;
                }
                let peak = scan(line, frames, &self.coeffs, self.per, self.factor);
                self.peaks[c] = self.peaks[c].max(peak);
                line.copy_within(frames..frames + history, 0);
            }
        }
    }

    /// Channel `c`'s highest true peak so far (linear; at least its sample peak).
    pub fn peak(&self, c: usize) -> f64 {
        f64::from(self.peaks[c])
    }

    /// Every channel's, as [`Self::peak`].
    pub fn peaks(&self) -> impl Iterator<Item = f64> + '_ {
        self.peaks.iter().map(|&p| f64::from(p))
    }
}

/// The largest magnitude among `frames` new samples (at `line[per - 1..]`, after `per - 1` old
/// ones) and their interpolated phases. Compiled for AVX2 too, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn scan(line: &[f32], frames: usize, coeffs: &[f32], per: usize, factor: usize) -> f32 {
    let mut lanes = [0.0f32; LANES];
    let fresh = line[per - 1..per - 1 + frames].chunks(LANES);
    for chunk in fresh {
        for (m, &x) in lanes.iter_mut().zip(chunk) {
            *m = larger(*m, x.abs());
        }
    }
    let best = lanes.iter().fold(0.0f32, |m, &x| larger(m, x));
    // A fused multiply-add where the processor has one (a library call elsewhere).
    let fma = multiversion::target::target_cfg_f!(target_feature = "fma");
    // Phase 0 is the samples themselves (its sinc is zero at every tap but the middle one,
    // where the window is 1), counted above: only the phases between samples are worked out.
    match (factor, fma) {
        (4, true) => phases::<3, 12, true>(line, frames, coeffs, best),
        (4, false) => phases::<3, 12, false>(line, frames, coeffs, best),
        (2, true) => phases::<1, 24, true>(line, frames, coeffs, best),
        (2, false) => phases::<1, 24, false>(line, frames, coeffs, best),
        _ => best,
    }
}

/// [`scan`]'s interpolation with `F` phases between samples (the factor less one) and `P` taps a
/// phase known when compiled: groups of [`LANES`] outputs, every phase's accumulators fed from
/// one load of each tap's samples.
/// The last group reads into the line's slack; its outputs past `frames` are not counted.
#[inline(always)]
fn phases<const F: usize, const P: usize, const FMA: bool>(
    line: &[f32],
    frames: usize,
    coeffs: &[f32],
    best: f32,
) -> f32 {
    let mut peaks = [0.0f32; LANES];
    // h[t][p]: tap t of phase p + 1.
    let mut h = [[0.0f32; F]; P];
    for (p, phase) in coeffs.chunks_exact(P).skip(1).enumerate() {
        for (t, &c) in phase.iter().enumerate() {
            h[t][p] = c;
        }
    }
    let mut i = 0;
    while i < frames {
        let mut acc = [[0.0f32; LANES]; F];
        // Output i + l: tap t times the sample t before it.
        let span = &line[i..i + P + LANES - 1];
        for (t, ht) in h.iter().enumerate() {
            let x: [f32; LANES] = span[P - 1 - t..P - 1 - t + LANES]
                .try_into()
                .unwrap_or([0.0; LANES]);
            for (acc, &c) in acc.iter_mut().zip(ht) {
                for (a, x) in acc.iter_mut().zip(x) {
                    *a = if FMA { c.mul_add(x, *a) } else { *a + c * x };
                }
            }
        }
        // Outputs past `frames` (the last group's) are not counted.
        let n = LANES.min(frames - i);
        for acc in &mut acc {
            acc[n..].iter_mut().for_each(|a| *a = 0.0);
            for (p, a) in peaks.iter_mut().zip(acc.iter()) {
                *p = larger(*p, a.abs());
            }
        }
        i += LANES;
    }
    peaks.iter().fold(best, |m, &p| larger(m, p))
}

/// The larger of two magnitudes (a plain comparison: it vectorises, where `f32::max`'s NaN
/// rule does not; the samples are finite).
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The crate's meter on the same samples: the largest of its true and sample peaks.
    fn crate_peaks(rate: u32, channels: usize, x: &[f32]) -> Vec<f64> {
        let mut m =
            ebur128::EbuR128::new(channels as u32, rate, ebur128::Mode::TRUE_PEAK).expect("meter");
        m.add_frames_f32(x).expect("frames");
        (0..channels as u32)
            .map(|c| m.true_peak(c).expect("peak"))
            .collect()
    }

    #[test]
    fn phase_zero_is_the_samples_themselves() {
        for rate in [48_000, 96_000] {
            let tp = TruePeak::new(rate, 1);
            let zero = &tp.coeffs[..tp.per];
            let middle = TAPS / 2 / tp.factor;
            for (t, &c) in zero.iter().enumerate() {
                let want = if t == middle { 1.0 } else { 0.0 };
                assert!(
                    (c - want).abs() < 1e-6,
                    "{rate} Hz: tap {t} of phase 0 is {c}"
                );
            }
        }
    }

    #[test]
    fn reads_what_the_ebur128_crate_reads() {
        for (rate, channels) in [
            (48_000, 2),
            (44_100, 1),
            (96_000, 2),
            (192_000, 3),
            (8_000, 6),
        ] {
            // Tones between the samples, noise, and blocks of odd lengths.
            let frames = 5_000;
            let mut seed = 0x1234_5678_u32;
            let x: Vec<f32> = (0..frames * channels)
                .map(|i| {
                    seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
                    let t = (i / channels) as f32;
                    let c = (i % channels) as f32;
                    0.7 * (t * (1.3 + c) + c).sin() + 0.1 * noise
                })
                .collect();
            let mut tp = TruePeak::new(rate, channels);
            let mut rest = &x[..];
            let mut k = 1;
            while !rest.is_empty() {
                let n = (k * 37 % 3000 + 1).min(rest.len() / channels) * channels;
                tp.feed(&rest[..n]);
                rest = &rest[n..];
                k += 1;
            }
            for (c, want) in crate_peaks(rate, channels, &x).into_iter().enumerate() {
                let got = tp.peak(c);
                assert!(
                    (got - want).abs() < 1e-5,
                    "{rate} Hz, channel {c}: {got} against the crate's {want}"
                );
            }
        }
    }
}
