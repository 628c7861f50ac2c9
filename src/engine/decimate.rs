//! Half-band FIR decimation by two, the building block of the multi-resolution cascade.
//!
//! Runs on the engine thread. Buffers are sized in `new`; `process` never allocates.

use super::dsp::kaiser;

/// Stop-band attenuation every stage is designed for: aliases land at least this far down.
pub const STOPBAND_DB: f64 = 100.0;
/// Longest half-band considered (taps = 2 * MAX_HALF_LEN + 1).
const MAX_HALF_LEN: usize = 79;

/// Designs a half-band low-pass that keeps `[0, protect]` clean of aliases after decimation.
///
/// `protect` is a fraction of the input rate (below 0.25). The shortest Kaiser half-band whose
/// alias band `[0.5 - protect, 0.5]` lies [`STOPBAND_DB`] down is chosen; by half-band symmetry
/// its pass-band ripple is then below 1e-5 (0.0001 dB). Returns the odd-index taps
/// `h[1], h[3], ..., h[M]` (the centre tap is 0.5, even taps are 0).
pub fn design_halfband(protect: f64) -> Vec<f64> {
    let protect = protect.clamp(0.0, 0.24);
    let beta = 0.1102 * (STOPBAND_DB + 3.0 - 8.7);
    let limit = 10f64.powf(-STOPBAND_DB / 20.0);
    let mut best = Vec::new();
    for half_len in (1..=MAX_HALF_LEN).step_by(2) {
        let taps = 2 * half_len + 1;
        let mut odd: Vec<f64> = (1..=half_len)
            .step_by(2)
            .map(|n| {
                let ideal = (std::f64::consts::FRAC_PI_2 * n as f64).sin()
                    / (std::f64::consts::PI * n as f64);
                ideal * kaiser(half_len + n, taps, beta)
            })
            .collect();
        // Unity gain at DC: 0.5 + 2 * sum(odd taps) = 1.
        let sum: f64 = odd.iter().sum();
        odd.iter_mut().for_each(|h| *h *= 0.25 / sum);
        let worst = (0..=64)
            .map(|i| 0.5 - protect * i as f64 / 64.0)
            .map(|f| halfband_response(&odd, f).abs())
            .fold(0.0, f64::max);
        best = odd;
        if worst <= limit {
            break;
        }
    }
    best
}

/// Amplitude response of a half-band given by its odd taps, at `f` (fraction of the input rate).
pub fn halfband_response(odd: &[f64], f: f64) -> f64 {
    0.5 + odd
        .iter()
        .enumerate()
        .map(|(i, h)| 2.0 * h * (std::f64::consts::TAU * f * (2 * i + 1) as f64).cos())
        .sum::<f64>()
}

/// One decimate-by-two stage, in polyphase form.
///
/// With `a[m] = x[2m]` and `b[m] = x[2m + 1]`, the half-band output is
/// `y[m] = 0.5 a[m] + sum_j g[j] b[m - 2K + 1 + j]` over the `2K` odd taps, which are symmetric
/// (`g[j] = g[2K - 1 - j]`): folded, `K` multiplies per output, computed for [`LANES`] outputs
/// at once so that the compiler vectorises across outputs (contiguous loads, no horizontal
/// sums).
#[derive(Debug)]
pub struct HalfBand {
    /// The first half of the symmetric taps over `b`.
    h: Vec<f32>,
    half_len: usize,
    a: Vec<f32>,
    a_len: usize,
    b: Vec<f32>,
    b_len: usize,
    next_is_a: bool,
    max_block: usize,
}

/// Outputs computed together.
const LANES: usize = 8;

impl HalfBand {
    /// A stage that keeps `protect` (fraction of its input rate) alias-free and accepts input
    /// blocks of up to `max_block` samples per call.
    pub fn new(protect: f64, max_block: usize) -> Self {
        let odd = design_halfband(protect);
        let k = odd.len();
        // g = [h_K .. h_1, h_1 .. h_K]; its first half, h_K .. h_1.
        let h: Vec<f32> = odd.iter().rev().map(|&h| h as f32).collect();
        let max_block = max_block.max(2);
        let taps = 2 * k;
        // Prefilled silence aligns the centre tap: output i is centred on a[i - delay_a] and
        // reads b[i ..= i + taps - 1]; one output per two inputs from the start.
        let delay_a = taps - 1 - k;
        HalfBand {
            half_len: 2 * k - 1,
            // LANES of slack: the last, partial group of outputs is computed whole.
            a: vec![0.0; delay_a + max_block / 2 + 2 + LANES],
            a_len: delay_a,
            b: vec![0.0; taps + max_block / 2 + 2 + LANES],
            b_len: taps - 1,
            h,
            next_is_a: true,
            max_block,
        }
    }

    /// Number of taps, for reports.
    pub fn taps(&self) -> usize {
        2 * self.half_len + 1
    }

    /// Delay of the stage's output, in samples of its input (its group delay).
    pub fn delay(&self) -> usize {
        self.half_len
    }

    /// Filters and decimates `input` into `out`; returns how many outputs were written.
    /// `out` must hold `input.len() / 2 + 1` samples.
    pub fn process(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        let mut written = 0;
        for block in input.chunks(self.max_block) {
            written += self.process_block(block, &mut out[written..]);
        }
        written
    }

    fn process_block(&mut self, input: &[f32], out: &mut [f32]) -> usize {
        let mut rest = input;
        if !self.next_is_a && !rest.is_empty() {
            self.b[self.b_len] = rest[0];
            self.b_len += 1;
            rest = &rest[1..];
            self.next_is_a = true;
        }
        let pairs = rest.len() / 2;
        let a = &mut self.a[self.a_len..self.a_len + pairs];
        let b = &mut self.b[self.b_len..self.b_len + pairs];
        for ((pair, a), b) in rest.chunks_exact(2).zip(a.iter_mut()).zip(b.iter_mut()) {
            *a = pair[0];
            *b = pair[1];
        }
        self.a_len += pairs;
        self.b_len += pairs;
        if rest.len() % 2 == 1 {
            self.a[self.a_len] = rest[rest.len() - 1];
            self.a_len += 1;
            self.next_is_a = false;
        }
        let taps = 2 * self.h.len();
        let ready = self.a_len.min((self.b_len + 1).saturating_sub(taps));
        filter(&self.a, &self.b, &self.h, &mut out[..ready]);
        self.a.copy_within(ready..self.a_len, 0);
        self.a_len -= ready;
        self.b.copy_within(ready..self.b_len, 0);
        self.b_len -= ready;
        ready
    }
}

/// Writes `out.len()` outputs of the folded half-band `h` over the phases `a` and `b`, in
/// whole groups of [`LANES`], the last one partly over the buffers' slack (what lies there is
/// stale, and those outputs are not kept). Compiled for AVX2 too, chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn filter(a: &[f32], b: &[f32], h: &[f32], out: &mut [f32]) {
    let (ready, taps) = (out.len(), 2 * h.len());
    let mut i = 0;
    while i < ready {
        let mut acc = [0.0f32; LANES];
        // Tap j pairs b[i + j ..] with b[i + taps - 1 - j ..]: windows from both ends.
        let span = &b[i..i + taps - 1 + LANES];
        let ends = span.windows(LANES).zip(span.windows(LANES).rev());
        for (&hj, (lo, hi)) in h.iter().zip(ends) {
            for ((acc, &lo), &hi) in acc.iter_mut().zip(lo).zip(hi) {
                // A fused multiply-add where the processor has one (a library call elsewhere).
                if multiversion::target::target_cfg_f!(target_feature = "fma") {
                    *acc = hj.mul_add(lo + hi, *acc);
                } else {
                    *acc += hj * (lo + hi);
                }
            }
        }
        let n = LANES.min(ready - i);
        for ((o, &a), &acc) in out[i..i + n].iter_mut().zip(&a[i..i + n]).zip(&acc) {
            *o = 0.5 * a + acc;
        }
        i += LANES;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn design_meets_stopband_and_passband() {
        for protect in [0.01, 0.05, 0.1, 0.136] {
            let odd = design_halfband(protect);
            for i in 0..=200 {
                let f = protect * i as f64 / 200.0;
                let pass = halfband_response(&odd, f);
                assert!(
                    (pass - 1.0).abs() < 2e-5,
                    "protect {protect}: ripple {pass} at {f}"
                );
                let stop = halfband_response(&odd, 0.5 - f).abs();
                assert!(
                    20.0 * stop.log10() < -99.0,
                    "protect {protect}: alias {stop} at {f}"
                );
            }
        }
        // Wider protected bands need longer filters.
        assert!(design_halfband(0.01).len() < design_halfband(0.136).len());
    }

    #[test]
    fn decimates_a_low_tone_without_loss_and_kills_a_high_one() {
        let rate = 48_000.0;
        let n = 48_000;
        let mut stage = HalfBand::new(0.1, 480);
        let low: Vec<f32> = (0..n)
            .map(|i| (std::f64::consts::TAU * 1000.0 * i as f64 / rate).sin() as f32)
            .collect();
        let mut out = vec![0.0; n / 2 + 1];
        let mut written = 0;
        for block in low.chunks(333) {
            written += stage.process(block, &mut out[written..]);
        }
        assert_eq!(written, n / 2);
        let tail = &out[1000..];
        let peak = tail.iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!((peak - 1.0).abs() < 1e-3, "peak {peak}");

        let mut stage = HalfBand::new(0.1, 480);
        let high: Vec<f32> = (0..n)
            .map(|i| (std::f64::consts::TAU * 22_000.0 * i as f64 / rate).sin() as f32)
            .collect();
        let written = stage.process(&high, &mut out);
        let peak = out[200..written].iter().fold(0f32, |m, x| m.max(x.abs()));
        assert!(peak < 1e-4, "alias {peak}");
    }
}
