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

/// One decimate-by-two stage with its own delay line.
#[derive(Debug)]
pub struct HalfBand {
    odd: Vec<f32>,
    half_len: usize,
    /// History (`2 * half_len` samples) followed by room for one input block.
    buf: Vec<f32>,
    filled: usize,
    /// Parity of the next input sample: outputs are taken at odd positions.
    phase: usize,
    max_block: usize,
}

impl HalfBand {
    /// A stage that keeps `protect` (fraction of its input rate) alias-free and accepts input
    /// blocks of up to `max_block` samples per call.
    pub fn new(protect: f64, max_block: usize) -> Self {
        let odd = design_halfband(protect);
        let half_len = 2 * odd.len() - 1;
        let history = 2 * half_len;
        HalfBand {
            odd: odd.iter().map(|&h| h as f32).collect(),
            half_len,
            buf: vec![0.0; history + max_block],
            filled: history,
            phase: 0,
            max_block,
        }
    }

    /// Number of taps, for reports.
    pub fn taps(&self) -> usize {
        2 * self.half_len + 1
    }

    /// Delay of the stage in input samples.
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
        let history = 2 * self.half_len;
        self.buf[self.filled..self.filled + input.len()].copy_from_slice(input);
        let end = self.filled + input.len();
        let mut written = 0;
        // Position `p` is the newest sample of the filter span; its centre is p - half_len.
        let mut p = self.filled + ((self.phase + 1) & 1);
        while p < end {
            let span = &self.buf[p - history..=p];
            let centre = self.half_len;
            let mut acc = 0.5 * span[centre];
            for (i, &h) in self.odd.iter().enumerate() {
                let k = 2 * i + 1;
                acc += h * (span[centre - k] + span[centre + k]);
            }
            out[written] = acc;
            written += 1;
            p += 2;
        }
        self.phase = (self.phase + input.len()) & 1;
        self.buf.copy_within(end - history..end, 0);
        self.filled = history;
        written
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
