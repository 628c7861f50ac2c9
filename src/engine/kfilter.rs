//! BS.1770's K filter (a high shelf, then the RLB high-pass) and the energy of its output,
//! computed [`BLOCK`] samples at a time.
//!
//! Run a sample at a time, each of the two sections is a chain of dependent multiply-adds: a
//! sample's output waits on the last one's, and by `perf` the filter was a third of `spektr
//! loudness`'s time, most of it waiting. The cascade is linear in its four state values (the
//! two sections' transposed direct form II states) and the input, so a block of [`BLOCK`]
//! samples has a closed form: each output is a combination of the state at the block's start
//! and the block's inputs (the impulse response), and so is the state at its end. The outputs
//! are then independent of each other and computed side by side; only the state carries from
//! block to block, a 4 by 4 product. More arithmetic, far less waiting. It is the same filter:
//! the state is the same four values, so a block and a sample at a time can take turns (a
//! piece's remainder goes a sample at a time), and the outputs agree to float rounding (a test
//! below checks 1e-12).
//!
//! Sized in [`KFilter::new`]; [`KFilter::energy`] never allocates.

/// Samples a block computes together.
pub const BLOCK: usize = 8;

/// One second-order section, transposed direct form II, in f64.
#[derive(Clone, Copy, Debug, Default)]
struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
}

/// K-weighting at `rate`: the high shelf, then the RLB high-pass (BS.1770-5's constants,
/// pre-warped bilinear transform, as libebur128 computes them).
fn k_weighting(rate: f64) -> [Biquad; 2] {
    let (f0, g, q) = (1681.974450955533, 3.999843853973347, 0.7071752369554196);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let vh = 10f64.powf(g / 20.0);
    let vb = vh.powf(0.4996667741545416);
    let a0 = 1.0 + k / q + k * k;
    let shelf = Biquad {
        b: [
            (vh + vb * k / q + k * k) / a0,
            2.0 * (k * k - vh) / a0,
            (vh - vb * k / q + k * k) / a0,
        ],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    let (f0, q) = (38.13547087602444, 0.5003270373238773);
    let k = (std::f64::consts::PI * f0 / rate).tan();
    let a0 = 1.0 + k / q + k * k;
    let high_pass = Biquad {
        b: [1.0, -2.0, 1.0],
        a: [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
    };
    [shelf, high_pass]
}

/// One sample through both sections (transposed direct form II).
#[inline(always)]
fn step([p, r]: &[Biquad; 2], s: &mut [f64; 4], x: f64) -> f64 {
    let y = p.b[0] * x + s[0];
    s[0] = p.b[1] * x - p.a[0] * y + s[1];
    s[1] = p.b[2] * x - p.a[1] * y;
    let z = r.b[0] * y + s[2];
    s[2] = r.b[1] * y - r.a[0] * z + s[3];
    s[3] = r.b[2] * y - r.a[1] * z;
    z
}

/// The K filter for one rate: its sections, and their block form.
#[derive(Clone, Debug)]
pub struct KFilter {
    sections: [Biquad; 2],
    /// `from_state[j][k]`: output `k` of a block per unit of state value `j` at its start.
    from_state: [[f64; BLOCK]; 4],
    /// `from_input[i][k]`: output `k` per unit of input `i` (the impulse response, shifted;
    /// zero for `k < i`).
    from_input: [[f64; BLOCK]; BLOCK],
    /// `carry[j][r]`: state value `r` at the block's end per unit of value `j` at its start.
    carry: [[f64; 4]; 4],
    /// `feed[i][r]`: state value `r` at the block's end per unit of input `i`.
    feed: [[f64; 4]; BLOCK],
}

impl KFilter {
    /// The K filter at `rate` Hz.
    pub fn new(rate: f64) -> Self {
        let sections = k_weighting(rate);
        // The block's response to one unit of each state value, and of each input, run a
        // sample at a time: the filter is linear, so these make up every block.
        let run = |mut s: [f64; 4], impulse: Option<usize>| {
            let mut out = [0.0; BLOCK];
            for (k, o) in out.iter_mut().enumerate() {
                let x = if impulse == Some(k) { 1.0 } else { 0.0 };
                *o = step(&sections, &mut s, x);
            }
            (out, s)
        };
        let mut filter = KFilter {
            sections,
            from_state: [[0.0; BLOCK]; 4],
            from_input: [[0.0; BLOCK]; BLOCK],
            carry: [[0.0; 4]; 4],
            feed: [[0.0; 4]; BLOCK],
        };
        for j in 0..4 {
            let mut unit = [0.0; 4];
            unit[j] = 1.0;
            (filter.from_state[j], filter.carry[j]) = run(unit, None);
        }
        for i in 0..BLOCK {
            (filter.from_input[i], filter.feed[i]) = run([0.0; 4], Some(i));
        }
        filter
    }

    /// Filters `interleaved` (whole frames of `state.len()` channels) through the K filter,
    /// each channel with its state, and returns the sum over channels of `weights` times the
    /// sum of squares of the output.
    pub fn energy(&self, interleaved: &[f32], state: &mut [[f64; 4]], weights: &[f64]) -> f64 {
        energy(self, interleaved, state, weights)
    }

    /// One block of one channel: adds the outputs' squares to `squares` (element-wise: one
    /// sum per output position, added up at the end, so that no chain of additions runs
    /// from block to block) and moves `s` on. Written as operations on four values at a time,
    /// which the compiler maps onto vector registers.
    #[inline(always)]
    fn block<const FMA: bool>(&self, x: &[f64; BLOCK], s: &mut [f64; 4], squares: &mut Squares) {
        let madd = |a: &[f64; 4], b: f64, c: [f64; 4]| -> [f64; 4] {
            std::array::from_fn(|r| {
                if FMA {
                    a[r].mul_add(b, c[r])
                } else {
                    c[r] + a[r] * b
                }
            })
        };
        // The end state: the inputs' part first (it does not wait on `s`), then the state's.
        let mut next = [0.0f64; 4];
        for (row, &xi) in self.feed.iter().zip(x) {
            next = madd(row, xi, next);
        }
        for (row, &sj) in self.carry.iter().zip(s.iter()) {
            next = madd(row, sj, next);
        }
        // The outputs, in two halves of four.
        let (mut lo, mut hi) = ([0.0f64; 4], [0.0f64; 4]);
        for (row, &xi) in self.from_input.iter().zip(x) {
            let (l, h) = row.split_at(4);
            lo = madd(l.try_into().unwrap_or(&[0.0; 4]), xi, lo);
            hi = madd(h.try_into().unwrap_or(&[0.0; 4]), xi, hi);
        }
        for (row, &sj) in self.from_state.iter().zip(s.iter()) {
            let (l, h) = row.split_at(4);
            lo = madd(l.try_into().unwrap_or(&[0.0; 4]), sj, lo);
            hi = madd(h.try_into().unwrap_or(&[0.0; 4]), sj, hi);
        }
        *s = next;
        for (r, v) in squares.0.iter_mut().zip(lo.iter().chain(&hi)) {
            *r = if FMA { v.mul_add(*v, *r) } else { *r + v * v };
        }
    }
}

/// Per output position of a block, a channel's running sum of squares.
#[derive(Clone, Copy, Default)]
struct Squares([f64; BLOCK]);

impl Squares {
    fn total(&self) -> f64 {
        self.0.iter().sum()
    }
}

/// [`KFilter::energy`], compiled for AVX2 with FMA too and chosen at run time.
#[multiversion::multiversion(targets("x86_64+avx2+fma"))]
fn energy(filter: &KFilter, interleaved: &[f32], state: &mut [[f64; 4]], weights: &[f64]) -> f64 {
    let fma = multiversion::target::target_cfg_f!(target_feature = "fma");
    match (state, fma) {
        ([a], true) => channels::<1, true>(filter, interleaved, std::array::from_mut(a), weights),
        ([a], false) => channels::<1, false>(filter, interleaved, std::array::from_mut(a), weights),
        ([a, b], true) => {
            let mut s = [*a, *b];
            let e = channels::<2, true>(filter, interleaved, &mut s, weights);
            (*a, *b) = (s[0], s[1]);
            e
        }
        ([a, b], false) => {
            let mut s = [*a, *b];
            let e = channels::<2, false>(filter, interleaved, &mut s, weights);
            (*a, *b) = (s[0], s[1]);
            e
        }
        (state, _) => {
            // Other counts a channel at a time: each its own pass over the frames.
            let n = state.len();
            let mut sum = 0.0;
            for (c, (s, &w)) in state.iter_mut().zip(weights).enumerate() {
                let mut one = [*s];
                let mut blocks = Squares::default();
                let frames = interleaved.len() / n;
                let whole = frames - frames % BLOCK;
                for f in (0..whole).step_by(BLOCK) {
                    let x = std::array::from_fn(|i| f64::from(interleaved[(f + i) * n + c]));
                    if fma {
                        filter.block::<true>(&x, &mut one[0], &mut blocks);
                    } else {
                        filter.block::<false>(&x, &mut one[0], &mut blocks);
                    }
                }
                let mut squares = blocks.total();
                for f in whole..frames {
                    let z = step(
                        &filter.sections,
                        &mut one[0],
                        f64::from(interleaved[f * n + c]),
                    );
                    squares += z * z;
                }
                *s = one[0];
                sum += w * squares;
            }
            sum
        }
    }
}

/// [`energy`] for `C` channels known when compiled (mono, stereo: the usual); the channels'
/// blocks go through together, their chains overlapping.
#[inline(always)]
fn channels<const C: usize, const FMA: bool>(
    filter: &KFilter,
    interleaved: &[f32],
    state: &mut [[f64; 4]; C],
    weights: &[f64],
) -> f64 {
    let mut blocks = [Squares::default(); C];
    let mut frames = interleaved.chunks_exact(C * BLOCK);
    for block in &mut frames {
        for c in 0..C {
            let x = std::array::from_fn(|i| f64::from(block[i * C + c]));
            filter.block::<FMA>(&x, &mut state[c], &mut blocks[c]);
        }
    }
    let mut squares: [f64; C] = std::array::from_fn(|c| blocks[c].total());
    for frame in frames.remainder().chunks_exact(C) {
        for c in 0..C {
            let z = step(&filter.sections, &mut state[c], f64::from(frame[c]));
            squares[c] += z * z;
        }
    }
    squares.iter().zip(weights).map(|(s, w)| s * w).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels_1(filter: &KFilter, x: &[f32], s: &mut [f64; 4], fma: bool) -> f64 {
        let s = std::array::from_mut(s);
        if fma {
            super::channels::<1, true>(filter, x, s, &[1.0])
        } else {
            super::channels::<1, false>(filter, x, s, &[1.0])
        }
    }

    /// A sample at a time, as the filter is defined.
    fn reference(sections: &[Biquad; 2], x: &[f32], s: &mut [f64; 4]) -> f64 {
        x.iter()
            .map(|&x| {
                let z = step(sections, s, f64::from(x));
                z * z
            })
            .sum()
    }

    #[test]
    fn blocks_agree_with_one_sample_at_a_time() {
        for rate in [8_000.0, 44_100.0, 48_000.0, 96_000.0, 192_000.0] {
            let filter = KFilter::new(rate);
            for channels in 1..=3usize {
                // Odd lengths leave a remainder a sample at a time; a second call goes on
                // from the first one's state.
                let frames = 1_003;
                let x: Vec<f32> = (0..frames * channels)
                    .map(|i| ((i as f32 * 0.37).sin() + 0.3 * (i as f32 * 0.011).cos()) * 0.8)
                    .collect();
                let weights = vec![1.0; channels];
                let mut state = vec![[0.0; 4]; channels];
                let (first, second) = x.split_at(517 * channels);
                let got = filter.energy(first, &mut state, &weights)
                    + filter.energy(second, &mut state, &weights);
                // The variant the processor picks ran above; the other one (with or without
                // fused multiply-adds; a library call where the processor lacks them) here.
                if channels <= 2 {
                    let mut both = [[0.0; 4]; 2];
                    let plain = match channels {
                        1 => channels_1(&filter, &x, &mut both[0], false),
                        _ => super::channels::<2, false>(&filter, &x, &mut both, &weights),
                    };
                    let mut both_fma = [[0.0; 4]; 2];
                    let fused = match channels {
                        1 => channels_1(&filter, &x, &mut both_fma[0], true),
                        _ => super::channels::<2, true>(&filter, &x, &mut both_fma, &weights),
                    };
                    for e in [plain, fused] {
                        assert!(((e - got) / got).abs() < 1e-12, "{rate} Hz: {e} vs {got}");
                    }
                }
                let mut want = 0.0;
                for (c, got_state) in state.iter().enumerate() {
                    let line: Vec<f32> = x.iter().skip(c).step_by(channels).copied().collect();
                    let mut s = [0.0; 4];
                    want += reference(&filter.sections, &line, &mut s);
                    // The high-pass's poles lie within 0.0025 of 1 (0.0012 at 192 kHz):
                    // either form's rounding is amplified hundreds of times in the state, so
                    // the two agree to about 1e-12 of the input's scale, not to the last bit.
                    for (a, b) in got_state.iter().zip(s) {
                        assert!((a - b).abs() < 1e-10, "state at {rate} Hz: {a} vs {b}");
                    }
                }
                assert!(
                    ((got - want) / want).abs() < 1e-12,
                    "{rate} Hz, {channels} channels: {got} vs {want}"
                );
            }
        }
    }
}
