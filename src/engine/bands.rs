//! Band layouts: where each bar's edges are. Pure functions, run once when settings change.

use serde::Serialize;

/// Frequency edges of one bar, in Hz. `center_hz` is the geometric mean of the edges.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct BandEdges {
    /// Lower edge.
    pub lo_hz: f64,
    /// Geometric centre (for third-octave bands: the exact IEC 61260 midband frequency).
    pub center_hz: f64,
    /// Upper edge (the Nyquist frequency for a partial band).
    pub hi_hz: f64,
    /// The band's nominal upper edge lies past the Nyquist frequency: only its part below is
    /// measured.
    pub partial: bool,
}

impl BandEdges {
    /// Bandwidth in Hz.
    pub fn width_hz(&self) -> f64 {
        self.hi_hz - self.lo_hz
    }
}

/// `bars` bands of equal width in log frequency, placed so that 1 kHz is a band centre when it
/// lies inside `fmin_hz..fmax_hz`: of the placements that cover the whole range, the one with
/// the narrowest bands (so the outer edges may lie a little outside the range). Without 1 kHz
/// in the range, the bands run edge to edge from `fmin_hz` to `fmax_hz`.
///
/// ```
/// let b = spektr::engine::bands::log_bands(32, 20.0, 20_000.0);
/// assert_eq!(b.len(), 32);
/// assert!(b[0].lo_hz <= 20.0 && b[31].hi_hz >= 20_000.0 - 1e-6);
/// assert!(b.iter().any(|b| (b.center_hz - 1000.0).abs() < 1e-9));
/// let b = spektr::engine::bands::log_bands(16, 2000.0, 8000.0);
/// assert_eq!((b[0].lo_hz, b[15].hi_hz.round()), (2000.0, 8000.0));
/// ```
pub fn log_bands(bars: usize, fmin_hz: f64, fmax_hz: f64) -> Vec<BandEdges> {
    let make = |edge: &dyn Fn(usize) -> f64| {
        (0..bars)
            .map(|i| {
                let (lo_hz, hi_hz) = (edge(i), edge(i + 1));
                BandEdges {
                    lo_hz,
                    center_hz: (lo_hz * hi_hz).sqrt(),
                    hi_hz,
                    partial: false,
                }
            })
            .collect()
    };
    if !(fmin_hz < 1000.0 && 1000.0 < fmax_hz) {
        let ratio = fmax_hz / fmin_hz;
        return make(&|i| fmin_hz * ratio.powf(i as f64 / bars as f64));
    }
    // With `j` bands below the one centred on 1 kHz, the ratio must reach down to fmin over
    // j + 1/2 bands and up to fmax over the other bars - j - 1/2.
    let (below, above) = ((1000.0 / fmin_hz).ln(), (fmax_hz / 1000.0).ln());
    let (j, step) = (0..bars)
        .map(|j| {
            let step = (below / (j as f64 + 0.5)).max(above / ((bars - j) as f64 - 0.5));
            (j, step)
        })
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .expect("at least one bar");
    make(&|i| 1000.0 * (step * (i as f64 - j as f64 - 0.5)).exp())
}

/// Nominal centre frequencies of the IEC 61260-1 one-third-octave bands from 20 Hz to 20 kHz.
pub const THIRD_OCTAVE_NOMINAL_HZ: [f64; 31] = [
    20.0, 25.0, 31.5, 40.0, 50.0, 63.0, 80.0, 100.0, 125.0, 160.0, 200.0, 250.0, 315.0, 400.0,
    500.0, 630.0, 800.0, 1000.0, 1250.0, 1600.0, 2000.0, 2500.0, 3150.0, 4000.0, 5000.0, 6300.0,
    8000.0, 10000.0, 12500.0, 16000.0, 20000.0,
];

/// Nominal centre frequencies of the IEC 61260-1 octave bands from 31.5 Hz to 16 kHz.
pub const OCTAVE_NOMINAL_HZ: [f64; 10] = [
    31.5, 63.0, 125.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0,
];

/// The octave ratio of IEC 61260-1 (base 10).
pub const G: f64 = 1.995_262_314_968_879_5; // 10^(3/10)

/// The IEC 61260-1 base-10 `1/b`-octave bands whose exact midband frequency lies in
/// `[fmin_hz, fmax_hz]` and whose lower edge lies below `nyquist_hz`, as (nominal centre,
/// edges). A band whose upper edge passes the Nyquist frequency is kept, its upper edge clamped
/// there and flagged `partial`. Midband frequencies are `1000 G^(x/b)` for odd `b` and
/// `1000 G^((2x+1)/(2b))` for even `b` (so 1 kHz is a centre for odd `b`, an edge for even),
/// edges `G^(+-1/(2b))` of the midband. The nominal centre is the standard's rounded value for
/// octaves and third-octaves, else the midband frequency to three significant figures.
///
/// ```
/// use spektr::engine::bands::octave_bands;
/// let b = octave_bands(3, 20.0, 20_000.0, 24_000.0);
/// assert_eq!(b.len(), 31);
/// let b = octave_bands(3, 20.0, 20_000.0, 22_050.0);
/// assert_eq!(b.len(), 31); // the 20 kHz band reaches 22.4 kHz: kept, partial
/// assert!(b[30].1.partial && b[30].1.hi_hz == 22_050.0);
/// assert_eq!(octave_bands(1, 20.0, 20_000.0, 24_000.0).len(), 10);
/// assert_eq!(octave_bands(24, 20.0, 20_000.0, 24_000.0).len(), 240);
/// ```
pub fn octave_bands(b: u32, fmin_hz: f64, fmax_hz: f64, nyquist_hz: f64) -> Vec<(f64, BandEdges)> {
    let b = f64::from(b.max(1));
    let even = (b as u32).is_multiple_of(2);
    let centre = |x: i32| {
        let e = if even {
            (2.0 * f64::from(x) + 1.0) / (2.0 * b)
        } else {
            f64::from(x) / b
        };
        1000.0 * G.powf(e)
    };
    let half = G.powf(1.0 / (2.0 * b));
    let nominal = |f: f64| {
        let table: &[f64] = match b as u32 {
            1 => &OCTAVE_NOMINAL_HZ,
            3 => &THIRD_OCTAVE_NOMINAL_HZ,
            _ => &[],
        };
        table
            .iter()
            .copied()
            .find(|&n| (n / f - 1.0).abs() < 0.03)
            .unwrap_or_else(|| round_sig3(f))
    };
    let lowest = (b * (fmin_hz / 1000.0).log10() / G.log10()).floor() as i32 - 2;
    let highest = (b * (fmax_hz / 1000.0).log10() / G.log10()).ceil() as i32 + 2;
    (lowest..=highest)
        .filter_map(|x| {
            let center_hz = centre(x);
            let lo_hz = center_hz / half;
            let hi_hz = center_hz * half;
            // The standard's nominal value decides (the 20 Hz band is centred at 19.95 Hz).
            let named = nominal(center_hz);
            let wanted = named >= fmin_hz * 0.999 && named <= fmax_hz * 1.001;
            (wanted && lo_hz < nyquist_hz).then(|| {
                (
                    named,
                    BandEdges {
                        lo_hz,
                        center_hz,
                        hi_hz: hi_hz.min(nyquist_hz),
                        partial: hi_hz > nyquist_hz,
                    },
                )
            })
        })
        .collect()
}

fn round_sig3(f: f64) -> f64 {
    let scale = 10f64.powi(f.log10().floor() as i32 - 2);
    (f / scale).round() * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractional_octaves_are_contiguous_with_the_standards_centres() {
        for b in [1, 3, 6, 12, 24] {
            let bands = octave_bands(b, 20.0, 20_000.0, 96_000.0);
            for w in bands.windows(2) {
                assert!((w[0].1.hi_hz / w[1].1.lo_hz - 1.0).abs() < 1e-12, "1/{b}");
            }
            let has_1k = bands.iter().any(|x| (x.1.center_hz - 1000.0).abs() < 1e-9);
            assert_eq!(
                has_1k,
                b % 2 == 1,
                "1/{b}: 1 kHz is a centre for odd b only"
            );
            let ratio = bands[0].1.hi_hz / bands[0].1.lo_hz;
            assert!((ratio - G.powf(1.0 / f64::from(b))).abs() < 1e-12);
        }
        let o: Vec<f64> = octave_bands(1, 20.0, 20_000.0, 96_000.0)
            .iter()
            .map(|x| x.0)
            .collect();
        assert_eq!(o, OCTAVE_NOMINAL_HZ);
    }

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
        let b = octave_bands(3, 20.0, 20_000.0, 96_000.0);
        assert_eq!(b.len(), 31);
        for (nominal, band) in b {
            let rel = (band.center_hz - nominal).abs() / nominal;
            assert!(rel < 0.03, "{nominal} vs {}", band.center_hz);
        }
    }
}
