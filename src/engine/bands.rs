//! Band layouts: where each bar's edges are. Pure functions, run once when settings change.

use serde::Serialize;

/// Frequency edges of one bar, in Hz. `center_hz` is the geometric mean of the edges.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BandEdges {
    /// Lower edge.
    pub lo_hz: f64,
    /// Geometric centre (for third-octave bands: the exact IEC 61260 midband frequency).
    pub center_hz: f64,
    /// Upper edge.
    pub hi_hz: f64,
}

impl BandEdges {
    /// Bandwidth in Hz.
    pub fn width_hz(&self) -> f64 {
        self.hi_hz - self.lo_hz
    }
}

/// `bars` bands log-spaced between `fmin_hz` and `fmax_hz`, edge to edge.
///
/// ```
/// let b = spektr::engine::bands::log_bands(32, 20.0, 20_000.0);
/// assert_eq!(b.len(), 32);
/// assert_eq!(b[0].lo_hz, 20.0);
/// assert!((b[31].hi_hz - 20_000.0).abs() < 1e-6);
/// ```
pub fn log_bands(bars: usize, fmin_hz: f64, fmax_hz: f64) -> Vec<BandEdges> {
    let ratio = fmax_hz / fmin_hz;
    let edge = |i: usize| fmin_hz * ratio.powf(i as f64 / bars as f64);
    (0..bars)
        .map(|i| {
            let (lo_hz, hi_hz) = (edge(i), edge(i + 1));
            BandEdges {
                lo_hz,
                center_hz: (lo_hz * hi_hz).sqrt(),
                hi_hz,
            }
        })
        .collect()
}

/// Nominal centre frequencies of the IEC 61260-1 one-third-octave bands from 20 Hz to 20 kHz.
pub const THIRD_OCTAVE_NOMINAL_HZ: [f64; 31] = [
    20.0, 25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0,
    500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0,
    8000.0, 10000.0, 12500.0, 16000.0, 20000.0,
];

/// The IEC 61260-1 base-10 one-third-octave bands whose nominal centre lies in
/// `[fmin_hz, fmax_hz]` and whose upper edge lies below `nyquist_hz`.
///
/// Exact midband frequency `1000 * 10^(k/10)`, edges at `10^(+-1/20)` of it.
///
/// ```
/// let b = spektr::engine::bands::third_octave_bands(20.0, 20_000.0, 24_000.0);
/// assert_eq!(b.len(), 31);
/// let b = spektr::engine::bands::third_octave_bands(20.0, 20_000.0, 22_050.0);
/// assert_eq!(b.len(), 30); // the 20 kHz band reaches 22.4 kHz
/// ```
pub fn third_octave_bands(fmin_hz: f64, fmax_hz: f64, nyquist_hz: f64) -> Vec<(f64, BandEdges)> {
    let half_step = 10f64.powf(1.0 / 20.0);
    THIRD_OCTAVE_NOMINAL_HZ
        .iter()
        .enumerate()
        .filter_map(|(i, &nominal)| {
            let k = i as f64 - 17.0; // index 17 is 1 kHz
            let center_hz = 1000.0 * 10f64.powf(k / 10.0);
            let band = BandEdges {
                lo_hz: center_hz / half_step,
                center_hz,
                hi_hz: center_hz * half_step,
            };
            let wanted = nominal >= fmin_hz * 0.999 && nominal <= fmax_hz * 1.001;
            (wanted && band.hi_hz < nyquist_hz).then_some((nominal, band))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_bands_are_contiguous_and_equal_ratio() {
        let b = log_bands(32, 20.0, 20_000.0);
        for w in b.windows(2) {
            assert!((w[0].hi_hz - w[1].lo_hz).abs() < 1e-9);
            let r0 = w[0].hi_hz / w[0].lo_hz;
            let r1 = w[1].hi_hz / w[1].lo_hz;
            assert!((r0 - r1).abs() < 1e-9);
        }
    }

    #[test]
    fn third_octave_exact_centres_round_to_nominal() {
        let b = third_octave_bands(20.0, 20_000.0, 96_000.0);
        assert_eq!(b.len(), 31);
        for (nominal, band) in b {
            let rel = (band.center_hz - nominal).abs() / nominal;
            assert!(rel < 0.03, "{nominal} vs {}", band.center_hz);
        }
    }
}
