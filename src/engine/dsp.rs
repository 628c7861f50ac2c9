//! Pure maths shared by the analyzer: dB conversion, windows, weighting curves.
//!
//! Runs on any thread; everything here is a pure function.

pub use crate::publish::FLOOR_DB;

/// 10*log10 of the power ratio, clamped to [`FLOOR_DB`]; never `-inf` or `NaN`.
///
/// ```
/// use spektr::engine::dsp::power_to_db;
/// assert_eq!(power_to_db(1.0), 0.0);
/// assert_eq!(power_to_db(0.0), -120.0);
/// assert!((power_to_db(0.5) + 3.0103).abs() < 1e-3);
/// ```
#[inline]
pub fn power_to_db(power: f64) -> f32 {
    if power.is_nan() || power <= 0.0 {
        return FLOOR_DB;
    }
    let db = 10.0 * power.log10();
    (db as f32).max(FLOOR_DB)
}

/// 20*log10 of the amplitude ratio, clamped to [`FLOOR_DB`].
///
/// ```
/// use spektr::engine::dsp::amplitude_to_db;
/// assert!((amplitude_to_db(0.5) + 6.0206).abs() < 1e-3);
/// ```
#[inline]
pub fn amplitude_to_db(amplitude: f64) -> f32 {
    power_to_db(amplitude * amplitude)
}

/// Amplitude of a level in dB (20*log10 convention).
///
/// ```
/// use spektr::engine::dsp::db_to_amplitude;
/// assert!((db_to_amplitude(-6.0206) - 0.5).abs() < 1e-4);
/// ```
#[inline]
pub fn db_to_amplitude(db: f64) -> f64 {
    10f64.powf(db / 20.0)
}

/// Periodic Hann window of length `n` (the DFT-even form used for spectral analysis).
pub fn hann(n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let x = std::f64::consts::TAU * i as f64 / n as f64;
            (0.5 - 0.5 * x.cos()) as f32
        })
        .collect()
}

/// Sum of squared window samples: the window's energy, which normalises band power.
pub fn window_energy(window: &[f32]) -> f64 {
    window.iter().map(|&w| f64::from(w) * f64::from(w)).sum()
}

pub use crate::config::Weighting;

// Pole frequencies of IEC 61672-1:2013 annex E (E.2, E.3), in Hz.
const F1_HZ: f64 = 20.598_997;
const F2_HZ: f64 = 107.652_65;
const F3_HZ: f64 = 737.862_23;
const F4_HZ: f64 = 12_194.217;
// Normalisation constants so the curves read 0 dB at 1 kHz (annex E, A1000 and C1000).
const A1000_DB: f64 = -2.000;
const C1000_DB: f64 = -0.062;

impl Weighting {
    /// Gain of the weighting curve in dB at `f_hz`.
    ///
    /// ```
    /// use spektr::engine::dsp::Weighting;
    /// assert!(Weighting::A.gain_db(1000.0).abs() < 0.01);
    /// assert!((Weighting::A.gain_db(100.0) + 19.1).abs() < 0.1);
    /// ```
    pub fn gain_db(self, f_hz: f64) -> f64 {
        let f2 = f_hz * f_hz;
        match self {
            Weighting::Z => 0.0,
            Weighting::A => {
                let num = F4_HZ * F4_HZ * f2 * f2;
                let den = (f2 + F1_HZ * F1_HZ)
                    * ((f2 + F2_HZ * F2_HZ) * (f2 + F3_HZ * F3_HZ)).sqrt()
                    * (f2 + F4_HZ * F4_HZ);
                20.0 * (num / den).log10() - A1000_DB
            }
            Weighting::C => {
                let num = F4_HZ * F4_HZ * f2;
                let den = (f2 + F1_HZ * F1_HZ) * (f2 + F4_HZ * F4_HZ);
                20.0 * (num / den).log10() - C1000_DB
            }
        }
    }

    /// Power gain (linear) of the curve at `f_hz`; 0 at DC for A and C.
    pub fn power_gain(self, f_hz: f64) -> f64 {
        if self == Weighting::Z {
            return 1.0;
        }
        if f_hz <= 0.0 {
            return 0.0;
        }
        10f64.powf(self.gain_db(f_hz) / 10.0)
    }
}

/// Zeroth-order modified Bessel function of the first kind (for the Kaiser window).
fn bessel_i0(x: f64) -> f64 {
    let mut sum = 1.0;
    let mut term = 1.0;
    let half = x / 2.0;
    for k in 1..64 {
        term *= (half / k as f64) * (half / k as f64);
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Kaiser window value at position `i` of `n` with shape `beta`.
pub fn kaiser(i: usize, n: usize, beta: f64) -> f64 {
    let m = (n - 1) as f64;
    let r = 2.0 * i as f64 / m - 1.0;
    bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / bessel_i0(beta)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// IEC 61672-1:2013 table 3, at the exact base-10 frequencies the table is computed at
    /// (31.5 Hz nominal is 10^1.5 Hz, 4 kHz nominal is 10^3.6 Hz).
    #[test]
    fn weighting_matches_iec_61672_table() {
        let rows = [
            // (exact frequency, A dB, C dB)
            (10f64.powf(1.5), -39.4, -3.0),
            (100.0, -19.1, -0.3),
            (1000.0, 0.0, 0.0),
            (10f64.powf(3.6), 1.0, -0.8),
            (10000.0, -2.5, -4.4),
        ];
        for (f, a, c) in rows {
            let ga = Weighting::A.gain_db(f);
            let gc = Weighting::C.gain_db(f);
            assert!(
                (ga - a).abs() <= 0.1,
                "A at {f:.1} Hz: {ga:.2} dB, table {a}"
            );
            assert!(
                (gc - c).abs() <= 0.1,
                "C at {f:.1} Hz: {gc:.2} dB, table {c}"
            );
        }
        assert_eq!(Weighting::Z.gain_db(31.5), 0.0);
    }

    #[test]
    fn floor_is_never_inf_or_nan() {
        assert_eq!(power_to_db(f64::NAN), FLOOR_DB);
        assert_eq!(power_to_db(-1.0), FLOOR_DB);
        assert_eq!(power_to_db(1e-30), FLOOR_DB);
        assert_eq!(amplitude_to_db(0.0), FLOOR_DB);
    }

    #[test]
    fn hann_energy_is_three_eighths() {
        let w = hann(1024);
        assert!((window_energy(&w) / 1024.0 - 0.375).abs() < 1e-6);
        assert_eq!(w[0], 0.0);
        assert!((w[512] - 1.0).abs() < 1e-7);
    }
}
