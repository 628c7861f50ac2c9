//! The filter mask bands are held to: IEC 61260-1:2014 class 1 acceptance limits on relative
//! attenuation, for any fractional-octave bandwidth.
//!
//! Used by the tests that sweep tones across every band and by `examples/filter_response.rs`,
//! which measures the responses README plots against it (`make mask-plot`).

/// IEC's octave ratio, `G = 10^(3/10)`.
pub fn octave_ratio() -> f64 {
    10f64.powf(0.3)
}

/// Formula (9) of IEC 61260-1:2014: the normalised frequency `f / fm` of Table 1's breakpoint
/// `G^x` (given for octave bands) for a filter of `b` bands per octave.
pub fn breakpoint(b: f64, x: f64) -> f64 {
    let g = octave_ratio();
    1.0 + (g.powf(1.0 / (2.0 * b)) - 1.0) / (g.sqrt() - 1.0) * (g.powf(x) - 1.0)
}

/// IEC 61260-1:2014 Table 1, class 1: the acceptance limits on relative attenuation (min, max,
/// dB) at normalised frequency `omega = f / fm` of a `1/b`-octave filter. The table gives them
/// for octave bands at breakpoints `G^x` (x = 0, 1/8, 1/4, 3/8, 1/2 in the pass band, 1/2, 1,
/// 2, 3, 4 in the stop band); Formula (9) ([`breakpoint`]) maps them to a `1/b`-octave filter,
/// Formula (10) mirrors the low side at `1/omega`, and Formula (11) interpolates linearly in
/// `lg omega` between breakpoints. Values as transcribed from BS EN 61260-1:2014 (pages 15-16)
/// in the open-source phonometry library (jmrplens/phonometry, src/phonometry/compliance.py).
/// The maximum is infinite in the stop band (no upper limit on attenuation).
pub fn class_1_limits(b: f64, omega: f64) -> (f64, f64) {
    const PASS_MAX: [(f64, f64); 5] = [
        (0.0, 0.4),
        (0.125, 0.5),
        (0.25, 0.7),
        (0.375, 1.4),
        (0.5, 5.3),
    ];
    const STOP_MIN: [(f64, f64); 5] = [
        (0.5, 1.2),
        (1.0, 16.6),
        (2.0, 40.5),
        (3.0, 60.0),
        (4.0, 70.0),
    ];
    let omega = if omega < 1.0 { 1.0 / omega } else { omega };
    let interp = |points: &[(f64, f64)]| {
        let lg = omega.log10();
        for w in points.windows(2) {
            let (x0, x1) = (breakpoint(b, w[0].0).log10(), breakpoint(b, w[1].0).log10());
            if lg <= x1 {
                let t = ((lg - x0) / (x1 - x0)).clamp(0.0, 1.0);
                return w[0].1 + t * (w[1].1 - w[0].1);
            }
        }
        points[points.len() - 1].1
    };
    if omega <= breakpoint(b, 0.5) {
        (-0.4, interp(&PASS_MAX))
    } else {
        (interp(&STOP_MIN), f64::INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_octave_table_reads_back_at_its_breakpoints() {
        let g = octave_ratio();
        assert_eq!(class_1_limits(1.0, 1.0), (-0.4, 0.4));
        let (lo, hi) = class_1_limits(1.0, g.powf(0.25));
        assert!((lo + 0.4).abs() < 1e-9 && (hi - 0.7).abs() < 1e-9);
        let (lo, hi) = class_1_limits(1.0, g.powf(-2.0));
        assert!((lo - 40.5).abs() < 1e-9 && hi.is_infinite());
        // A third-octave's band edge lies at G^(1/6).
        assert!((breakpoint(3.0, 0.5) - g.powf(1.0 / 6.0)).abs() < 1e-12);
    }
}
